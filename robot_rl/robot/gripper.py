"""The gripper's one position range (config/robots/<robot>.yaml ``gripper``), checked (pure, no rclpy).

Positions are in the robot's gripper units (m per finger for the Panda, rad of the jaw for the SO-101), between
``open_position`` and ``closed_position`` in either order. A teleop device's gripper is a fraction, 0 (open) ..
1 (closed), mapped linearly onto that range. Both checks raise :class:`CommandError` naming the problem: a robot
without a gripper, a value that is not a finite number, or one outside its range. Nothing is clipped silently:
a value beyond the range by more than :data:`TOLERANCE` is refused, one within it is snapped onto the range.
"""

from __future__ import annotations

import math

from robot_rl.errors import CommandError
from robot_rl.robot.config import GripperConfig

TOLERANCE = 1e-9
"""How far (robot units, or as a fraction) a value may lie outside its range and still count as in it."""


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CommandError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _require(gripper: GripperConfig | None, robot: str) -> GripperConfig:
    if gripper is None:
        raise CommandError(f"robot {robot!r} has no gripper (no gripper entry in its YAML)")
    return gripper


def check_gripper_position(gripper: GripperConfig | None, position, robot: str = "") -> float:
    """``position`` (robot gripper units) if it lies in [closed, open] (within TOLERANCE: snapped onto it).

    Raises:
        CommandError: the robot (``robot``, for the message) has no gripper; ``position`` is not finite or
            outside the range.
    """
    g = _require(gripper, robot)
    value = _number(position, "gripper position")
    low, high = sorted((g.open_position, g.closed_position))
    if not low - TOLERANCE <= value <= high + TOLERANCE:
        raise CommandError(f"gripper position {value} outside [{low}, {high}] (closed {g.closed_position}, "
                           f"open {g.open_position})")
    return min(max(value, low), high)


def gripper_position_from_fraction(gripper: GripperConfig | None, fraction, robot: str = "") -> float:
    """The position (robot gripper units) of a teleop gripper ``fraction``: 0 open .. 1 closed, linear.

    Raises:
        CommandError: the robot has no gripper; ``fraction`` is not finite or outside [0, 1].
    """
    g = _require(gripper, robot)
    value = _number(fraction, "teleop gripper fraction")
    if not -TOLERANCE <= value <= 1.0 + TOLERANCE:
        raise CommandError(f"teleop gripper fraction {value} outside [0 (open), 1 (closed)]")
    value = min(max(value, 0.0), 1.0)
    return check_gripper_position(g, g.open_position + value * (g.closed_position - g.open_position), robot)
