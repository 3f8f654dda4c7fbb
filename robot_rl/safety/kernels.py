"""Compiled (numba) inner loops of the safety filter's grid planning.

These are the per-joint, per-grid-step loops of :mod:`robot_rl.safety.rate_limiter` and
:mod:`robot_rl.safety.targets`, written as scalar loops so one command costs a few microseconds
instead of ~100 small numpy calls. They take and fill plain float64 arrays; the typed wrappers in
those modules are the API. Units: rad, rad/s, rad/s^2, rad/s^3, s. Arrays named ``*_lim`` are (n,)
per joint; ``targets``/``out`` are (m, n), one row per grid step of ``dt`` s.

``cache=True`` stores the machine code next to this file (or in ``NUMBA_CACHE_DIR``); the
first process on a fresh install compiles once (~11 s at load 2; ``make setup`` does it). :func:`warm_up` (called
when a SafetyFilter is built) compiles or loads every signature in SIGNATURES and then FREEZES the kernels:
numba never compiles at run time. Each kernel has two signatures: all arrays C-contiguous and writable (the
usual case, fastest), and inputs of any layout, read-only or not (``'A'`` layout), so permuted joint
columns (Fortran-ordered after reordering), read-only arrays and slices all match without compiling. A call
with another dtype or dimension raises TypeError (the filter's guard turns that into a latched safe stop)
instead of stalling the filter while the compiler runs.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types


@njit(cache=True)
def approach(room: float, jerk: float, dt: float) -> float:
    """Largest acceleration (>= 0) whose jerk-limited release adds at most ``room`` rad/s of velocity."""
    return jerk * (math.sqrt(2.25 * dt * dt + 2.0 * max(room, 0.0) / jerk) - 1.5 * dt)


@njit(cache=True)
def accel_bounds(v: float, a: float, v_max: float, a_max: float, jerk: float, dt: float) -> tuple[float, float]:
    """Admissible next acceleration [lo, hi] of one joint at velocity v and acceleration a.

    The jerk bound |a' - a| <= jerk dt is never given up. A start outside [-a_max, a_max] (a plan spliced onto,
    or braked from, a faster one: the torque fallback's scaled accelerations, the recovery speed) comes back at
    the jerk limit: the bound on the side it left is a - jerk dt (or a + jerk dt) until |a| is within a_max.
    Before, [lo, hi] was empty there and a' jumped to +-a_max in one step (jerk (1 - scale) a_max / dt: 1.3x
    the limit at dt 1 ms, 6.5x at 0.2 ms)."""
    step = jerk * dt
    hi = min(min(max(a_max, a - step), a + step), approach(v_max - v, jerk, dt))
    lo = max(max(min(-a_max, a + step), a - step), -approach(v_max + v, jerk, dt))
    return lo, hi


@njit(cache=True)
def fits(q0, v0, a0, targets, v_lim, a_lim, j_lim, dt: float) -> bool:
    """True if stepping exactly through ``targets`` from (q0, v0, a0) stays inside every step's interval."""
    inv_dt = 1.0 / dt
    for j in range(targets.shape[1]):
        q_prev, v_prev, a_prev = q0[j], v0[j], a0[j]
        for k in range(targets.shape[0]):
            v = (targets[k, j] - q_prev) * inv_dt
            a = (v - v_prev) * inv_dt
            if abs(a) > a_lim[j] or abs(a - a_prev) > j_lim[j] * dt:
                return False
            if a > approach(v_lim[j] - v_prev, j_lim[j], dt) or a < -approach(v_lim[j] + v_prev, j_lim[j], dt):
                return False
            q_prev, v_prev, a_prev = targets[k, j], v, a
    return True


@njit(cache=True)
def track_steps(q0, v0, a0, targets, v_lim, a_lim, j_lim, dt: float, tracking_accel, out, end, flags) -> None:
    """Follow ``targets`` step by step within the limits; fills out (m, n), end (3, n) = final (q, v, a).

    flags (3, n) bool is set where the velocity (row 0), acceleration (1) or jerk (2) limit was
    active: the desired acceleration was clipped by that bound, or (row 1) the approach velocity was
    capped by the braking curve sqrt(2 * tracking_accel * |error|).
    """
    for j in range(targets.shape[1]):
        q, v, a, previous_target = q0[j], v0[j], a0[j], q0[j]
        for k in range(targets.shape[0]):
            target = targets[k, j]
            error = target - q
            cap = abs(target - previous_target) / dt + math.sqrt(2.0 * tracking_accel[j] * abs(error))
            desired = (min(max(error / dt, -cap), cap) - v) / dt
            lo, hi = accel_bounds(v, a, v_lim[j], a_lim[j], j_lim[j], dt)
            if desired > hi or desired < lo:
                sign, bound = (1.0, hi) if desired > hi else (-1.0, lo)
                tol = 1e-9 * (1.0 + abs(bound))
                if abs(abs(bound - a) - j_lim[j] * dt) <= tol:  # a +- J dt: rising, or returning to a_max
                    flags[2, j] = True
                elif abs(bound - sign * a_lim[j]) <= tol:
                    flags[1, j] = True
                else:
                    flags[0, j] = True
            elif abs(error / dt) > cap:
                flags[1, j] = True
            a = min(max(desired, lo), hi)
            v = v + a * dt
            q = q + v * dt
            out[k, j] = q
            previous_target = target
        end[0, j], end[1, j], end[2, j] = q, v, a


@njit(cache=True)
def brake_linear(q0, v0, a_lim, dt: float):
    """Positions (b, n): each joint's velocity ramped linearly to zero at its acceleration limit."""
    n = q0.shape[0]
    steps = np.empty(n)
    longest = 0
    for j in range(n):
        steps[j] = math.ceil(abs(v0[j]) / (a_lim[j] * dt) * (1 + 1e-9))
        longest = max(longest, int(steps[j]))
    out = np.empty((longest + 1, n))
    for j in range(n):
        travelled, total = 0.0, max(steps[j], 1.0)  # velocity sum, as q0 + dt * cumsum(v)
        for k in range(longest + 1):
            travelled += v0[j] * min(max(1.0 - (k + 1) / total, 0.0), 1.0)
            out[k, j] = q0[j] + dt * travelled
    return out


@njit(cache=True)
def brake_stepwise(q0, v0, a0, v_lim, a_lim, j_lim, dt: float, max_steps: int):
    """Positions (b, n) to rest at the deceleration limits, and whether rest was reached in ``max_steps``.

    Each joint decelerates as hard as its interval allows without reversing, then snaps to zero
    velocity once the remaining velocity is below J dt^3.
    """
    n = q0.shape[0]
    q, v, a = q0.copy(), v0.copy(), a0.copy()
    buf = np.empty((64, n))
    count = 0
    for _ in range(max_steps):
        moving = False
        for j in range(n):
            moving = moving or v[j] != 0.0 or a[j] != 0.0
        if not moving:
            return buf[:count].copy(), True
        if count == buf.shape[0]:
            grown = np.empty((2 * count, n))
            grown[:count] = buf
            buf = grown
        for j in range(n):
            lo, hi = accel_bounds(v[j], a[j], v_lim[j], a_lim[j], j_lim[j], dt)
            speed = abs(v[j])
            if speed <= j_lim[j] * dt ** 3:
                target = -v[j] / dt
            else:
                target = -np.sign(v[j]) * approach(speed, j_lim[j], dt)
            a[j] = min(max(target, lo), hi)
            v[j] = v[j] + a[j] * dt
            q[j] = q[j] + v[j] * dt
            if abs(v[j]) < 1e-15:
                v[j] = 0.0
            buf[count, j] = q[j]
        count += 1
    return buf[:count].copy(), False


@njit(cache=True)
def sample_linear(times, positions, t_start: float, q_start, grid, out) -> None:
    """Linear interpolation of waypoints at the grid times into out (m, n); see targets.sample_targets.

    Waypoints at or before ``t_start`` (times strictly increasing, so a prefix) are dropped; the
    path runs from (t_start, q_start) through the remaining ones and holds the last after its time.
    """
    k_total = times.shape[0]
    first = 0
    while first < k_total and times[first] <= t_start:
        first += 1
    if first == k_total:
        for i in range(out.shape[0]):
            out[i] = positions[k_total - 1]
        return
    knots = k_total - first + 1  # knot 0 is (t_start, q_start), knot i is waypoint first + i - 1
    p = 0
    for i in range(out.shape[0]):
        g = grid[i]
        while p + 1 <= knots - 2 and times[first + p] <= g:
            p += 1
        t_a = t_start if p == 0 else times[first + p - 1]
        t_b = times[first + p]
        span = t_b - t_a  # > 0: checks.py rejects absolute waypoint gaps below min_waypoint_spacing
        w = 1.0 if span <= 0.0 else min(max((g - t_a) / span, 0.0), 1.0)
        for j in range(out.shape[1]):
            q_a = q_start[j] if p == 0 else positions[first + p - 1, j]
            out[i, j] = q_a * (1.0 - w) + positions[first + p, j] * w


@njit(cache=True)
def monotone_velocities(before_first, seg, dt: float, out) -> None:
    """Velocities out (m, n) rad/s at the points seg (m, n) for cubic Hermite interpolation.

    Central differences, limited as in monotone cubic interpolation (Fritsch-Carlson): 0 where the
    motion stops or reverses at the point, and at most 3x the smaller adjacent step velocity.
    ``before_first`` (n,) is the point before seg[0]; the last point is held after the end.
    """
    m, n = seg.shape
    for j in range(n):
        prev = before_first[j]
        for i in range(m):
            after_point = seg[i + 1, j] if i + 1 < m else seg[i, j]
            before = (seg[i, j] - prev) / dt
            after = (after_point - seg[i, j]) / dt
            if before * after > 0.0:
                bound = 3.0 * min(abs(before), abs(after))
                out[i, j] = min(max(0.5 * (before + after), -bound), bound)
            else:
                out[i, j] = 0.0
            prev = seg[i, j]


@njit(cache=True)
def path_travel(start_q, points, arms, out) -> None:
    """out (m,) m: cumulative bound sum_j arms_j |dq_j| on how far any robot point moves along points (m, n)."""
    total = 0.0
    for i in range(points.shape[0]):
        for j in range(points.shape[1]):
            previous = start_q[j] if i == 0 else points[i - 1, j]
            total += arms[j] * abs(points[i, j] - previous)
        out[i] = total


@njit(cache=True)
def anchor_slack(q, anchors, slacks, arms) -> float:
    """Largest remaining slack (m) at q (n,) over anchors (K, n) with slacks (K,): s_c - sum_j arms_j |q_j - c_j|."""
    best = -np.inf
    for c in range(anchors.shape[0]):
        remaining = slacks[c]
        for j in range(q.shape[0]):
            remaining -= arms[j] * abs(q[j] - anchors[c, j])
        best = max(best, remaining)
    return best


@njit(cache=True)
def finite_increasing(times, positions) -> bool:
    """True if times (k,) are finite, >= 0 and strictly increasing and positions (k, n) are all finite."""
    for i in range(times.shape[0]):
        if not math.isfinite(times[i]) or (times[i] < 0.0 if i == 0 else times[i] <= times[i - 1]):
            return False
        for j in range(positions.shape[1]):
            if not math.isfinite(positions[i, j]):
                return False
    return True


@njit(cache=True)
def min_gap(stamp: float, times) -> float:
    """Smallest spacing (s) of the absolute waypoint times stamp + times (k,) as float64 computes them; inf if k < 2.

    Relative times 60 ms and 60 ms + 1 ns are increasing, but at stamp 1.7e9 s both sums round to the same
    float (gap 0)."""
    gap = np.inf
    for i in range(1, times.shape[0]):
        gap = min(gap, (stamp + times[i]) - (stamp + times[i - 1]))
    return gap


@njit(cache=True)
def columns_outside(values, lower, upper, outside) -> bool:
    """Mark in outside (n,) the columns of values (m, n) with an entry outside [lower, upper] (n,); True if any."""
    found = False
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if values[i, j] < lower[j] or values[i, j] > upper[j]:
                outside[j] = True
                found = True
    return found


SIGNATURES = {
    # argument kinds: f float64, i int64, aN float64 input array of N dims, oN float64 output array, bN bool output
    approach: "f f f",
    accel_bounds: "f f f f f f",
    fits: "a1 a1 a1 a2 a1 a1 a1 f",
    track_steps: "a1 a1 a1 a2 a1 a1 a1 f a1 o2 o2 b2",
    brake_linear: "a1 a1 a1 f",
    brake_stepwise: "a1 a1 a1 a1 a1 a1 f i",
    sample_linear: "a1 a2 f a1 a1 o2",
    monotone_velocities: "a1 a2 f o2",
    path_travel: "a1 a2 a1 o1",
    anchor_slack: "a1 a2 a1 a1",
    finite_increasing: "a1 a2",
    min_gap: "f a1",
    columns_outside: "a2 a1 a1 b1",
}
"""Every signature the filter calls its kernels with (:func:`warm_up` compiles these and nothing else)."""
_frozen = False  # True once warm_up has compiled SIGNATURES and disabled compilation


def _argument_types(kinds: str, any_layout: bool) -> tuple:
    scalar = {"f": types.float64, "i": types.int64}
    out = []
    for kind in kinds.split():
        if kind in scalar:
            out.append(scalar[kind])
            continue
        dtype = types.boolean if kind[0] == "b" else types.float64
        layout = "A" if any_layout else "C"
        out.append(types.Array(dtype, int(kind[1]), layout, readonly=any_layout and kind[0] == "a"))
    return tuple(out)


def warm_up() -> None:
    """Compile (or load from the cache) both signatures of every kernel, then forbid compiling at run time.

    Idempotent: later calls in the same process do nothing."""
    global _frozen
    if _frozen:
        return
    for kernel, kinds in SIGNATURES.items():
        for any_layout in (False, True):
            kernel.compile(_argument_types(kinds, any_layout))
    for kernel in SIGNATURES:
        kernel.disable_compile()
    _frozen = True


def signature_count() -> int:
    """Compiled signatures over all kernels: constant after :func:`warm_up` (tests check that no call adds one)."""
    return sum(len(kernel.signatures) for kernel in SIGNATURES)
