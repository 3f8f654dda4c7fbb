"""A command source for the stop benchmark: joint 1 sweeps +-0.6 rad (period 3 s, peak 1.26 rad/s), the other
joints hold the default pose (far from the workspace box and self-collision), 4 waypoints 50 ms apart, 50 times a
second on /robot_rl/command until killed. The same motion as the SIGKILL test's source (tests/support).

Usage: python -m robot_rl.bench.sweep_source [--robot panda]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import rclpy
from trajectory_msgs.msg import JointTrajectory

from robot_rl import topics
from robot_rl.command import JointTrajectoryCommand
from robot_rl.nodes.conversions import trajectory_to_msg
from robot_rl.robot import load_robot_model

RATE_HZ = 50.0


def sweep_command(model, t: float, now: float) -> JointTrajectoryCommand:
    """The sweep's chunk at ``t`` s into the motion, stamped ``now`` (s)."""
    times = 0.05 * np.arange(1, 5)
    positions = np.repeat(model.config.default_pose[None, :], len(times), axis=0)
    positions[:, 0] += 0.6 * np.sin(2 * np.pi * (t + times) / 3.0)
    return JointTrajectoryCommand(model.joint_names, now, times, positions, source="sweep")


def main() -> None:
    """Publish until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--robot", default="panda")
    model = load_robot_model(parser.parse_args().robot)
    with rclpy.init():
        node = rclpy.create_node("sweep_source")
        pub = node.create_publisher(JointTrajectory, topics.COMMAND, 10)
        start = time.time()
        while True:
            now = time.time()
            pub.publish(trajectory_to_msg(sweep_command(model, now - start, now)))
            time.sleep(1.0 / RATE_HZ)


if __name__ == "__main__":
    main()
