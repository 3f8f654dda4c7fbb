"""Last line of defense inside the control loop: position, velocity and effort limits.

The safety filter upstream is the real guard; this makes the control node safe
on its own even when something reaches it unfiltered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from robot_rl.control import kernels
from robot_rl.robot.model import JointLimits


@dataclass
class LimitCounts:
    """How often each last-line limit acted, since start."""

    position: int = 0
    velocity: int = 0
    effort: int = 0
    overspeed: int = 0  # ticks on which a measured joint speed above the cap was braked


OVERSPEED_FRACTION = 0.95
"""Of the URDF velocity limit: a joint measured faster than this is braked (at least the plans' limit)."""


class LastLineLimits:
    """Clamp the reference into soft position and velocity limits and the torque into effort limits, and brake a
    joint whose measured speed exceeds the cap.

    Args:
        limits: the robot's limits (``velocity`` is what plans may use).
        hard_velocity: (n,) rad/s, the URDF velocity limit.
        damping: (n,) Nm s/rad, how hard an overspeeding joint is braked per rad/s above the cap.
    """

    def __init__(self, limits: JointLimits, hard_velocity: np.ndarray, damping: np.ndarray):
        self.limits = limits
        self.speed_cap = np.maximum(OVERSPEED_FRACTION * np.asarray(hard_velocity, float), limits.velocity)
        self.damping = np.asarray(damping, float)
        self.counts = LimitCounts()

    def reference(self, q_ref: np.ndarray, v_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(q_ref, v_ref) (n,) or (k, n) clamped to the soft position limits (rad) and velocity limits (rad/s)."""
        lim = self.limits
        if np.ndim(q_ref) == 1:  # the per-tick case: one compiled kernel
            out = np.empty(2 * len(q_ref))
            clamped = kernels.clamp_reference(np.asarray(q_ref, float), np.asarray(v_ref, float), lim.soft_lower,
                                              lim.soft_upper, lim.velocity, out)
            self.counts.position += clamped & 1
            self.counts.velocity += clamped >> 1
            return out[:len(q_ref)], out[len(q_ref):]
        q = np.clip(q_ref, lim.soft_lower, lim.soft_upper)
        v = np.clip(v_ref, -lim.velocity, lim.velocity)
        if not np.array_equal(q, q_ref):
            self.counts.position += 1
        if not np.array_equal(v, v_ref):
            self.counts.velocity += 1
        return q, v

    def torque(self, tau: np.ndarray) -> np.ndarray:
        """Torques (n,) Nm clipped to the URDF effort limits; a non-finite torque becomes 0."""
        out = np.empty(len(tau))
        if kernels.clip_torque(np.asarray(tau, float), self.limits.effort, out):
            self.counts.effort += 1
        return out

    def overspeed(self, tau: np.ndarray, velocity: np.ndarray, hold: Callable[[], np.ndarray]) -> np.ndarray:
        """Torques (n,) Nm that do not drive a joint faster once its measured speed exceeds ``speed_cap``.

        The impedance law catching up a large tracking error (after torque saturation or a contact) can push a
        joint past its limit. For a joint above the cap, the torque in its direction of motion is at most
        ``hold() - damping * (|v| - cap)``, with ``hold()`` (n,) Nm the torque that keeps the current velocity
        (gravity, Coriolis: rnea(q, v, 0)); evaluated only when a joint is over the cap.
        """
        if not kernels.over_cap(np.asarray(velocity, float), self.speed_cap):
            return tau
        excess = np.abs(velocity) - self.speed_cap
        self.counts.overspeed += 1
        brake = hold() - np.sign(velocity) * self.damping * np.maximum(excess, 0.0)
        limited = np.where(velocity > 0, np.minimum(tau, brake), np.maximum(tau, brake))
        return np.where(excess > 0, limited, tau)

    def overspeed_position(self, q_ref: np.ndarray, v_ref: np.ndarray, position: np.ndarray,
                           velocity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The position-mode counterpart of :meth:`overspeed`: a joint measured faster than ``speed_cap`` gets its
        measured position (rad) and zero velocity as reference, so the servo's own loop brakes it; (n,) each."""
        over = np.abs(velocity) > self.speed_cap
        if not np.any(over):
            return q_ref, v_ref
        self.counts.overspeed += 1
        return np.where(over, position, q_ref), np.where(over, 0.0, v_ref)
