"""Teleop and command mux as separate ROS 2 processes over Fast DDS, driven by keystrokes on a real pty.

The teleop node reads keys from a pseudo-terminal's slave (its ``device``); the test types into the master.
In the first tests the probe plays the rest of the graph: /joint_states at a fixed pose and a policy-like
source on /robot_rl/policy/command (its chunks carry a marker pose); it watches what the mux lets through to
/robot_rl/command, the mux's /robot_rl/hil/intervention, the episode outcomes and the mux's /diagnostics.
The last test runs the whole ``bringup --policy P --teleop keyboard`` graph on the simulated Panda.
"""

from __future__ import annotations

import os
import subprocess
import sys
import termios
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import DurabilityPolicy, QoSProfile
from ros_probe import RosProbe, wait_for
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from trajectory_msgs.msg import JointTrajectory

from robot_rl import topics
from robot_rl.bringup.graph import bringup_graph
from robot_rl.bringup.runner import GraphRunner
from robot_rl.command import JointTrajectoryCommand
from robot_rl.nodes.conversions import seconds_to_stamp, trajectory_from_msg, trajectory_to_msg
from robot_rl.params import load_param_specs
from robot_rl.robot import load_robot_model

pytestmark = pytest.mark.ros
MODEL = load_robot_model("panda")
Q = MODEL.config.default_pose
POLICY_Q = Q + 0.05  # the policy-like source's marker pose
LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
START_TIMEOUT = 40.0  # s: two node processes importing rclpy and pinocchio on a loaded 2-core machine
IN_FLIGHT = 0.3  # s: messages sent before a switch may still arrive this long after the switch is seen


def _latched(probe: RosProbe, topic: str) -> list[tuple[float, bool]]:
    """(receive time s, data) of every std_msgs/Bool on ``topic``, subscribed transient local (latched)."""
    received: list = []
    probe.node.create_subscription(Bool, topic, lambda m: received.append((time.time(), m.data)), LATCHED)
    return received


class Harness:
    """The probe's side of the graph: joint states + policy-like source out, everything of interest in."""

    def __init__(self, probe: RosProbe):
        self.probe = probe
        self.commands = probe.collect(JointTrajectory, topics.COMMAND)
        self.diagnostics = probe.collect(DiagnosticArray, topics.DIAGNOSTICS)
        self.outcomes = probe.collect(Bool, topics.EPISODE_OUTCOME)
        self.intervention = _latched(probe, topics.INTERVENTION)
        self.intervening = _latched(probe, topics.TELEOP_INTERVENING)
        self._states = probe.publisher(JointState, topics.JOINT_STATES)
        self._policy = probe.publisher(JointTrajectory, topics.POLICY_COMMAND)
        probe.node.create_timer(0.01, self._publish_state)
        probe.node.create_timer(0.05, self._publish_policy)

    def _publish_state(self) -> None:
        msg = JointState(name=list(MODEL.joint_names), position=Q.tolist(), velocity=[0.0] * MODEL.dof)
        msg.header.stamp = seconds_to_stamp(time.time())
        self._states.publish(msg)

    def _publish_policy(self) -> None:
        chunk = JointTrajectoryCommand(MODEL.joint_names, time.time(), [0.05, 0.1], [POLICY_Q, POLICY_Q],
                                       source="policy")
        self._policy.publish(trajectory_to_msg(chunk))

    def chunks(self, since: float, until: float = float("inf")) -> list[tuple[str, JointTrajectoryCommand]]:
        """(``policy`` | ``teleop``, chunk) of every /robot_rl/command message received in [since, until)."""
        out = []
        for t, msg in list(self.commands):
            if since <= t < until:
                chunk = trajectory_from_msg(msg, t).in_order(MODEL.joint_names)
                out.append(("policy" if np.allclose(chunk.positions[0], POLICY_Q) else "teleop", chunk))
        return out

    def count(self, kind: str, since: float) -> int:
        return sum(1 for k, _ in self.chunks(since) if k == kind)

    def mux_diagnostics(self) -> dict[str, str] | None:
        for _, msg in reversed(list(self.diagnostics)):
            for status in msg.status:
                if status.name == "command_mux":
                    return {kv.key: kv.value for kv in status.values}
        return None


def _graph(device: str, tmp_path, env) -> GraphRunner:
    """The teleop node and the command mux, exactly as ``robot-rl bringup --teleop keyboard`` starts them."""
    specs = [s for s in bringup_graph(teleop="keyboard", source="none", teleop_device=device)
             if s.name in ("command_mux", "teleop_node")]
    return GraphRunner(specs, tmp_path, env=env)


def _hold(master: int, key: bytes, condition, timeout: float = 10.0, repeat_s: float = 0.04) -> None:
    """Type ``key`` at the terminal's autorepeat rate until ``condition()`` holds (TimeoutError after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"holding {key!r}: condition not met within {timeout} s")
        os.write(master, key)
        time.sleep(repeat_s)


def _motion(chunk: JointTrajectoryCommand) -> np.ndarray:
    """End-effector displacement (3,) m from the measured pose to the chunk's last waypoint."""
    return MODEL.fk(chunk.positions[-1]) - MODEL.fk(Q)


def _moves_along(direction: np.ndarray):
    def check(chunk: JointTrajectoryCommand) -> bool:
        moved = _motion(chunk)
        return np.linalg.norm(moved) > 0.005 and moved @ direction / np.linalg.norm(moved) > 0.95
    return check


def _is_hold(chunk: JointTrajectoryCommand) -> bool:
    return np.allclose(chunk.positions, Q, atol=1e-12)


def _start(harness: Harness, graph: GraphRunner) -> None:
    """Wait until the policy's chunks pass the mux and the teleop node has its terminal (flag latched)."""
    wait_for(lambda: harness.count("policy", 0.0) >= 3 and harness.intervening and harness.intervention,
             timeout=START_TIMEOUT)
    assert graph.exited() == {}
    assert harness.intervening[-1][1] is False and harness.intervention[-1][1] is False


def _take_over(master: int, intervention: list[tuple[float, bool]]) -> tuple[float, float]:
    """Press space; wait for the mux's intervention flag (as collected by :func:`_latched`); return when space
    was pressed and when the probe saw the flag (s)."""
    pressed = time.time()
    os.write(master, b" ")
    wait_for(lambda: intervention and intervention[-1][1] is True, timeout=10)
    return pressed, intervention[-1][0]


def test_keys_take_over_move_the_end_effector_and_give_back(pty_pair, tmp_path, ros_env):
    master, slave = pty_pair
    before = termios.tcgetattr(slave)
    with _graph(os.ttyname(slave), tmp_path, ros_env) as graph, RosProbe() as probe:
        harness = Harness(probe)
        _start(harness, graph)
        assert harness.count("teleop", 0.0) == 0
        assert not termios.tcgetattr(slave)[3] & (termios.ICANON | termios.ECHO)  # the node's cbreak mode

        t_pressed, t_on = _take_over(master, harness.intervention)
        for key, direction in ((b"w", [1, 0, 0]), (b"d", [0, -1, 0]), (b"r", [0, 0, 1])):
            moving = _moves_along(np.array(direction, float))
            since = time.time()
            _hold(master, key, lambda: sum(moving(c) for k, c in harness.chunks(since) if k == "teleop") >= 5)
            released = time.time()  # the twist drops back to zero: the human's chunks hold the measured pose
            wait_for(lambda: any(_is_hold(c) for k, c in harness.chunks(released) if k == "teleop"), timeout=5)
        os.write(master, b"yn")
        wait_for(lambda: len(harness.outcomes) >= 2, timeout=10)
        assert [m.data for _, m in harness.outcomes] == [True, False]
        assert harness.intervening[-1][1] is True

        t_off_pressed = time.time()
        os.write(master, b" ")
        wait_for(lambda: harness.intervention[-1][1] is False, timeout=10)
        t_off = harness.intervention[-1][0]
        wait_for(lambda: harness.count("policy", t_off) >= 5, timeout=10)
        wait_for(lambda: (harness.mux_diagnostics() or {}).get("interventions") == "1"
                 and harness.mux_diagnostics()["state"] == "policy", timeout=10)
        late = _latched(probe, topics.INTERVENTION)
        wait_for(lambda: late, timeout=10)
        assert late[-1][1] is False  # latched: a late subscriber gets the current state
        assert graph.exited() == {}
    codes = graph.stop()
    assert codes == {"command_mux": 0, "teleop_node": 0}, (graph.log("teleop_node"), graph.log("command_mux"))
    assert termios.tcgetattr(slave) == before  # the node gave the terminal back as it found it

    # While intervening only teleop chunks reached /robot_rl/command; before and after only the policy's.
    during = harness.chunks(t_on + IN_FLIGHT, t_off_pressed)
    assert during and all(kind == "teleop" for kind, _ in during), [k for k, _ in during]
    assert all(kind == "policy" for kind, _ in harness.chunks(0.0, t_pressed))
    assert all(kind == "policy" for kind, _ in harness.chunks(t_off + IN_FLIGHT))
    cap = MODEL.limits.velocity * load_param_specs("teleop")["velocity_fraction"].default
    assert all(np.all(np.abs(c.velocities) <= cap + 1e-9) for _, c in during)
    counts = harness.mux_diagnostics()
    print({k: counts[k] for k in ("policy_forwarded", "policy_dropped", "teleop_forwarded", "teleop_dropped")})
    assert int(counts["policy_dropped"]) > 0 and int(counts["teleop_forwarded"]) >= 15
    assert "human takes over" in graph.log("teleop_node") and "intervention over" in graph.log("command_mux")


def test_a_killed_teleop_node_leaves_the_mux_forwarding_nothing_not_the_policy(pty_pair, tmp_path, ros_env):
    master, slave = pty_pair
    with _graph(os.ttyname(slave), tmp_path, ros_env) as graph, RosProbe() as probe:
        harness = Harness(probe)
        _start(harness, graph)
        _, t_on = _take_over(master, harness.intervention)
        wait_for(lambda: harness.count("teleop", t_on) >= 5, timeout=10)
        graph.kill("teleop_node")  # SIGKILL: its latched "intervening" stays True at the mux
        wait_for(lambda: (harness.mux_diagnostics() or {}).get("state") == "teleop_stale", timeout=10)
        stale_seen = time.time()
        dropped = int(harness.mux_diagnostics()["policy_dropped"])
        wait_for(lambda: int(harness.mux_diagnostics()["policy_dropped"]) >= dropped + 20, timeout=10)
        assert harness.chunks(stale_seen) == []  # the policy kept publishing; nothing went through
        assert harness.intervention[-1][1] is True
        assert "teleop commands stale" in graph.log("command_mux")
    assert graph.stop()["command_mux"] == 0


def test_teleop_node_without_its_terminal_exits_2_naming_the_device(tmp_path, ros_env):
    device = tmp_path / "no_such_tty"
    proc = subprocess.run([sys.executable, "-m", "robot_rl.nodes.teleop_node", "--ros-args", "-p",
                           f"device:={device}"], env={**os.environ, **ros_env}, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert f"teleop device '{device}' cannot be opened" in proc.stderr + proc.stdout


def test_bringup_with_keyboard_teleop_routes_the_source_through_the_mux(tmp_path):
    from policy_helpers import write_joint_target_policy

    from robot_rl.bringup.cli import _teleop_device
    from robot_rl.errors import ConfigError

    specs = {s.name: s for s in bringup_graph(teleop="keyboard", teleop_device="/dev/pts/7")}
    assert list(specs) == ["control_node", "safety_filter", "command_mux", "demo_trajectory_node", "teleop_node"]
    assert specs["demo_trajectory_node"].parameters["command_topic"] == topics.POLICY_COMMAND
    assert specs["command_mux"].parameters["policy_topic"] == topics.POLICY_COMMAND
    assert specs["command_mux"].parameters["output_topic"] == specs["safety_filter"].parameters["command_topic"]
    assert specs["teleop_node"].parameters["device"] == "/dev/pts/7"
    policy = tmp_path / "policy.onnx"
    write_joint_target_policy(policy)
    with_teleop = {s.name: s for s in bringup_graph(policy=str(policy), teleop="keyboard")}
    assert with_teleop["policy_node"].parameters["command_topic"] == topics.POLICY_COMMAND
    assert {s.name: s for s in bringup_graph(policy=str(policy))}["policy_node"].parameters["command_topic"] \
        == topics.COMMAND
    with pytest.raises(ConfigError, match="unknown teleop device 'wheel'"):
        bringup_graph(teleop="wheel")
    for kind in ("spacemouse", "gamepad"):  # "": the first one found (docs/teleop.md)
        teleop = {s.name: s for s in bringup_graph(teleop=kind)}["teleop_node"].parameters
        assert (teleop["kind"], teleop["device"]) == (kind, "")
        assert _teleop_device(type("Args", (), {"teleop": kind, "teleop_device": None})()) == ""
    args = type("Args", (), {"teleop": "keyboard", "teleop_device": None})()
    with open(os.devnull) as not_a_tty, pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "stdin", not_a_tty)
        with pytest.raises(ConfigError, match="reads keys from a terminal"):
            _teleop_device(args)


def test_the_human_takes_over_a_running_policy_on_the_simulated_robot(pty_pair, tmp_path, ros_env):
    """``robot-rl bringup --policy P --teleop keyboard``'s graph (MuJoCo, safety filter, mux, policy, teleop):
    the policy holds the default pose; the human lifts the hand 3 cm; given back, the policy brings it back."""
    from policy_helpers import write_joint_target_policy
    from std_msgs.msg import Float64MultiArray

    from robot_rl.nodes.conversions import joint_state_from_msg

    master, slave = pty_pair
    policy = tmp_path / "policy.onnx"
    write_joint_target_policy(policy)
    specs = bringup_graph(policy=str(policy), teleop="keyboard", teleop_device=os.ttyname(slave))
    with GraphRunner(specs, tmp_path / "logs", env=ros_env) as graph, RosProbe() as probe:
        states = probe.collect(JointState, topics.JOINT_STATES, keep=100)
        commands = probe.collect(JointTrajectory, topics.COMMAND, keep=100)
        intervention = _latched(probe, topics.INTERVENTION)
        goal = probe.node.create_publisher(Float64MultiArray, topics.GOAL, LATCHED)
        goal.publish(Float64MultiArray(data=Q.tolist()))  # latched: the policy node gets it when it joins

        def hand() -> np.ndarray:
            return MODEL.fk(joint_state_from_msg(states[-1][1], MODEL.joint_names)[1])

        wait_for(lambda: len(commands) >= 20 and states and intervention, timeout=60)
        wait_for(lambda: np.linalg.norm(hand() - MODEL.fk(Q)) < 0.005, timeout=15)  # the policy holds
        start = hand()
        _take_over(master, intervention)
        _hold(master, b"r", lambda: hand()[2] > start[2] + 0.03, timeout=15)  # +z at 0.1 m/s
        lifted = hand()
        assert np.linalg.norm((lifted - start)[:2]) < 0.01, lifted - start  # straight up
        os.write(master, b" ")
        wait_for(lambda: intervention[-1][1] is False, timeout=10)
        wait_for(lambda: np.linalg.norm(hand() - start) < 0.005, timeout=15)  # the policy's turn again
        assert graph.exited() == {}
    codes = graph.stop()
    assert codes == {"control_node": 0, "safety_filter": 0, "command_mux": 0, "policy_node": 0,
                     "teleop_node": 0}, codes
    assert "intervention over" in graph.log("command_mux")
