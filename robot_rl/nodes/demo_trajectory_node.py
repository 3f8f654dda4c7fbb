"""Demo command source: publishes overlapping chunks of a sinusoid around the default pose."""

from __future__ import annotations

import sys
import time

from rclpy.node import Node
from trajectory_msgs.msg import JointTrajectory

from robot_rl.control.demo import demo_chunk
from robot_rl.nodes.conversions import trajectory_to_msg
from robot_rl.nodes.main import run_node
from robot_rl.nodes.ros_params import declare_from_yaml
from robot_rl.robot import load_robot_config


class DemoTrajectoryNode(Node):
    """Sends a new chunk publish_rate_hz times a second; each reaches chunk_s ahead."""

    def __init__(self) -> None:
        super().__init__("demo_trajectory_node")
        self.p = declare_from_yaml(self, "demo_trajectory_node")
        self.robot = load_robot_config(self.p["robot"])
        self.t0 = time.time()
        self.pub = self.create_publisher(JointTrajectory, self.p["command_topic"], 10)
        self.create_timer(1.0 / self.p["publish_rate_hz"], self._publish)

    def _publish(self) -> None:
        p = self.p
        chunk = demo_chunk(self.robot, time.time(), self.t0, p["amplitude_rad"], p["period_s"], p["chunk_s"],
                           p["points_per_chunk"])
        self.pub.publish(trajectory_to_msg(chunk))


def main(args: list[str] | None = None) -> None:
    """Entry point of ``demo_trajectory_node``."""
    sys.exit(run_node(DemoTrajectoryNode, args))


if __name__ == "__main__":
    main()
