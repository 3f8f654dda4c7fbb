"""A hostile command source for closed-loop safety tests: its own process, real rclpy.

Publishes trajectory_msgs/JointTrajectory on robot_rl.topics.COMMAND at ``--rate`` Hz for
``--duration`` s, counted from the first matched subscriber, and prints ``PUBLISHED <wall time>``
after each publish (flushed), so a test can tell when the last command left even after SIGKILL.

Modes:
    hostile: random joint jumps across the whole range, NaN/Inf bursts, targets outside the
             workspace box and in self-collision, shuffled/omitted joint names, stale stamps,
             mixed with short valid moves.
    sweep:   a smooth valid motion (the robot keeps moving until the source stops or dies).

Usage: python tests/support/hostile_source.py --mode hostile --duration 30 [--robot panda] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import rclpy
from trajectory_msgs.msg import JointTrajectory

from robot_rl import topics
from robot_rl.command import JointTrajectoryCommand
from robot_rl.nodes.conversions import trajectory_to_msg
from robot_rl.robot import load_robot_model

from hostile_commands import TARGET_KINDS, HostileTargets  # the script's directory is on sys.path


class Hostile(HostileTargets):
    """Generates one command message per call, cycling through hostile kinds."""

    def message(self, now: float) -> JointTrajectory:
        kind = self.next_kind(TARGET_KINDS + ("nan", "shuffle", "omit", "stale"))
        k = int(self.rng.integers(1, 6))
        names = list(self.model.joint_names)
        positions = self.positions(kind, k)
        stamp = now - (5.0 if kind == "stale" else 0.0)
        if kind in ("shuffle", "omit"):
            order = self.rng.permutation(len(names))[: len(names) - (kind == "omit")]
            names, positions = [names[i] for i in order], positions[:, order]
        cmd = JointTrajectoryCommand(tuple(names), stamp, 0.05 * np.arange(1, k + 1), np.zeros((k, len(names))))
        msg = trajectory_to_msg(cmd)  # positions set below: NaN must pass through unvalidated
        for point, row in zip(msg.points, positions):
            point.positions = [float(x) for x in row]
        return msg


def sweep_message(model, t: float, now: float) -> JointTrajectory:
    times = 0.05 * np.arange(1, 5)
    positions = model.config.default_pose + 0.6 * np.sin(2 * np.pi * (t + times)[:, None] / 3.0)
    positions[:, 1:] = model.config.default_pose[1:]  # joint 1 only: far from workspace and self-collision
    return trajectory_to_msg(JointTrajectoryCommand(model.joint_names, now, times, positions))


def _wait_for_subscriber(pub, timeout: float) -> None:
    """Block until ``pub`` matches a subscriber, so discovery time does not eat into ``--duration``."""
    deadline = time.monotonic() + timeout
    while pub.get_subscription_count() == 0:
        if time.monotonic() > deadline:
            raise SystemExit(f"no subscriber on {pub.topic_name} within {timeout} s")
        time.sleep(0.01)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("hostile", "sweep"), default="hostile")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--robot", default="panda")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--match-timeout", type=float, default=30.0,
                        help="s to wait for a subscriber (discovery) before the duration starts")
    args = parser.parse_args()
    model = load_robot_model(args.robot)
    source = Hostile(model, np.random.default_rng(args.seed)) if args.mode == "hostile" else None
    with rclpy.init():
        node = rclpy.create_node("hostile_source")
        pub = node.create_publisher(JointTrajectory, topics.COMMAND, 10)
        _wait_for_subscriber(pub, args.match_timeout)
        print("READY", flush=True)
        start = time.time()
        while time.time() - start < args.duration:
            now = time.time()
            msg = source.message(now) if source else sweep_message(model, now - start, now)
            pub.publish(msg)
            print(f"PUBLISHED {time.time():.6f}", flush=True)
            time.sleep(1.0 / args.rate)
        node.destroy_node()
    return 0


if __name__ == "__main__":
    sys.exit(main())
