"""ros2 launch robot_rl bringup.launch.py robot:=panda hardware:=mujoco policy:=/path/policy.onnx

Starts the graph described in robot_rl.bringup.graph, the same one that
``robot-rl bringup`` starts on machines without ``ros2 launch``.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from robot_rl.bringup.graph import bringup_graph


def _nodes(context):
    policy = LaunchConfiguration("policy").perform(context) or None
    source = LaunchConfiguration("source").perform(context) or None
    specs = bringup_graph(
        robot=LaunchConfiguration("robot").perform(context),
        hardware=LaunchConfiguration("hardware").perform(context),
        policy=policy, source=source,
    )
    return [
        Node(package="robot_rl", executable=spec.executable, name=spec.name, output="screen",
             parameters=[spec.parameters], remappings=list(spec.remappings))
        for spec in specs
    ]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument("robot", default_value="panda", description="robot name or robot YAML path"),
        DeclareLaunchArgument("hardware", default_value="mujoco", description="hardware interface"),
        DeclareLaunchArgument("policy", default_value="", description="ONNX policy (empty: demo motion)"),
        DeclareLaunchArgument("source", default_value="", description="demo | policy | none (default: by policy)"),
        OpaqueFunction(function=_nodes),
    ])
