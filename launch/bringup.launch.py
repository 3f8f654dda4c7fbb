"""ros2 launch robot_rl bringup.launch.py robot:=panda hardware:=mujoco policy:=/path/policy.onnx

Starts the graph described in robot_rl.bringup.graph, the same one that
``robot-rl bringup`` starts on machines without ``ros2 launch``.

On the joint-controller firmware (firmware/README.md) instead of MuJoCo:

    ros2 launch robot_rl bringup.launch.py robot:=panda hardware:=serial hardware_port:=/dev/ttyACM0

On a vendor's ros2_control stack (docs/ros2_control.md):

    ros2 launch robot_rl bringup.launch.py robot:=ur5 hardware:=ros2_control \
        hardware_config:=config/hardware/ur_ros2_driver.yaml

Arguments: robot, hardware (mujoco | serial | feetech | ros2_control), hardware_port (serial device, hardware
serial and feetech), hardware_config (the bridge's YAML, hardware ros2_control only),
policy (ONNX path; empty: the demo motion), source (demo | policy | none), teleop (keyboard | spacemouse |
gamepad | leader: adds the teleop node and the command mux), teleop_device (the keyboard's terminal, e.g. /dev/pts/3; a
SpaceMouse's hidraw or a gamepad's event device, empty: the first found; the leader arm's servo bus;
docs/teleop.md), hardware_calibration (hardware feetech), leader_calibration (teleop leader), hil_out (a
directory: adds the human-in-the-loop learner; needs policy and teleop), hil_gripper_labels (both | close | none:
the learner's gripper labels, docs/hil.md), record (a new MCAP file: adds
the session recorder, docs/recording.md).

Human-in-the-loop fine-tuning on the robot:

    ros2 launch robot_rl bringup.launch.py policy:=/path/policy.onnx teleop:=keyboard \
        teleop_device:=$(tty) hil_out:=/data/hil
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
        hardware_port=LaunchConfiguration("hardware_port").perform(context),
        hardware_key_file=LaunchConfiguration("hardware_key_file").perform(context),
        hardware_config=LaunchConfiguration("hardware_config").perform(context),
        teleop=LaunchConfiguration("teleop").perform(context) or None,
        teleop_device=LaunchConfiguration("teleop_device").perform(context),
        hil_out=LaunchConfiguration("hil_out").perform(context),
        record=LaunchConfiguration("record").perform(context),
        hardware_calibration=LaunchConfiguration("hardware_calibration").perform(context),
        leader_calibration=LaunchConfiguration("leader_calibration").perform(context),
        hil_gripper_labels=LaunchConfiguration("hil_gripper_labels").perform(context),
    )
    return [
        Node(package="robot_rl", executable=spec.executable, name=spec.name, output="screen",
             parameters=[spec.parameters], remappings=list(spec.remappings))
        for spec in specs
    ]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument("robot", default_value="panda", description="robot name or robot YAML path"),
        DeclareLaunchArgument("hardware", default_value="mujoco",
                              description="hardware interface (mujoco | serial | ros2_control)"),
        DeclareLaunchArgument("hardware_port", default_value="",
                              description="serial device of hardware serial, e.g. /dev/ttyACM0"),
        DeclareLaunchArgument("hardware_key_file", default_value="",
                              description="firmware link key of hardware serial (robot-rl firmware provision)"),
        DeclareLaunchArgument("hardware_config", default_value="",
                              description="the bridge's YAML of hardware ros2_control (docs/ros2_control.md)"),
        DeclareLaunchArgument("policy", default_value="", description="ONNX policy (empty: demo motion)"),
        DeclareLaunchArgument("source", default_value="", description="demo | policy | none (default: by policy)"),
        DeclareLaunchArgument("teleop", default_value="",
                              description="keyboard | spacemouse | gamepad | leader: add teleop + command mux"),
        DeclareLaunchArgument("teleop_device", default_value="",
                              description="keyboard: terminal (empty: /dev/tty); spacemouse: hidraw path; gamepad: "
                                          "event device (empty: the first found)"),
        DeclareLaunchArgument("hardware_calibration", default_value="",
                              description="hardware feetech: the servo calibration YAML (robot-rl calibrate feetech)"),
        DeclareLaunchArgument("leader_calibration", default_value="",
                              description="teleop leader: the leader arm's servo calibration YAML"),
        DeclareLaunchArgument("hil_out", default_value="",
                              description="directory: add the HIL learner (needs policy and teleop)"),
        DeclareLaunchArgument("hil_gripper_labels", default_value="",
                              description="both | close | none: the HIL learner's gripper_labels (empty: its default)"),
        DeclareLaunchArgument("record", default_value="", description="new MCAP file: record the session"),
        OpaqueFunction(function=_nodes),
    ])
