"""The path checker's skipping (Lipschitz bound, anchors kept across paths) never hides a violation.

Reference: every point evaluated directly with pinocchio FK and coal distances. For a sequence of
random paths through one checker (so anchors from earlier paths are reused), the checker must
report exactly the first point the reference finds unsafe. The same compiled kernels also run
uncompiled here (``py_func``) and must agree with their compiled versions.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_rl.robot import load_robot_model
from robot_rl.safety import kernels
from robot_rl.safety.geometry import PathChecker

MODEL = load_robot_model("panda")
LIM = MODEL.limits
BOX = MODEL.config.workspace
MARGIN = MODEL.config.collision.margin


def _unsafe(q: np.ndarray) -> bool:
    points = MODEL.frame_positions(q, BOX.links)
    outside = bool(np.any(points < BOX.lower) or np.any(points > BOX.upper))
    return outside or MODEL.min_collision_distance(q)[0] < MARGIN


def _reference_first_violation(points: np.ndarray) -> int | None:
    return next((i for i, q in enumerate(points) if _unsafe(q)), None)


def _unsafe_goal(rng: np.random.Generator) -> np.ndarray:
    while True:
        goal = rng.uniform(LIM.soft_lower, LIM.soft_upper)
        if _unsafe(goal):
            return goal


def _random_path(rng: np.random.Generator, start: np.ndarray, length: int) -> np.ndarray:
    """``length`` points from ``start`` with jitter: half to an unsafe configuration, half part-way to any."""
    if rng.uniform() < 0.5:
        goal, reach = _unsafe_goal(rng), 1.0
    else:
        goal, reach = rng.uniform(LIM.soft_lower, LIM.soft_upper), rng.uniform(0.1, 1.0)
    fraction = np.linspace(0.0, 1.0, length + 1)[1:, None] * reach
    jitter = rng.normal(scale=0.01, size=(length, MODEL.dof))
    path = np.clip(start + fraction * (goal - start) + jitter, LIM.soft_lower, LIM.soft_upper)
    path[-1] = goal if reach == 1.0 else path[-1]
    return path


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_checker_reports_the_first_unsafe_point_across_a_stream_of_paths(seed):
    rng = np.random.default_rng(seed)
    checker = PathChecker(MODEL, check_workspace=True, check_collision=True, collision_margin=MARGIN)
    start = MODEL.config.default_pose.copy()
    for _ in range(8):
        path = _random_path(rng, start, int(rng.integers(1, 400)))
        expected = _reference_first_violation(path)
        assert checker.first_violation(start, path)[0] == expected
        start = path[-1] if expected is None else MODEL.config.default_pose.copy()


def test_checker_skips_evaluations_for_a_slow_stream():
    """The anchors make a slow stream of overlapping short paths cost less than one evaluation per path."""
    checker = PathChecker(MODEL, check_workspace=True, check_collision=True, collision_margin=MARGIN)
    rng, start = np.random.default_rng(1), MODEL.config.default_pose.copy()
    for _ in range(50):
        path = start + np.cumsum(rng.uniform(-5e-4, 5e-4, size=(10, MODEL.dof)), axis=0)
        assert checker.first_violation(start, path)[0] is None
        start = path[1]
    assert checker.evaluations < 50


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_compiled_kernels_match_their_python_source(seed):
    rng = np.random.default_rng(seed)
    n, m, dt = 3, int(rng.integers(1, 12)), 0.01
    q0, v0, a0 = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n) * 5
    targets = q0 + np.cumsum(rng.normal(scale=0.05, size=(m, n)), axis=0)
    v_lim, a_lim, j_lim = rng.uniform(1, 3, n), rng.uniform(5, 15, n), rng.uniform(100, 5000, n)
    accel = 0.5 * a_lim
    assert kernels.fits(q0, v0, a0, targets, v_lim, a_lim, j_lim, dt) == \
        kernels.fits.py_func(q0, v0, a0, targets, v_lim, a_lim, j_lim, dt)
    outs = [(np.empty((m, n)), np.empty((3, n)), np.zeros((3, n), bool)) for _ in range(2)]
    kernels.track_steps(q0, v0, a0, targets, v_lim, a_lim, j_lim, dt, accel, *outs[0])
    kernels.track_steps.py_func(q0, v0, a0, targets, v_lim, a_lim, j_lim, dt, accel, *outs[1])
    for compiled, python in zip(*outs):
        np.testing.assert_allclose(compiled, python, rtol=1e-12, atol=1e-12)
    compiled, done = kernels.brake_stepwise(q0, v0, a0, v_lim, a_lim, j_lim, dt, 5000)
    python, done_py = kernels.brake_stepwise.py_func(q0, v0, a0, v_lim, a_lim, j_lim, dt, 5000)
    assert done and done_py
    np.testing.assert_allclose(compiled, python, rtol=1e-12, atol=1e-12)
