"""Torque-feasible plans: what the filter sends must be something the motors can execute.

The rate limiter and the brake work at the YAML's kinematic acceleration limits. In gravity-loaded poses that
can ask for more torque than a joint has (the extended Panda moving down: gravity alone takes up to 79 % of
joint 2's 87 Nm), so the arm cannot follow, falls behind its plan and leaves the path that was checked
(measured in-process: 5 cm behind, into the table). :class:`TorqueCheck` evaluates the inverse dynamics (RNEA)
of a planned grid path at up to 4 points (velocities and accelerations by finite differences)
against TORQUE_FRACTION of each joint's effort limit; the rest is left to the impedance feedback. The filter
and :class:`BrakePlanner` retry at the kinematic accelerations scaled by ACCELERATION_SCALES until a path
fits. The check is sampled, not a bound: between samples the torque is not evaluated.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from robot_rl.robot.model import RobotModel
from robot_rl.safety import kernels
from robot_rl.safety.rate_limiter import GridLimits, GridState, brake

TORQUE_FRACTION = 0.9
"""Of each joint's effort limit a plan may use (the rest is the impedance loop's)."""
ACCELERATION_SCALES = (1.0, 0.6, 0.35, 0.2, 0.1)
"""Fractions of the kinematic acceleration limits tried, fastest first; the last is used if none fits."""
PLATEAU = 0.9
"""Points whose acceleration torque is within this fraction of a path's largest are its acceleration plateau."""


class TorqueCheck:
    """Sampled torque check of grid paths for one robot.

    Args:
        model: the robot (pinocchio inverse dynamics; effort limits from the URDF).
        dt: output grid spacing, s.
    """

    def __init__(self, model: RobotModel, dt: float):
        import pinocchio

        self.dt = dt
        self.max_torque = TORQUE_FRACTION * model.limits.effort
        self._rnea = functools.partial(pinocchio.rnea, model.model, model.data)  # (q, v, a) -> torques (n,) Nm
        # Ranks the points by the torque their accelerations need: joint j weighted by its inertia at the default
        # pose (diagonal of the mass matrix, kg m^2) over its effort limit.
        self._inertia_weights = np.diag(model.mass_matrix(model.config.default_pose)) / model.limits.effort

    def fits(self, start: GridState, path: np.ndarray) -> bool:
        """True if executing ``path`` (m, n) rad from ``start`` needs at most the torque budget (n,) Nm at the
        sampled points: the first and the last (at rest: gravity), and the first and last of the points whose
        accelerations need at least 90 % of the path's largest acceleration torque (the start and end of a
        braking plateau; the arm moves between them, so gravity differs)."""
        if len(path) == 0:
            return True
        v, a, need = np.empty_like(path), np.empty_like(path), np.empty(len(path))
        # need (m,): ~ fraction of the effort the accelerations take
        kernels.finite_difference_states(start.q, start.v, path, self.dt, self._inertia_weights, v, a, need)
        plateau = np.flatnonzero(need >= PLATEAU * need.max())
        for k in {0, int(plateau[0]), int(plateau[-1]), len(path) - 1}:
            if (np.abs(self._rnea(path[k], v[k], a[k])) > self.max_torque).any():
                return False
        return True


def scaled_limits(limits: GridLimits) -> list[GridLimits]:
    """``limits`` with the acceleration scaled by each of ACCELERATION_SCALES, in that order."""
    return [dataclasses.replace(limits, acceleration=limits.acceleration * s) for s in ACCELERATION_SCALES]


class BrakePlanner:
    """Brakes to rest within the grid limits and, where the samples show it, within the effort limits.

    Args:
        check: the robot's torque check.
        limits: the output grid's kinematic limits.
    """

    def __init__(self, check: TorqueCheck, limits: GridLimits):
        self.check = check
        self.scaled = scaled_limits(limits)  # the grid limits at each of ACCELERATION_SCALES
        self.last_scale = 1.0  # acceleration scale of the last brake

    def __call__(self, start: GridState) -> np.ndarray:
        """Grid positions (b, n) from ``start`` to rest (v = a = 0): the fastest brake whose torque fits."""
        for self.last_scale, limits in zip(ACCELERATION_SCALES, self.scaled):
            tail = brake(start, limits)
            if self.check.fits(start, tail):
                break
        return tail
