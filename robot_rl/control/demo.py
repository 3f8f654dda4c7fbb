"""The demo motion: a smooth sinusoid around the default pose, as stamped trajectory chunks."""

from __future__ import annotations

import numpy as np

from robot_rl.command import JointTrajectoryCommand
from robot_rl.robot.config import RobotConfig


def demo_chunk(robot: RobotConfig, start: float, t0: float, amplitude: float, period: float,
               duration: float, points: int) -> JointTrajectoryCommand:
    """Chunk of the demo motion q(t) = q_default + A sin(2 pi (t - t0) / T) * w, from ``start`` for ``duration`` s.

    Each joint j gets weight w_j = (-1)^j so neighbouring joints move in opposite
    directions. Times in s (``start``, ``t0``: absolute; ``duration``: relative).
    """
    times = np.linspace(duration / points, duration, points)
    phase = 2 * np.pi * (start + times - t0) / period
    weights = np.where(np.arange(robot.dof) % 2 == 0, 1.0, -1.0)
    positions = robot.default_pose + amplitude * np.sin(phase)[:, None] * weights
    velocities = amplitude * (2 * np.pi / period) * np.cos(phase)[:, None] * weights
    return JointTrajectoryCommand(robot.joints, start, times, positions, velocities, source="demo")
