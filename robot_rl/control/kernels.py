"""Compiled (numba) per-tick arithmetic of the control core: the 1 kHz path without ~60 small numpy calls.

Each kernel is the scalar-loop form of numpy code it replaced, with the same floating-point operations in
the same order, so it returns the same numbers bit for bit (``tests/test_control_equivalence.py`` replays a
trajectory recorded before). Arrays are float64, (n,) per joint or (k, n) per waypoint; units rad, rad/s,
rad/s^2, Nm, s. Signatures are explicit and compiled when this module is imported (or loaded from numba's
cache, ``cache=True``), so the control loop never waits for the compiler; a call with another dtype or
dimension raises TypeError. Layout 'A': permuted (Fortran-ordered) or sliced inputs are accepted.
"""

from __future__ import annotations

import math

from numba import njit, types

_R1, _R2 = (types.Array(types.float64, d, "A", readonly=True) for d in (1, 2))  # inputs (writable ones match too)
_W1, _W2 = (types.Array(types.float64, d, "A") for d in (1, 2))  # outputs
_F, _B, _I = types.float64, types.boolean, types.int64


@njit(_I(_R1, _F), cache=True)
def segment_index(times, t: float) -> int:
    """``max(searchsorted(times, t, side='right'), 1)``: the end index of the segment holding ``t``."""
    i = 0
    while i < times.shape[0] and times[i] <= t:
        i += 1
    return max(i, 1)


@njit(_B(_R1, _R2, _R2, _F, _W2), cache=True)
def path_state(times, positions, velocities, t: float, out) -> bool:
    """The cubic Hermite path through (times (k,) s, positions (k, n), velocities (k, n)) at command time
    ``t`` (s): out[0], out[1], out[2] = position, velocity, acceleration (n,). At or after the last waypoint
    (or with one waypoint): the last position at rest. Returns False there, True on a segment."""
    n, last = positions.shape[1], times.shape[0] - 1
    if t >= times[last] or last == 0:
        for j in range(n):
            out[0, j], out[1, j], out[2, j] = positions[last, j], 0.0, 0.0
        return False
    i = segment_index(times, t)
    t0, h = times[i - 1], times[i] - times[i - 1]
    s = (t - t0) / h
    for j in range(n):  # HermiteSegment's arithmetic, per joint
        p0, p1 = positions[i - 1, j], positions[i, j]
        m0, m1 = velocities[i - 1, j] * h, velocities[i, j] * h
        c2 = 3.0 * (p1 - p0) - 2.0 * m0 - m1
        c3 = 2.0 * (p0 - p1) + m0 + m1
        out[0, j] = p0 + s * (m0 + s * (c2 + s * c3))
        out[1, j] = (m0 + s * (2.0 * c2 + 3.0 * s * c3)) / h
        out[2, j] = (2.0 * c2 + 6.0 * s * c3) / (h * h)
    return True


@njit(_B(_R2, _R2, _R1, _R1, _F, _F), cache=True)
def continues(path, reference, plan_velocity, plan_acceleration, spacing: float, period: float) -> bool:
    """True if the path state ``path`` (3, n) may be followed directly from ``reference`` (3, n): its velocity
    within ``plan_acceleration * spacing`` of the reference's, its position within one ``period`` of travel of
    that, its speed within ``plan_velocity`` (+ the spline's overshoot) and its acceleration within 3 x
    ``plan_acceleration`` (TrajectoryFollower._follow_plan's test, per joint)."""
    for j in range(path.shape[1]):
        step = plan_acceleration[j] * spacing
        q0, v0 = reference[0, j], reference[1, j]
        target, vel, acc = path[0, j], path[1, j], path[2, j]
        if not abs(vel - v0) <= step:
            return False
        if not abs(target - q0 - 0.5 * (v0 + vel) * period) <= step * period:
            return False
    for j in range(path.shape[1]):
        if not abs(path[1, j]) <= plan_velocity[j] + 0.5 * plan_acceleration[j] * spacing:
            return False
    for j in range(path.shape[1]):
        if not abs(path[2, j]) <= 3.0 * plan_acceleration[j]:
            return False
    return True


@njit(_F(_F), cache=True)
def _sign(x: float) -> float:
    """numpy's sign: -1, 0 or 1 (NaN stays NaN)."""
    if x > 0.0:
        return 1.0
    if x < 0.0:
        return -1.0
    return x


@njit(types.void(_R2, _R1, _R1, _R1, _R1, _R2, _W2), cache=True)
def chase_target(path, lower, upper, v_max, a_max, reference, out) -> None:
    """The state ruckig chases, out (3, n): ``path`` (3, n) clipped to [lower, upper], +-v_max, +-a_max; its
    velocity zeroed if it points away from the target as seen from ``reference`` (3, n) and capped at
    sqrt(v0'^2 + a_max |distance|) (v0' the reference velocity, 0 if it points away from the target), its
    acceleration zeroed where that velocity is 0 (TrajectoryFollower._chase_target, per joint)."""
    for j in range(path.shape[1]):
        target = min(max(path[0, j], lower[j]), upper[j])
        vel = min(max(path[1, j], -v_max[j]), v_max[j])
        acc = min(max(path[2, j], -a_max[j]), a_max[j])
        v0, distance = reference[1, j], target - reference[0, j]
        along = abs(v0) if _sign(v0) == _sign(distance) else 0.0
        cap = math.sqrt(along * along + a_max[j] * abs(distance))
        vel = _sign(vel) * min(abs(vel), cap) if _sign(vel) == _sign(distance) else 0.0
        out[0, j], out[1, j], out[2, j] = target, vel, (0.0 if vel == 0.0 else acc)


@njit(_I(_R1, _R1, _R1, _R1, _R1, _W1), cache=True)
def clamp_reference(q_ref, v_ref, lower, upper, v_lim, out) -> int:
    """Clip ``q_ref`` to [lower, upper] into out[:n] and ``v_ref`` to +-v_lim into out[n:] (out (2n,)).
    Returns 1 if a position changed + 2 if a velocity changed (LastLineLimits.reference's counts)."""
    n, flags = q_ref.shape[0], 0
    for j in range(n):
        q = min(max(q_ref[j], lower[j]), upper[j])
        v = min(max(v_ref[j], -v_lim[j]), v_lim[j])
        if q != q_ref[j]:
            flags |= 1
        if v != v_ref[j]:
            flags |= 2
        out[j], out[n + j] = q, v
    return flags


@njit(types.void(_R1, _R1, _R1, _R1, _R1, _R1, _R1, _R1, _R1, _F, _W1), cache=True)
def impedance(kp, kd, q, v, q_ref, v_ref, dynamics, damping, friction, smoothing: float, out) -> None:
    """out (n,) Nm = kp (q_ref - q) + kd (v_ref - v) + dynamics + damping v_ref + friction tanh(v_ref /
    smoothing): the impedance law around pinocchio's rnea(q, v, a_ref) (``dynamics``) with the URDF
    friction feedforward at the reference velocity."""
    for j in range(q.shape[0]):
        feedforward = damping[j] * v_ref[j] + friction[j] * math.tanh(v_ref[j] / smoothing)
        out[j] = kp[j] * (q_ref[j] - q[j]) + kd[j] * (v_ref[j] - v[j]) + dynamics[j] + feedforward


@njit(_B(_R1, _R1), cache=True)
def over_cap(velocity, cap) -> bool:
    """True if a joint's measured speed |velocity| exceeds its ``cap`` (rad/s)."""
    for j in range(velocity.shape[0]):
        if abs(velocity[j]) - cap[j] > 0.0:
            return True
    return False


@njit(_B(_R1, _R1, _W1), cache=True)
def clip_torque(tau, effort, out) -> bool:
    """out (n,) = ``tau`` clipped to +-effort, a non-finite torque as 0. Returns True if out differs from tau."""
    changed = False
    for j in range(tau.shape[0]):
        t = tau[j] if math.isfinite(tau[j]) else 0.0
        t = min(max(t, -effort[j]), effort[j])
        changed |= t != tau[j]
        out[j] = t
    return changed


@njit(_B(_R1, _R2, _R2, _F, _W2, _W2, _R1, _R1, _R1, _R1, _F), cache=True)
def follow_plan(times, positions, velocities, t: float, reference, path, lower, upper, plan_velocity,
                plan_acceleration, period: float) -> bool:
    """One tick on a plan with velocities (TrajectoryFollower._follow_plan's test and update): if the path
    state at command time ``t`` (s; into ``path`` (3, n)) continues ``reference`` (:func:`continues`, with the
    waypoint spacing around ``t``, at least one ``period``), the reference becomes it, its position clipped
    to [lower, upper], and True is returned; else the reference is left as it was (False)."""
    spacing = period
    if times.shape[0] >= 2:
        i = min(segment_index(times, t), times.shape[0] - 1)
        spacing = max(times[i] - times[i - 1], period)
    path_state(times, positions, velocities, t, path)
    if not continues(path, reference, plan_velocity, plan_acceleration, spacing, period):
        return False
    for j in range(path.shape[1]):
        reference[0, j] = min(max(path[0, j], lower[j]), upper[j])
        reference[1, j], reference[2, j] = path[1, j], path[2, j]
    return True


@njit(_I(_R1, _R1, _R1, _R1, _R1, _R1, _R1, _R1, _R1, _F, _R2, _W1, _W1), cache=True)
def limited_impedance(q, v, q_ref, v_ref, dynamics, kp, kd, damping, friction, smoothing: float, limits, reference,
                      tau) -> int:
    """The torque branch of one control tick: the reference (q_ref, v_ref) clamped into ``reference`` (2n,) by
    the last-line limits, the impedance law around it into ``tau`` (n,) (:func:`impedance`, ``dynamics`` =
    rnea(q, v, a_ref)), then, unless a joint is over its speed cap, the torque clipped to the effort limits.

    ``limits`` (5, n): soft lower, soft upper (rad), velocity limit (rad/s), effort limit (Nm), speed cap
    (rad/s). Returns flags: 1 a position clamped, 2 a velocity clamped, 4 a joint over its speed cap (``tau``
    is then the unclipped law: the caller brakes and clips it), 8 a torque clipped or non-finite."""
    n = q.shape[0]
    flags = clamp_reference(q_ref, v_ref, limits[0], limits[1], limits[2], reference)
    impedance(kp, kd, q, v, reference[:n], reference[n:], dynamics, damping, friction, smoothing, tau)
    if over_cap(v, limits[4]):
        return flags | 4
    if clip_torque(tau, limits[3], tau):
        flags |= 8
    return flags
