"""The ROS side of hardware ``ros2_control`` (robot_rl/hardware/ros2_control.py), and its factory.

Runs inside the control node's process, on a helper node no executor spins: the control loop thread takes the
vendor's joint states (``take_message``, as command_intake.py does for commands) and publishes the controller's
commands itself, so no executor thread competes with the loop for the GIL at the vendor's state rate.
"""

from __future__ import annotations

import time

import numpy as np
import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String
from trajectory_msgs.msg import JointTrajectory

from robot_rl.errors import ConfigError, HardwareError
from robot_rl.hardware.ros2_control import Ros2ControlHardware, VendorJointState
from robot_rl.hardware.ros2_control_config import (Ros2ControlConfig, description_differences,
                                                   load_ros2_control_config)
from robot_rl.nodes.conversions import stamp_to_seconds, trajectory_to_msg
from robot_rl.robot.config import RobotConfig
from robot_rl.robot.model import RobotModel


DESCRIPTION_QOS = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                             reliability=ReliabilityPolicy.RELIABLE)
"""/robot_description as robot_state_publisher offers it: latched for late joiners."""


def _take(subscription) -> list:
    taken = []
    with subscription.handle:
        while (got := subscription.handle.take_message(subscription.msg_type, subscription.raw)) is not None:
            taken.append(got[0])
    return taken


class RclpyRos2ControlTransport:
    """Subscriptions and publishers of the bridge on a helper node of the default context (rclpy initialised)."""

    def __init__(self, config: Ros2ControlConfig, node_name: str = "control_node_ros2_control"):
        self.config = config
        self._node = rclpy.create_node(node_name, start_parameter_services=False, use_global_arguments=False)
        self._states = self._node.create_subscription(JointState, config.state_topic, lambda _m: None,
                                                      QoSProfile(depth=10))
        msg_type = JointTrajectory if config.controller_type == "joint_trajectory" else Float64MultiArray
        self._publisher = self._node.create_publisher(msg_type, config.command_topic, 10)

    def robot_description(self, timeout: float) -> str:
        """The vendor's URDF from ``description_topic`` (transient local); HardwareError after ``timeout`` s."""
        subscription = self._node.create_subscription(String, self.config.description_topic, lambda _m: None,
                                                      DESCRIPTION_QOS)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                messages = _take(subscription)
                if messages:
                    return messages[-1].data
                time.sleep(0.02)
        finally:
            self._node.destroy_subscription(subscription)
        raise HardwareError(f"ros2_control: no robot description on {self.config.description_topic} within "
                            f"{timeout:g} s (the vendor's robot_state_publisher publishes it, transient local)")

    def take_states(self) -> list[VendorJointState]:
        states = []
        for msg in _take(self._states):
            m = len(msg.name)
            states.append(VendorJointState(stamp_to_seconds(msg.header.stamp), tuple(msg.name), _field(msg.position, m),
                                           _field(msg.velocity, m), _field(msg.effort, m)))
        return states

    def publish_trajectory(self, command) -> None:
        self._publisher.publish(trajectory_to_msg(command))

    def publish_array(self, values: np.ndarray) -> None:
        self._publisher.publish(Float64MultiArray(data=[float(v) for v in values]))

    def close(self) -> None:
        self._node.destroy_node()


def _field(values, m: int) -> np.ndarray:
    """A JointState array field (m,), zeros where the vendor leaves it empty."""
    array = np.asarray(values, dtype=float)
    return array if array.size == m else np.zeros(m)


def check_robot_description(robot: RobotConfig, config: Ros2ControlConfig, vendor_urdf: str) -> None:
    """ConfigError listing every difference between the vendor's URDF and the one robot_rl loaded."""
    differences = description_differences(robot.urdf_path.read_text(), vendor_urdf, robot.joints, config.joint_map,
                                          config.limit_tolerance)
    if differences:
        raise ConfigError(f"the vendor's {config.description_topic} differs from robot_rl's URDF "
                          f"({robot.urdf_path}): " + "; ".join(differences))


def create_ros2_control_hardware(robot: RobotConfig, config_path: str) -> Ros2ControlHardware:
    """Hardware ``ros2_control`` for ``robot`` from the bridge YAML ``config_path``: checks the vendor's robot
    description, then waits for its first joint state (see :class:`Ros2ControlHardware`)."""
    config = load_ros2_control_config(config_path)
    config.check_joint_map(robot.joints)
    transport = RclpyRos2ControlTransport(config)
    try:
        check_robot_description(robot, config, transport.robot_description(config.startup_timeout))
        return Ros2ControlHardware(robot.joints, RobotModel(robot).limits, config, transport)
    except BaseException:
        transport.close()
        raise
