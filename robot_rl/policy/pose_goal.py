"""Pose goals on ``/robot_rl/goal``: the layout a contract's goal term states in its ``units``, and its values.

An Isaac Lab ``UniformPoseCommand`` (env.yaml) or a LEAPP ``command/body/pose`` input is the target pose of one
body in the robot base frame: position (m) and a unit quaternion, in the order the term names (Isaac Lab 3.x:
``x y z qx qy qz qw``; 2.x: ``x y z qw qx qy qz``). The goal term's ``units`` carry body and order as
``target pose of body <body> in the robot base frame, m: <order>``, so whoever sends the goal can build it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from robot_rl.errors import ConfigError

POSE_UNITS = "target pose of body {body} in the robot base frame, m: {order}"
_PATTERN = re.compile(r"target pose of body (\S+) in the robot base frame, m: ([a-z ]+)$")
ELEMENTS = frozenset(("x", "y", "z", "qx", "qy", "qz", "qw"))


@dataclass(frozen=True)
class PoseGoalLayout:
    """Body whose pose the goal sets and the order of its 7 values (names from :data:`ELEMENTS`)."""

    body: str
    order: tuple[str, ...]

    def __post_init__(self) -> None:
        if sorted(self.order) != sorted(ELEMENTS):
            raise ConfigError(f"pose goal of {self.body!r}: element order {list(self.order)} must name each of "
                              f"{sorted(ELEMENTS)} once")

    @property
    def units(self) -> str:
        """The goal term's ``units`` string for this layout."""
        return POSE_UNITS.format(body=self.body, order=" ".join(self.order))

    def values(self, homogeneous: np.ndarray) -> np.ndarray:
        """The 7 goal values (this layout's order) of a pose given as a (4, 4) homogeneous matrix, m."""
        import pinocchio as pin

        xyzw = pin.Quaternion(np.asarray(homogeneous[:3, :3], dtype=float)).normalized().coeffs()
        named = dict(zip(("x", "y", "z", "qx", "qy", "qz", "qw"), np.r_[homogeneous[:3, 3], xyzw]))
        return np.array([named[n] for n in self.order])

    def pose(self, goal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position (3,) m, rotation matrix (3, 3)) of 7 goal values in this layout's order."""
        import pinocchio as pin

        named = dict(zip(self.order, np.asarray(goal, dtype=float)))
        quat = pin.Quaternion(named["qw"], named["qx"], named["qy"], named["qz"]).normalized()
        return np.array([named["x"], named["y"], named["z"]]), quat.toRotationMatrix()


def parse_pose_goal(units: str) -> PoseGoalLayout | None:
    """The layout a goal term's ``units`` state (anywhere in the string), or None if they state none."""
    match = _PATTERN.search(units)
    return PoseGoalLayout(match.group(1), tuple(match.group(2).split())) if match else None
