"""TwistToJoints: a twist moves the end effector that way; the chunk respects the speed cap and soft limits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_rl.errors import CommandError, ConfigError
from robot_rl.robot import load_robot_model
from robot_rl.teleop.twist import TwistConfig, TwistToJoints

MODEL = load_robot_model("panda")
LIM = MODEL.limits
Q0 = MODEL.config.default_pose
CONFIG = TwistConfig(damping=0.05, velocity_fraction=0.5, step_s=0.02, steps=5)
MAPPER = TwistToJoints(MODEL, CONFIG)
CAP = LIM.velocity * CONFIG.velocity_fraction
TOL = 1e-9  # rad/s, rad: float rounding of the finite differences


def _rotation_vector(r: np.ndarray) -> np.ndarray:
    """Axis * angle (3,) of a rotation matrix (small angles)."""
    return 0.5 * np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])


def test_zero_twist_holds_q():
    chunk = MAPPER.chunk(np.zeros(6), Q0, stamp=12.5)
    assert chunk.joint_names == MODEL.joint_names and chunk.stamp == 12.5 and chunk.source == "teleop"
    np.testing.assert_allclose(chunk.times, [0.02, 0.04, 0.06, 0.08, 0.10])
    np.testing.assert_array_equal(chunk.positions, np.tile(Q0, (5, 1)))
    np.testing.assert_array_equal(chunk.velocities, 0.0)
    chunk.validate()


@pytest.mark.parametrize("axis", range(3))
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_linear_twist_moves_the_end_effector_along_its_axis(axis, sign):
    twist = np.zeros(6)
    twist[axis] = 0.1 * sign  # m/s, slow enough that no joint reaches the cap here
    chunk = MAPPER.chunk(twist, Q0, 0.0)
    moved = MODEL.fk(chunk.positions[-1]) - MODEL.fk(Q0)
    expected = twist[:3] * chunk.times[-1]  # 1 cm in 0.1 s
    assert np.linalg.norm(moved - expected) < 0.1 * np.linalg.norm(expected), moved
    rotated = _rotation_vector(MODEL.frame_pose(chunk.positions[-1])[:3, :3] @ MODEL.frame_pose(Q0)[:3, :3].T)
    assert np.linalg.norm(rotated) < 0.02  # rad: the orientation is (nearly) kept


@pytest.mark.parametrize("axis", range(3))
def test_angular_twist_rotates_the_end_effector_about_its_axis(axis):
    twist = np.zeros(6)
    twist[3 + axis] = 0.4  # rad/s
    chunk = MAPPER.chunk(twist, Q0, 0.0)
    r0, r1 = MODEL.frame_pose(Q0)[:3, :3], MODEL.frame_pose(chunk.positions[-1])[:3, :3]
    rotated = _rotation_vector(r1 @ r0.T)  # base-frame axes, like the twist
    expected = twist[3:] * chunk.times[-1]
    assert np.linalg.norm(rotated - expected) < 0.15 * np.linalg.norm(expected), rotated
    assert np.linalg.norm(MODEL.fk(chunk.positions[-1]) - MODEL.fk(Q0)) < 2e-3  # m: the point stays put


def test_a_fast_twist_is_scaled_down_uniformly_to_the_cap_keeping_its_direction():
    slow, fast = np.array([0.05, -0.03, 0.02, 0, 0, 0]), np.array([5.0, -3.0, 2.0, 0, 0, 0])
    slow_chunk, fast_chunk = MAPPER.chunk(slow, Q0, 0.0), MAPPER.chunk(fast, Q0, 0.0)
    first = fast_chunk.velocities[0]
    assert np.max(np.abs(first) / CAP) == pytest.approx(1.0)  # one joint exactly at the cap
    cosine = first @ slow_chunk.velocities[0] / (np.linalg.norm(first) * np.linalg.norm(slow_chunk.velocities[0]))
    assert cosine == pytest.approx(1.0, abs=1e-9)  # same joint-space direction: scaled, not clipped per joint
    moved = MODEL.fk(fast_chunk.positions[0]) - MODEL.fk(Q0)
    assert moved @ fast[:3] / (np.linalg.norm(moved) * np.linalg.norm(fast[:3])) > 0.99


def test_positions_stop_at_the_soft_limit():
    q = Q0.copy()
    q[3] = LIM.soft_upper[3] - 1e-3  # the elbow (joint 4) 1 mrad below its soft limit
    chunk = MAPPER.chunk(np.array([2.0, 0, 0, 0, 0, 0]), q, 0.0)  # reach out: the elbow straightens
    assert np.any(chunk.positions[:, 3] == LIM.soft_upper[3]), chunk.positions[:, 3]  # the clip was needed
    assert np.all(chunk.positions <= LIM.soft_upper) and np.all(chunk.positions >= LIM.soft_lower)


def test_a_joint_beyond_its_soft_limit_is_not_pushed_further_out_nor_yanked_in():
    q = Q0.copy()
    q[3] = LIM.soft_upper[3] + 0.5 * (LIM.upper[3] - LIM.soft_upper[3])  # between the soft and the hard limit
    twist = np.array([2.0, 0, 0, 0, 0, 0])  # reach out: pushes the elbow further up
    assert MAPPER.chunk(twist, Q0, 0.0).velocities[0, 3] > 0.1
    chunk = MAPPER.chunk(twist, q, 0.0)
    np.testing.assert_array_equal(chunk.positions[:, 3], q[3])  # held where it is: not out, not jumped in
    assert np.abs(chunk.velocities).max() > 0.1  # the other joints still move
    assert np.all(np.abs(chunk.velocities) <= CAP + TOL)
    back = MAPPER.chunk(-twist, q, 0.0)  # pulling in moves it back inside at a capped speed
    assert back.positions[-1, 3] < q[3] and np.all(np.abs(back.velocities) <= CAP + TOL)


@pytest.mark.parametrize("twist, q, stamp, match", [
    ([np.nan, 0, 0, 0, 0, 0], Q0, 0.0, "twist .* not finite"),
    ([0, 0, np.inf, 0, 0, 0], Q0, 0.0, "twist .* not finite"),
    ([0.1, 0, 0, 0, 0, 0], np.r_[Q0[:6], np.nan], 0.0, r"panda_joint7.*not finite"),
    ([0.1, 0, 0, 0, 0, 0], Q0, np.inf, "stamp"),
    ([0.1, 0, 0], Q0, 0.0, r"shape \(3,\)"),
    ([0.1, 0, 0, 0, 0, 0], Q0[:6], 0.0, r"q has shape \(6,\)"),
])
def test_bad_inputs_raise_command_error_naming_them(twist, q, stamp, match):
    with pytest.raises(CommandError, match=match):
        MAPPER.chunk(np.asarray(twist, float), np.asarray(q, float), stamp)


@pytest.mark.parametrize("kwargs, match", [
    ({"damping": 0.0}, "damping"), ({"damping": float("nan")}, "damping"),
    ({"velocity_fraction": 1.5}, "velocity_fraction"), ({"step_s": 0.0}, "step_s"),
    ({"steps": 0}, "steps"), ({"steps": 2.5}, "steps"), ({"steps": True}, "steps"),
])
def test_config_errors_name_the_field(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TwistConfig(**kwargs)


finite = st.floats(allow_nan=False, allow_infinity=False)
twists = st.lists(finite, min_size=6, max_size=6).map(np.array)
fractions = st.lists(st.floats(0.0, 1.0), min_size=MODEL.dof, max_size=MODEL.dof).map(np.array)


@settings(max_examples=1500, deadline=None)
@given(twist=twists, u=fractions)
def test_any_finite_twist_within_soft_limits_gives_a_chunk_within_cap_and_soft_limits(twist, u):
    q = LIM.soft_lower + u * (LIM.soft_upper - LIM.soft_lower)
    chunk = MAPPER.chunk(twist, q, 0.0)
    chunk.validate()  # finite, shapes, increasing times
    assert np.all(np.abs(chunk.velocities) <= CAP + TOL), np.max(np.abs(chunk.velocities) / CAP)
    assert np.all(chunk.positions >= LIM.soft_lower) and np.all(chunk.positions <= LIM.soft_upper)
    np.testing.assert_allclose(np.diff(np.vstack([q, chunk.positions]), axis=0) / CONFIG.step_s, chunk.velocities)


@settings(max_examples=500, deadline=None)
@given(twist=twists, u=fractions)
def test_any_q_within_hard_limits_never_moves_further_out_or_faster_than_the_cap(twist, u):
    q = LIM.lower + u * (LIM.upper - LIM.lower)
    chunk = MAPPER.chunk(twist, q, 0.0)
    assert np.all(np.abs(chunk.velocities) <= CAP + TOL)
    assert np.all(chunk.positions >= np.minimum(LIM.soft_lower, q))
    assert np.all(chunk.positions <= np.maximum(LIM.soft_upper, q))
