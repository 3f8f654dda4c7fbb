"""The human's gripper during a takeover, over real ROS 2 processes (Fast DDS): ``robot-rl bringup --policy P
--teleop keyboard --hil-out D --hil-gripper-labels close``'s control node (the simulated Panda, MuJoCo), command
mux, teleop node (keys typed on a real pty) and HIL learner, exactly as bringup configures them. The probe plays
the policy node: its chunks on /robot_rl/policy/command and its gripper, always open, on /robot_rl/policy/gripper
(where bringup sends them).

A device's "close" sent before the takeover is dropped; during the takeover the human's ``c`` closes the gripper:
the mux's /robot_rl/gripper goes to the closed position, the simulated fingers close (/joint_states), and the
learner labels the steps after it with the gripper closed (+1, where the base keeps it open). A NaN from a device
is refused (counted) and the gripper stays closed; so does a NaN or an out-of-range position published straight
to the control node (refused there, by name). When the human gives back, the policy's open gripper takes over.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import DurabilityPolicy, QoSProfile
from ros_probe import RosProbe
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64, Float64MultiArray
from test_hil_classifier_graph import _gripper_base
from test_hil_graph import PANDA, _diagnostics, _wait
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from robot_rl import topics
from robot_rl.bringup.graph import bringup_graph
from robot_rl.bringup.runner import GraphRunner
from robot_rl.hil.replay import load_transitions
from robot_rl.nodes.conversions import seconds_to_stamp

pytestmark = pytest.mark.ros
LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
OPEN, CLOSED = PANDA.gripper.open_position, PANDA.gripper.closed_position
FINGERS = list(PANDA.gripper.joints)
NODES = ("control_node", "command_mux", "teleop_node", "hil_learner")


def _play_the_policy(probe: RosProbe) -> None:
    """The policy node's outputs at 20 Hz: chunks holding the default pose, the gripper open; and the goal."""
    command = probe.publisher(JointTrajectory, topics.POLICY_COMMAND)
    gripper = probe.publisher(Float64, topics.POLICY_GRIPPER)
    probe.node.create_publisher(Float64MultiArray, topics.GOAL, LATCHED).publish(
        Float64MultiArray(data=PANDA.default_pose.tolist()))

    def send() -> None:
        msg = JointTrajectory(joint_names=list(PANDA.joints))
        msg.header.stamp = seconds_to_stamp(time.time())
        msg.points = [JointTrajectoryPoint(positions=PANDA.default_pose.tolist())]
        msg.points[0].time_from_start.nanosec = 100_000_000
        command.publish(msg)
        gripper.publish(Float64(data=OPEN))

    probe.node.create_timer(0.05, send)


def _specs(tmp_path, device: str):
    base = _gripper_base(tmp_path / "base.onnx")
    graph = bringup_graph(robot="panda", policy=str(base), teleop="keyboard", teleop_device=device,
                          hil_out=str(tmp_path / "hil"), hil_gripper_labels="close",
                          overrides={"hil_learner": {"min_transitions": 100000}})  # no learning: labels checked
    specs = {s.name: s for s in graph}
    assert specs["policy_node"].parameters["gripper_topic"] == topics.POLICY_GRIPPER  # what the probe plays
    assert specs["command_mux"].parameters["robot"] == "panda"
    return [specs[name] for name in NODES]


def _newest(received: list, since: float):
    """The newest message received after ``since`` (s), or None."""
    return next((m for t, m in reversed(list(received)) if t > since), None)


def _fingers(states: list, since: float) -> np.ndarray | None:
    """The finger positions (2,) m of the newest /joint_states received after ``since``, or None."""
    msg = _newest(states, since)
    if msg is None or not set(FINGERS) <= set(msg.name):
        return None
    return np.array([msg.position[msg.name.index(f)] for f in FINGERS])


def test_the_humans_gripper_wins_during_a_takeover_and_the_learner_labels_it(pty_pair, tmp_path, ros_env):
    master, slave = pty_pair
    with GraphRunner(_specs(tmp_path, os.ttyname(slave)), tmp_path / "logs", env=ros_env) as runner, \
            RosProbe("gripper_probe") as probe:
        gripper = probe.collect(Float64, topics.GRIPPER)
        states = probe.collect(JointState, topics.JOINT_STATES, keep=2000)
        diags = probe.collect(DiagnosticArray, topics.DIAGNOSTICS)
        intervention = probe.collect(Bool, topics.INTERVENTION)
        device = probe.publisher(Float64, topics.TELEOP_GRIPPER)  # another device's gripper, as the node sends it
        _play_the_policy(probe)
        learner, mux = (lambda name=name: _diagnostics(diags, name) for name in ("hil_learner", "command_mux"))
        _wait(runner, lambda: int(learner().get("transitions", 0)) >= 10, 90, "10 policy steps recorded")
        _wait(runner, lambda: (m := _newest(gripper, 0.0)) is not None and m.data == OPEN, 10,
              "the policy's open gripper on /robot_rl/gripper")
        device.publish(Float64(data=1.0))  # a device's "close" before the takeover
        _wait(runner, lambda: int(mux().get("gripper_teleop_dropped", 0)) >= 1, 10, "the early close dropped")
        assert _newest(gripper, 0.0).data == OPEN
        os.write(master, b" ")  # take over
        _wait(runner, lambda: int(learner().get("intervened_steps", 0)) >= 5, 20, "5 intervened steps")
        closed_at = time.time()
        os.write(master, b"c")
        _wait(runner, lambda: (f := _fingers(states, closed_at)) is not None and np.all(f < 0.005), 20,
              "the simulated fingers closed")
        steps = int(learner()["intervened_steps"])
        _wait(runner, lambda: int(learner()["intervened_steps"]) >= steps + 10, 20, "10 steps with it closed")
        device.publish(Float64(data=float("nan")))
        _wait(runner, lambda: int(mux().get("gripper_rejected", 0)) >= 1, 10, "the NaN refused")
        robot_side = probe.publisher(Float64, topics.GRIPPER)  # a faulty publisher beside the mux
        for bad in (float("nan"), 0.5):  # the control node's own check; its log is throttled to 1 per s
            robot_side.publish(Float64(data=bad))
            time.sleep(1.2)
        assert np.all(_fingers(states, closed_at) < 0.005)
        given_back = time.time()
        os.write(master, b" ")
        _wait(runner, lambda: (f := _fingers(states, given_back)) is not None and np.all(f > OPEN - 0.005), 20,
              "the policy's open gripper back")
        stopped = runner.stop()
        logs = {name: runner.log(name) for name in runner.specs}
    assert stopped == dict.fromkeys(NODES, 0), logs
    assert [m.data for _, m in intervention][-2:] == [True, False]
    assert "teleop gripper command rejected" in logs["command_mux"] and "finite" in logs["command_mux"]
    assert "gripper command rejected: gripper position must be a finite number, got nan" in logs["control_node"]
    assert "gripper command rejected: gripper position 0.5 outside [0.0, 0.04]" in logs["control_node"]
    during = [m.data for t, m in gripper if closed_at < t < given_back]
    assert during and set(during[-5:]) == {CLOSED}, during[-5:]  # held (republished), NaN or not
    data = load_transitions(tmp_path / "hil" / "transitions")
    label, intervened = data["action"][:, PANDA.dof], data["intervened"].astype(bool)
    closed = np.flatnonzero(label > 0)
    assert set(np.round(label, 6)) == {0.0, 1.0}, label  # +1: the executed gripper closed, the base's open
    assert len(closed) >= 10 and intervened[closed[0]], (label, intervened)
    # closed on intervened steps only, but for the steps after the give-back that ran before the policy's next
    # gripper command (the executed gripper was still closed then)
    assert np.all(closed[~intervened[closed]] > np.flatnonzero(intervened)[-1]), (label, intervened)
    assert np.all(label[: np.argmax(intervened)] == 0.0)  # the policy's steps and the early close: open
