"""Inverse dynamics bounded over a box of states: RNEA in ball arithmetic (numba).

For joint positions q in [qc - qr, qc + qr], velocities in [vc - vr, vc + vr] and accelerations in
[ac - ar, ac + ar] (each (n,)), :func:`interval_rnea` returns tau_c, tau_r (n,) Nm such that
|RNEA(q, v, a)_i - tau_c_i| <= tau_r_i for EVERY state in the box (pinocchio's RNEA of the same model:
rigid-body inertias from the URDF, gravity, rotor armature). It runs Featherstone's recursive
Newton-Euler algorithm at the box's centre and carries, for every 3-vector (the linear and angular parts
of each link's velocity, acceleration, force and momentum), a radius: a Euclidean ball around the centre
value that contains the vector for every state in the box. Balls are rotation-invariant, so the
radius does not grow with the depth of the chain the way boxes (per-coordinate intervals) do.
Rules: a rotation by an uncertain angle q = qc + d, |d| <= qr, moves a vector y by at most qr |y|
(|Rot(u, d) - I| = 2 |sin(d / 2)| <= |d|); a constant linear map A scales a radius by its spectral
norm; a cross product a x b has radius |a_c| r_b + r_a |b_c| + r_a r_b. Every step over-approximates,
so the result is a bound (not tight). Floating-point rounding is not directed; :data:`ROUNDING` covers
it (relative 1e-9 of each bound plus 1e-9 Nm, far above the ~1e-13 of the ~300 operations).

Joints: 1-dof revolute (any axis) and prismatic (any axis), the joints of every configured robot;
anything else is a ConfigError. Spatial vectors use pinocchio's order (linear, angular) in each joint's frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from robot_rl.errors import ConfigError

ROUNDING = 1e-9
"""Relative inflation of every bound for unrounded floating point (plus the same in Nm absolute)."""

_REVOLUTE, _PRISMATIC = 0, 1
_AXES = {"X": (1.0, 0.0, 0.0), "Y": (0.0, 1.0, 0.0), "Z": (0.0, 0.0, 1.0)}
_VEL, _ACC, _FORCE, _MOM = 0, 1, 2, 3  # rows of the work arrays


@dataclass(frozen=True)
class IntervalModel:
    """Constant arrays of a pinocchio model for :func:`interval_rnea`; index i = pinocchio joint i (0 = universe)."""

    parents: np.ndarray  # (N,) int
    rotation: np.ndarray  # (N, 3, 3) joint placement in its parent: rotation (child axes in parent coords)
    translation: np.ndarray  # (N, 3) m, joint origin in parent coords
    axis: np.ndarray  # (N, 3) unit joint axis in the joint's frame
    kind: np.ndarray  # (N,) int: 0 revolute, 1 prismatic
    inertia: np.ndarray  # (N, 6, 6) spatial inertia, (linear, angular) order, at the joint origin
    inertia_norms: np.ndarray  # (N, 4) spectral norms of its 3x3 blocks (ll, la, al, aa)
    armature: np.ndarray  # (n,) kg m^2
    base_acceleration: np.ndarray  # (3,) m/s^2, minus gravity
    centre: np.ndarray  # (N, 4, 6) scratch: velocity, acceleration, force, momentum (linear, angular)
    radius: np.ndarray  # (N, 4, 2) scratch: their radii (linear, angular)
    frames: np.ndarray  # (N, 4, 3) scratch: rotation at the centre (rows 0-2) and child origin (row 3)

    @staticmethod
    def of(model) -> IntervalModel:
        """From a pinocchio Model whose joints are all 1-dof revolute or prismatic."""
        count = model.njoints
        kind, axis = np.zeros(count, dtype=np.int64), np.zeros((count, 3))
        for i in range(1, count):
            kind[i], axis[i] = _joint_axis(model.joints[i])
            if model.joints[i].idx_q != i - 1 or model.joints[i].idx_v != i - 1:
                raise ConfigError(f"joint {model.names[i]!r}: interval dynamics needs one coordinate per joint")
        inertia = np.array([model.inertias[i].matrix() for i in range(count)])
        norms = np.array([[np.linalg.norm(m[r:r + 3, c:c + 3], 2) for r in (0, 3) for c in (0, 3)] for m in inertia])
        return IntervalModel(
            parents=np.array(model.parents, dtype=np.int64),
            rotation=np.array([model.jointPlacements[i].rotation for i in range(count)]),
            translation=np.array([model.jointPlacements[i].translation for i in range(count)]),
            axis=axis, kind=kind, inertia=inertia, inertia_norms=norms,
            armature=np.array(model.armature, dtype=float),
            base_acceleration=-np.array(model.gravity.linear, dtype=float),
            centre=np.zeros((count, 4, 6)), radius=np.zeros((count, 4, 2)), frames=np.zeros((count, 4, 3)))

    def bound(self, qc, qr, vc, vr, ac, ar, gravity: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(tau_c, tau_r) (n,) Nm: RNEA over the box (without gravity if not ``gravity``), see
        :func:`interval_rnea`."""
        tau_c, tau_r = np.empty(len(qc)), np.empty(len(qc))
        interval_rnea(self.arrays(), qc, qr, vc, vr, ac, ar, 1.0 if gravity else 0.0, tau_c, tau_r)
        return tau_c, tau_r

    def arrays(self) -> tuple:
        """The model's arrays in :func:`interval_rnea`'s order."""
        return (self.parents, self.rotation, self.translation, self.axis, self.kind, self.inertia,
                self.inertia_norms, self.armature, self.base_acceleration, self.centre, self.radius, self.frames)


def _joint_axis(joint) -> tuple[int, np.ndarray]:
    name = joint.shortname()
    for prefix, kind in (("JointModelR", _REVOLUTE), ("JointModelP", _PRISMATIC)):
        if not name.startswith(prefix):
            continue
        rest = name[len(prefix):]
        if rest in _AXES:
            return kind, np.array(_AXES[rest])
        if rest in ("evoluteUnaligned", "rismaticUnaligned"):
            return kind, np.array(joint.extract().axis, dtype=float)
    raise ConfigError(f"joint type {name} is not supported by the interval torque bound (revolute/prismatic only)")


@njit(cache=True)
def _norm(x) -> float:
    return math.sqrt(x[0] * x[0] + x[1] * x[1] + x[2] * x[2])


@njit(cache=True)
def _off_axis(x, u) -> float:
    """|x - (u . x) u|: the part of x (3,) a rotation about the unit axis u (3,) moves."""
    d = x[0] * u[0] + x[1] * u[1] + x[2] * u[2]
    return math.sqrt(max(x[0] * x[0] + x[1] * x[1] + x[2] * x[2] - d * d, 0.0))


@njit(cache=True)
def _add_cross(a, ra: float, b, rb: float, out) -> float:
    """out (3,) += a x b for balls a +- ra, b +- rb (centres (3,)); returns the product's radius."""
    out[0] += a[1] * b[2] - a[2] * b[1]
    out[1] += a[2] * b[0] - a[0] * b[2]
    out[2] += a[0] * b[1] - a[1] * b[0]
    return _norm(a) * rb + ra * _norm(b) + ra * rb


@njit(cache=True)
def _frame(rot, trans, u, revolute: bool, qc: float, out) -> None:
    """out (4, 3): rows 0-2 the child frame's rotation in its parent at the centre, rot Rot(u, qc) (Rodrigues;
    rot for a prismatic joint), row 3 the child origin in parent coords, trans (+ rot u qc if prismatic)."""
    s, c = (math.sin(qc), math.cos(qc)) if revolute else (0.0, 1.0)
    t = 1.0 - c
    for i in range(3):
        for j in range(3):
            local_kj = 0.0
            total = 0.0
            for k in range(3):
                local_kj = t * u[k] * u[j] + (c if k == j else 0.0)
                if k != j:  # s [u]x
                    other = 3 - k - j
                    sign = 1.0 if (k + 1) % 3 == j else -1.0  # [u]x[k, j] = -eps_kjl u_l
                    local_kj -= sign * s * u[other]
                total += rot[i, k] * local_kj
            out[i, j] = total
        out[3, i] = trans[i] + (0.0 if revolute else (rot[i, 0] * u[0] + rot[i, 1] * u[1] + rot[i, 2] * u[2]) * qc)


@njit(cache=True)
def _to_child(frame, u, spread: float, shift: float, pc, pr, cc, cr) -> None:
    """Parent motion (pc (6,), radii pr (2,)) re-expressed in the child frame into (cc, cr): R^T (lin + ang x p),
    R^T ang, R = R_c Rot(u, d) with |d| <= spread (rad), p = origin +- shift (m)."""
    cc[3], cc[4], cc[5] = pc[0], pc[1], pc[2]  # lin + ang x p, staged in the angular slots
    r_lin = pr[0] + _add_cross(pc[3:6], pr[1], frame[3], shift, cc[3:6])
    l0, l1, l2 = cc[3], cc[4], cc[5]
    for k in range(3):
        cc[k] = frame[0, k] * l0 + frame[1, k] * l1 + frame[2, k] * l2
    for k in range(3):
        cc[3 + k] = frame[0, k] * pc[3] + frame[1, k] * pc[4] + frame[2, k] * pc[5]
    cr[0] = r_lin + spread * (_off_axis(cc[0:3], u) + r_lin)
    cr[1] = pr[1] + spread * (_off_axis(cc[3:6], u) + pr[1])


@njit(cache=True)
def _to_parent(frame, u, spread: float, shift: float, fc, fr, pc, pr) -> None:
    """Adds the child's force (fc (6,) = force, moment at the child origin; radii fr (2,)) to the parent's
    (pc, pr): R f and R n + p x (R f)."""
    r_f = fr[0] + spread * (_off_axis(fc[0:3], u) + fr[0])
    r_n = fr[1] + spread * (_off_axis(fc[3:6], u) + fr[1])
    f0 = frame[0, 0] * fc[0] + frame[0, 1] * fc[1] + frame[0, 2] * fc[2]
    f1 = frame[1, 0] * fc[0] + frame[1, 1] * fc[1] + frame[1, 2] * fc[2]
    f2 = frame[2, 0] * fc[0] + frame[2, 1] * fc[1] + frame[2, 2] * fc[2]
    p = frame[3]
    for k in range(3):
        pc[3 + k] += frame[k, 0] * fc[3] + frame[k, 1] * fc[4] + frame[k, 2] * fc[5]
    pc[0] += f0
    pc[1] += f1
    pc[2] += f2
    pc[3] += p[1] * f2 - p[2] * f1
    pc[4] += p[2] * f0 - p[0] * f2
    pc[5] += p[0] * f1 - p[1] * f0
    pr[0] += r_f
    pr[1] += r_n + _norm(p) * r_f + shift * (math.sqrt(f0 * f0 + f1 * f1 + f2 * f2) + r_f)


@njit(cache=True)
def _inertia_times(inertia, norms, xc, xr, oc, orr) -> None:
    """(oc (6,), orr (2,)) = inertia (6, 6) x for the motion ball (xc (6,), xr (2,))."""
    for r in range(6):
        total = 0.0
        for k in range(6):
            total += inertia[r, k] * xc[k]
        oc[r] = total
    orr[0] = norms[0] * xr[0] + norms[1] * xr[1]
    orr[1] = norms[2] * xr[0] + norms[3] * xr[1]


@njit(cache=True)
def interval_rnea(model, qc, qr, vc, vr, ac, ar, gravity: float, tau_c, tau_r) -> None:
    """Bound (tau_c +- tau_r, (n,) Nm) of RNEA over the box qc +- qr, vc +- vr, ac +- ar ((n,) each), with
    ``gravity`` times the model's gravity; ``model`` = :meth:`IntervalModel.arrays`."""
    parents, rotation, translation, axis, kind, inertia, norms, armature, base, wc, wr, frames = model
    count = parents.shape[0]
    wc[0, :, :], wr[0, :, :] = 0.0, 0.0
    for k in range(3):
        wc[0, _ACC, k] = gravity * base[k]
    for i in range(1, count):
        p, u, n = parents[i], axis[i], i - 1
        revolute = kind[i] == _REVOLUTE
        _frame(rotation[i], translation[i], u, revolute, qc[n], frames[i])
        spread, shift = (qr[n], 0.0) if revolute else (0.0, qr[n])
        for row in (_VEL, _ACC):
            _to_child(frames[i], u, spread, shift, wc[p, row], wr[p, row], wc[i, row], wr[i, row])
        c0, side = (3, 1) if revolute else (0, 0)
        joint = wc[i, _MOM, 0:3]  # S qd's 3-vector u qd (the momentum row is free until below)
        for k in range(3):
            joint[k] = u[k] * vc[n]
        # v_i x (S qd) = (X v_parent) x (S qd): revolute (v x u qd, w x u qd), prismatic (w x u qd, 0)
        wr[i, _ACC, side] += _add_cross(wc[i, _VEL, 3:6], wr[i, _VEL, 1], joint, vr[n], wc[i, _ACC, c0:c0 + 3])
        if revolute:
            wr[i, _ACC, 0] += _add_cross(wc[i, _VEL, 0:3], wr[i, _VEL, 0], joint, vr[n], wc[i, _ACC, 0:3])
        for k in range(3):
            wc[i, _VEL, c0 + k] += joint[k]
            wc[i, _ACC, c0 + k] += u[k] * ac[n]
        wr[i, _VEL, side] += vr[n]
        wr[i, _ACC, side] += ar[n]
        _inertia_times(inertia[i], norms[i], wc[i, _ACC], wr[i, _ACC], wc[i, _FORCE], wr[i, _FORCE])
        _inertia_times(inertia[i], norms[i], wc[i, _VEL], wr[i, _VEL], wc[i, _MOM], wr[i, _MOM])
        # + v x* h: force w x h_f, moment w x h_n + v x h_f
        w, rw = wc[i, _VEL, 3:6], wr[i, _VEL, 1]
        wr[i, _FORCE, 0] += _add_cross(w, rw, wc[i, _MOM, 0:3], wr[i, _MOM, 0], wc[i, _FORCE, 0:3])
        wr[i, _FORCE, 1] += _add_cross(w, rw, wc[i, _MOM, 3:6], wr[i, _MOM, 1], wc[i, _FORCE, 3:6])
        wr[i, _FORCE, 1] += _add_cross(wc[i, _VEL, 0:3], wr[i, _VEL, 0], wc[i, _MOM, 0:3], wr[i, _MOM, 0],
                                       wc[i, _FORCE, 3:6])
    for i in range(count - 1, 0, -1):
        n, u = i - 1, axis[i]
        revolute = kind[i] == _REVOLUTE
        c0, side = (3, 1) if revolute else (0, 0)
        c = armature[n] * ac[n] + u[0] * wc[i, _FORCE, c0] + u[1] * wc[i, _FORCE, c0 + 1] + u[2] * wc[i, _FORCE, c0 + 2]
        r = armature[n] * ar[n] + wr[i, _FORCE, side]
        tau_c[n], tau_r[n] = c, r + ROUNDING * (abs(c) + r + 1.0)
        if parents[i] > 0:
            spread, shift = (qr[n], 0.0) if revolute else (0.0, qr[n])
            _to_parent(frames[i], u, spread, shift, wc[i, _FORCE], wr[i, _FORCE], wc[parents[i], _FORCE],
                       wr[parents[i], _FORCE])
