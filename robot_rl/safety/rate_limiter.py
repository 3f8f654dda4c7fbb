"""Jerk-, acceleration- and velocity-limited tracking on a fixed output grid (libfranka rate-limiter semantics).

State per joint is (q, v, a): the last output position, and the velocity and acceleration defined by
finite differences of the output grid, v_k = (q_k - q_{k-1}) / dt, a_k = (v_k - v_{k-1}) / dt.
Each step picks a new acceleration a' inside an interval that guarantees

    |v'| <= V,  |a'| <= A,  |a' - a| <= J dt,

and keeps the velocity-approach invariant (a' small enough that jerk-limited deceleration can still
stop the velocity at +-V), so the interval is never empty on the next step. All arrays are (n,) per
joint unless stated otherwise; units rad, rad/s, rad/s^2, rad/s^3, s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from robot_rl.safety import kernels


@dataclass(frozen=True)
class GridLimits:
    """Per-joint limits (n,) and the output grid spacing dt (s)."""

    lower: np.ndarray  # rad, soft position limit
    upper: np.ndarray  # rad
    velocity: np.ndarray  # rad/s
    acceleration: np.ndarray  # rad/s^2
    jerk: np.ndarray  # rad/s^3
    dt: float  # s


@dataclass
class GridState:
    """Output state at one grid point: position, finite-difference velocity and acceleration, (n,) each."""

    q: np.ndarray
    v: np.ndarray
    a: np.ndarray

    @staticmethod
    def at_rest(q: np.ndarray) -> GridState:
        """Standing still at q (n,) rad."""
        q = np.array(q, dtype=float)
        return GridState(q, np.zeros_like(q), np.zeros_like(q))

    def copy(self) -> GridState:
        return GridState(self.q.copy(), self.v.copy(), self.a.copy())


@dataclass
class TrackResult:
    """Output of :func:`track`: positions (m, n) on the grid and which limits were active per joint."""

    positions: np.ndarray
    end: GridState
    velocity_limited: np.ndarray  # (n,) bool
    acceleration_limited: np.ndarray  # (n,) bool
    jerk_limited: np.ndarray  # (n,) bool


def fits_limits(start: GridState, targets: np.ndarray, lim: GridLimits) -> bool:
    """True if stepping exactly through ``targets`` (m, n) from ``start`` stays inside every step's interval."""
    return kernels.fits(start.q, start.v, start.a, targets, lim.velocity, lim.acceleration, lim.jerk, lim.dt)


def track(start: GridState, targets: np.ndarray, lim: GridLimits, tracking_accel: np.ndarray) -> TrackResult:
    """Follow ``targets`` (m, n) rad, one per grid step after ``start``, within the limits.

    When the targets are reachable as given they are returned unchanged. Otherwise each step aims
    at the next target with a velocity capped by a braking curve sqrt(2 * tracking_accel * |error|)
    (plus the target's own velocity) and the resulting acceleration is clipped to the interval.
    """
    n = start.q.shape[0]
    if fits_limits(start, targets, lim):
        return TrackResult(np.array(targets, dtype=float), _end_state(start, targets, lim.dt),
                           *np.zeros((3, n), dtype=bool))
    out, end, flags = np.empty(targets.shape), np.empty((3, n)), np.zeros((3, n), dtype=bool)
    kernels.track_steps(start.q, start.v, start.a, targets, lim.velocity, lim.acceleration, lim.jerk, lim.dt,
                        tracking_accel, out, end, flags)
    return TrackResult(out, GridState(*end), *flags)


def _end_state(start: GridState, positions: np.ndarray, dt: float) -> GridState:
    """Grid state at the last of ``positions`` (m >= 1, n) that follow ``start``."""
    q1 = positions[-1]
    q0 = positions[-2] if len(positions) > 1 else start.q
    v_last = (q1 - q0) / dt
    v_prev = start.v if len(positions) == 1 else (q0 - (positions[-3] if len(positions) > 2 else start.q)) / dt
    return GridState(q1.copy(), v_last, (v_last - v_prev) / dt)


def brake(start: GridState, lim: GridLimits) -> np.ndarray:
    """Grid positions (b, n) that bring ``start`` to rest (v = a = 0) within the limits.

    Tries a constant deceleration per joint (velocity ramped linearly to zero in the fewest steps
    the acceleration limit allows), accepted only if every step lies in its admissible interval
    (checked by :func:`fits_limits`); otherwise falls back to :func:`brake_stepwise`.
    """
    if not (start.v.any() or start.a.any()):
        return np.empty((0, start.q.shape[0]))
    positions = kernels.brake_linear(start.q, start.v, lim.acceleration, lim.dt)
    if fits_limits(start, positions, lim):
        return positions
    return brake_stepwise(start, lim)


def brake_stepwise(start: GridState, lim: GridLimits, max_steps: int | None = None) -> np.ndarray:
    """Grid positions (b, n) that bring ``start`` to rest (v = a = 0) at the deceleration limits.

    Each joint decelerates as hard as the interval allows without reversing, then snaps to zero
    velocity once the remaining velocity is below J dt^3 (a step whose jerk is within limits).
    ``max_steps`` defaults to :func:`brake_step_budget` (twice the braking time the limits allow, in steps of dt).
    """
    max_steps = brake_step_budget(start, lim) if max_steps is None else max_steps
    positions, stopped = kernels.brake_stepwise(start.q, start.v, start.a, lim.velocity, lim.acceleration,
                                                lim.jerk, lim.dt, max_steps)
    if not stopped:
        raise RuntimeError(f"brake did not reach rest in {max_steps} steps from v={start.v}, a={start.a}")
    return positions


def brake_step_budget(start: GridState, lim: GridLimits) -> int:
    """Grid steps a stepwise brake from ``start`` may take: twice the slowest joint's worst case
    T = 2 A/J (turn the acceleration round) + V/A (decelerate) + A/J (release), with V, A at least |v|, |a| of
    ``start``, plus 200 steps for the geometric tail below J dt^3. With dt = 1e-4 s this is ~20x the former
    fixed 5000 steps, which a brake at 10 % of the acceleration limits outran."""
    speed = np.maximum(np.abs(start.v), lim.velocity)
    accel = np.maximum(np.abs(start.a), lim.acceleration)
    seconds = float(np.max(3.0 * accel / lim.jerk + speed / lim.acceleration))
    return int(math.ceil(2.0 * seconds / lim.dt)) + 200
