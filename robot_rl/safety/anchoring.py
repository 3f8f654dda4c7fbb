"""The measured state the filter anchors on, checked: what it does when the robot is found outside the allowed set.

The allowed set is what every plan keeps: the soft position limits, the workspace box (its frames) and the
collision margin to the other links and to the floor. A plan starts from the measured joint positions on the
first command. If those are outside the set (a joint 5 mrad past its soft limit after a hand-guided move, an
offset encoder), holding there and rejecting everything would freeze the robot for good, and planning as usual
would fail every check at the first point. Instead the filter RECOVERS: while a plan starts outside, it is
planned at RECOVERY_SPEED of the velocity and acceleration limits, and checked by :class:`RecoveryCheck`:
no joint's excess over its soft limits, no excess of a box frame over the box, and no shortfall of the closest
pair's distance below the collision margin may grow from one grid point to the next while it is positive
(each of them is non-increasing along the plan, and one that is 0 stays 0). So the output never commands
toward further violation, and commands that lead back in are followed, slowly. Once a plan starts inside,
the usual checks apply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from robot_rl.safety.geometry import PathChecker, _collision
from robot_rl.safety.result import Intervention, Reason

RECOVERY_SPEED = 0.25
"""Fraction of the velocity and acceleration limits while a plan starts outside the allowed set (and for the
re-anchoring move of a reset)."""
_TOL = 1e-12  # rad / m: excess changes below this are rounding


@dataclass(frozen=True)
class Excess:
    """How far a configuration is outside the allowed set (all >= 0; 0 = inside).

    Attributes:
        joints: (n,) rad past the soft limits.
        box: m, largest distance of a box frame outside the workspace box.
        collision: m, collision margin minus the closest pair's distance (links or floor), if positive.
        pair: the closest pair's geometry names (when ``collision`` > 0).
    """

    joints: np.ndarray
    box: float
    collision: float
    pair: tuple[str, str] | None = None

    @property
    def inside(self) -> bool:
        return not (self.joints.any() or self.box > 0 or self.collision > 0)

    def worse_than(self, before: Excess) -> bool:
        """True if any positive excess grew from ``before``."""
        return bool(np.any((self.joints > 0) & (self.joints > before.joints + _TOL))
                    or (self.box > 0 and self.box > before.box + _TOL)
                    or (self.collision > 0 and self.collision > before.collision + _TOL))


Violation = Callable[[np.ndarray, np.ndarray], tuple[int | None, Intervention | None]]
"""(start q (n,), points (m, n)) -> (index of the first failing point or None, why): the filter's usual checks."""


class RecoveryCheck:
    """Excess of configurations, and the recovery rule along a path, for one filter's checks.

    Args:
        checker: the filter's box/collision checker (its model, frames, margin and enabled checks).
        lower, upper: (n,) rad soft position limits.
        names: joint names, robot order.
        usual: the filter's usual checks, applied from the first point found inside.
    """

    def __init__(self, checker: PathChecker, lower: np.ndarray, upper: np.ndarray, names: tuple[str, ...],
                 usual: Violation):
        self.checker, self.lower, self.upper, self.names, self.usual = checker, lower, upper, names, usual

    def excess(self, q: np.ndarray) -> Excess:
        """Excess (see :class:`Excess`) at q (n,) rad; the box and collision terms only for the enabled checks."""
        joints = np.maximum(np.maximum(q - self.upper, self.lower - q), 0.0)
        box = collision = 0.0
        pair = None
        checker = self.checker
        if checker.check_workspace:
            pts = checker.model.frame_positions(q, checker.links)
            box = max(float(np.max(np.maximum(pts - checker.upper, checker.lower - pts))), 0.0)
        if checker.check_collision:
            distance, pair = checker.model.min_collision_distance(q)
            collision = max(checker.margin - distance, 0.0)
        return Excess(joints, box, collision, pair)

    def describe(self, excess: Excess, what: str) -> list[Intervention]:
        """``measured_state`` interventions naming each part of ``excess`` (``what``: the action taken)."""
        notes = [Intervention(Reason.MEASURED_STATE, self.names[j],
                              f"measured {excess.joints[j] * 1000:.1f} mrad past the soft limits; {what}")
                 for j in np.flatnonzero(excess.joints)]
        if excess.box > 0:
            notes.append(Intervention(Reason.MEASURED_STATE, None,
                                      f"measured {excess.box * 1000:.1f} mm outside the workspace box; {what}"))
        if excess.collision > 0:
            detail = str(_collision(excess.pair, self.checker.margin - excess.collision, self.checker.margin))
            notes.append(Intervention(Reason.MEASURED_STATE, None, f"measured {detail}; {what}"))
        return notes

    def first_worsening(self, start_q: np.ndarray, points: np.ndarray) -> tuple[int | None, Intervention | None]:
        """Index of the first point (m, n) whose excess grows from the previous one (``start_q`` before the first),
        and why; every point is evaluated until one is inside, the usual checks cover the rest from there."""
        before = self.excess(start_q)
        for i, q in enumerate(points):
            now = self.excess(q)
            if now.worse_than(before):
                return i, Intervention(Reason.MEASURED_STATE, None, "recovery plan would move further outside the "
                                                                    "allowed set; braking earlier")
            if now.inside:
                first, problem = self.usual(q, points[i + 1:])
                return (None, None) if first is None else (i + 1 + first, problem)
            before = now
        return None, None
