"""The torque bound of a planned grid path (numba): interval inverse dynamics over every grid step.

Grid semantics (robot_rl/safety/rate_limiter.py): point k has the backward-difference velocity
v_k = (q_k - q_{k-1}) / dt and acceleration a_k = (v_k - v_{k-1}) / dt; step k is the motion from point
k - 1 to point k at acceleration a_k. :func:`path_torque_fits` proves, for every step k of a path
(including the step from its start state and the hold after its last point),

    |RNEA(q, v, a_k)_j| + |damping_j v_j| + friction_j <= budget_j   for all q in [q_{k-1}, q_k], v in [v_{k-1}, v_k]

(per joint: each coordinate anywhere between its two grid values), using
:func:`robot_rl.safety.interval_rnea.interval_rnea`. Runs of steps share one box (positions and
velocities over the run): RNEA is exactly linear in the acceleration, tau = M(q) a + h(q, v), so one bound
of h over the box (one interval pass) and of the columns of M over the positions (n passes, no gravity,
no velocity) bound every step's torque with its own a_k. A run whose bound exceeds the budget is split
in halves; short runs are bounded step by step (one pass with a = a_k each).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from robot_rl.safety.interval_rnea import interval_rnea


@njit(cache=True)
def grid_states(q0, v0, path, dt: float, v_out, a_out) -> None:
    """Backward-difference velocities and accelerations (m + 2, n) of the grid sequence
    [q0, path..., hold]: row 0 is the start (its velocity v0; its acceleration is not used), rows 1..m the
    points of ``path`` (m, n), row m + 1 the hold after the last point (velocity 0)."""
    m, n = path.shape
    for j in range(n):
        v_out[0, j], a_out[0, j] = v0[j], 0.0
        previous = q0[j]
        for k in range(1, m + 2):
            q = path[k - 1, j] if k <= m else (path[m - 1, j] if m > 0 else q0[j])
            v_out[k, j] = (q - previous) / dt
            a_out[k, j] = (v_out[k, j] - v_out[k - 1, j]) / dt
            previous = q


@njit(cache=True)
def _box(q0, path, v, first: int, last: int, qc, qr, vc, vr) -> None:
    """Positions and velocities (centre, radius per joint) over grid points first - 1 .. last (0 = the start,
    m + 1 = the hold after the m points of ``path``)."""
    m, n = path.shape
    for j in range(n):
        q_lo, q_hi, v_lo, v_hi = np.inf, -np.inf, np.inf, -np.inf
        for k in range(first - 1, last + 1):
            q = q0[j] if min(k, m) == 0 else path[min(k, m) - 1, j]
            q_lo, q_hi = min(q_lo, q), max(q_hi, q)
            v_lo, v_hi = min(v_lo, v[k, j]), max(v_hi, v[k, j])
        qc[j], qr[j] = 0.5 * (q_lo + q_hi), 0.5 * (q_hi - q_lo)
        vc[j], vr[j] = 0.5 * (v_lo + v_hi), 0.5 * (v_hi - v_lo)


@njit(cache=True)
def _within(tau_c, tau_r, vc, vr, budget, damping, friction) -> bool:
    for j in range(tau_c.shape[0]):
        if abs(tau_c[j]) + tau_r[j] + abs(damping[j]) * (abs(vc[j]) + vr[j]) + friction[j] > budget[j]:
            return False
    return True


@njit(cache=True)
def _run_fits(model, a, first: int, last: int, qc, qr, vc, vr, budget, damping, friction, work, counter) -> bool:
    """True if steps first..last (one box qc +- qr, vc +- vr) fit: h(q, v) + M(q) a_k for each k."""
    n = qc.shape[0]
    zero, unit = work[0], work[1]
    tau_c, tau_r, h_c, h_r = work[2], work[3], work[4], work[5]
    zero[:] = 0.0
    if first == last:
        interval_rnea(model, qc, qr, vc, vr, a[first], zero, 1.0, tau_c, tau_r)
        counter[0] += 1
        return _within(tau_c, tau_r, vc, vr, budget, damping, friction)
    interval_rnea(model, qc, qr, vc, vr, zero, zero, 1.0, h_c, h_r)
    columns = np.empty((2, n, n))  # M's columns over the positions: centre, radius (row i, column j)
    for j in range(n):
        unit[:] = 0.0
        unit[j] = 1.0
        interval_rnea(model, qc, qr, zero, zero, unit, zero, 0.0, tau_c, tau_r)
        columns[0, :, j], columns[1, :, j] = tau_c, tau_r
    counter[0] += n + 1
    for k in range(first, last + 1):
        for i in range(n):
            c, r = h_c[i], h_r[i]
            for j in range(n):
                c += columns[0, i, j] * a[k, j]
                r += columns[1, i, j] * abs(a[k, j])
            tau_c[i], tau_r[i] = c, r
        if not _within(tau_c, tau_r, vc, vr, budget, damping, friction):
            return False
    return True


@njit(cache=True)
def path_torque_fits(model, q0, v0, path, dt: float, budget, damping, friction, counter) -> bool:
    """True if every grid step of [q0 (start, velocity v0), path (m, n), hold] keeps the torque bound
    |RNEA| + |damping v| + friction <= budget (n,) Nm (module docstring). Runs of up to 3 (n + 1) steps are
    bounded step by step (one pass each); a longer run is bounded as one box (n + 1 passes) and split in
    halves if that exceeds the budget. counter[0] += the number of interval RNEA passes."""
    m, n = path.shape
    v, a = np.empty((m + 2, n)), np.empty((m + 2, n))
    grid_states(q0, v0, path, dt, v, a)
    qc, qr, vc, vr = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    work = np.empty((6, n))
    stack = np.empty((m + 2 + 64, 2), dtype=np.int64)
    stack[0, 0], stack[0, 1], top = 1, m + 1, 1
    while top > 0:
        top -= 1
        first, last = stack[top, 0], stack[top, 1]
        if first < last <= first + 3 * (n + 1) - 1:  # short run: one step at a time
            for k in range(last, first - 1, -1):
                stack[top, 0], stack[top, 1] = k, k
                top += 1
            continue
        _box(q0, path, v, first, last, qc, qr, vc, vr)
        if _run_fits(model, a, first, last, qc, qr, vc, vr, budget, damping, friction, work, counter):
            continue
        if first == last:
            return False
        middle = (first + last) // 2
        stack[top, 0], stack[top, 1] = middle + 1, last
        stack[top + 1, 0], stack[top + 1, 1] = first, middle
        top += 2
    return True
