"""The filter's torque bound (robot_rl/safety/dynamics.py, torque_bound.py, interval_rnea.py) on the real pinocchio
models: plans and brakes that the effort limits cannot execute are slowed until their bounded inverse dynamics fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pinocchio
import pytest

from robot_rl.command import JointTrajectoryCommand
from robot_rl.robot import load_robot_model
from robot_rl.safety import Reason, SafetyConfig, SafetyFilter
from robot_rl.safety.dynamics import TORQUE_FRACTION, BrakePlanner, TorqueCheck
from robot_rl.safety.interval_rnea import IntervalModel
from robot_rl.safety.rate_limiter import GridLimits, GridState, brake
from support.safety_checker import IndependentChecker

MODEL = load_robot_model("panda")
LIM = MODEL.limits
DT = 0.01
GRID = GridLimits(LIM.soft_lower, LIM.soft_upper, LIM.velocity, LIM.acceleration, LIM.jerk, DT)
ROBOTS = sorted(p.stem for p in (Path(__file__).parents[1] / "config" / "robots").glob("*.yaml"))
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


# ----- issue 17, finding 2: the torque check is a bound ---------------------------------------------------------
HEAVY = np.array([2.306, 1.391, -0.119, -0.347, 1.833, 1.758, 2.524])  # rad: gravity takes 60+ % of an effort limit


def test_one_command_from_rest_in_a_gravity_heavy_pose_stays_within_the_urdf_effort_limits():
    """On a9d9b63 (4 sampled points) this single command's plan needed 1.25x an effort limit (pinocchio RNEA on the
    emitted grid, independent checker); now every grid step is bounded within TORQUE_FRACTION of the limits."""
    target = np.array([-0.895, -1.304, -0.482, -0.518, 1.256, 3.588, 2.68])
    safety = SafetyFilter(MODEL, SafetyConfig())
    result = safety.filter(JointTrajectoryCommand(MODEL.joint_names, 1000.0, np.array([0.3]), target[None, :]),
                           HEAVY, 1000.0)
    sent = result.allowed.positions
    ratios = IndependentChecker(MODEL).torque_ratios(np.vstack([HEAVY, HEAVY, sent, sent[-1:], sent[-1:]]), DT)
    assert ratios.max() <= TORQUE_FRACTION + 1e-9, ratios.max()


@pytest.mark.parametrize("name", ROBOTS)
def test_the_interval_rnea_contains_pinocchio_rnea_everywhere_in_its_box(name):
    """Soundness of robot_rl/safety/interval_rnea.py on every robot: 200 random boxes (positions +- 0.05 rad,
    velocities +- 0.3 rad/s, accelerations +- 3 rad/s^2 around random centres), 40 states each (8 of them corners):
    pinocchio's RNEA always lies inside the bound, and at a point (zero radius) the bound is RNEA itself."""
    model = load_robot_model(name)
    pm, bound = model.model, IntervalModel.of(model.model)
    data, rng, n = pm.createData(), np.random.default_rng(0), model.dof
    for _ in range(200):
        qc, vc, ac = rng.uniform(model.limits.lower, model.limits.upper), rng.uniform(-2, 2, n), rng.uniform(-10, 10, n)
        qr, vr, ar = rng.uniform(0, 0.05, n), rng.uniform(0, 0.3, n), rng.uniform(0, 3, n)
        centre, radius = bound.bound(qc, qr, vc, vr, ac, ar)
        for s in range(40):
            signs = rng.choice([-1.0, 1.0], (3, n)) if s < 8 else rng.uniform(-1, 1, (3, n))
            tau = pinocchio.rnea(pm, data, qc + signs[0] * qr, vc + signs[1] * vr, ac + signs[2] * ar)
            assert np.all(np.abs(tau - centre) <= radius)
        zero = np.zeros(n)
        centre, radius = bound.bound(qc, zero, vc, zero, ac, zero)
        np.testing.assert_allclose(centre, pinocchio.rnea(pm, data, qc, vc, ac), atol=1e-9)
        assert radius.max() < 1e-6
