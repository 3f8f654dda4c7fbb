"""The control core's own command watchdog: a command older than ``command_timeout`` is braked at the robot's limits.

In-process and deterministic: ControlCore -> MuJoCo on MuJoCo's clock (no ROS, no filter), so the result does not
depend on machine load. The source sends a long command (2 s of waypoints ahead), so only the core's watchdog can
stop the robot early; the criterion is the SIGKILL test's (tests/stop_criterion.py) with the core's timeout.
"""

from __future__ import annotations

import numpy as np
import pytest
from stop_criterion import assert_stopped_in_time, stop_metrics

from robot_rl.command import JointTrajectoryCommand
from robot_rl.control import ControlCore, ControlCoreConfig
from robot_rl.errors import ConfigError
from robot_rl.hardware import create_hardware
from robot_rl.robot import load_robot_model

MODEL = load_robot_model("panda")
TIMEOUT = 0.1


def _long_sweep(t: float, now: float) -> JointTrajectoryCommand:
    """Joint 1 +-0.6 rad (period 3 s) for the next 2 s, 40 waypoints 50 ms apart (positions only)."""
    times = 0.05 * np.arange(1, 41)
    positions = np.repeat(MODEL.config.default_pose[None, :], len(times), axis=0)
    positions[:, 0] += 0.6 * np.sin(2 * np.pi * (t + times) / 3.0)
    return JointTrajectoryCommand(MODEL.joint_names, now, times, positions, source="sweep")


def run(command_timeout: float, silent_after: float = 1.2, tail: float = 0.8):
    """Commands at 50 Hz for ``silent_after`` s, then none. Returns (core, t (k,) s, measured v (k, n) rad/s,
    time the last command was applied s)."""
    hardware = create_hardware("mujoco", MODEL.config)
    core = ControlCore(MODEL, hardware, clock=lambda: float(hardware.data.time),
                       config=ControlCoreConfig(command_timeout=command_timeout))
    period, t0 = MODEL.config.control_period, float(hardware.data.time)
    times, velocities = [], []
    for i in range(int(round((silent_after + tail) / period))):
        now = float(hardware.data.time)
        if i % 20 == 0 and now - t0 < silent_after:
            core.submit(_long_sweep(now - t0, now))
        times.append(now)
        velocities.append(core.tick().velocity)
    return core, np.array(times), np.array(velocities), core.last_command_time


def test_a_stale_command_is_braked_to_rest_within_the_limits_budget():
    core, t, v, last = run(TIMEOUT)
    assert np.abs(v[t < last]).max() > 0.8  # it was moving fast when the commands stopped
    rise, rest, budget = stop_metrics(t, v, last, TIMEOUT, MODEL.config.control_period, MODEL.limits)
    print(f"speed rise {rise:.4f} rad/s, at rest {rest * 1e3:.1f} ms after the deadline (budget {budget * 1e3:.1f} ms)")
    assert_stopped_in_time(rise, rest, budget)
    assert core.stale_brakes == 1 and not core.follower.braking  # braked once, now holding at rest
    hold = np.abs(core.follower.reference[1]).max()
    assert hold == 0.0


def test_without_the_watchdog_the_stale_command_keeps_the_robot_moving():
    """The same run with the watchdog off: the criterion fails (the test above can fail)."""
    core, t, v, last = run(0.0)
    rise, rest, budget = stop_metrics(t, v, last, TIMEOUT, MODEL.config.control_period, MODEL.limits)
    assert core.stale_brakes == 0
    with pytest.raises(AssertionError):
        assert_stopped_in_time(rise, rest, budget)


def test_fresh_commands_are_never_braked_and_a_new_command_resumes_after_a_brake():
    core, t, v, _ = run(TIMEOUT, silent_after=2.0, tail=0.0)
    assert core.stale_brakes == 0 and np.abs(v[-100:]).max() > 0.3
    hardware = core.hardware
    for _ in range(400):  # silent: brakes and holds
        core.tick()
    assert core.stale_brakes == 1 and np.abs(hardware.read().velocity).max() < 0.01
    core.submit(_long_sweep(2.4, float(hardware.data.time)))
    for _ in range(80):  # within the timeout: follows the new command
        state = core.tick()
    assert core.stale_brakes == 1 and np.abs(state.velocity).max() > 0.1


def test_a_re_sent_copy_of_the_last_command_neither_resets_the_watchdog_nor_moves_the_robot_again():
    """The safety filter's watchdog re-sends its last plan once: the control node must not take it as new."""
    hardware = create_hardware("mujoco", MODEL.config)
    core = ControlCore(MODEL, hardware, clock=lambda: float(hardware.data.time),
                       config=ControlCoreConfig(command_timeout=TIMEOUT))
    last = _long_sweep(0.0, float(hardware.data.time))
    core.submit(last)
    for i in range(600):
        if i in (50, 300):  # before the watchdog fires, and after it braked; re-sent from a later waypoint, as the
            k = i // 50  # filter does (through ROS its stamp and times are rounded to the nanosecond)
            core.submit(JointTrajectoryCommand(last.joint_names, last.stamp + last.times[k - 1] + 1e-9,
                                               last.times[k:] - last.times[k - 1], last.positions[k:],
                                               source="watchdog"))
        state = core.tick()
    assert core.stale_brakes == 1 and core.last_command_time == last.stamp
    assert np.abs(state.velocity).max() < 0.01 and np.abs(core.follower.reference[1]).max() == 0.0


def test_a_command_that_comes_to_its_end_within_the_stop_time_is_followed_not_braked():
    """Like the safety filter's plans (each ends with its own brake): the reference stays on the plan, so the next
    plan continues it instead of being chased."""
    references = []
    for timeout in (TIMEOUT, 0.0):
        hardware = create_hardware("mujoco", MODEL.config)
        core = ControlCore(MODEL, hardware, clock=lambda: float(hardware.data.time),
                           config=ControlCoreConfig(command_timeout=timeout))
        sweep = _long_sweep(0.0, float(hardware.data.time))
        core.submit(JointTrajectoryCommand(sweep.joint_names, sweep.stamp, sweep.times[:4], sweep.positions[:4]))
        references.append([core.follower.reference[0] for _ in range(400) if core.tick() is not None])
        assert core.stale_brakes == 0
    np.testing.assert_array_equal(references[0], references[1])  # followed exactly as without the watchdog


def test_command_timeout_must_be_finite_and_not_negative():
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="command_timeout"):
            ControlCoreConfig(command_timeout=bad)


def test_a_plan_applied_after_the_command_timeout_is_refused():
    """A plan older than command_timeout when it arrives was braking already (its dead-man brake starts at receipt +
    the filter's watchdog): it is never started from another state, so a robot at rest stays at rest."""
    from robot_rl.safety import SafetyConfig, SafetyFilter

    hardware = create_hardware("mujoco", MODEL.config)
    core = ControlCore(MODEL, hardware, clock=lambda: float(hardware.data.time),
                       config=ControlCoreConfig(command_timeout=TIMEOUT))
    stamp = float(hardware.data.time)
    plan = SafetyFilter(MODEL, SafetyConfig(check_collision=False, watchdog_timeout=TIMEOUT)).filter(
        _long_sweep(0.5, stamp), hardware.read().position, stamp).allowed
    for _ in range(int(1.2 * TIMEOUT / MODEL.config.control_period)):
        core.tick()
    core.submit(plan)
    for _ in range(50):
        core.tick()
    assert core.late_plans_refused == 1 and core.commands_accepted == 0
    assert np.abs(core.follower.reference[1]).max() == 0.0


def test_a_chased_plan_is_braked_at_the_limits_once_its_dead_man_brake_has_begun():
    """A filter plan the reference cannot follow directly (it starts 50 mrad away) is chased by ruckig, which lags
    and would overshoot the plan's brake. With nothing new, the core brakes at the robot's limits when the plan's
    dead-man brake begins (stamp + the filter's watchdog = stamp + command_timeout - the plan's grid step), although
    the plan itself comes to rest soon after (the plain watchdog leaves such a plan to its own brake)."""
    from robot_rl.control.stop import control_command_timeout_s
    from robot_rl.safety import SafetyConfig, SafetyFilter

    hardware = create_hardware("mujoco", MODEL.config)
    config = SafetyConfig(check_collision=False, watchdog_timeout=TIMEOUT)
    core = ControlCore(MODEL, hardware, clock=lambda: float(hardware.data.time),
                       config=ControlCoreConfig(command_timeout=control_command_timeout_s(TIMEOUT, config.output_dt)))
    stamp = float(hardware.data.time)
    start = hardware.read().position + np.eye(MODEL.dof)[0] * 0.05
    core.submit(SafetyFilter(MODEL, config).filter(_long_sweep(0.5, stamp), start, stamp).allowed)
    braked_at = None
    for _ in range(400):
        now = float(hardware.data.time)
        core.tick()
        if core.stale_brakes and braked_at is None:
            braked_at = now - stamp
            assert core.follower.braking
    assert core.follower.chase_ticks > 0 and core.stale_brakes == 1
    assert TIMEOUT < braked_at <= TIMEOUT + 2 * MODEL.config.control_period
    assert np.abs(hardware.read().velocity).max() < 0.01
