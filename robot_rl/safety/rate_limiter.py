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

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GridLimits:
    """Per-joint limits (n,) and the output grid spacing dt (s)."""

    lower: np.ndarray  # rad, soft position limit
    upper: np.ndarray  # rad
    velocity: np.ndarray  # rad/s
    acceleration: np.ndarray  # rad/s^2
    jerk: np.ndarray  # rad/s^3
    dt: float  # s

    @property
    def jerk_step(self) -> np.ndarray:
        """Largest change of acceleration per grid step, J dt (rad/s^2)."""
        return self.jerk * self.dt


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


def _approach(room: np.ndarray, lim: GridLimits) -> np.ndarray:
    """Largest acceleration (>= 0) whose jerk-limited release adds at most ``room`` rad/s of velocity.

    Uses the bound S(a) <= 1.5 a dt + a^2 / (2 J) on the velocity still gained when the acceleration
    is ramped down to zero at the jerk limit, so the bound holds again on the next step.
    """
    j, dt = lim.jerk, lim.dt
    return j * (np.sqrt(2.25 * dt * dt + 2.0 * np.maximum(room, 0.0) / j) - 1.5 * dt)


def accel_interval(state: GridState, lim: GridLimits) -> tuple[np.ndarray, np.ndarray]:
    """Admissible next accelerations [lo, hi] (n,) rad/s^2 from ``state`` (never empty, see module doc)."""
    js = lim.jerk_step
    hi = np.minimum(np.minimum(lim.acceleration, state.a + js), _approach(lim.velocity - state.v, lim))
    lo = np.maximum(np.maximum(-lim.acceleration, state.a - js), -_approach(lim.velocity + state.v, lim))
    return lo, hi


def _step(state: GridState, accel: np.ndarray, dt: float) -> GridState:
    v = state.v + accel * dt
    return GridState(state.q + v * dt, v, accel)


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
    inv_dt = 1.0 / lim.dt
    m = len(targets)
    v = np.empty((m + 1, targets.shape[1]))
    v[0] = start.v
    v[1] = (targets[0] - start.q) * inv_dt
    np.subtract(targets[1:], targets[:-1], out=v[2:])
    v[2:] *= inv_dt
    a = np.empty_like(v)
    a[0] = start.a
    np.subtract(v[1:], v[:-1], out=a[1:])
    a[1:] *= inv_dt
    v_prev, a_prev, a_new = v[:-1], a[:-1], a[1:]
    js = lim.jerk_step
    if np.any(np.abs(a_new) > lim.acceleration) or np.any(np.abs(a_new - a_prev) > js):
        return False
    return bool(np.all(a_new <= _approach(lim.velocity - v_prev, lim))
                and np.all(a_new >= -_approach(lim.velocity + v_prev, lim)))


def track(start: GridState, targets: np.ndarray, lim: GridLimits, tracking_accel: np.ndarray) -> TrackResult:
    """Follow ``targets`` (m, n) rad, one per grid step after ``start``, within the limits.

    When the targets are reachable as given they are returned unchanged. Otherwise each step aims
    at the next target with a velocity capped by a braking curve sqrt(2 * tracking_accel * |error|)
    (plus the target's own velocity) and the resulting acceleration is clipped to the interval.
    """
    n = start.q.shape[0]
    flags = [np.zeros(n, bool) for _ in range(3)]
    if fits_limits(start, targets, lim):
        return TrackResult(np.array(targets, dtype=float), _end_state(start, targets, lim.dt), *flags)
    m = len(targets)
    out = np.empty((m, n))
    desired, lows, highs, prev_accel = (np.empty((m, n)) for _ in range(4))
    capped = np.zeros((m, n), bool)
    state, previous_target, dt = start, start.q, lim.dt
    for k in range(m):
        target = targets[k]
        error = target - state.q
        cap = np.abs(target - previous_target) / dt + np.sqrt(2.0 * tracking_accel * np.abs(error))
        v_des = np.clip(error / dt, -cap, cap)
        capped[k] = np.abs(error / dt) > cap
        desired[k] = (v_des - state.v) / dt
        lows[k], highs[k] = accel_interval(state, lim)
        prev_accel[k] = state.a
        state = _step(state, np.minimum(np.maximum(desired[k], lows[k]), highs[k]), dt)
        out[k] = state.q
        previous_target = target
    return TrackResult(out, state, *_active_limits(desired, lows, highs, prev_accel, capped, lim))


def _end_state(start: GridState, positions: np.ndarray, dt: float) -> GridState:
    q = np.vstack([start.q, positions])[-3:]
    v_last = (q[-1] - q[-2]) / dt
    v_prev = (q[-2] - q[-3]) / dt if len(q) == 3 else start.v
    return GridState(q[-1].copy(), v_last, (v_last - v_prev) / dt)


def _active_limits(desired, lows, highs, prev_accel, capped, lim: GridLimits):
    """Per joint (n,) bools: was the velocity, acceleration or jerk limit active at any step (all (m, n))?"""
    above, below = desired > highs, desired < lows
    clipped = above | below
    bound = np.where(above, highs, lows)
    sign = np.where(above, 1.0, -1.0)
    tol = 1e-9 * (1.0 + np.abs(bound))
    jerk = clipped & (np.abs(bound - (prev_accel + sign * lim.jerk_step)) <= tol)
    accel = clipped & ~jerk & (np.abs(bound - sign * lim.acceleration) <= tol)
    velocity = clipped & ~jerk & ~accel
    accel |= capped & ~clipped  # the approach to a far target was slowed to the braking curve
    return velocity.any(axis=0), accel.any(axis=0), jerk.any(axis=0)


def brake(start: GridState, lim: GridLimits) -> np.ndarray:
    """Grid positions (b, n) that bring ``start`` to rest (v = a = 0) within the limits.

    Tries a constant deceleration per joint (velocity ramped linearly to zero in the fewest steps
    the acceleration limit allows), accepted only if every step lies in its admissible interval
    (checked by :func:`fits_limits`); otherwise falls back to :func:`brake_stepwise`.
    """
    speed = np.abs(start.v)
    if not (speed.any() or start.a.any()):
        return np.empty((0, start.q.shape[0]))
    steps = np.ceil(speed / (lim.acceleration * lim.dt) * (1 + 1e-9))
    longest = int(steps.max())
    k = np.arange(1, longest + 2)[:, None]
    velocity = start.v * np.clip(1.0 - k / np.maximum(steps, 1.0), 0.0, 1.0)
    positions = start.q + lim.dt * np.cumsum(velocity, axis=0)
    if fits_limits(start, positions, lim):
        return positions
    return brake_stepwise(start, lim)


def brake_stepwise(start: GridState, lim: GridLimits, max_steps: int = 5000) -> np.ndarray:
    """Grid positions (b, n) that bring ``start`` to rest (v = a = 0) at the deceleration limits.

    Each joint decelerates as hard as the interval allows without reversing, then snaps to zero
    velocity once the remaining velocity is below J dt^3 (a step whose jerk is within limits).
    """
    dt, out, state = lim.dt, [], start
    snap = lim.jerk * dt ** 3
    for _ in range(max_steps):
        if not (np.any(state.v != 0.0) or np.any(state.a != 0.0)):
            break
        lo, hi = accel_interval(state, lim)
        speed = np.abs(state.v)
        toward_zero = -np.sign(state.v) * _approach(speed, lim)
        target = np.where(speed <= snap, -state.v / dt, toward_zero)
        accel = np.clip(target, lo, hi)
        state = _step(state, accel, dt)
        state.v[np.abs(state.v) < 1e-15] = 0.0
        out.append(state.q)
    else:
        raise RuntimeError(f"brake did not reach rest in {max_steps} steps from v={start.v}, a={start.a}")
    if not out:
        return np.empty((0, start.q.shape[0]))
    return np.array(out)
