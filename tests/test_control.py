"""Controllers on the real MuJoCo robot, free-running (no ROS): impedance, trajectory following, limits."""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.command import JointTrajectoryCommand
from robot_rl.control import ControlCore, FixedRateLoop
from robot_rl.errors import CommandError
from robot_rl.hardware import create_hardware
from robot_rl.robot import load_robot_model


def make_core(robot: str):
    model = load_robot_model(robot)
    hardware = create_hardware("mujoco", model.config)
    return ControlCore(model, hardware, clock=lambda: hardware.data.time), model, hardware


def run(core: ControlCore, seconds: float) -> np.ndarray:
    """Tick for ``seconds`` of simulated time; return measured velocities (ticks, n)."""
    ticks = int(round(seconds / core.model.config.control_period))
    return np.array([core.tick().velocity for _ in range(ticks)])


def test_impedance_holds_default_pose_against_gravity():
    core, model, hardware = make_core("panda")
    run(core, 2.0)
    assert np.abs(hardware.read().position - model.config.default_pose).max() < 1e-3


def test_without_gravity_compensation_the_arm_sags():
    """Guards the test above: the same PD without the model's gravity term does not hold the pose."""
    model = load_robot_model("panda")
    hardware = create_hardware("mujoco", model.config)
    q0 = model.config.default_pose
    for _ in range(2000):
        s = hardware.read()
        hardware.write(model.config.kp * (q0 - s.position) - model.config.kd * s.velocity)
    assert np.abs(hardware.read().position - q0).max() > 1e-3


@pytest.mark.parametrize("robot", ["panda", "ur5"])
def test_trajectory_is_reached_within_velocity_and_acceleration_limits(robot):
    core, model, hardware = make_core(robot)
    q0 = model.config.default_pose
    target = np.clip(q0 + 0.4, model.limits.soft_lower, model.limits.soft_upper)
    cmd = JointTrajectoryCommand(tuple(reversed(model.joint_names)), stamp=0.0, times=[0.5, 1.0],
                                 positions=[(q0 + 0.2)[::-1], target[::-1]])  # columns by NAME, reversed
    core.submit(cmd)
    velocities = run(core, 3.0)
    accelerations = np.diff(velocities, axis=0) / model.config.control_period
    assert np.abs(hardware.read().position - target).max() < 2e-3
    assert np.all(np.abs(velocities) <= model.limits.velocity)
    assert np.all(np.abs(accelerations) <= model.limits.acceleration)


def test_a_jump_command_is_smoothed_by_the_jerk_limited_reference():
    core, model, hardware = make_core("panda")
    target = model.config.default_pose.copy()
    target[0] += 1.0  # ask to be there immediately
    core.submit(JointTrajectoryCommand(model.joint_names, 0.0, [0.0], [target]))
    velocities = run(core, 3.0)
    accelerations = np.diff(velocities, axis=0) / model.config.control_period
    assert np.abs(hardware.read().position - target).max() < 2e-3
    assert np.all(np.abs(accelerations) <= model.limits.acceleration)


def test_targets_beyond_soft_limits_are_clamped_by_the_last_line():
    core, model, hardware = make_core("panda")
    target = model.config.default_pose.copy()
    target[0] = 10.0
    core.submit(JointTrajectoryCommand(model.joint_names, 0.0, [1.0], [target]))
    run(core, 4.0)
    assert hardware.read().position[0] <= model.limits.soft_upper[0] + 1e-3


@pytest.mark.parametrize("mutate, message", [
    (lambda names, pos: (names[:-1] + ("elbow_typo",), pos), r"unknown joints \['elbow_typo'\]"),
    (lambda names, pos: (names[:-1], pos[:, :-1]), r"missing joints \['panda_joint7'\]"),
    (lambda names, pos: (names, np.where(np.arange(7) == 2, np.nan, pos)), r"non-finite.*panda_joint3"),
    (lambda names, pos: (names[:1] * 7, pos), r"duplicate joint names \['panda_joint1'\]"),
])
def test_bad_commands_are_rejected_by_name_and_the_loop_keeps_holding(mutate, message):
    core, model, hardware = make_core("panda")
    names, pos = mutate(model.joint_names, model.config.default_pose[None, :] + 0.3)
    with pytest.raises(CommandError, match=message):
        core.submit(JointTrajectoryCommand(names, 0.0, [0.5], pos))
    run(core, 0.5)
    assert np.abs(hardware.read().position - model.config.default_pose).max() < 1e-3


def test_fixed_rate_loop_runs_the_core_and_reports_timing():
    core, model, _ = make_core("ur5")
    loop = FixedRateLoop(model.config.control_period, core.tick, realtime=False, max_ticks=500).start()
    loop.join(timeout=30)
    stats = loop.stats()
    assert stats.ticks == 500
    assert set(stats.period_error_ms) == {"p50", "p99", "max"}


def test_fixed_rate_loop_hands_step_errors_to_join():
    def failing_step():
        raise RuntimeError("hardware unplugged")

    loop = FixedRateLoop(0.001, failing_step).start()
    with pytest.raises(RuntimeError, match="hardware unplugged"):
        loop.join(timeout=5)


@pytest.mark.parametrize("catch_up", [0.0, 0.05])
def test_fixed_rate_loop_runs_missed_ticks_back_to_back_within_its_catch_up(catch_up):
    """A 20 ms stall at tick 5 of a 1 ms loop: with catch-up the missed ticks run at once and tick k
    still starts near k ms (a lockstep simulator keeps to the wall clock); without, they are dropped."""
    import time

    def step():
        if loop.ticks == 5:
            time.sleep(0.02)

    loop = FixedRateLoop(0.001, step, max_ticks=100, catch_up=catch_up)
    loop.start().join(timeout=10)
    starts, _ = loop.timings()
    lag = starts[-1] - starts[0] - 0.099  # s behind the schedule at the last tick
    if catch_up:
        assert lag < 0.01
    else:
        assert lag > 0.018


def test_a_catch_up_tick_keeps_its_scheduled_slot():
    """tick_time() of tick k is start + k periods even when the tick runs late (after a 20 ms stall, back to
    back): a lockstep simulator stamped and driven with it stays on one timeline."""
    import time

    slots = []

    def step():
        slots.append(loop.tick_time())
        if loop.ticks == 5:
            time.sleep(0.02)

    loop = FixedRateLoop(0.001, step, max_ticks=60, catch_up=0.05)
    loop.start().join(timeout=10)
    np.testing.assert_allclose(np.diff(slots), 0.001, atol=1e-6)  # epoch seconds as float64: ~0.2 us steps
    assert abs(slots[0] - time.time()) < 5.0 and loop.reanchors == 0


def test_overspeed_brake_only_limits_joints_above_the_cap_in_their_direction_of_motion():
    """A joint faster than 0.95 x its URDF limit gets at most the holding torque minus damping x excess in its
    direction of motion; slower joints keep their torque, and the holding torque is not computed for them."""
    from robot_rl.control.limits import OVERSPEED_FRACTION, LastLineLimits
    from robot_rl.robot import load_robot_model

    model = load_robot_model("panda")
    hard = np.array(model.model.velocityLimit)
    limits = LastLineLimits(model.limits, hard_velocity=hard, damping=np.full(7, 10.0))
    cap = OVERSPEED_FRACTION * hard
    calls = []

    def hold():
        calls.append(1)
        return np.full(7, 2.0)

    tau = np.full(7, 50.0)
    slow = 0.5 * cap
    np.testing.assert_array_equal(limits.overspeed(tau, slow, hold), tau)
    assert not calls
    fast = slow.copy()
    fast[1], fast[3] = cap[1] + 0.1, -(cap[3] + 0.2)  # joint 2 too fast forwards, joint 4 backwards
    out = limits.overspeed(tau, fast, hold)
    assert out[1] == pytest.approx(2.0 - 10.0 * 0.1)  # pushing forwards: capped at hold - damping * excess
    assert out[3] == 50.0  # pushing against a backwards motion: already braking, kept
    np.testing.assert_array_equal(np.delete(out, [1, 3]), 50.0)
    assert limits.counts.overspeed == 1
