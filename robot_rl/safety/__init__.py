"""The safety filter: every command from every source passes here before it reaches the control node.

Pure core (numpy + the pinocchio robot model, no rclpy); the ROS 2 shell is
:mod:`robot_rl.nodes.safety_filter_node`. See docs/safety.md for the exact guarantees.
"""

from robot_rl.safety.config import SafetyConfig
from robot_rl.safety.filter import SafetyFilter
from robot_rl.safety.result import FilterResult, Intervention, Reason, Status

__all__ = ["FilterResult", "Intervention", "Reason", "SafetyConfig", "SafetyFilter", "Status"]
