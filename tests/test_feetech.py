"""Hardware ``feetech`` (SO-101) through the Feetech SDK over a real pty, against the STAND-IN simulated STS3215 bus
(robot_rl/hardware/feetech_sim.py): protocol, calibration round trip, trajectory following, faults, bus check."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from robot_rl.command import JointTrajectoryCommand
from robot_rl.control import ControlCore, FixedRateLoop
from robot_rl.control.limits import LastLineLimits
from robot_rl.errors import ConfigError, HardwareError
from robot_rl.hardware import create_hardware, feetech_table as ft, hardware_options
from robot_rl.hardware.feetech_bus import FeetechBus
from robot_rl.hardware.feetech_calibrate import calibrate
from robot_rl.hardware.feetech_calibration import (FeetechCalibration, JointCalibration, joint_names,
                                                   load_calibration)
from robot_rl.hardware.feetech_sim import SimulatedBus, SimulatedServo
from robot_rl.hardware.feetech_sim_process import SimulatedBusProcess
from robot_rl.robot import RobotModel, load_robot_config
from robot_rl.teleop.leader import LeaderArm, LeaderConfig

SO101 = load_robot_config("so101")
SLOW = {"timeout_ms": 200.0, "state_timeout_s": 2.0}
"""Generous: on a loaded machine the kernel's pty worker may deliver bytes 100+ ms late (docs/feetech.md)."""
NAMES = joint_names(SO101)  # 5 arm joints, then the gripper
IDS = list(range(1, len(NAMES) + 1))


@pytest.fixture(scope="module")
def so101_model() -> RobotModel:
    """Loaded once: it takes seconds, holding the GIL (load it before a bus thread runs)."""
    return RobotModel(SO101)


def wait_until(predicate, timeout_s: float = 10.0) -> bool:
    """Poll ``predicate`` until true or ``timeout_s`` (generous: the stand-in bus shares a loaded CPU)."""
    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()


def torque(sim: SimulatedBusProcess, ids=IDS) -> list[bool]:
    state = sim.state()
    return [state[i]["torque"] for i in ids]


def steps_of(q: np.ndarray) -> np.ndarray:
    return np.rint(ft.CENTER_STEP + np.asarray(q) / ft.RAD_PER_STEP).astype(int)


def plain_calibration(path, firmware: str = "3.10") -> str:
    """Offsets 0, directions +1, nearly full ranges: the simulated bus's defaults."""
    joints = {n: JointCalibration(id=i, direction=1, homing_offset=0, range_min=100, range_max=4000, firmware=firmware)
              for n, i in zip(NAMES, IDS)}
    FeetechCalibration("so101", ft.STS3215_MODEL, joints).save(path)
    return str(path)


def at_default_pose() -> str:
    """--actual for the simulated bus: the arm at its default pose, the gripper at 0."""
    steps = steps_of(np.append(SO101.default_pose, 0.0))
    return ",".join(f"{i}:{s}" for i, s in zip(IDS, steps))


# ----- the stand-in's protocol, without a pty --------------------------------------------------------------------
def test_simulated_bus_answers_bad_frames_with_status_errors_and_sync_reads_in_order():
    bus = SimulatedBus([SimulatedServo(1), SimulatedServo(2, actual=2300)])
    good = ft.packet(2, ft.INST_READ, bytes((ft.PRESENT_POSITION[0], 2)))
    assert bus.feed(good) == [ft.packet(2, 0, (2300).to_bytes(2, "little"))]
    corrupt = good[:-1] + bytes(((good[-1] + 1) & 0xFF,))
    assert bus.feed(corrupt) == [ft.packet(2, ft.ERR_CHECKSUM)]
    read_only = ft.packet(1, ft.INST_WRITE, bytes((ft.MODEL_NUMBER[0], 1, 2)))
    assert bus.feed(read_only) == [ft.packet(1, ft.ERR_INSTRUCTION)]
    assert bus.feed(ft.packet(1, 0x09)) == [ft.packet(1, ft.ERR_INSTRUCTION)]  # no such instruction
    assert bus.feed(ft.packet(1, ft.INST_READ, bytes((ft.TABLE_SIZE - 1, 4)))) == [ft.packet(1, ft.ERR_INSTRUCTION)]
    assert bus.servos[1].get(ft.MODEL_NUMBER) == ft.STS3215_MODEL  # the refused write changed nothing
    answers = bus.feed(b"\x00\x17" + ft.packet(ft.BROADCAST_ID, ft.INST_SYNC_READ, bytes((56, 2, 2, 1))))  # noise first
    assert [a[2] for a in answers] == [2, 1]
    assert bus.feed(ft.packet(ft.BROADCAST_ID, ft.INST_SYNC_WRITE, bytes((42, 2, 1, 0x10, 0x08, 2, 0x00, 0x09)))) == []
    assert (bus.servos[1].get(ft.GOAL_POSITION), bus.servos[2].get(ft.GOAL_POSITION)) == (0x0810, 0x0900)
    assert bus.bad_frames == 3 + 1  # the corrupt one, the read-only write, the unknown instruction, the long read


def test_simulated_servo_tracks_its_goal_and_trips_on_overload():
    servo = SimulatedServo(1)
    servo.write(ft.GOAL_POSITION[0], (2548).to_bytes(2, "little"))
    servo.write(ft.TORQUE_ENABLE[0], b"\x01")
    for _ in range(500):
        servo.step(0.001)
    servo.update_registers()
    assert abs(servo.get(ft.PRESENT_POSITION) - 2548) <= 1
    servo.blocked = True
    servo.write(ft.GOAL_POSITION[0], (3048).to_bytes(2, "little"))
    for _ in range(300):  # 0.3 s > Protection_Time 0.2 s at full load
        servo.step(0.001)
    assert servo.error_bits() & ft.ERR_OVERLOAD and not servo.torque_enabled


# ----- over the pty, through the SDK -----------------------------------------------------------------------------
def test_calibration_round_trip(tmp_path):
    true_offsets = [-300, 150, 0, 420, -75, 260]
    zero = {i: ft.CENTER_STEP + off for i, off in zip(IDS, true_offsets)}
    with SimulatedBusProcess(actual=",".join(f"{i}:{s}" for i, s in zero.items())) as sim:
        travel = {i: (zero[i] - 500 - 10 * i, zero[i] + 600 + 10 * i) for i in IDS}
        bus = FeetechBus(sim.port, timeout_ms=SLOW["timeout_ms"])
        reads, sync_read = [0], bus.sync_read

        def counted(*args):
            reads[0] += 1
            return sync_read(*args)

        def sweep(done: threading.Event) -> None:  # the person's hands, while calibrate reads
            for i, (low, high) in travel.items():
                for target in (low, high, zero[i]):
                    sim.hook(f"move {i} {target}")
                    seen = reads[0]
                    wait_until(lambda: reads[0] >= seen + 2)  # held until read at least once after the move
            done.set()

        bus.sync_read = counted
        try:
            result = calibrate(bus, SO101, IDS, {"wrist_flex"}, lambda: None, sweep)
        finally:
            bus.close()
        result.save(tmp_path / "so101.yaml")
        loaded = load_calibration(tmp_path / "so101.yaml", SO101)
        assert loaded == result
        assert [loaded.joints[n].homing_offset for n in NAMES] == true_offsets
        assert [(loaded.joints[n].range_min, loaded.joints[n].range_max) for n in NAMES] == [
            (ft.CENTER_STEP - 500 - 10 * i, ft.CENTER_STEP + 600 + 10 * i) for i in IDS]
        assert loaded.joints["wrist_flex"].direction == -1 and loaded.joints["elbow_flex"].direction == 1
        # The file drives the arm: a shaft 0.3 rad past its zero reads 0.3 rad (-0.3 where inverted).
        q = np.array([0.3, -0.2, 0.1, 0.3, 0.0])
        for i, qi, d in zip(IDS, q, [1, 1, 1, -1, 1]):
            sim.hook(f"move {i} {zero[i] + d * qi / ft.RAD_PER_STEP:.0f}")
        with create_hardware("feetech", SO101, port=sim.port, calibration=str(tmp_path / "so101.yaml"),
                             **SLOW) as arm:
            np.testing.assert_allclose(arm.read().position, q, atol=ft.RAD_PER_STEP)
        state = sim.state()
        assert [state[i]["present"] for i in IDS[:5]] == [ft.CENTER_STEP + round(d * qi / ft.RAD_PER_STEP)
                                                         for qi, d in zip(q, [1, 1, 1, -1, 1])]


def test_calibrate_cli_writes_the_yaml(tmp_path):
    with SimulatedBusProcess() as sim:
        out = tmp_path / "cal.yaml"
        done = subprocess.run([sys.executable, "-m", "robot_rl.cli", "calibrate", "feetech", "--port", sim.port,
                               "--out", str(out), "--timeout-ms", "200"], input="\n\n", capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        cal = load_calibration(out, SO101)
        assert all(j.homing_offset == 0 and j.range_min == j.range_max == ft.CENTER_STEP for j in cal.joints.values())


def test_so101_follows_a_trajectory_through_the_sdk(tmp_path, so101_model):
    model = so101_model
    with SimulatedBusProcess(actual=at_default_pose()) as sim, \
            create_hardware("feetech", SO101, port=sim.port, calibration=plain_calibration(tmp_path / "c.yaml"),
                            **SLOW) as arm:
        core = ControlCore(model, arm, clock=time.monotonic)
        assert core.command_mode == "position"
        start = arm.read().position
        np.testing.assert_allclose(start, SO101.default_pose, atol=2 * ft.RAD_PER_STEP)
        times = np.linspace(0.25, 2.0, 8)
        offsets = 0.4 * np.sin(np.pi * times / 2.0)[:, None] * np.array([1.0, 0.5, -0.5, 0.8, 1.0])
        core.submit(JointTrajectoryCommand(model.joint_names, time.monotonic(), times, start + offsets))
        errors = []

        def step():
            core.tick()
            errors.append(np.abs(core.follower.reference[0] - core.last_state.position).max())

        loop = FixedRateLoop(model.config.control_period, step, max_ticks=2600).start()
        loop.join()
        final = start + offsets[-1]
        np.testing.assert_allclose(arm.read().position, final, atol=3 * ft.RAD_PER_STEP)
        # The servo lags its goal by speed x (its time constant + the feedback's age): at most 0.63 rad/s here,
        # 0.03 s, and the longest gap between two bus cycles (measured: the stand-in shares a loaded CPU).
        gaps = np.diff(arm.bus_timing()[1])
        bound = 0.63 * (0.03 + 2 * gaps.max() + 0.01) + 3 * ft.RAD_PER_STEP
        print(f"tracking error max {max(errors):.4f} rad (bound {bound:.4f}); bus cycle gap max {gaps.max():.4f} s")
        assert max(errors) < bound
        assert arm.diagnostics()["fault"] == "" and core.limits.counts.overspeed == 0


@pytest.mark.parametrize("hook, cause", [("heat 3 71", "elbow_flex (servo 3): overheat"),
                                         ("block 2", "shoulder_lift (servo 2): overload"),
                                         ("mute 4", "bus: 3 cycles failed in a row")])
def test_a_fault_ends_in_torque_off(tmp_path, hook, cause):
    with SimulatedBusProcess(actual=at_default_pose()) as sim, \
            create_hardware("feetech", SO101, port=sim.port, calibration=plain_calibration(tmp_path / "c.yaml"),
                            **SLOW) as arm:
        assert all(s["torque"] for s in sim.state().values())
        sim.hook(hook)
        if hook.startswith("block"):  # push against the obstacle
            arm.write_position(arm.read().position + np.array([0, 0.5, 0, 0, 0]))
        assert wait_until(lambda: cause in arm.diagnostics()["fault"]), arm.diagnostics()["fault"]
        assert wait_until(lambda: not any(torque(sim)))  # every servo, not only the faulty one
        sim.hook({"heat": "heat 3 30", "block": "unblock 2", "mute": "unmute 4"}[hook.split()[0]])
        arm.clear_fault()
        assert wait_until(lambda: all(torque(sim)))
        assert arm.diagnostics()["fault"] == ""


def test_a_dead_bus_trips_with_the_default_timeout(tmp_path):
    """Every servo silent (a cut cable) with the default options (timeout_ms 100, max_bus_errors 3): the bus
    fault latches; unmuted and cleared, torque comes back."""
    with SimulatedBusProcess(actual=at_default_pose()) as sim, \
            create_hardware("feetech", SO101, port=sim.port, calibration=plain_calibration(tmp_path / "c.yaml")) as arm:
        assert arm.options.timeout_ms == 100.0 and arm.options.max_bus_errors == 3
        for servo_id in IDS:
            sim.hook(f"mute {servo_id}")
        assert wait_until(lambda: "bus: 3 cycles failed in a row" in arm.fault), arm.diagnostics()
        assert "There is no status packet" in arm.fault
        for servo_id in IDS:
            sim.hook(f"unmute {servo_id}")
        assert wait_until(lambda: not any(torque(sim)))  # the torque-off write is re-sent every cycle
        arm.clear_fault()
        assert wait_until(lambda: all(torque(sim)) and arm.fault == "")


def test_stale_feedback_is_a_fault_and_read_raises(tmp_path):
    with SimulatedBusProcess(actual=at_default_pose()) as sim, \
            create_hardware("feetech", SO101, port=sim.port, calibration=plain_calibration(tmp_path / "c.yaml"),
                            timeout_ms=200.0, max_bus_errors=1000, state_timeout_s=0.5) as arm:
        sim.hook("mute 1")
        with pytest.raises(HardwareError, match="no feedback for"):
            wait_until(lambda: arm.read() is None)
        assert "stale feedback" in arm.fault
        assert wait_until(lambda: not any(torque(sim, IDS[1:])))


def test_the_bus_is_refused_by_servo_id_model_and_firmware(tmp_path):
    calibration = plain_calibration(tmp_path / "c.yaml")
    with SimulatedBusProcess(ids="1,2,3,4,5", model="4:2825", servo_firmware="2:3.9") as sim:
        with pytest.raises(ConfigError) as refused:
            create_hardware("feetech", SO101, port=sim.port, calibration=calibration, **SLOW)
    message = str(refused.value)
    assert "shoulder_lift: servo id 2 has firmware 3.9, calibrated with 3.10" in message
    assert "wrist_flex: servo id 4 is model 2825, expected 777" in message
    assert "gripper: servo id 6 does not answer" in message
    assert "shoulder_pan" not in message


def test_hardware_options_name_what_feetech_needs(tmp_path):
    assert hardware_options("feetech", "/dev/ttyACM0", calibration="c.yaml", rt_priority=80) == {
        "port": "/dev/ttyACM0", "calibration": "c.yaml", "rt_priority": 80}
    with pytest.raises(ConfigError, match="'feetech' needs parameter hardware_port"):
        hardware_options("feetech", calibration="c.yaml")
    with pytest.raises(ConfigError, match="'feetech' needs parameter hardware_calibration"):
        hardware_options("feetech", "/dev/ttyACM0")
    with pytest.raises(ConfigError, match="hardware_calibration .* is for hardware 'feetech' only"):
        hardware_options("mujoco", calibration="c.yaml")
    (tmp_path / "bad.yaml").write_text("robot: so101\nmodel: 777\njoints: {shoulder_pan: {id: 1}}\n")
    with pytest.raises(ConfigError, match="bad.yaml: not a calibration file"):
        load_calibration(tmp_path / "bad.yaml", SO101)


def test_position_mode_overspeed_holds_the_measured_position_of_the_fast_joint_only(so101_model):
    model = so101_model
    limits = LastLineLimits(model.limits, hard_velocity=np.array(model.model.velocityLimit), damping=model.config.kd)
    q_ref, v_ref = np.full(5, 0.5), np.full(5, 1.0)
    velocity = np.array([0.0, 20.0, 0.0, -20.0, 1.0])  # joints 1 and 3 above the 9.5 rad/s cap
    q, v = limits.overspeed_position(q_ref, v_ref, np.full(5, 0.1), velocity)
    np.testing.assert_array_equal(q, [0.5, 0.1, 0.5, 0.1, 0.5])
    np.testing.assert_array_equal(v, [1.0, 0.0, 1.0, 0.0, 1.0])
    assert limits.counts.overspeed == 1


def test_bench_feetech_reports_the_round_trip_above_the_wire_time():
    from robot_rl.bench.feetech import run

    result = run(seconds=0.5, rates=(0.0,), baud=1_000_000)["rates"]["back_to_back"]
    assert result["cycles"] > 10 and result["fault"] == ""
    assert result["round_trip_ms"]["p50"] >= result["wire_ms"] == pytest.approx(0.98)  # the stand-in models the wire


def test_leader_arm_hands_over_without_a_jump_and_the_follower_tracks_it(tmp_path, so101_model):
    names = SO101.joints
    leader_pose = np.array(SO101.default_pose) + np.array([0.3, -0.2, 0.25, -0.3, 0.4])
    leader_steps = steps_of(np.append(leader_pose, 0.5))  # jaw half open: gripper 0.5 (open 1.0, closed 0.0)
    with SimulatedBusProcess(actual=",".join(f"{i}:{s}" for i, s in zip(IDS, leader_steps))) as leader_sim, \
            SimulatedBusProcess(actual=at_default_pose()) as follower_sim, \
            create_hardware("feetech", SO101, port=follower_sim.port,
                            calibration=plain_calibration(tmp_path / "follower.yaml"), **SLOW) as arm:
        core = ControlCore(so101_model, arm, clock=time.monotonic)
        loop = FixedRateLoop(so101_model.config.control_period, core.tick).start()
        leader = LeaderArm(SO101, SO101, leader_sim.port, plain_calibration(tmp_path / "leader.yaml"),
                           LeaderConfig(offset_rate=0.5), **SLOW)
        try:
            idle = leader.poll(time.monotonic())
            assert idle.joint_target is None and not idle.engaged and idle.gripper == pytest.approx(0.5, abs=0.01)
            held = arm.read().position
            leader.takeover(dict(zip(names, held)), time.monotonic())
            first = leader.poll(time.monotonic())
            handover_step = np.abs(np.array([first.joint_target[n] for n in names]) - held).max()
            lag, servo_error, start = [], [], time.monotonic()
            mirrored = leader_pose + [0.3, 0, 0, 0, 0]  # where the follower ends: the leader, joint for joint
            # The human swings the leader's shoulder for 1 s; the poll loop runs until the follower has converged
            # (about 1 s after the offset is gone, 0.8 s in) or, on a starved machine, 20 s have passed.
            while (now := time.monotonic()) - start < 20.0 and (
                    now - start < 2.0 or np.abs(core.last_state.position - mirrored).max() > 0.005):
                swing = 0.3 * min(now - start, 1.0)
                leader_sim.hook(f"move 1 {leader_steps[0] + swing / ft.RAD_PER_STEP:.0f}")
                sample = leader.poll(now)
                target = np.array([sample.joint_target[n] for n in names])
                core.submit(JointTrajectoryCommand(names, now, [0.05], [target]))  # a 50 ms chunk to the target
                lag.append(np.abs(core.follower.reference[0] - target).max())
                servo_error.append(core.tracking_error().max())
                time.sleep(0.02)
            final = arm.read().position
        finally:
            leader.close()
            loop.stop()
            loop.join()
        print(f"leader handover step {handover_step:.5f} rad; while the leader moves: reference behind the leader's "
              f"target by at most {max(lag):.3f} rad, servos behind the reference by at most {max(servo_error):.3f} "
              f"rad; at rest {np.abs(final - mirrored).max():.4f} rad from the leader after {now - start:.1f} s")
        assert handover_step < 0.5 * 0.05  # 0 by design, plus the offset's shrink (0.5 rad/s) over one poll
        # After the offset has shrunk (0.4 rad at 0.5 rad/s: 0.8 s), the follower mirrors the leader joint for joint.
        np.testing.assert_allclose(final, mirrored, atol=0.01)
        assert leader.poll(time.monotonic()).connected is False  # closed: disconnected for good
        with pytest.raises(HardwareError, match="lost"):  # the teleop node's ~/takeover answers it as a failure
            leader.takeover(dict(zip(names, held)), time.monotonic())
