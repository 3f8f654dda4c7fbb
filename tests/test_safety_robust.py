"""Regression tests of issue 17 (findings 1, 3, 5, 6) and of the filter's guard: no exception escapes it.

Core only (no ROS): the real pinocchio Panda. The node-level checks are in tests/test_safety_node.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.command import JointTrajectoryCommand
from robot_rl.errors import ConfigError
from robot_rl.robot import load_robot_model
from robot_rl.safety import Reason, SafetyConfig, SafetyFilter, Status, kernels
from robot_rl.safety.rate_limiter import GridLimits, GridState, brake, brake_stepwise, track

MODEL = load_robot_model("panda")
NAMES = MODEL.joint_names
Q0 = MODEL.config.default_pose
LIM = MODEL.limits
WALL = 1.7e9  # a wall-clock stamp, s: float64 resolves 2.4e-7 s there


def _command(stamp: float, times, positions=None, names=NAMES) -> JointTrajectoryCommand:
    positions = np.repeat(Q0[None, :], len(times), axis=0) if positions is None else positions
    return JointTrajectoryCommand(tuple(names), stamp, np.asarray(times, float), positions)


def _safety(**config) -> SafetyFilter:
    return SafetyFilter(MODEL, SafetyConfig(check_collision=False, **config))


def _compiled_signatures() -> int:
    """Compiled signatures over every numba dispatcher in the kernels module (not the module's own count)."""
    return sum(len(obj.signatures) for obj in vars(kernels).values() if hasattr(obj, "signatures"))


# Finding 1: waypoints 1 ns apart coincide once a wall-clock stamp is added (ZeroDivisionError in the node).

@pytest.mark.parametrize("gap", [1e-9, 5e-8, 5e-5])
def test_waypoints_closer_than_the_minimum_spacing_after_the_stamp_are_rejected(gap):
    safety = _safety()
    result = safety.filter(_command(WALL, [0.06, 0.06 + gap]), Q0, WALL)
    assert result.allowed is None and result.interventions[0].reason == Reason.BAD_TIMES, result.interventions
    assert "min_waypoint_spacing" in result.interventions[0].detail
    assert safety.status != Status.FAULT  # rejected with its reason, not an internal error
    ok = safety.filter(_command(WALL, [0.06, 0.06 + 2e-4], Q0[None, :] + [[0.0], [0.01]]), Q0, WALL)
    assert ok.allowed is not None and not ok.rejected


# The guard: an internal error latches a safe stop, reported; reset never resumes.

def _moving(safety: SafetyFilter, now: float) -> None:
    target = Q0 + 0.3
    for i in range(5):
        assert safety.filter(_command(now + 0.02 * i, [0.05, 0.5], np.stack([target, target])), Q0,
                             now + 0.02 * i).allowed is not None


def _boom(*_args, **_kwargs):
    raise RuntimeError("injected bug")


def test_an_internal_error_latches_a_braking_stop_and_reset_does_not_resume(monkeypatch):
    safety = _safety()
    _moving(safety, 10.0)
    monkeypatch.setattr(safety.checker, "first_violation", _boom)
    result = safety.filter(_command(10.1, [0.05], (Q0 - 0.3)[None, :]), Q0, 10.1)
    assert [i.reason for i in result.interventions] == [Reason.INTERNAL_ERROR]
    assert "RuntimeError: injected bug" in result.interventions[0].detail and result.status == Status.FAULT
    assert "injected bug" in safety.fault and "_boom" in safety.fault_trace
    out = result.allowed  # the plan from now on: it ends at rest
    assert out is not None and out.stamp <= 10.1 and np.allclose(out.positions[-1], out.positions[-2])
    assert safety.filter(_command(10.12, [0.05]), Q0, 10.12).interventions[0].reason == Reason.ESTOPPED
    assert safety.tick(10.5) is None
    monkeypatch.undo()
    reset = safety.reset(11.0, out.positions[-1])
    assert safety.status == Status.HOLDING and safety.fault is None
    assert reset.allowed is not None and np.array_equal(reset.allowed.positions[-1], out.positions[-1])  # still at rest
    assert safety.tick(12.0) is None  # nothing moves until a new command


def test_when_the_brake_fails_too_the_running_plan_which_ends_at_rest_is_kept(monkeypatch):
    safety = _safety()
    _moving(safety, 10.0)
    before = safety.plan.positions.copy()
    monkeypatch.setattr(safety, "brake", _boom)
    monkeypatch.setattr(safety.checker, "first_violation", _boom)
    result = safety.estop(10.1)
    assert result.status == Status.FAULT and result.interventions[0].reason == Reason.INTERNAL_ERROR
    assert np.array_equal(safety.plan.positions, before)
    assert np.array_equal(result.allowed.positions[-1], before[-1])


@pytest.mark.parametrize("call", ["garbage command", "wrong state shape", "nan state", "nan time first"])
def test_malformed_calls_never_raise(call):
    safety = _safety()
    if call == "garbage command":
        result = safety.filter(None, Q0, 1.0)
    elif call in ("wrong state shape", "nan state"):
        result = safety.filter(_command(1.0, [0.05]), np.zeros(3) if call == "wrong state shape" else Q0 * np.nan, 1.0)
        assert result.interventions[0].reason == Reason.NO_STATE and safety.plan is None
    else:
        result = safety.filter(_command(1.0, [0.05]), Q0, float("nan"))
    assert result.rejected, result.interventions
    assert result.allowed is None or np.ptp(result.allowed.positions, axis=0).max() == 0.0  # at most a hold


# Finding 3: output_dt 1e-4 / 2e-4 s (within the parameter's bounds) raised "brake did not reach rest in 5000 steps".
# The brake's step budget now follows dt.

def test_a_slow_brake_on_a_fine_grid_reaches_rest():
    lim = GridLimits(LIM.soft_lower, LIM.soft_upper, LIM.velocity, 0.1 * LIM.acceleration, LIM.jerk, 1e-4)
    start = GridState(Q0.copy(), LIM.velocity * np.where(np.arange(len(Q0)) % 2, 1.0, -1.0), np.zeros(len(Q0)))
    positions = brake_stepwise(start, lim)  # 10 % of the acceleration limits: the torque fallback's brake
    v = np.diff(np.vstack([start.q - start.v * 1e-4, start.q, positions]), axis=0) / 1e-4
    assert np.all(v[-1] == 0.0) and np.all(np.abs(v) <= LIM.velocity * (1 + 1e-9))


@pytest.mark.parametrize("output_dt", [9e-5, 1e-6])
def test_output_grids_finer_than_the_minimum_are_refused_by_name(output_dt):
    with pytest.raises(ConfigError, match="output_dt"):
        _safety(output_dt=output_dt)


@pytest.mark.parametrize("output_dt", [1e-4, 2e-4, 1e-3])
def test_the_finest_output_grids_allowed_work(output_dt):
    safety, rng, now = _safety(output_dt=output_dt), np.random.default_rng(4), 100.0  # seed 4 failed before
    for _ in range(30):
        target = rng.uniform(LIM.soft_lower, LIM.soft_upper)
        result = safety.filter(_command(now, [0.02, 0.5], np.stack([target, target])), Q0, now)
        assert result.status != "fault", result.interventions
        now += rng.uniform(0.01, 0.06)
    stop = safety.estop(now)
    assert stop.status == Status.ESTOPPED and np.all(np.isfinite(stop.allowed.positions))
    assert np.array_equal(stop.allowed.positions[-1], stop.allowed.positions[-2])


# The property tests' splice finding (docs/safety.md, "Output grid spacing"): a plan planned at lower accelerations
# (torque fallback, recovery speed) from a state accelerating harder set its acceleration to the lower limit in one
# grid step: jerk (1 - scale) a_max / dt, 1.3x the limit at 1 ms for scale 0.35. It now returns at the jerk limit.

@pytest.mark.parametrize("output_dt", [1e-3, 2e-4, 1e-4])
@pytest.mark.parametrize("scale", [0.35, 0.1])
def test_a_plan_at_lower_accelerations_from_a_harder_one_keeps_the_jerk_limit(output_dt, scale):
    lim = GridLimits(LIM.soft_lower, LIM.soft_upper, LIM.velocity, scale * LIM.acceleration, LIM.jerk, output_dt)
    sign = np.where(np.arange(len(Q0)) % 2, 1.0, -1.0)
    start = GridState(Q0.copy(), 0.3 * sign * LIM.velocity, sign * LIM.acceleration)  # at the full limit
    targets = np.repeat((Q0 + 0.5 * sign)[None, :], 50, axis=0)
    tracked = track(start, targets, lim, 0.5 * lim.acceleration).positions
    stopped = brake(start, lim)
    for path in (tracked, np.vstack([stopped, stopped[-1:], stopped[-1:]])):  # the brake, then its hold
        full = np.vstack([start.q - 2 * start.v * output_dt + start.a * output_dt ** 2, start.q - start.v * output_dt,
                          start.q, path])
        a = np.diff(full, n=2, axis=0) / output_dt ** 2  # a[0] is the start's acceleration
        assert np.allclose(a[0], start.a) and np.all(np.abs(a) <= LIM.acceleration * (1 + 1e-6))
        jerk = np.abs(np.diff(a, axis=0)) / output_dt
        assert np.all(jerk <= LIM.jerk * (1 + 1e-6)), f"jerk {(jerk / LIM.jerk).max():.2f} x the limit"


# Finding 5: a clock that steps back made a reset send old plan points stamped in the past.

def test_time_going_back_is_reported_and_never_sends_points_from_the_past():
    safety = _safety()
    _moving(safety, 1000.0)
    latest = safety.filter(_command(1000.1, [0.05, 0.5], np.stack([Q0, Q0])), Q0, 1000.1).allowed.stamp
    safety.estop(1000.12)
    for call in (lambda: safety.reset(999.0, Q0), lambda: safety.tick(999.5)):  # 1.1 s back, as time.time() can
        result = call()
        assert result.allowed is None or result.allowed.stamp >= latest
        assert result.interventions[0].reason == "clock_step"


def test_the_clock_bridge_converts_stamps_and_counts_steps():
    from robot_rl.safety.clock import ClockBridge

    clock = {"ros": 1.7e9, "mono": 500.0}
    bridge = ClockBridge(0.005, ros_time=lambda: clock["ros"], monotonic=lambda: clock["mono"])
    now, step = bridge.now()
    assert (now, step) == (500.0, None) and bridge.to_monotonic(1.7e9 + 0.25) == pytest.approx(500.25)
    clock["ros"] += 0.01 - 2.0  # the wall clock is set back 2 s while 10 ms pass
    clock["mono"] += 0.01
    now, step = bridge.now()
    assert now == 500.01 and step == pytest.approx(-2.0) and bridge.steps == 1
    assert bridge.to_ros(now) == pytest.approx(clock["ros"]) and bridge.to_monotonic(clock["ros"]) == pytest.approx(now)
    clock["ros"], clock["mono"] = clock["ros"] + 0.004, clock["mono"] + 0.004 + 1e-5  # drift, not a step
    assert bridge.now()[1] is None and bridge.steps == 1


# Finding 6: the first command with permuted joint names compiled new numba code inside filter() (2.6-22 s).

def test_no_command_shape_compiles_at_run_time():
    safety = SafetyFilter(MODEL, SafetyConfig(check_collision=True))
    before = _compiled_signatures()
    perm = np.arange(len(NAMES))[::-1]
    target = np.stack([Q0 + 0.05, Q0 + 0.1])
    fortran = np.asfortranarray(target)
    readonly = target.copy()
    readonly.flags.writeable = False
    commands = [_command(1.0, [0.05, 0.1], target[:, perm], [NAMES[i] for i in perm]),
                _command(1.02, [0.05, 0.1], fortran), _command(1.04, [0.05, 0.1], readonly),
                _command(1.06, [0.05], target[:1, perm], [NAMES[i] for i in perm]),
                _command(1.08, np.arange(1, 40) * 0.01, np.repeat(target[1:, perm], 39, axis=0), [NAMES[i] for i in perm])]
    states = [Q0, Q0.astype(np.float32), list(Q0), Q0.astype(int), np.asfortranarray(Q0)]
    for command, state in zip(commands, states):
        safety.plan = None  # anchor every command at its state
        result = safety.filter(command, state, command.stamp)
        assert result.allowed is not None and getattr(safety, "fault", None) is None, result.interventions
    safety.estop(1.2)
    safety.reset(2.0, readonly[0])
    assert _compiled_signatures() == before
