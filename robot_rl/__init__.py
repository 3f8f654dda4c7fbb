"""robot_rl: learning control on real robots, as a ROS 2 stack.

The core modules take numpy arrays and typed configs and never import rclpy;
the ROS 2 shells live in :mod:`robot_rl.nodes`.
"""

__version__ = "0.1.0"
