"""The bringup graph on the joint-controller firmware: control node, safety filter and demo source as separate
processes over real ROS 2 (Fast DDS), driving the host build of the firmware over a real pty (no mocks).

The host firmware is run with the Panda's URDF effort limits as its torque limits and these motor numbers:

- ``--inertia 1`` kg m^2 per joint (the Panda's own joint inertias at its default pose are 0.1 to 1.7): the
  impedance damping is applied from a measurement a few ms old (pty, Python loop), and a delayed velocity
  feedback kd v(t - T) on an inertia J stays stable while kd T / J < pi / 2. With the Panda's largest kd,
  50 Nm s/rad, that allows T up to 31 ms (31 ticks; at the host's default 0.01 kg m^2, under 1 tick).
  kp 600 Nm/rad on 1 kg m^2 gives 3.9 Hz with damping ratios 0.4 to 1: the demo motion is followed smoothly.
- ``--watchdog-ms 200``: ample above the loop's stalls on a loaded machine (the loop writes every ms), and
  short enough that the trip after SIGTERM is seen within the test.
- the host's default brake damping, 0.5 Nm s/rad: the brake slows the inertia with a time constant
  J / (B + b) = 1.7 s (b, the host's friction, 0.1 Nm s/rad), so the joints still move when the test starts
  reading the line after the node exited, and slow down visibly over the 3 s it reads.
- ``--initial-position``: the motors boot at one extreme of the demo motion (the default pose -0.3 rad on joints
  1, 3, 5, 7 and +0.3 rad on joints 2, 4, 6), inside the limits and collision-free: the demo passes through it. The
  host's default boot pose, 0 rad everywhere, is no Panda pose: joint 4 beyond its limit and the hand inside
  link 5, so the safety filter rightly refuses to plan from there.

The host motors have no gravity, so the control node's gravity feed-forward g(q) (up to 22 Nm on joint 4 around
the default pose) is a constant disturbance its kp holds against: at rest the motors need zero torque, so the
arm settles at q = q_ref + g(q) / kp, a few hundredths of a rad from the reference.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from ros_probe import RosProbe, wait_for
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger

from firmware_host import FirmwareProcess, build_firmware, capture_frames, provisioned_key
from robot_rl import topics
from robot_rl.bringup.graph import bringup_graph
from robot_rl.bringup.runner import GraphRunner
from robot_rl.errors import ConfigError
from robot_rl.hardware import firmware_protocol as fp
from robot_rl.nodes.conversions import joint_state_from_msg, stamp_to_seconds
from robot_rl.robot import RobotModel, load_robot_config

pytestmark = pytest.mark.ros

PANDA_EFFORT_LIMITS = np.array([87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0])  # Nm, the Panda URDF's
INERTIA = 1.0  # kg m^2
WATCHDOG_MS = 200
BRAKE = 0.5  # Nm s/rad, the host's default
BOOT_POSE = load_robot_config("panda").default_pose - 0.3 * np.array([1, -1, 1, -1, 1, -1, 1])  # rad
HARDWARE_STATUS = "control_node: hardware serial"


# ----- configuration: refused before any process starts ------------------------------------------------
def test_graph_passes_the_port_and_key_and_refuses_ones_that_do_not_fit():
    control = bringup_graph(hardware="serial", hardware_port="/dev/ttyACM0", hardware_key_file="/etc/rr.key")[0]
    assert (control.parameters["hardware"], control.parameters["hardware_port"]) == ("serial", "/dev/ttyACM0")
    assert control.parameters["hardware_key_file"] == "/etc/rr.key"
    with pytest.raises(ConfigError, match="hardware 'serial' needs parameter hardware_port"):
        bringup_graph(hardware="serial")
    with pytest.raises(ConfigError, match="hardware 'serial' needs parameter hardware_key_file"):
        bringup_graph(hardware="serial", hardware_port="/dev/ttyACM0")
    with pytest.raises(ConfigError, match="hardware_key_file .* is for hardware 'serial' only"):
        bringup_graph(hardware="mujoco", hardware_key_file="/etc/rr.key")
    with pytest.raises(ConfigError, match=r"hardware_port \('/dev/ttyACM0'\) is for hardware 'serial' only; "
                                          r"hardware 'mujoco' takes no serial port"):
        bringup_graph(hardware="mujoco", hardware_port="/dev/ttyACM0")
    with pytest.raises(ConfigError, match=r"task \('panda-reach'\) simulates a task on MuJoCo hardware only"):
        bringup_graph(hardware="serial", hardware_port="/dev/ttyACM0", hardware_key_file="/etc/rr.key",
                      overrides={"control_node": {"task": "panda-reach"}})


def test_bringup_cli_names_the_missing_port(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "robot_rl.cli", "bringup", "--hardware", "serial",
                           "--log-dir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "hardware 'serial' needs parameter hardware_port" in proc.stderr


# ----- the graph on the firmware ------------------------------------------------------------------------
@pytest.fixture
def firmware(tmp_path):
    """The host firmware with the Panda's limits and the motor numbers of the module docstring, and a fresh key."""
    build_firmware()
    process = FirmwareProcess("--joints", "7", "--limits", ",".join(f"{x:g}" for x in PANDA_EFFORT_LIMITS),
                              "--watchdog-ms", str(WATCHDOG_MS), "--inertia", f"{INERTIA:g}",
                              "--initial-position", ",".join(f"{q:.9g}" for q in BOOT_POSE),
                              key_file=provisioned_key(tmp_path))
    yield process
    assert process.stop() == 0


def hardware_status(diags: list, since: float = 0.0) -> tuple[bytes, str, dict[str, str]] | None:
    """(level, message, values) of the newest hardware status published after ``since`` (s, wall clock)."""
    for _, msg in reversed(diags):
        if stamp_to_seconds(msg.header.stamp) <= since:
            return None
        for status in msg.status:
            if status.name == HARDWARE_STATUS:
                return status.level, status.message, {kv.key: kv.value for kv in status.values}
    return None


def control_value(diags: list, key: str) -> str:
    """``key`` of the newest "control_node" status."""
    for _, msg in reversed(diags):
        for status in msg.status:
            if status.name == "control_node":
                return {kv.key: kv.value for kv in status.values}[key]
    raise AssertionError("no control_node diagnostics received")


def is_armed(status) -> bool:
    """An OK hardware status: the firmware is armed (commands applied), nothing latched."""
    return (status is not None and status[0] == DiagnosticStatus.OK and status[2]["status.ARMED"] == "True"
            and status[2]["fault"] == "")


def joint_arrays(states: list, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(position, velocity, effort), each (messages, joints), of the JointStates received so far."""
    rows = [joint_state_from_msg(msg, names)[1:] for _, msg in list(states)]
    return tuple(np.array([row[i] for row in rows]) for i in range(3))


def test_bringup_drives_the_firmware_and_its_watchdog_brakes_after_sigterm(tmp_path, ros_env, firmware):
    robot = load_robot_config("panda")
    names = robot.joints
    model = RobotModel(robot)
    zero = np.zeros(7)
    held_pose = BOOT_POSE + model.inverse_dynamics(BOOT_POSE, zero, zero) / robot.kp  # q = q_ref + g(q) / kp
    stats_path = tmp_path / "control_stats.json"
    specs = bringup_graph("panda", "serial", hardware_port=firmware.port, hardware_key_file=str(firmware.key_file),
                          overrides={"control_node": {"stats_path": str(stats_path)}})
    control, sources = specs[:1], specs[1:]
    assert [s.name for s in sources] == ["safety_filter", "demo_trajectory_node"]

    with RosProbe() as probe, GraphRunner(control, tmp_path / "control", env=ros_env) as node:
        states = probe.collect(JointState, topics.JOINT_STATES)
        diags = probe.collect(DiagnosticArray, topics.DIAGNOSTICS)

        def latest(index: int) -> np.ndarray:
            return joint_state_from_msg(states[-1][1], names)[index]

        # Alone, the control node holds what the firmware measures: its boot pose (MuJoCo would start at the
        # default pose, 0.3 rad away on every joint), sagged by the gravity feed-forward the motors lack.
        wait_for(lambda: len(states) > 100, timeout=30)
        assert list(states[-1][1].name) == list(names)
        wait_for(lambda: np.abs(latest(1) - held_pose).max() < 0.005, timeout=15)
        wait_for(lambda: is_armed(hardware_status(diags)), timeout=15)
        _, _, values = hardware_status(diags)
        assert values["firmware_rx_rejected"] == "0"  # every command the node sent was a good frame ...
        assert values["firmware_auth_rejected"] == values["firmware_replay_rejected"] == "0"  # ... and authentic
        loop_rt = float(control_value(diags, "rt_scheduling")) == 1.0
        assert values["reader_rt_scheduling"] == str(loop_rt)  # the port is read at the loop's priority
        assert values["torque_limit"] == ",".join(str(x) for x in PANDA_EFFORT_LIMITS)

        # The demo source, through the safety filter, moves the arm from there to its motion around the default
        # pose.
        with GraphRunner(sources, tmp_path / "sources", env=ros_env) as graph:
            wait_for(lambda: np.abs(latest(1) - held_pose).max() > 0.2, timeout=60)
            moved_at = time.time()
            wait_for(lambda: is_armed(hardware_status(diags, since=moved_at)), timeout=15)

            latch_a_fault_and_clear_it(probe, diags, firmware)

            # SIGTERM while the arm moves: the node stops commanding, the firmware's watchdog trips and brakes.
            wait_for(lambda: np.abs(latest(2)).max() > 0.25, timeout=30)
            assert graph.exited() == {} and node.exited() == {}
            node.kill("control_node", signal.SIGTERM)
            frames = [m for m, _ in capture_frames(firmware.port, 3.0) if m.name == "STATE"]
        assert graph.stop() == {s.name: 0 for s in sources}
    assert node.stop() == {"control_node": 0}
    assert json.loads(stats_path.read_text())["commands_accepted"] >= 3  # shut down cleanly, stats written

    position, velocity, effort = joint_arrays(states, names)
    glitched = ~np.isfinite(position).all(axis=1)  # the encoder glitch's tick, as the firmware measured it
    assert glitched.sum() <= 5  # published only if the node read STATE on that very tick
    position, velocity, effort = position[~glitched], velocity[~glitched], effort[~glitched]
    assert np.ptp(position, axis=0).max() > 0.2 and np.abs(velocity).max() > 0.25  # it moved
    assert np.abs(effort).max() > 10.0  # ... driven by the node's torques
    assert np.all(np.abs(effort) <= PANDA_EFFORT_LIMITS * (1 + 1e-6))  # ... within the firmware's limits
    assert_watchdog_tripped_and_braked(frames)


def latch_a_fault_and_clear_it(probe: RosProbe, diags: list, firmware: FirmwareProcess) -> None:
    """A non-finite encoder reading (the host build's SIGUSR1 glitch: nothing without the key can inject a fault on
    the line any more) latches a fault: /diagnostics says so; ~/clear_fault, sent by the node in its session,
    clears it and the firmware is armed again by the node's next command."""
    firmware.process.send_signal(signal.SIGUSR1)
    wait_for(lambda: (s := hardware_status(diags)) is not None and s[0] == DiagnosticStatus.ERROR, timeout=15)
    _, message, values = hardware_status(diags)
    assert message.startswith("latched: ") and "FAULT_LATCHED" in message
    assert values["status.FAULT_LATCHED"] == "True"
    reply = probe.call(Trigger, "/control_node/clear_fault", Trigger.Request())
    assert reply.success, reply.message
    cleared_at = time.time()
    wait_for(lambda: is_armed(hardware_status(diags, since=cleared_at)), timeout=15)


def assert_watchdog_tripped_and_braked(frames: list[fp.Message]) -> None:
    """STATE frames read after the control node exited: nothing applied any more (zero torque from its
    ``close()``), then the watchdog trip and the damping brake slowing the still moving joints."""
    assert len(frames) > 200, len(frames)
    assert len({m["sequence"] for m in frames}) == 1  # no command applied after the node stopped
    is_tripped = [bool(m["status"] & fp.STATUS["WATCHDOG_TRIPPED"]) for m in frames]
    assert any(is_tripped), "the watchdog did not trip"
    first = is_tripped.index(True)
    assert all(is_tripped[first:]), "the watchdog trip did not latch"
    for m in frames[:first]:
        assert np.all(m["effort"] == 0.0)
    tripped = frames[first:]
    for m in tripped:
        np.testing.assert_allclose(m["effort"], -BRAKE * m["velocity"], rtol=1e-6, atol=1e-7)
        assert not m["status"] & fp.STATUS["FAULT_LATCHED"]
    start, end = np.abs(tripped[0]["velocity"]).max(), np.abs(tripped[-1]["velocity"]).max()
    assert start > 0.01, f"joints already at rest when the line was read ({start} rad/s): nothing to brake"
    assert end < 0.7 * start, (start, end)
