"""The human's gripper during a takeover, over real ROS 2 processes (Fast DDS): ``robot-rl bringup --policy P
--teleop keyboard --hil-out D --hil-gripper-labels close``'s control node (the simulated Panda, MuJoCo), command
mux and HIL learner, exactly as bringup configures them. The probe plays the policy node (its chunks on
/robot_rl/policy/command and its gripper, always open, on /robot_rl/policy/gripper: where bringup sends them) and
the teleop node (the intervening flag, chunks holding the arm, and the gripper fraction, 0 open .. 1 closed).

The human's "close" sent before the takeover is dropped; during the takeover it closes the gripper: the mux's
/robot_rl/gripper goes to the closed position, the simulated fingers close (/joint_states), and the learner labels
the steps after it with the gripper closed (+1, where the base keeps it open). A NaN from the device is refused
(counted) and the gripper stays closed; so does a NaN or an out-of-range position published straight to the
control node (refused there, by name). When the human gives back, the policy's open gripper takes over again.
"""

from __future__ import annotations

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


class PolicyAndHuman:
    """The probe's side: the policy's chunks (the default pose) and open gripper at 20 Hz, or while
    ``intervening`` the human's chunks; the human's flag and gripper fraction on demand."""

    def __init__(self, probe: RosProbe):
        node, self.intervening = probe.node, False
        self.policy = node.create_publisher(JointTrajectory, topics.POLICY_COMMAND, 10)
        self.policy_gripper = node.create_publisher(Float64, topics.POLICY_GRIPPER, 10)
        self.teleop = node.create_publisher(JointTrajectory, topics.TELEOP_COMMAND, 10)
        self.flag = node.create_publisher(Bool, topics.TELEOP_INTERVENING, LATCHED)
        self.gripper = node.create_publisher(Float64, topics.TELEOP_GRIPPER, 10)
        node.create_publisher(Float64MultiArray, topics.GOAL, LATCHED).publish(
            Float64MultiArray(data=PANDA.default_pose.tolist()))
        self.flag.publish(Bool(data=False))
        node.create_timer(0.05, self._send)

    def _send(self) -> None:
        msg = JointTrajectory(joint_names=list(PANDA.joints))
        msg.header.stamp = seconds_to_stamp(time.time())
        msg.points = [JointTrajectoryPoint(positions=PANDA.default_pose.tolist())]
        msg.points[0].time_from_start.nanosec = 100_000_000
        (self.teleop if self.intervening else self.policy).publish(msg)
        if not self.intervening:
            self.policy_gripper.publish(Float64(data=OPEN))

    def intervene(self, on: bool) -> None:
        self.intervening = on
        self.flag.publish(Bool(data=on))


def _specs(tmp_path):
    base = _gripper_base(tmp_path / "base.onnx")
    graph = bringup_graph(robot="panda", policy=str(base), teleop="keyboard", hil_out=str(tmp_path / "hil"),
                          hil_gripper_labels="close",
                          overrides={"hil_learner": {"min_transitions": 100000}})  # no learning: labels checked
    specs = {s.name: s for s in graph}
    assert specs["policy_node"].parameters["gripper_topic"] == topics.POLICY_GRIPPER  # what the probe plays
    assert specs["command_mux"].parameters["robot"] == "panda"
    return [specs[name] for name in ("control_node", "command_mux", "hil_learner")]


def _newest(received: list, since: float):
    """The newest message received after ``since`` (s), or None."""
    return next((m for t, m in reversed(list(received)) if t > since), None)


def _fingers(states: list, since: float) -> np.ndarray | None:
    """The finger positions (2,) m of the newest /joint_states received after ``since``, or None."""
    msg = _newest(states, since)
    if msg is None or not set(FINGERS) <= set(msg.name):
        return None
    return np.array([msg.position[msg.name.index(f)] for f in FINGERS])


def test_the_humans_gripper_wins_during_a_takeover_and_the_learner_labels_it(tmp_path, ros_env):
    with GraphRunner(_specs(tmp_path), tmp_path / "logs", env=ros_env) as runner, \
            RosProbe("gripper_probe") as probe:
        gripper = probe.collect(Float64, topics.GRIPPER)
        states = probe.collect(JointState, topics.JOINT_STATES, keep=2000)
        diags = probe.collect(DiagnosticArray, topics.DIAGNOSTICS)
        sides = PolicyAndHuman(probe)
        learner, mux = (lambda name=name: _diagnostics(diags, name) for name in ("hil_learner", "command_mux"))
        _wait(runner, lambda: int(learner().get("transitions", 0)) >= 10, 90, "10 policy steps recorded")
        _wait(runner, lambda: _newest(gripper, 0.0) is not None and _newest(gripper, 0.0).data == OPEN, 10,
              "the policy's open gripper on /robot_rl/gripper")
        sides.gripper.publish(Float64(data=1.0))  # the device's "close" before the takeover
        _wait(runner, lambda: int(mux().get("gripper_teleop_dropped", 0)) >= 1, 10, "the early close dropped")
        assert _newest(gripper, 0.0).data == OPEN
        sides.intervene(True)
        _wait(runner, lambda: int(learner().get("intervened_steps", 0)) >= 5, 20, "5 intervened steps")
        closed_at = time.time()
        sides.gripper.publish(Float64(data=1.0))
        _wait(runner, lambda: (f := _fingers(states, closed_at)) is not None and np.all(f < 0.005), 20,
              "the simulated fingers closed")
        steps = int(learner()["intervened_steps"])
        _wait(runner, lambda: int(learner()["intervened_steps"]) >= steps + 10, 20, "10 steps with it closed")
        sides.gripper.publish(Float64(data=float("nan")))
        _wait(runner, lambda: int(mux().get("gripper_rejected", 0)) >= 1, 10, "the NaN refused")
        robot_side = probe.publisher(Float64, topics.GRIPPER)  # a faulty publisher beside the mux
        for bad in (float("nan"), 0.5):  # the control node's own check; its log is throttled to 1 per s
            robot_side.publish(Float64(data=bad))
            time.sleep(1.2)
        assert np.all(_fingers(states, time.time() - 0.5) < 0.005)
        given_back = time.time()
        sides.intervene(False)
        _wait(runner, lambda: (f := _fingers(states, given_back)) is not None and np.all(f > OPEN - 0.005), 20,
              "the policy's open gripper back")
        stopped = runner.stop()
        logs = {name: runner.log(name) for name in runner.specs}
    assert stopped == {"control_node": 0, "command_mux": 0, "hil_learner": 0}, logs
    assert "teleop gripper command rejected" in logs["command_mux"] and "finite" in logs["command_mux"]
    assert "gripper command rejected: gripper position must be a finite number, got nan" in logs["control_node"]
    assert "gripper command rejected: gripper position 0.5 outside [0.0, 0.04]" in logs["control_node"]
    during = [m.data for t, m in gripper if closed_at < t < given_back]
    assert during and set(during[-5:]) == {CLOSED}, during[-5:]  # held (republished), NaN or not
    data = load_transitions(tmp_path / "hil" / "transitions")
    label, intervened = data["action"][:, PANDA.dof], data["intervened"].astype(bool)
    closed = np.flatnonzero(label > 0)
    assert set(np.round(label, 6)) == {0.0, 1.0}, label  # +1: the executed gripper closed, the base's open
    assert len(closed) >= 10 and np.all(intervened[closed]), (label, intervened)
    assert np.all(label[: np.argmax(intervened)] == 0.0)  # the policy's steps and the early close: open
