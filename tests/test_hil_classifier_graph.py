"""The HIL learner node with ``reward_source: classifier`` and ``gripper_labels: close`` over real ROS 2 (its own
process, Fast DDS): the exported success classifier (ONNX with its contract, onnxruntime in the node) gives the
reward and ends the episode, and the executed gripper state (/robot_rl/gripper) labels the gripper entry.

The classifier is trained here on synthetic frames of the base's ``joint_pos`` term: success iff joint 1 is more
than 0.1 rad past its default. The test plays the robot, the mux and the human (:class:`test_hil_graph.MuxStandIn`,
the human driving every step): the arm stands at its default pose with the gripper open, the human closes the
gripper (the base keeps it open), then the arm jumps to the success pose. The stored transitions must carry the
classifier's verdicts: each transition is terminal with reward 1 exactly where the classifier, run here on its
stored next state, says success; the gripper entry of the steps with the gripper closed is +1, 0 before. A bad
classifier file (the base policy itself) stops the node at start with an error naming the problem."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
import torch
from diagnostic_msgs.msg import DiagnosticArray
from ros_probe import RosProbe
from sensor_msgs.msg import JointState
from policy_helpers import JointTargetPolicy, export_onnx, panda_contract
from std_msgs.msg import Float64
from test_hil_graph import PANDA, MuxStandIn, _diagnostics, _wait

from robot_rl import topics
from robot_rl.bringup.graph import node_spec
from robot_rl.bringup.runner import GraphRunner
from robot_rl.hil.classifier import load_classifier, sigmoid
from robot_rl.hil.replay import load_transitions
from robot_rl.nodes.conversions import seconds_to_stamp
from robot_rl.policy.contract import ActionSpec, TensorSpec, load_policy, write_policy

pytestmark = pytest.mark.ros
SUCCESS_RAD = 0.1  # the classifier's success: joint 1 more than this past its default
SUCCESS_POSE = PANDA.default_pose + np.r_[0.2, np.zeros(PANDA.dof - 1)]


class MovableRobot(MuxStandIn):
    """:class:`MuxStandIn` whose measured joint positions are ``self.position`` (default pose at first), and whose
    gripper command on /robot_rl/gripper is ``self.gripper`` (m per finger; open at first)."""

    def __init__(self, probe: RosProbe):
        self.position, self.gripper = PANDA.default_pose.copy(), PANDA.gripper.open_position
        self.gripper_pub = probe.node.create_publisher(Float64, topics.GRIPPER, 10)
        super().__init__(probe)

    def _publish_state(self) -> None:
        if self.robot_on:
            msg = JointState(name=list(PANDA.joints), position=self.position.tolist(), velocity=[0.0] * PANDA.dof)
            msg.header.stamp = seconds_to_stamp(time.time())
            self.states.publish(msg)
            self.gripper_pub.publish(Float64(data=self.gripper))


class OpenGripperTargetPolicy(JointTargetPolicy):
    """JointTargetPolicy's chunk (B, H, n) and a gripper scalar of -1 (open) on every step: (B, H, n + 1)."""

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        arm = super().forward(obs)
        return torch.cat([arm, -torch.ones_like(arm[..., :1])], dim=-1)


def _gripper_base(path):
    """A chunked 20 Hz base whose action has the gripper scalar (always open)."""
    torch.manual_seed(0)
    n, default = PANDA.dof, PANDA.default_pose.tolist()
    contract = panda_contract(horizon=4, n_action_steps=2, policy_hz=20.0,
                              action=ActionSpec("joint_pos_abs", scale=0.5, offset=default, gripper=True),
                              outputs=(TensorSpec("actions", ("batch", 4, n + 1), role="action"),))
    write_policy(export_onnx(OpenGripperTargetPolicy(n, horizon=4), (torch.zeros(1, 3 * n),), ["obs"], ["actions"]),
                 contract, path)
    return path


def _classifier(base, path):
    """A tiny classifier (16 hidden units) of the base's joint_pos term, fitted to 'joint 1 > SUCCESS_RAD'."""
    from robot_rl.hil.classifier_train import ClassifierConfig, export_classifier, train_classifier

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    frames = rng.normal(0.0, 0.02, (1200, PANDA.dof))
    frames[:, 0] = rng.uniform(-0.3, 0.3, 1200)
    model, threshold, _ = train_classifier(frames, frames[:, 0] > SUCCESS_RAD, np.arange(1200) // 20,
                                           ClassifierConfig(hidden=16, steps=300, lr=3e-3))
    export_classifier(model, load_policy(base).contract, threshold, path, frames[:2], ("joint_pos",))
    return path


def _learner(name: str, base, out, classifier):
    spec = node_spec("hil_learner", {"robot": "panda", "base_policy_path": str(base), "out_dir": str(out),
                                     "reward_source": "classifier", "classifier_path": str(classifier),
                                     "gripper_labels": "close",
                                     "min_transitions": 100000})  # no learning: the labels are what is checked
    return dataclasses.replace(spec, name=name)


def _bad_classifiers(base):
    """A bad classifier file: the base policy (a valid policy, not a classifier). A file whose bytes do not match
    its sidecar is refused by the same load_policy checks as any policy (tests/test_contract.py)."""
    return {"hil_learner_not_a_classifier": (base, "not a reward classifier")}


def test_the_learner_node_stores_the_classifiers_rewards_and_refuses_a_bad_classifier(tmp_path, ros_env):
    base = _gripper_base(tmp_path / "base.onnx")
    classifier = _classifier(base, tmp_path / "success.onnx")
    bad = _bad_classifiers(base)
    out = tmp_path / "hil"
    bad_specs = [_learner(name, base, tmp_path / name, path) for name, (path, _) in bad.items()]
    with GraphRunner([_learner("hil_learner", base, out, classifier)], tmp_path / "logs", env=ros_env) as runner, \
            GraphRunner(bad_specs, tmp_path / "bad_logs", env=ros_env) as bad_runner, \
            RosProbe("hil_clf_probe") as probe:
        diags = probe.collect(DiagnosticArray, topics.DIAGNOSTICS)
        robot = MovableRobot(probe)
        robot.intervene(True)  # the human drives every step: /robot_rl/command without a policy node
        learner = lambda: _diagnostics(diags, "hil_learner")  # noqa: E731
        _wait(runner, lambda: int(learner().get("transitions", 0)) >= 20, 120, "20 transitions at the default pose")
        robot.gripper, closed_at = PANDA.gripper.closed_position, time.time()  # the base keeps it open
        _wait(runner, lambda: diags[-1][0] > closed_at + 0.5, 10, "diagnostics after the gripper closed")
        closed_from = int(learner()["transitions"])  # at least the count when it closed
        _wait(runner, lambda: int(learner()["transitions"]) >= closed_from + 12, 30, "12 steps with it closed")
        robot.position = SUCCESS_POSE  # the classifier fires: a success, the episode ends
        _wait(runner, lambda: learner().get("phase") == "resetting", 20, "the classifier's success")
        ended = learner()
        time.sleep(1.0)  # resetting: nothing more is recorded
        after = learner()
        _wait(runner, lambda: set(bad_runner.exited()) == set(bad), 120, "the bad classifiers' refusals")
        stopped, refused = runner.stop(), bad_runner.stop()
        logs = {name: r.log(name) for r in (runner, bad_runner) for name in r.specs}
    assert stopped == {"hil_learner": 0} and refused == {name: 2 for name in bad}, logs
    for name, (path, problem) in bad.items():
        assert f"cannot start: {path}" in logs[name] and problem in logs[name], logs[name]
    assert (ended["episodes_success"], ended["transitions"]) == ("1", after["transitions"]), (ended, after)
    data = load_transitions(out / "transitions")
    assert len(data["reward"]) == int(ended["transitions"]) >= 20
    classifier = load_classifier(classifier)
    fired = sigmoid(classifier.logits(data["next_obs"][:, :PANDA.dof])) >= classifier.threshold  # joint_pos term
    np.testing.assert_array_equal(data["done"], fired)
    np.testing.assert_array_equal(data["reward"], fired.astype(float))
    assert fired[-1] and fired.sum() == 1  # one success, the episode's last transition
    gripper = data["action"][:, PANDA.dof]  # (executed - base) / 2: +1 where the human closed it, else the base's
    switch = int(np.argmax(gripper > 0))
    assert set(np.round(gripper, 6)) == {0.0, 1.0} and np.all(gripper[switch:] == 1.0), gripper
    assert switch >= 15 and len(gripper) - switch >= 8, (switch, closed_from, len(gripper))
