"""Torque-feasible plans: what the filter sends must be something the motors can execute.

The rate limiter and the brake work at the YAML's kinematic acceleration limits. In gravity-loaded poses that
can ask for more torque than a joint has (the extended Panda moving down: gravity alone takes up to 79 % of
joint 2's 87 Nm), so the arm cannot follow, falls behind its plan and leaves the path that was checked
(measured in-process: 5 cm behind, into the table). :class:`TorqueCheck` evaluates the inverse dynamics (RNEA)
of a planned grid path at up to TORQUE_SAMPLES points (velocities and accelerations by finite differences)
against TORQUE_FRACTION of each joint's effort limit; the rest is left to the impedance feedback. The filter
and :class:`BrakePlanner` retry at the kinematic accelerations scaled by ACCELERATION_SCALES until a path
fits. The check is sampled, not a bound: between samples the torque is not evaluated.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from robot_rl.robot.model import RobotModel
from robot_rl.safety.rate_limiter import GridLimits, GridState, brake

TORQUE_FRACTION = 0.9
"""Of each joint's effort limit a plan may use (the rest is the impedance loop's)."""
ACCELERATION_SCALES = (1.0, 0.6, 0.35, 0.2, 0.1)
"""Fractions of the kinematic acceleration limits tried, fastest first; the last is used if none fits."""
TORQUE_SAMPLES = 8
"""Grid points of a path whose torque is evaluated (the first two, the rest evenly spaced)."""


class TorqueCheck:
    """Sampled torque check of grid paths for one robot.

    Args:
        model: the robot (pinocchio inverse dynamics; effort limits from the URDF).
        dt: output grid spacing, s.
    """

    def __init__(self, model: RobotModel, dt: float):
        import pinocchio

        self.model, self.dt = model, dt
        self.max_torque = TORQUE_FRACTION * model.limits.effort
        self._rnea = functools.partial(pinocchio.rnea, model.model, model.data)  # (q, v, a) -> torques (n,) Nm

    def fits(self, start: GridState, path: np.ndarray) -> bool:
        """True if executing ``path`` (m, n) rad from ``start`` needs at most the torque budget (n,) Nm at the
        sampled points."""
        if len(path) == 0:
            return True
        full = np.vstack([start.q - start.v * self.dt, start.q, path])
        rows = _sample_rows(len(path)) + 2  # rows of ``full``; each needs the two before it
        q, q1, q2 = full[rows], full[rows - 1], full[rows - 2]
        velocity = (q - q1) / self.dt
        acceleration = (q - 2.0 * q1 + q2) / (self.dt * self.dt)
        for k in range(len(rows)):
            if (np.abs(self._rnea(q[k], velocity[k], acceleration[k])) > self.max_torque).any():
                return False
        return True


@functools.lru_cache(maxsize=512)
def _sample_rows(length: int) -> np.ndarray:
    """Indices of the points of a ``length``-point path whose torque is evaluated: the first two, then evenly."""
    spread = np.linspace(0, length - 1, max(TORQUE_SAMPLES - 2, 1)).round().astype(int)
    return np.unique(np.concatenate([[0, min(1, length - 1)], spread]))


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
        self._limits = scaled_limits(limits)
        self.last_scale = 1.0  # acceleration scale of the last brake

    def __call__(self, start: GridState) -> np.ndarray:
        """Grid positions (b, n) from ``start`` to rest (v = a = 0): the fastest brake whose torque fits."""
        for self.last_scale, limits in zip(ACCELERATION_SCALES, self._limits):
            tail = brake(start, limits)
            if self.check.fits(start, tail):
                break
        return tail
