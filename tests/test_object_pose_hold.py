"""The policy node never acts on an old object pose: a stale one is a missing observation (it holds and says
why). Real graph: MuJoCo Panda control node, safety filter, policy node with a policy that observes the object
pose (a joint-target network whose target is read from the pose's 7 numbers)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from ros_probe import RosProbe, wait_for
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory

from policy_helpers import write_joint_target_policy
from robot_rl import topics
from robot_rl.bringup.runner import GraphRunner
from robot_rl.nodes.conversions import seconds_to_stamp
from robot_rl.policy.contract import ObsTerm
from robot_rl.policy.freshness import fresh_pose
from robot_rl.robot.config import load_robot_config
from robot_rl_sim.gate.run import GateConfig, gate_graph


def test_fresh_pose_names_why_it_is_missing():
    assert fresh_pose(None, None, 10.0, 0.5) == (None, "no object pose received yet")
    assert fresh_pose("p", 9.0, 10.0, 0.5)[0] is None and "stale (1.00 s old" in fresh_pose("p", 9.0, 10.0, 0.5)[1]
    assert fresh_pose("p", 9.8, 10.0, 0.5) == ("p", "")


def _pose(values: np.ndarray, stamp: float) -> PoseStamped:
    msg = PoseStamped()
    msg.header.stamp = seconds_to_stamp(stamp)
    p, q = msg.pose.position, msg.pose.orientation
    p.x, p.y, p.z, q.w, q.x, q.y, q.z = (float(v) for v in values)
    return msg


@pytest.mark.ros
def test_a_stale_object_pose_makes_the_policy_node_hold(tmp_path, ros_env):
    default = load_robot_config("panda").default_pose
    n = len(default)
    policy = tmp_path / "object_policy.onnx"
    write_joint_target_policy(policy, observations=(
        ObsTerm("joint_pos", "joint_pos", n, "rad", offset=default.tolist()),
        ObsTerm("joint_vel", "joint_vel", n, "rad/s", scale=0.05),
        ObsTerm("object", "object_pose", 7, "read as joint targets, rad", offset=default.tolist())))
    specs, _ = gate_graph(GateConfig(policy=str(policy)), tmp_path / "logs")
    fresh_target, old_target = default + np.r_[0.2, np.zeros(n - 1)], default - np.r_[0.2, np.zeros(n - 1)]
    with GraphRunner(specs, tmp_path / "logs", env=ros_env) as runner, RosProbe("pose_probe") as probe:
        commands = probe.collect(JointTrajectory, topics.COMMAND)
        states = probe.collect(JointState, topics.JOINT_STATES)
        publisher = probe.publisher(PoseStamped, topics.OBJECT_POSE)

        def joint1() -> float:
            return float(states[-1][1].position[0]) if states else float("nan")

        deadline, settled_since = time.monotonic() + 90, None
        while time.monotonic() < deadline:  # fresh: it acts, until the arm has settled at the target for 1 s
            assert not runner.exited(), runner.log("policy_node")
            publisher.publish(_pose(fresh_target, time.time()))
            time.sleep(0.05)
            near = abs(joint1() - fresh_target[0]) < 0.005
            settled_since = (settled_since or time.monotonic()) if near else None
            if settled_since is not None and time.monotonic() - settled_since > 1.0:
                break
        assert abs(joint1() - fresh_target[0]) < 0.02, runner.log("policy_node")
        stale_from = time.time()
        for _ in range(60):  # 3 s of poses pointing elsewhere, stamped 2 s ago: never acted on
            publisher.publish(_pose(old_target, time.time() - 2.0))
            time.sleep(0.05)
        wait_for(lambda: "object pose is stale" in runner.log("policy_node"), timeout=10)
        held = [abs(float(m.position[0]) - fresh_target[0]) for t, m in states if t >= stale_from]
        later = [m for t, m in commands if t >= stale_from + 0.2]
        assert not runner.exited()
    assert held and max(held) < 0.03, max(held)  # the arm stayed where the last fresh pose sent it
    for msg in later:  # no command after the switch heads for the stale pose's target
        index = list(msg.joint_names).index("panda_joint1")
        assert all(p.positions[index] > fresh_target[0] - 0.03 for p in msg.points)
