"""The control node on hardware ``feetech`` as a real ROS 2 process, against the STAND-IN simulated STS3215 bus on a
pty: commands in, the servos follow in position mode, an overheat latches a fault (torque off), cleared by service."""

from __future__ import annotations

import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from ros_probe import RosProbe, wait_for
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory
from test_feetech import IDS, SO101, at_default_pose, plain_calibration, torque
from test_control_node import control_only, latest_position

from robot_rl import topics
from robot_rl.bringup.runner import GraphRunner
from robot_rl.command import JointTrajectoryCommand
from robot_rl.hardware.feetech_sim_process import SimulatedBusProcess
from robot_rl.nodes.conversions import trajectory_to_msg

pytestmark = pytest.mark.ros
HARDWARE_STATUS = "control_node: hardware feetech"


def hardware_level(diags, since: float = 0.0) -> tuple[int, str] | None:
    """(level, message) of the newest feetech status received after ``since`` (time.time())."""
    for stamp, msg in reversed(diags):
        for status in msg.status:
            if status.name == HARDWARE_STATUS and stamp >= since:
                return status.level, status.message
    return None


def test_control_node_drives_the_so101_servos_and_latches_an_overheat(tmp_path, ros_env):
    names = SO101.joints
    with SimulatedBusProcess(actual=at_default_pose()) as sim:
        params = {"robot": "so101", "hardware": "feetech", "hardware_port": sim.port,
                  "hardware_calibration": plain_calibration(tmp_path / "cal.yaml")}
        with GraphRunner(control_only(tmp_path, **params), tmp_path, env=ros_env) as graph, RosProbe() as probe:
            states = probe.collect(JointState, topics.JOINT_STATES)
            diags = probe.collect(DiagnosticArray, topics.DIAGNOSTICS)
            wait_for(lambda: len(states) > 100, timeout=90)  # the node loads its robot model first
            assert list(states[-1][1].name) == list(names) + ["gripper"]
            np.testing.assert_allclose(latest_position(states, names), SO101.default_pose, atol=0.005)
            target = SO101.default_pose + np.array([0.3, -0.2, 0.2, -0.3, 0.5])
            pub = probe.publisher(JointTrajectory, topics.SAFE_COMMAND)
            wait_for(lambda: pub.get_subscription_count() > 0, timeout=30)
            pub.publish(trajectory_to_msg(JointTrajectoryCommand(names, 0.0, [1.5], [target])))
            try:
                wait_for(lambda: np.abs(latest_position(states, names) - target).max() < 0.005, timeout=30)
            except TimeoutError as exc:
                raise AssertionError(f"target not reached: hardware status {hardware_level(diags)}, at "
                                     f"{latest_position(states, names)}, servos {sim.state()}") from exc
            goals = sim.state()
            assert abs(goals[1]["goal"] - goals[1]["present"]) <= 2  # it got there by its goal positions

            sim.hook("heat 3 71")
            wait_for(lambda: (h := hardware_level(diags)) is not None and h[0] == DiagnosticStatus.ERROR, timeout=15)
            assert "elbow_flex (servo 3): overheat" in hardware_level(diags)[1]
            assert not any(torque(sim))
            sim.hook("heat 3 30")
            reply = probe.call(Trigger, "/control_node/clear_fault", Trigger.Request())
            assert reply.success, reply.message
            cleared = time.time()
            wait_for(lambda: (h := hardware_level(diags, since=cleared)) is not None
                     and h[0] == DiagnosticStatus.OK, timeout=15)
            assert all(torque(sim, IDS))
            assert graph.exited() == {}

