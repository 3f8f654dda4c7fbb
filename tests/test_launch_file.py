"""launch/bringup.launch.py builds the same graph as ``robot-rl bringup``.

MOCK, named as such: ``launch`` and ``launch_ros`` are not installable from PyPI (no ROS 2
launch wheels), so this test runs the launch file against minimal stand-ins that record the
actions it creates. What it verifies is the launch file's own logic: its arguments and the
mapping of robot_rl.bringup.graph's NodeSpecs onto launch_ros Node actions. It does not show
that ``ros2 launch`` runs; that needs a robot with ROS 2 installed.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

from robot_rl.bringup.graph import bringup_graph

LAUNCH_FILE = Path(__file__).resolve().parent.parent / "launch" / "bringup.launch.py"


class _Recorded:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class _LaunchConfiguration:
    def __init__(self, name):
        self.name = name

    def perform(self, context):
        return context[self.name]


def _stand_in_modules() -> dict[str, types.ModuleType]:
    launch = types.ModuleType("launch")
    launch.LaunchDescription = lambda actions: actions
    actions = types.ModuleType("launch.actions")
    actions.DeclareLaunchArgument = _Recorded
    actions.OpaqueFunction = _Recorded
    substitutions = types.ModuleType("launch.substitutions")
    substitutions.LaunchConfiguration = _LaunchConfiguration
    launch_ros = types.ModuleType("launch_ros")
    ros_actions = types.ModuleType("launch_ros.actions")
    ros_actions.Node = _Recorded
    return {"launch": launch, "launch.actions": actions, "launch.substitutions": substitutions,
            "launch_ros": launch_ros, "launch_ros.actions": ros_actions}


NO_EXTRAS = {"policy": "", "source": "", "teleop": "", "teleop_device": "", "hil_out": "", "hardware_key_file": "",
             "record": "", "hardware_config": "", "hardware_calibration": "", "leader_calibration": "",
             "hil_gripper_labels": ""}


def test_launch_file_starts_the_human_in_the_loop_graph(monkeypatch, tmp_path):
    from policy_helpers import write_joint_target_policy

    policy = str(tmp_path / "policy.onnx")
    write_joint_target_policy(tmp_path / "policy.onnx")
    opaque = _load_launch_file(monkeypatch).generate_launch_description()[-1]
    nodes = opaque.kwargs["function"]({**NO_EXTRAS, "robot": "panda", "hardware": "mujoco", "hardware_port": "",
                                       "policy": policy, "teleop": "keyboard", "teleop_device": "/dev/pts/7",
                                       "hil_out": str(tmp_path / "hil"), "record": str(tmp_path / "run.mcap"),
                                       "hil_gripper_labels": "close"})
    expected = bringup_graph(policy=policy, teleop="keyboard", teleop_device="/dev/pts/7", hil_out=str(tmp_path / "hil"),
                             record=str(tmp_path / "run.mcap"), hil_gripper_labels="close")
    assert [n.kwargs["name"] for n in nodes] == [s.name for s in expected]
    assert [n.kwargs["parameters"] for n in nodes] == [[s.parameters] for s in expected]
    assert {"teleop_node", "command_mux", "hil_learner", "recorder"} <= {n.kwargs["name"] for n in nodes}
    assert [n.kwargs["parameters"][0]["gripper_labels"] for n in nodes if n.kwargs["name"] == "hil_learner"] == ["close"]


def _load_launch_file(monkeypatch):
    for name, module in _stand_in_modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("bringup_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_launch_file_declares_robot_hardware_policy_and_starts_the_bringup_graph(monkeypatch):
    description = _load_launch_file(monkeypatch).generate_launch_description()
    declared = {a.args[0]: a.kwargs["default_value"] for a in description[:-1]}
    assert declared == {"robot": "panda", "hardware": "mujoco", "hardware_port": "", "hardware_key_file": "",
                        "hardware_config": "", "policy": "", "source": "",
                        "teleop": "", "teleop_device": "", "hil_out": "", "record": "",
                        "hardware_calibration": "", "leader_calibration": "", "hil_gripper_labels": ""}
    opaque = description[-1]
    nodes = opaque.kwargs["function"]({**NO_EXTRAS, "robot": "ur5", "hardware": "mujoco", "hardware_port": ""})
    expected = bringup_graph(robot="ur5", hardware="mujoco")
    assert [n.kwargs["name"] for n in nodes] == [s.name for s in expected]
    assert [n.kwargs["executable"] for n in nodes] == [s.executable for s in expected]
    assert [n.kwargs["parameters"] for n in nodes] == [[s.parameters] for s in expected]
    assert all(n.kwargs["package"] == "robot_rl" for n in nodes)


def test_every_graph_executable_is_an_installed_console_script(tmp_path):
    from importlib.metadata import entry_points

    from policy_helpers import write_joint_target_policy

    policy = tmp_path / "policy.onnx"
    write_joint_target_policy(policy)
    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    specs = bringup_graph() + bringup_graph(policy=str(policy), teleop="keyboard", hil_out=str(tmp_path / "hil"))
    for spec in specs:
        assert scripts.get(spec.executable) == f"{spec.module}:main", spec.executable


def test_launch_file_passes_the_serial_port_to_the_control_node(monkeypatch):
    opaque = _load_launch_file(monkeypatch).generate_launch_description()[-1]
    nodes = opaque.kwargs["function"]({**NO_EXTRAS, "robot": "panda", "hardware": "serial",
                                       "hardware_port": "/dev/ttyACM0", "hardware_key_file": "/etc/rr.key"})
    expected = bringup_graph(robot="panda", hardware="serial", hardware_port="/dev/ttyACM0",
                             hardware_key_file="/etc/rr.key")
    assert [n.kwargs["parameters"] for n in nodes] == [[s.parameters] for s in expected]
    assert nodes[0].kwargs["parameters"][0]["hardware_port"] == "/dev/ttyACM0"


def test_the_hil_learner_needs_a_policy_and_a_teleop_device(tmp_path):
    from policy_helpers import write_joint_target_policy

    from robot_rl.errors import ConfigError

    write_joint_target_policy(tmp_path / "policy.onnx")
    for kwargs in ({}, {"policy": str(tmp_path / "policy.onnx")}, {"teleop": "keyboard"}):
        with pytest.raises(ConfigError, match="needs a policy .* and a teleop device"):
            bringup_graph(hil_out=str(tmp_path / "hil"), **kwargs)


def test_launch_file_passes_the_ros2_control_bridge_config_to_the_control_node(monkeypatch):
    opaque = _load_launch_file(monkeypatch).generate_launch_description()[-1]
    nodes = opaque.kwargs["function"]({**NO_EXTRAS, "robot": "ur5", "hardware": "ros2_control", "hardware_port": "",
                                       "hardware_config": "/etc/ur.yaml"})
    assert nodes[0].kwargs["parameters"][0]["hardware_config"] == "/etc/ur.yaml"


def test_launch_file_passes_the_servo_and_leader_calibrations(monkeypatch):
    opaque = _load_launch_file(monkeypatch).generate_launch_description()[-1]
    nodes = opaque.kwargs["function"]({**NO_EXTRAS, "robot": "so101", "hardware": "mujoco", "hardware_port": "",
                                       "teleop": "leader", "teleop_device": "/dev/pts/7",
                                       "leader_calibration": "/cal/leader.yaml"})
    teleop = next(n for n in nodes if n.kwargs["name"] == "teleop_node")
    assert teleop.kwargs["parameters"][0]["leader_calibration"] == "/cal/leader.yaml"
    assert teleop.kwargs["parameters"][0]["kind"] == "leader"
