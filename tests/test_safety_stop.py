"""Stop after the command source goes silent, in-process and deterministic (no ROS, simulated clock).

SafetyFilter -> ControlCore (the control node's core) -> MuJoCo, one clock for all three (MuJoCo's
time), so the result does not depend on machine load. The criterion is the one the ROS SIGKILL
test applies (tests/test_safety_closed_loop.py): with T the filter's receipt of the last command,
see tests/stop_criterion.py. The control reference meets it exactly (no rise at all); the
MuJoCo state within the settling tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest
from stop_criterion import assert_stopped_in_time, stop_metrics

from robot_rl.command import JointTrajectoryCommand
from robot_rl.control import ControlCore
from robot_rl.control.core import ControlCoreConfig
from robot_rl.control.stop import control_command_timeout_s
from robot_rl.hardware import create_hardware
from robot_rl.robot import load_robot_model
from robot_rl.safety import SafetyConfig, SafetyFilter

WATCHDOG = 0.1
MODEL = load_robot_model("panda")


def metrics(t, v, last):
    return stop_metrics(t, v, last, WATCHDOG, MODEL.config.control_period, MODEL.limits)


def _sweep(model, t: float, now: float) -> JointTrajectoryCommand:
    """The closed-loop test's sweep source: joint 1 +-0.6 rad, period 3 s, 4 waypoints 50 ms apart."""
    times = 0.05 * np.arange(1, 5)
    positions = np.repeat(model.config.default_pose[None, :], 4, axis=0)
    positions[:, 0] += 0.6 * np.sin(2 * np.pi * (t + times) / 3.0)
    return JointTrajectoryCommand(model.joint_names, now, times, positions, source="sweep")


def run_until_silent(kill_after: float, tail: float = 0.6, last_plan_late: float = 0.0, core_out: list | None = None,
                     stall: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Commands at 50 Hz for ``kill_after`` s, then none; the last command's plan reaches the control core
    ``last_plan_late`` s after the others would (0: at once). ``core_out`` (a list) receives the ControlCore.
    ``stall`` (at s, late s): the plan of the first command at or after ``at`` reaches the core ``late`` s late, and
    the source sends nothing until it has (a starved source and DDS thread); the plans after it are on time.

    Returns (t (k,) s, measured MuJoCo v (k, n), reference v (k, n) rad/s, last receipt time s).
    """
    model = load_robot_model("panda")
    hardware = create_hardware("mujoco", model.config)
    safety = SafetyFilter(model, SafetyConfig(check_collision=False, watchdog_timeout=WATCHDOG))
    timeout = control_command_timeout_s(WATCHDOG, safety.config.output_dt)  # the control node's, as bringup sets it
    core = ControlCore(model, hardware, clock=lambda: float(hardware.data.time),
                       config=ControlCoreConfig(command_timeout=timeout))
    period, t0 = model.config.control_period, float(hardware.data.time)
    last, times, velocities, references, late = None, [], [], [], None
    for i in range(int(round((kill_after + tail) / period))):
        now = float(hardware.data.time)
        if i % 20 == 0 and now - t0 < kill_after and late is None:
            result = safety.filter(_sweep(model, now - t0, now), hardware.read().position, now)
            last = now
            if last_plan_late and now - t0 + 0.02 >= kill_after:  # the last command
                late = (now + last_plan_late, result.allowed)
            elif stall is not None and now - t0 >= stall[0]:
                late, stall = (now + stall[1], result.allowed), None
            else:
                core.submit(result.allowed)
        if late is not None and now >= late[0] - 1e-9:
            core.submit(late[1])
            late = None
        state = core.tick()
        times.append(now)
        velocities.append(state.velocity)
        references.append(core.follower.reference[1])
    if core_out is not None:
        core_out.append(core)
    return np.array(times), np.array(velocities), np.array(references), last


@pytest.mark.parametrize("kill_after", [1.0, 1.17, 1.34, 1.51, 1.68, 1.85, 2.02, 2.53, 2.87, 3.04])
def test_the_control_reference_brakes_with_the_filter_plan_after_the_source_goes_silent(kill_after):
    """The control node's reference (what the impedance law tracks) meets the criterion exactly."""
    t, _, v_ref, last = run_until_silent(kill_after)
    rise, rest, budget = metrics(t, v_ref, last)
    print(f"kill {kill_after}: reference speed rise {rise:.2e} rad/s, at rest {rest * 1000:.1f} ms after the "
          f"deadline (budget {budget * 1000:.1f} ms)")
    assert budget > 0.02, "the sweep must be moving when the source goes silent"
    assert rise <= 1e-9
    assert rest <= budget + 0.01  # the plan's grid: braking ends on a 10 ms grid point


@pytest.mark.parametrize("kill_after", [0.9, 1.12, 1.34, 1.56])
def test_mujoco_state_stops_within_the_deceleration_budget(kill_after):
    t, v, _, last = run_until_silent(kill_after)
    assert_stopped_in_time(*metrics(t, v, last))


@pytest.mark.parametrize("late", [0.06, 0.09])
def test_a_plan_that_arrives_too_late_to_continue_the_reference_is_not_chased(late):
    """The last plan reaches the control node 60 / 90 ms late (after output_latency, while the reference brakes on
    the plan before it). Chased by ruckig (before), MuJoCo's speed rose 0.25 rad/s after the deadline and came to
    rest 50 ms after its budget; refused, the robot stops on the plan it follows (docs/safety.md)."""
    cores = []
    t, v, _, last = run_until_silent(1.2, last_plan_late=late, core_out=cores)
    assert cores[0].follower.plans_refused == 1
    assert_stopped_in_time(*metrics(t, v, last))


@pytest.mark.parametrize("kill_after", [1.36, 1.42, 1.5])
def test_plans_spliced_onto_a_refused_late_plan_are_not_chased(kill_after):
    """A plan reaches the core 100 ms late (refused) and the source resumes on time after it: its plans are spliced
    onto the refused one, so they start off the plan the reference follows. Chased (before), the robot overshot
    the brake (as through ROS next to 4 CPU hogs: 300 chase ticks, 24-40 ms past the budget); refused, it stops
    on the plan it follows and the next plan after that is taken from rest."""
    cores = []
    t, v, _, last = run_until_silent(kill_after, stall=(1.2, 0.1), core_out=cores)
    assert cores[0].follower.plans_refused >= 2  # the late plan and at least one spliced onto it
    assert_stopped_in_time(*metrics(t, v, last))
