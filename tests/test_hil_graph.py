"""The HIL loop over real ROS 2 (separate processes, Fast DDS): the policy node (behind a command mux, its
output remapped to /robot_rl/policy/command) and the HIL learner node; the test stands in for the robot
(/joint_states), the mux and the human (the mux forwards the policy's command, or while the human intervenes
the human's: the goal plus a correction; then the human presses "success"). The learner stores transitions on disk whose labels are the
correction in residual units, exports a residual, the policy node hot-swaps it (its commands change), and
a residual made for another base is refused while the learned one stays; an empty path drops the residual."""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from policy_helpers import write_joint_target_policy, write_residual_policy
from rclpy.qos import DurabilityPolicy, QoSProfile
from ros_probe import RosProbe
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray, String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from robot_rl import topics
from robot_rl.bringup.graph import node_spec
from robot_rl.bringup.runner import GraphRunner
from robot_rl.hil.replay import load_transitions
from robot_rl.nodes.conversions import seconds_to_stamp
from robot_rl.policy.contract import load_policy
from robot_rl.robot import load_robot_config

pytestmark = pytest.mark.ros
PANDA = load_robot_config("panda")
GOAL = PANDA.default_pose + 0.2
CORRECTION = 0.05  # rad the "human" adds to every joint target
RESIDUAL_SCALE = 0.2  # raw units; the base's action scale is 0.5 rad per raw unit
LABEL = CORRECTION / 0.5 / RESIDUAL_SCALE  # 0.5
LATCHED = QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL)


class MuxStandIn:
    """The robot, the human and the command mux, from the test: /joint_states at 50 Hz (arm at its default
    pose), the goal; to /robot_rl/command the mux forwards the policy's command, or while ``intervening`` the
    human's (teleop: one waypoint, GOAL + CORRECTION, 0.1 s ahead, at 20 Hz) and reports the intervention."""

    def __init__(self, probe: RosProbe):
        node, self.intervening, self.robot_on = probe.node, False, True
        self.states = node.create_publisher(JointState, topics.JOINT_STATES, 10)
        self.command = node.create_publisher(JointTrajectory, topics.COMMAND, 10)
        self.intervention = node.create_publisher(Bool, topics.INTERVENTION, LATCHED)
        self.outcome = node.create_publisher(Bool, topics.EPISODE_OUTCOME, 10)
        self.load_residual = node.create_publisher(String, "/policy_node/load_residual", 10)
        node.create_publisher(Float64MultiArray, topics.GOAL, LATCHED).publish(Float64MultiArray(data=GOAL.tolist()))
        node.create_subscription(JointTrajectory, topics.POLICY_COMMAND, self._forward, 10)
        self.policy_commands: list[tuple[float, JointTrajectory]] = []
        self.intervention.publish(Bool(data=False))
        node.create_timer(0.02, self._publish_state)
        node.create_timer(0.05, self._teleop)

    def _publish_state(self) -> None:
        if self.robot_on:
            msg = JointState(name=list(PANDA.joints), position=PANDA.default_pose.tolist(), velocity=[0.0] * PANDA.dof)
            msg.header.stamp = seconds_to_stamp(time.time())
            self.states.publish(msg)

    def _forward(self, msg: JointTrajectory) -> None:
        self.policy_commands.append((time.time(), msg))
        if not self.intervening:
            self.command.publish(msg)

    def _teleop(self) -> None:
        if self.intervening:
            msg = JointTrajectory(joint_names=list(PANDA.joints))
            msg.header.stamp = seconds_to_stamp(time.time())
            msg.points = [JointTrajectoryPoint(positions=(GOAL + CORRECTION).tolist())]
            msg.points[0].time_from_start.nanosec = 100_000_000
            self.command.publish(msg)

    def intervene(self, on: bool) -> None:
        self.intervening = on
        self.intervention.publish(Bool(data=on))


def _wait(runner: GraphRunner, condition, timeout: float, what: str) -> None:
    """Poll ``condition`` for ``timeout`` s; fail naming ``what`` with both nodes' logs (or on a node exit)."""
    deadline = time.monotonic() + timeout
    while not condition():
        logs = "\n".join(f"--- {n}\n{runner.log(n)[-3000:]}" for n in runner.specs)
        assert not runner.exited(), f"a node exited {runner.exited()} while waiting for {what}\n{logs}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s\n{logs}"
        time.sleep(0.05)


def _diagnostics(diags: list, name: str) -> dict[str, str]:
    """Key-values of the newest /diagnostics status named ``name`` ({} before one)."""
    for _, msg in reversed(list(diags)):
        for status in msg.status:
            if status.name == name:
                return {kv.key: kv.value for kv in status.values}
    return {}


def _bases(tmp_path):
    """The base (chunked 20 Hz JointTargetPolicy) and a residual made for another base."""
    base, other = tmp_path / "base.onnx", tmp_path / "other.onnx"
    write_joint_target_policy(base, horizon=4, n_action_steps=2, policy_hz=20.0)
    other_contract = write_joint_target_policy(other, horizon=4, n_action_steps=2, policy_hz=20.0, seed=1)
    foreign = tmp_path / "foreign_residual.onnx"
    write_residual_policy(foreign, other_contract, load_policy(other).sha256, constant=0.5, scale=0.1)
    return base, foreign


def _specs(base, out):
    return [node_spec("policy_node", {"robot": "panda", "policy_path": str(base),
                                      "residual_dir": str(out.parent / "received_residuals")},
                      remappings=((topics.COMMAND, topics.POLICY_COMMAND),)),
            node_spec("hil_learner", {"robot": "panda", "base_policy_path": str(base), "out_dir": str(out),
                                      "residual_scale": RESIDUAL_SCALE, "updates_per_step": 1.0,
                                      "min_transitions": 20, "export_every_updates": 20, "batch_size": 32,
                                      "hidden_units": 64, "critics": 2})]  # small: exports keep pace


def test_learner_stores_corrections_exports_a_residual_and_the_policy_node_hot_swaps_it(tmp_path, ros_env):
    base, foreign = _bases(tmp_path)
    out = tmp_path / "hil"
    started = time.monotonic()
    with GraphRunner(_specs(base, out), tmp_path / "logs", env=ros_env) as runner, RosProbe("hil_probe") as probe:
        statuses: list[str] = []
        probe.node.create_subscription(String, "/policy_node/status", lambda m: statuses.append(m.data), LATCHED)
        diags = probe.collect(DiagnosticArray, topics.DIAGNOSTICS)
        mux = MuxStandIn(probe)
        learner = lambda: _diagnostics(diags, "hil_learner")  # noqa: E731
        _wait(runner, lambda: learner() and any(s.startswith("loaded ") for s in statuses)
              and len(mux.policy_commands) > 5, 45, "running policy node and learner")
        up = time.monotonic()
        mux.intervene(True)
        _wait(runner, lambda: int(learner().get("intervened_steps", 0)) >= 15, 20, "15 intervened steps")
        mux.intervene(False)
        _wait(runner, lambda: mux.outcome.get_subscription_count() > 0, 10, "outcome subscriber")
        corrected = len(statuses)  # a residual exported before the corrections (a slow start-up) is not judged
        mux.outcome.publish(Bool(data=True))
        _wait(runner, lambda: any(s.startswith("loaded residual") for s in statuses[corrected:]), 30,
              "residual hot swap after the corrections")
        swapped_at = time.time()
        _wait(runner, lambda: mux.policy_commands[-1][0] > swapped_at + 0.3, 10, "policy commands after the swap")
        last = mux.policy_commands[-1][1]
        shift = np.asarray(last.points[0].positions) - GOAL  # the base alone commands the goal exactly
        mux.robot_on = False  # no more steps: no more exports, the loader is free for the foreign residual
        time.sleep(1.5)
        _wait(runner, lambda: mux.load_residual.get_subscription_count() > 0, 10, "load_residual subscriber")
        mux.load_residual.publish(String(data=str(foreign)))
        _wait(runner, lambda: any("residual is for base policy" in s for s in statuses), 15, "refusal")
        refused_at = time.time()
        _wait(runner, lambda: any(t > refused_at + 0.1 for t, _ in diags), 5, "diagnostics after the refusal")
        time.sleep(1.2)
        loaded = [s for s in statuses if s.startswith("loaded residual")]
        policy_diag, learner_diag = _diagnostics(diags, "policy_node"), learner()
        mux.load_residual.publish(String(data=""))  # drop the residual: the base alone again
        _wait(runner, lambda: any(s.startswith("dropped the residual") for s in statuses), 15, "residual dropped")
        dropped_at = time.time()
        _wait(runner, lambda: any(t > dropped_at + 0.1 for t, _ in diags), 5, "diagnostics after the drop")
        time.sleep(1.2)
        dropped_diag = _diagnostics(diags, "policy_node")
        stopped = runner.stop()
        print(f"up after {up - started:.1f} s; swap after {time.monotonic() - up:.1f} s more; "
              f"{len(loaded)} residual swap(s); learner: {learner_diag}")
    assert stopped == {"policy_node": 0, "hil_learner": 0}, (runner.log("policy_node"), runner.log("hil_learner"))
    assert np.abs(shift).max() > 1e-6 and shift.mean() > 0, shift  # the residual moves toward the correction
    assert np.abs(shift).max() <= RESIDUAL_SCALE * 0.5 + 1e-9  # residual in [-1, 1] x scale x action scale
    newest = loaded[-1].split()[2]
    assert f"sha256={hashlib.sha256(open(newest, 'rb').read()).hexdigest()}" in loaded[-1]
    assert policy_diag["residual_sha256"] in loaded[-1]  # the refused residual did not replace it
    assert dropped_diag["residual_sha256"] == "" and int(dropped_diag["residual_swaps_refused"]) == 1
    assert int(learner_diag["exports"]) >= 1 and "Traceback" not in runner.log("hil_learner")
    data = load_transitions(out / "transitions")  # everything flushed on SIGINT
    human = data["intervened"]
    assert len(data["reward"]) >= 20 and human.sum() >= 15
    assert np.mean(np.all(np.abs(data["action"][human] - LABEL) < 1e-4, axis=1)) >= 0.8, data["action"][human]
    done = np.flatnonzero(data["done"])
    assert len(done) == 1 and data["reward"][done[0]] == 1.0 and data["reward"].sum() == 1.0
