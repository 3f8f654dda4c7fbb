"""The serial firmware (its host build, over a pty) and the Feetech servos (the STAND-IN simulated STS3215 bus, over
a pty) driven from the control loop process (``loop_mode: process``): the loop process opens the port, the shell
never does; the shell's commands reach the device and its diagnostics requests are answered; when the shell is
killed the loop brakes at the robot's limits, holds, releases the hardware and exits, and the port serves its
next owner.

The stop is judged on the loop's own tick times and the states the device measured (shared memory), with the
margin of the device's tracking: these devices follow the braked reference a few ms late (pty, Python bus). The
firmware's host build runs at SCHED_FIFO 70 where granted, as a real controller is not delayed by the host's load:
at normal priority, next to 2 CPU hogs (load 10), it was descheduled long enough for the impedance loop on its
stale states to oscillate at 6 rad/s before the shell was killed.
"""

from __future__ import annotations

import numpy as np
from firmware_host import FirmwareProcess, build_firmware, capture_frames, provisioned_key, wait_for
from shell_death import ShellAndLoop
from test_feetech import SLOW, SO101, at_default_pose, plain_calibration

from robot_rl.hardware import create_hardware, firmware_protocol as fp
from robot_rl.hardware.feetech_sim_process import SimulatedBusProcess
from robot_rl.robot import load_robot_config

PANDA = load_robot_config("panda")
PANDA_EFFORT_LIMITS = "87,87,87,87,12,12,12"  # Nm, the Panda URDF's
BOOT_POSE = PANDA.default_pose - 0.3 * np.array([1, -1, 1, -1, 1, -1, 1])  # rad, collision-free, in the limits
MOVE = {"move": 0.6, "seconds": 2.0, "core": {"command_timeout": 0.0}}  # joint 1 by 0.6 rad in 2 s, no watchdog
BRAKED_AFTER_S = 0.3
"""s after the loop found the shell dead by which the device is held: the braked reference stops within ~30 ms
at these speeds and the devices followed it within 0.1-0.2 s (measured, load 6); unbraked, the move would still
run for over 1 s at ~0.4 rad/s."""
HELD_SPEED = 0.05
"""rad/s: "held" (the devices' own tracking, not the simulated MuJoCo's, settles them)."""


def kill_the_shell_while_moving(run: ShellAndLoop, dof: int) -> tuple[np.ndarray, float]:
    """Wait until the device measures joint 1 moving by the command, SIGKILL the shell; (state rows, the tick time
    at which the loop found the shell dead) after checking that it braked, held and logged it."""
    wait_for(lambda: (row := run.newest(1)[0])[1] - run.start[1] > 0.1 and row[1 + dof] > 0.1, 30.0,
             "the device to measure joint 1 moving as commanded")
    killed, rows, lost = run.kill_shell()
    t, v = rows[:, 0], np.abs(rows[:, 1 + dof:1 + 2 * dof]).max(axis=1)
    assert np.isfinite(lost) and lost - killed < 5.0, "the loop process did not notice its shell's death"
    assert v[t < lost].max() > 0.1  # it was moving
    held = v[t >= lost + BRAKED_AFTER_S]
    assert held.max() < HELD_SPEED, f"up to {held.max():.3f} rad/s {BRAKED_AFTER_S} s after the shell's death"
    assert t[-1] - lost > 0.5  # held for the longest stop + ORPHAN_HOLD_S before releasing
    assert "the ROS shell's socket closed; braking at the robot's limits" in run.log.read_text()
    return rows, lost


def test_the_firmware_runs_in_the_loop_process_and_a_dead_shell_brakes_and_releases_the_port(tmp_path):
    build_firmware()
    firmware = FirmwareProcess("--joints", "7", "--limits", PANDA_EFFORT_LIMITS, "--watchdog-ms", "200",
                               "--inertia", "1", "--initial-position", ",".join(f"{q:.9g}" for q in BOOT_POSE),
                               key_file=provisioned_key(tmp_path), rt_priority=70)
    options = {"port": firmware.port, "key_file": str(firmware.key_file), "rt_priority": 80}
    try:
        run = ShellAndLoop(tmp_path / "shell.log", PANDA.dof, {"hardware": "serial", "options": options, **MOVE})
        try:
            diagnostics = run.started["diagnostics"]  # asked by the shell, answered by the loop process
            assert diagnostics["port"] == firmware.port and diagnostics["fault"] == ""
            assert diagnostics["firmware_auth_rejected"] == 0 and run.started["gripper"] == []
            kill_the_shell_while_moving(run, PANDA.dof)
        finally:
            run.close()
        # Released in order: zero torque applied, no command since, then the firmware's watchdog trips.
        frames = [m for m, _ in capture_frames(firmware.port, 0.6) if m.name == "STATE"]
        assert frames and len({m["sequence"] for m in frames}) == 1
        tripped = [bool(m["status"] & fp.STATUS["WATCHDOG_TRIPPED"]) for m in frames]
        assert tripped[-1] and all(np.all(m["effort"] == 0.0) for m, t in zip(frames, tripped) if not t)
        with create_hardware("serial", PANDA, **options) as again:  # the next owner gets a session
            assert again.diagnostics()["status"]["WATCHDOG_TRIPPED"]
    finally:
        assert firmware.stop() == 0


def test_the_feetech_servos_run_in_the_loop_process_and_a_dead_shell_brakes_and_releases_the_port(tmp_path):
    with SimulatedBusProcess(actual=at_default_pose()) as sim:
        options = {"port": sim.port, "calibration": plain_calibration(tmp_path / "cal.yaml"), "rt_priority": 80,
                   **SLOW}
        run = ShellAndLoop(tmp_path / "shell.log", SO101.dof,
                           {"robot": "so101", "hardware": "feetech", "options": options, **MOVE})
        try:
            diagnostics = run.started["diagnostics"]
            assert diagnostics["port"] == sim.port and diagnostics["fault"] == "" and diagnostics["cycles"] > 0
            assert run.started["gripper"] == ["gripper"]
            rows, _ = kill_the_shell_while_moving(run, SO101.dof)
        finally:
            run.close()
        # Released holding where the loop left the arm; the bus serves its next owner.
        with create_hardware("feetech", SO101, **options) as again:
            np.testing.assert_allclose(again.read().position, rows[-1, 1:1 + SO101.dof], atol=0.01)
