"""Unit tests of the safety filter core: config errors, each rejection reason, the dense-plan velocities.

No ROS here (the node is exercised in test_safety_closed_loop.py); the real pinocchio Panda model.
"""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.command import JointTrajectoryCommand
from robot_rl.control.trajectory import TrajectoryFollower, hermite
from robot_rl.errors import ConfigError
from robot_rl.robot import load_robot_model
from robot_rl.safety import Reason, SafetyConfig, SafetyFilter, Status

MODEL = load_robot_model("panda")
NAMES = MODEL.joint_names
Q0 = MODEL.config.default_pose
NOW = 1000.0


@pytest.mark.parametrize("field, value", [
    ("output_dt", 0.0), ("output_dt", 0.5), ("watchdog_timeout", -1.0), ("watchdog_timeout", float("nan")),
    ("max_command_age", 0.0), ("max_future", -0.1), ("tracking_accel_fraction", 1.5),
    ("collision_margin", 0.9), ("max_backtrack", 17), ("max_backtrack", 1.5), ("check_workspace", "yes"),
    ("check_collision", 1), ("output_dt", True),
])
def test_config_error_names_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        SafetyConfig(**{field: value})


def test_from_params_ignores_node_keys_and_maps_negative_margin_to_robot_yaml():
    config = SafetyConfig.from_params({"robot": "panda", "watchdog_timeout": 0.2, "collision_margin": -1.0})
    assert config.watchdog_timeout == 0.2 and config.collision_margin is None


def _command(names=NAMES, positions=None, times=(0.05, 0.1), stamp=NOW, velocities=None):
    positions = np.repeat(Q0[None, :], len(times), axis=0) if positions is None else positions
    return JointTrajectoryCommand(tuple(names), stamp, np.array(times, float), positions, velocities)


def _bad_commands():
    nan = np.repeat(Q0[None, :], 2, axis=0)
    nan[1, 3] = np.nan
    return {
        Reason.NON_FINITE: (_command(positions=nan), None),
        Reason.DUPLICATE_JOINT: (_command(names=(NAMES[0],) + NAMES[:-1]), None),
        Reason.UNKNOWN_JOINT: (_command(names=NAMES[:-1] + ("elbow_typo",)), None),
        Reason.MISSING_JOINT: (_command(names=NAMES[:-1], positions=np.repeat(Q0[None, :-1], 2, axis=0)), None),
        Reason.BAD_TIMES: (_command(times=(0.1, 0.05)), None),
        Reason.STALE: (_command(stamp=NOW - 0.6), None),
        Reason.FUTURE: (_command(stamp=NOW + 0.06), None),
        Reason.BAD_SHAPE: (_command(positions=np.repeat(Q0[None, :], 2, axis=0),
                                    velocities=np.zeros((2, 3))), None),
    }


@pytest.mark.parametrize("reason", sorted(_bad_commands()))
def test_each_rejection_is_named_and_nothing_goes_out(reason):
    command, efforts = _bad_commands()[reason]
    result = SafetyFilter(MODEL, SafetyConfig(check_collision=False)).filter(command, Q0, NOW, efforts)
    assert result.allowed is None and result.rejected
    assert result.interventions[0].reason == reason, [str(i) for i in result.interventions]


def test_missing_state_estop_and_non_finite_effort_are_rejections_with_their_reason():
    safety = SafetyFilter(MODEL, SafetyConfig(check_collision=False))
    assert safety.filter(_command(), None, NOW).interventions[0].reason == Reason.NO_STATE
    efforts = np.full((2, len(NAMES)), np.inf)
    assert safety.filter(_command(), Q0, NOW, efforts).interventions[0].reason == Reason.NON_FINITE
    dropped = safety.filter(_command(), Q0, NOW, np.ones((2, len(NAMES))))
    assert dropped.allowed is not None and [i.reason for i in dropped.interventions] == [Reason.EFFORT_DROPPED]
    safety.estop(NOW)
    assert safety.status == Status.ESTOPPED
    assert safety.filter(_command(stamp=NOW + 0.01), Q0, NOW + 0.01).interventions[0].reason == Reason.ESTOPPED


def test_clamps_are_named_per_joint():
    safety = SafetyFilter(MODEL, SafetyConfig(check_collision=False))
    target = Q0.copy()
    target[0] = MODEL.limits.upper[0] + 1.0  # beyond the soft limit and far: position + rate limits
    result = safety.filter(_command(positions=np.repeat(target[None, :], 2, axis=0)), Q0, NOW)
    found = {(i.reason, i.joint) for i in result.interventions}
    assert (Reason.POSITION_LIMIT, NAMES[0]) in found
    assert any(reason in (Reason.VELOCITY_LIMIT, Reason.ACCELERATION_LIMIT) and joint == NAMES[0]
               for reason, joint in found)
    assert result.allowed is not None and np.all(result.allowed.positions[:, 0] <= MODEL.limits.soft_upper[0])


def test_a_path_into_the_table_stops_above_it_with_the_floor_named():
    """The box bounds three frames only; the floor check (the YAML's collision.floor) bounds every link. With the
    box check off, a command leaning the hand into the table is cut short: every planned configuration keeps
    the collision margin to the table, and the intervention names the link and the floor."""
    dip = Q0.copy()
    dip[1], dip[3] = 1.2, -1.0  # the fingers 2 cm below the table top
    safety = SafetyFilter(MODEL, SafetyConfig(check_workspace=False))
    planned, notes = [], []
    for k in range(150):  # the same target every 20 ms for 3 s
        now = NOW + 0.02 * k
        result = safety.filter(_command(positions=np.repeat(dip[None, :], 2, axis=0), times=(0.5, 1.0), stamp=now),
                               Q0, now)
        planned += list(result.allowed.positions)
        notes += [i for i in result.interventions if i.reason == Reason.WORKSPACE]
    assert notes and all("above the floor" in i.detail for i in notes), [str(i) for i in notes]
    distance = [MODEL.min_collision_distance(q)[0] for q in planned]
    assert MODEL.config.collision.margin <= min(distance) < 0.02  # held just above the table


def test_output_velocities_are_central_differences_limited_to_monotone_and_zero_at_rest():
    safety = SafetyFilter(MODEL, SafetyConfig(check_collision=False))
    target = Q0 + 0.05
    out = safety.filter(_command(positions=np.repeat(target[None, :], 2, axis=0)), Q0, NOW).allowed
    q, v = out.positions, out.velocities
    before, after = np.diff(q[:-1], axis=0) / 0.01, np.diff(q[1:], axis=0) / 0.01
    central = (q[2:] - q[:-2]) / (2 * 0.01)
    monotone = before * after > 0
    assert monotone.any()
    assert np.all(np.abs(v[1:-1][monotone]) <= np.abs(central[monotone]) + 1e-12)
    assert np.all(v[1:-1][~monotone] == 0.0)
    assert np.allclose(v[-1], 0.0) and np.allclose(q[-1], q[-2])  # every plan ends at rest


def test_hermite_reproduces_a_constant_acceleration_path():
    t0, t1, a = 0.0, 0.01, np.array([-15.0, 7.0])
    p = lambda t: 0.3 + 1.2 * t + 0.5 * a * t * t  # noqa: E731
    v = lambda t: 1.2 + a * t  # noqa: E731
    q, dq, ddq = hermite(t0, t1, p(t0), p(t1), v(t0), v(t1), 0.004)
    assert np.allclose(q, p(0.004)) and np.allclose(dq, v(0.004)) and np.allclose(ddq, a)


def _plan_follower() -> TrajectoryFollower:
    lim = MODEL.limits  # as ControlCore builds it
    return TrajectoryFollower(MODEL.config.control_period, lim.velocity * 0.8, lim.acceleration * 0.8,
                              lim.jerk * 0.8, lim.soft_lower, lim.soft_upper, Q0, plan_velocity=lim.velocity,
                              plan_acceleration=lim.acceleration, plan_jerk=lim.jerk)


def test_a_plan_that_does_not_continue_the_followed_plan_is_refused_until_that_plan_has_ended():
    """A late plan is not chased: the reference stays on its plan (which ends at rest), then takes the next. A plan
    on time that does not continue the reference is chased, as in the sim's env (test_control_equivalence)."""
    period, follower = MODEL.config.control_period, _plan_follower()
    plan = SafetyFilter(MODEL, SafetyConfig(check_collision=False)).filter(
        _command(positions=np.repeat((Q0 + 0.2)[None, :], 2, axis=0)), Q0, NOW).allowed
    assert follower.set_command(plan, NOW)
    for i in range(1, 101):
        follower.step(NOW + i * period)
    elsewhere = SafetyFilter(MODEL, SafetyConfig(check_collision=False)).filter(  # anchored 0.1 rad away
        _command(positions=np.repeat((Q0 - 0.2)[None, :], 2, axis=0), stamp=NOW + 0.05), Q0 + 0.1, NOW + 0.05).allowed
    assert follower.set_command(elsewhere, NOW + 0.1) is False and follower.plans_refused == 1  # 50 ms late
    for i in range(101, 400):
        follower.step(NOW + i * period)
    assert follower.chase_ticks == 0 and np.allclose(follower.reference[0], plan.positions[-1])  # its plan's end
    assert follower.set_command(elsewhere, NOW + 0.4)  # at rest at the end of its plan: the next plan is taken
    follower.step(NOW + 0.401)
    assert follower.chase_ticks == 1 and np.abs(follower.reference[1]).max() > 0.0


def test_follower_tracks_the_filters_dense_plan_without_lag():
    """The reference equals the spline of the filter's plan at every tick (no ruckig chase)."""
    lim = MODEL.limits
    period = MODEL.config.control_period
    follower = TrajectoryFollower(period, lim.velocity * 0.8, lim.acceleration * 0.8, lim.jerk * 0.8,
                                  lim.soft_lower, lim.soft_upper, Q0, plan_velocity=lim.velocity,
                                  plan_acceleration=lim.acceleration)  # as ControlCore builds it
    safety = SafetyFilter(MODEL, SafetyConfig(check_collision=False))
    target = Q0 + 0.2
    plan = safety.filter(_command(positions=np.repeat(target[None, :], 2, axis=0)), Q0, NOW).allowed
    follower.set_command(plan, NOW)
    knots = {int(round(t / period)): q for t, q in zip(plan.times, plan.positions)}
    worst, monotone = 0.0, True
    previous = Q0.copy()
    for i in range(1, int(0.4 / period)):
        q_ref = follower.step(NOW + i * period)[0]
        if i in knots:
            worst = max(worst, float(np.abs(q_ref - knots[i]).max()))
        monotone &= bool(np.all(q_ref >= previous - 1e-12))  # moving towards a target above: never back
        previous = q_ref
    assert worst < 1e-9, "the reference left the plan's waypoints"
    assert monotone
    assert np.allclose(follower.reference[0], plan.positions[-1])
