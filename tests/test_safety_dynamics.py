"""The filter's torque check (robot_rl/safety/dynamics.py) on the real pinocchio Panda: plans and brakes that the
effort limits cannot execute are slowed until their sampled inverse dynamics fit."""

from __future__ import annotations

import numpy as np

from robot_rl.command import JointTrajectoryCommand
from robot_rl.robot import load_robot_model
from robot_rl.safety import Reason, SafetyConfig, SafetyFilter
from robot_rl.safety.dynamics import TORQUE_FRACTION, BrakePlanner, TorqueCheck
from robot_rl.safety.rate_limiter import GridLimits, GridState, brake

MODEL = load_robot_model("panda")
LIM = MODEL.limits
DT = 0.01
GRID = GridLimits(LIM.soft_lower, LIM.soft_upper, LIM.velocity, LIM.acceleration, LIM.jerk, DT)
EXTENDED = np.array([0.0, 1.3, 0.0, -0.3, 0.0, 1.6, 0.785])  # rad: arm stretched forward, near horizontal


def _torques(start: GridState, path: np.ndarray) -> np.ndarray:
    """Inverse dynamics (m, n) Nm at every point of ``path`` (finite-difference velocities and accelerations)."""
    full = np.vstack([start.q - start.v * DT, start.q, path])
    v = np.diff(full, axis=0) / DT
    a = np.diff(v, axis=0) / DT
    return np.array([MODEL.inverse_dynamics(path[k], v[k + 1], a[k]) for k in range(len(path))])


def test_braking_a_fast_fall_of_the_extended_arm_is_slowed_until_every_point_fits_the_effort_limits():
    falling = GridState(EXTENDED.copy(), np.array([0.0, 1.5, 0.0, 0.0, 0.0, 0.0, 0.0]), np.zeros(7))
    fastest = brake(falling, GRID)
    budget = TORQUE_FRACTION * LIM.effort
    assert np.abs(_torques(falling, fastest)[:, 1]).max() > budget[1]  # gravity + braking: 82 Nm on joint 2
    planner = BrakePlanner(TorqueCheck(MODEL, DT), GRID)
    gentle = planner(falling)
    assert planner.last_scale < 1.0 and len(gentle) > len(fastest)
    assert np.all(np.abs(_torques(falling, gentle)) <= budget + 1e-9)


def test_a_brake_that_fits_is_the_fastest_one():
    rising = GridState(MODEL.config.default_pose.copy(), np.full(7, 0.3), np.zeros(7))
    planner = BrakePlanner(TorqueCheck(MODEL, DT), GRID)
    np.testing.assert_array_equal(planner(rising), brake(rising, GRID))
    assert planner.last_scale == 1.0


def test_the_filter_names_the_torque_limit_when_it_slows_a_plan():
    """A command swinging the extended arm down at full speed is slowed, with a torque_limit intervention."""
    safety = SafetyFilter(MODEL, SafetyConfig(check_collision=False, check_workspace=False))
    target = EXTENDED.copy()
    target[1] = LIM.soft_upper[1]
    notes = []
    for k in range(30):
        now = 1000.0 + 0.02 * k
        command = JointTrajectoryCommand(MODEL.joint_names, now, np.array([0.1]), target[None, :])
        notes += safety.filter(command, EXTENDED - np.array([0, 0.6, 0, 0, 0, 0, 0]), now).interventions
    assert any(i.reason == Reason.TORQUE_LIMIT for i in notes), sorted({i.reason for i in notes})
