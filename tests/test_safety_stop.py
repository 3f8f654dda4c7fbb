"""Stop after the command source goes silent, in-process and deterministic (no ROS, simulated clock).

SafetyFilter -> ControlCore (the control node's core) -> MuJoCo, one clock for all three (MuJoCo's
time), so the result does not depend on machine load. The criterion is the one the ROS SIGKILL
test applies (tests/test_safety_closed_loop.py): with T the filter's receipt of the last command,
the speed of no joint rises after T + watchdog + 2 control periods (beyond 0.01 rad/s of noise),
and every |v| < 0.01 rad/s from that deadline + max_j(v0_j / a_j + a_j / j_j) + 20 ms on.
"""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.command import JointTrajectoryCommand
from robot_rl.control import ControlCore
from robot_rl.hardware import create_hardware
from robot_rl.robot import load_robot_model
from robot_rl.safety import SafetyConfig, SafetyFilter

REST_SPEED, TOLERANCE, WATCHDOG = 0.01, 0.02, 0.1


def _sweep(model, t: float, now: float) -> JointTrajectoryCommand:
    """The closed-loop test's sweep source: joint 1 +-0.6 rad, period 3 s, 4 waypoints 50 ms apart."""
    times = 0.05 * np.arange(1, 5)
    positions = np.repeat(model.config.default_pose[None, :], 4, axis=0)
    positions[:, 0] += 0.6 * np.sin(2 * np.pi * (t + times) / 3.0)
    return JointTrajectoryCommand(model.joint_names, now, times, positions, source="sweep")


def run_until_silent(kill_after: float, tail: float = 0.6) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Commands at 50 Hz for ``kill_after`` s, then none.

    Returns (t (k,) s, measured MuJoCo v (k, n), reference v (k, n) rad/s, last receipt time s).
    """
    model = load_robot_model("panda")
    hardware = create_hardware("mujoco", model.config)
    core = ControlCore(model, hardware, clock=lambda: float(hardware.data.time))
    safety = SafetyFilter(model, SafetyConfig(check_collision=False, watchdog_timeout=WATCHDOG))
    period, t0 = model.config.control_period, float(hardware.data.time)
    last, times, velocities, references = None, [], [], []
    for i in range(int(round((kill_after + tail) / period))):
        now = float(hardware.data.time)
        if i % 20 == 0 and now - t0 < kill_after:
            result = safety.filter(_sweep(model, now - t0, now), hardware.read().position, now)
            core.submit(result.allowed)
            last = now
        state = core.tick()
        times.append(now)
        velocities.append(state.velocity)
        references.append(core.follower.reference[1])
    return np.array(times), np.array(velocities), np.array(references), last


def stop_metrics(t: np.ndarray, v: np.ndarray, last: float) -> tuple[float, float, float]:
    """(speed rise after the deadline rad/s, time from the deadline to rest s, braking budget s)."""
    limits = load_robot_model("panda").limits
    deadline = last + WATCHDOG + 2 * 0.001
    speed = np.abs(v[t >= deadline])
    rise = float((speed - np.minimum.accumulate(speed, axis=0)).max())
    budget = float(np.max(speed[0] / limits.acceleration + limits.acceleration / limits.jerk))
    moving = np.nonzero(speed.max(axis=1) >= REST_SPEED)[0]
    rest = float(t[t >= deadline][moving[-1] + 1] - deadline) if len(moving) else 0.0
    return rise, rest, budget


@pytest.mark.parametrize("kill_after", [1.0, 1.17, 1.34, 1.51, 1.68, 1.85, 2.02, 2.53, 2.87, 3.04])
def test_the_control_reference_brakes_with_the_filter_plan_after_the_source_goes_silent(kill_after):
    """The control node's reference (what the impedance law tracks) meets the criterion exactly."""
    t, _, v_ref, last = run_until_silent(kill_after)
    rise, rest, budget = stop_metrics(t, v_ref, last)
    print(f"kill {kill_after}: reference speed rise {rise:.2e} rad/s, at rest {rest * 1000:.1f} ms after the "
          f"deadline (budget {budget * 1000:.1f} ms)")
    assert budget > 0.02, "the sweep must be moving when the source goes silent"
    assert rise <= 1e-9
    assert rest <= budget + 0.01  # the plan's grid: braking ends on a 10 ms grid point


@pytest.mark.xfail(strict=True, reason=(
    "open: MuJoCo's state misses the criterion at some phases: the shipped pinocchio model lacks MuJoCo's rotor "
    "inertia (scene.py ARMATURE 0.1 kg m^2), so the arm overshoots at the end of the brake and creeps back "
    "at ~0.01 rad/s (at rest 105 ms after the deadline here, budget 78 + 20 ms)"))
def test_mujoco_state_stops_within_the_deceleration_budget():
    t, v, _, last = run_until_silent(1.34)
    rise, rest, budget = stop_metrics(t, v, last)
    assert rise <= REST_SPEED
    assert rest <= budget + TOLERANCE
