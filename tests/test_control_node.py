"""The control node as a real ROS 2 process: JointState out, commands in by name, bad commands rejected."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from ros_probe import RosProbe, wait_for
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from robot_rl import topics
from robot_rl.bringup.graph import NodeSpec
from robot_rl.bringup.runner import GraphRunner
from robot_rl.command import JointTrajectoryCommand
from robot_rl.nodes.conversions import joint_state_from_msg, trajectory_to_msg
from robot_rl.robot import load_robot_config

pytestmark = pytest.mark.ros


def control_only(tmp_path, **params) -> list[NodeSpec]:
    """The control node alone; single long commands go straight to it, so its command watchdog is off (it would
    brake each one command_timeout after receipt; tests/test_control_watchdog.py covers the watchdog)."""
    return [NodeSpec("control_node", "control_node", "robot_rl.nodes.control_node",
                     {"stats_path": str(tmp_path / "stats.json"), "command_timeout": 0.0, **params})]


def latest_position(states, names):
    return joint_state_from_msg(states[-1][1], names)[1]


def diag_value(diags, key):
    for _, msg in reversed(diags):
        for status in msg.status:
            if status.name == "control_node":
                return float({kv.key: kv.value for kv in status.values}[key])
    raise AssertionError("no control_node diagnostics received")


def test_control_node_follows_commands_and_survives_bad_ones(tmp_path, ros_env):
    robot = load_robot_config("panda")
    names = robot.joints
    with GraphRunner(control_only(tmp_path), tmp_path, env=ros_env) as graph, RosProbe() as probe:
        states = probe.collect(JointState, topics.JOINT_STATES)
        diags = probe.collect(DiagnosticArray, topics.DIAGNOSTICS)
        wait_for(lambda: len(states) > 100, timeout=30)
        assert list(states[-1][1].name) == list(names) + list(robot.gripper.joints)  # fingers too, for policies
        pub = probe.publisher(JointTrajectory, topics.SAFE_COMMAND)

        bad_name = trajectory_to_msg(JointTrajectoryCommand(names[:-1] + ("wrist_typo",), 0.0, [0.5],
                                                            [robot.default_pose + 0.2]))
        nan = trajectory_to_msg(JointTrajectoryCommand(names, 0.0, [0.5], [robot.default_pose]))
        nan.points[0].positions[3] = float("nan")
        for count, msg in enumerate((bad_name, nan), start=1):
            pub.publish(msg)
            wait_for(lambda: diags and diag_value(diags, "commands_rejected") >= count, timeout=15)
            time.sleep(1.1)  # rejections are logged at most once per second: the next one >= 1.1 s after this one
        assert np.abs(latest_position(states, names) - robot.default_pose).max() < 1e-3

        target = robot.default_pose + 0.2
        reversed_cmd = JointTrajectoryCommand(names[::-1], 0.0, [1.0], [target[::-1]])  # by NAME
        pub.publish(trajectory_to_msg(reversed_cmd))
        wait_for(lambda: np.abs(latest_position(states, names) - target).max() < 2e-3, timeout=15)

        reply = probe.call(Trigger, "/control_node/reset", Trigger.Request())
        assert reply.success, reply.message
        reply = probe.call(Trigger, "/control_node/clear_fault", Trigger.Request())
        assert not reply.success and reply.message == "hardware MujocoHardware has no latched faults to clear"
        wait_for(lambda: np.abs(latest_position(states, names) - robot.default_pose).max() < 1e-3, timeout=10)
        assert graph.exited() == {}
        log = graph.log("control_node")
    assert "unknown joints ['wrist_typo']" in log
    assert "non-finite" in log and "panda_joint4" in log
    assert graph.stop() == {"control_node": 0}


def test_joint_states_are_published_at_the_control_rate(tmp_path, ros_env):
    with GraphRunner(control_only(tmp_path), tmp_path, env=ros_env), RosProbe() as probe:
        states = probe.collect(JointState, topics.JOINT_STATES)
        wait_for(lambda: len(states) > 100, timeout=30)
        time.sleep(2.0)
        recent = [t for t, _ in states if t > states[-1][0] - 1.0]
    assert len(recent) > 800  # 1 kHz nominal; DDS delivery on 2 loaded cores loses a few


def test_the_node_stops_with_a_named_error_when_its_loop_process_dies(tmp_path, ros_env):
    with GraphRunner(control_only(tmp_path), tmp_path, env=ros_env) as graph, RosProbe() as probe:
        states = probe.collect(JointState, topics.JOINT_STATES)
        wait_for(lambda: len(states) > 100, timeout=30)
        node = graph.procs["control_node"].pid
        loops = [int(pid) for tid in os.listdir(f"/proc/{node}/task")
                 for pid in Path(f"/proc/{node}/task/{tid}/children").read_text().split()]
        assert len(loops) == 1  # loop_mode auto: MuJoCo runs in the loop process
        os.kill(loops[0], signal.SIGKILL)
        wait_for(lambda: graph.exited(), timeout=20)
        assert graph.exited() == {"control_node": 1}
        assert "control loop process exited with code -9; shutting down" in graph.log("control_node")


def test_the_loop_process_is_spawned_before_ros_only_when_the_parameters_ask_for_it(tmp_path):
    from robot_rl.nodes.control_node import _expects_process_mode

    params = tmp_path / "control_node.params.yaml"
    params.write_text("control_node:\n  ros__parameters:\n    hardware: serial\n")
    assert _expects_process_mode(["node", "--ros-args", "--params-file", str(params)]) is False
    params.write_text("control_node:\n  ros__parameters:\n    robot: ur5\n")
    assert _expects_process_mode(["node", "--ros-args", "--params-file", str(params)]) is True
    assert _expects_process_mode(["node", "--ros-args", "--params-file", str(params), "-p", "loop_mode:=thread"]) is False
    assert _expects_process_mode(["node", "--ros-args", "--params-file", str(params), "-p", "realtime:=false"]) is False


def test_bad_parameter_value_stops_the_node_with_a_named_error(tmp_path, ros_env):
    specs = control_only(tmp_path)
    graph = GraphRunner(specs, tmp_path, env=ros_env)
    graph.start()
    # Replace the validated file by a hostile one: the node itself must refuse it.
    graph.stop()
    (tmp_path / "control_node.params.yaml").write_text(
        "control_node:\n  ros__parameters:\n    robot: no_such_robot\n")
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "robot_rl.nodes.control_node", "--ros-args", "--params-file",
                           str(tmp_path / "control_node.params.yaml")], capture_output=True, text=True,
                          timeout=60, env={**__import__("os").environ, **ros_env})
    assert proc.returncode == 2
    assert "unknown robot 'no_such_robot'" in proc.stdout + proc.stderr
