"""Last line of defense inside the control loop: position, velocity and effort limits.

The safety filter upstream is the real guard; this makes the control node safe
on its own even when something reaches it unfiltered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_rl.robot.model import JointLimits


@dataclass
class LimitCounts:
    """How often each last-line limit acted, since start."""

    position: int = 0
    velocity: int = 0
    effort: int = 0


class LastLineLimits:
    """Clamp the reference into soft position and velocity limits and the torque into effort limits."""

    def __init__(self, limits: JointLimits):
        self.limits = limits
        self.counts = LimitCounts()

    def reference(self, q_ref: np.ndarray, v_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(q_ref, v_ref) (n,) clamped to the soft position limits (rad) and velocity limits (rad/s)."""
        lim = self.limits
        q = np.clip(q_ref, lim.soft_lower, lim.soft_upper)
        v = np.clip(v_ref, -lim.velocity, lim.velocity)
        if not np.array_equal(q, q_ref):
            self.counts.position += 1
        if not np.array_equal(v, v_ref):
            self.counts.velocity += 1
        return q, v

    def torque(self, tau: np.ndarray) -> np.ndarray:
        """Torques (n,) Nm clipped to the URDF effort limits; a non-finite torque becomes 0."""
        lim = self.limits.effort
        safe = np.where(np.isfinite(tau), tau, 0.0)
        out = np.clip(safe, -lim, lim)
        if not np.array_equal(out, tau):
            self.counts.effort += 1
        return out
