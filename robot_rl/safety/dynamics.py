"""Torque-feasible plans: what the filter sends must be something the motors can execute.

The rate limiter and the brake work at the YAML's kinematic acceleration limits. In gravity-loaded poses that
can ask for more torque than a joint has (the extended Panda moving down: gravity alone takes up to 79 % of
joint 2's 87 Nm), so the arm cannot follow, falls behind its plan and leaves the path that was checked.
:class:`TorqueCheck` BOUNDS the inverse dynamics of a planned grid path (robot_rl/safety/torque_bound.py):
on every grid step k (from point k - 1 to point k, including the start and the hold after the last point),
for every position between q_{k-1} and q_k and every velocity between v_{k-1} and v_k (per joint;
backward-difference velocities) at the step's acceleration a_k,

    |RNEA(q, v, a_k)| + |URDF damping * v| + URDF friction <= TORQUE_FRACTION * URDF effort limit,

the rest of the effort being the impedance loop's. That is the plan's torque between grid points as well
as at them, for the grid's own model of motion (piecewise-constant acceleration). The filter and
:class:`BrakePlanner` retry at the kinematic accelerations scaled by ACCELERATION_SCALES until a path fits;
a path that fits at none of them is not sent.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path

import numpy as np

from robot_rl.robot.model import RobotModel
from robot_rl.safety import interval_rnea, torque_bound
from robot_rl.safety.rate_limiter import GridLimits, GridState, brake

TORQUE_FRACTION = 0.9
"""Of each joint's effort limit a plan may use (the rest is the impedance loop's)."""
ACCELERATION_SCALES = (1.0, 0.6, 0.35, 0.2, 0.1)
"""Fractions of the kinematic acceleration limits tried, fastest first."""


class TorqueCheck:
    """Torque bound of grid paths for one robot.

    Args:
        model: the robot (pinocchio model: inertias, armature, damping, friction; effort limits from the URDF).
        dt: output grid spacing, s.
    """

    def __init__(self, model: RobotModel, dt: float):
        self.dt = dt
        self.max_torque = TORQUE_FRACTION * model.limits.effort
        self._model = _interval_model(model)
        self._arrays = self._model.arrays()
        self._damping = np.array(model.model.damping, dtype=float)
        self._friction = np.abs(np.array(model.model.friction, dtype=float))
        self.evaluations = np.zeros(1, dtype=np.int64)  # interval RNEA passes so far (for benchmarks)
        self.fits(GridState.at_rest(model.config.default_pose), np.zeros((0, model.dof)))  # compile/load now

    def fits(self, start: GridState, path: np.ndarray) -> bool:
        """True if executing ``path`` (m, n) rad from ``start`` and then holding its last point stays within
        the torque budget (n,) Nm on every grid step (see the module docstring)."""
        return torque_bound.path_torque_fits(
            self._arrays, np.ascontiguousarray(start.q, dtype=float), np.ascontiguousarray(start.v, dtype=float),
            np.ascontiguousarray(path, dtype=float), self.dt, self.max_torque, self._damping, self._friction,
            self.evaluations)


@lru_cache(maxsize=16)
def _interval_model(model: RobotModel) -> interval_rnea.IntervalModel:
    """One per robot model (its scratch arrays, like the model's pinocchio Data, are per thread)."""
    return interval_rnea.IntervalModel.of(model.model)


def scaled_limits(limits: GridLimits) -> list[GridLimits]:
    """``limits`` with the acceleration scaled by each of ACCELERATION_SCALES, in that order."""
    return [dataclasses.replace(limits, acceleration=limits.acceleration * s) for s in ACCELERATION_SCALES]


class BrakePlanner:
    """Brakes to rest within the grid limits and the torque bound.

    Args:
        check: the robot's torque check.
        limits: the output grid's kinematic limits.
    """

    def __init__(self, check: TorqueCheck, limits: GridLimits):
        self.check = check
        self.scaled = scaled_limits(limits)  # the grid limits at each of ACCELERATION_SCALES
        self.last_scale = 1.0  # acceleration scale of the last brake

    def __call__(self, start: GridState) -> np.ndarray | None:
        """Grid positions (b, n) from ``start`` to rest (v = a = 0): the fastest brake whose torque bound fits,
        or None if none does."""
        for self.last_scale, limits in zip(ACCELERATION_SCALES, self.scaled):
            tail = brake(start, limits)
            if self.check.fits(start, tail):
                return tail
        return None


def compile_kernels(robot_yaml: str | Path) -> None:
    """Compile (or load from numba's cache) every kernel the safety filter runs: the plan kernels
    (:func:`robot_rl.safety.kernels.warm_up`) and the torque bound's (a :class:`TorqueCheck` of the robot in
    ``robot_yaml``; their one signature is the same for every robot), and the control core's
    (:mod:`robot_rl.control.kernels`, compiled on import). ``setup.py install`` (colcon) runs it, so an installed
    filter's or control node's first start compiles nothing."""
    import robot_rl.control.kernels  # noqa: F401  (explicit signatures: importing compiles or loads them)
    from robot_rl.robot.config import load_robot_config
    from robot_rl.safety import kernels

    kernels.warm_up()
    TorqueCheck(RobotModel(load_robot_config(robot_yaml)), 0.01)
