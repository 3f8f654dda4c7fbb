"""The hostile closed loop in-process and deterministic: SafetyFilter -> ControlCore -> MuJoCo on MuJoCo's clock.

The targets of the ROS test's hostile source (tests/support/hostile_commands.py: jumps across the range,
targets outside the workspace box and in self-collision, valid moves), 50 commands/s, the watchdog ticked as
the node ticks it. Seed 6 (no bursts) is the stream that, before the floor check, pressed the hand onto the
table (the box bounds three frames, not the hand's body) until the contact drove joint 6 to 2.5 x its velocity
limit. With bursts (an outside or colliding target held for 0.2-0.8 s) the arm drives into the boundaries at
full speed; before the filter checked the plans' torque (robot_rl/safety/dynamics.py), braking there in
gravity-loaded poses saturated joint 2 and the arm sagged onto the table (seeds 4 and 7: -1.7 and -3.4 mm) and
out of the box (1.1 cm).
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

import numpy as np
import pytest
from hostile_figures import assert_within_limits, hostile_figures
from support.hostile_commands import TARGET_KINDS, HostileTargets

from robot_rl.command import JointTrajectoryCommand
from robot_rl.control import ControlCore
from robot_rl.params import load_param_specs
from robot_rl.robot import load_robot_model
from robot_rl.safety import Reason, SafetyConfig, SafetyFilter
from robot_rl_sim.hardware import MujocoHardware

MODEL = load_robot_model("panda")
COMMAND_PERIOD = 0.02  # s
SECONDS = 16.0  # s of hostile commands per run


@lru_cache(maxsize=8)
def run_hostile(seed: int, seconds: float, bursts: bool) -> tuple[np.ndarray, np.ndarray, Counter]:
    """Measured MuJoCo (positions, velocities), each (k, n), over ``seconds`` of hostile commands, and the
    filter's interventions counted by reason."""
    params = {name: spec.default for name, spec in load_param_specs("safety_filter").items()}
    safety = SafetyFilter(MODEL, SafetyConfig.from_params(params))
    hardware = MujocoHardware(MODEL.config)
    core = ControlCore(MODEL, hardware, clock=lambda: float(hardware.data.time))
    targets, rng = HostileTargets(MODEL, np.random.default_rng(seed), bursts), np.random.default_rng(seed + 1000)
    period = MODEL.config.control_period
    every_command, every_watchdog = round(COMMAND_PERIOD / period), round(params["watchdog_period"] / period)
    positions, velocities, reasons = [], [], Counter()
    for i in range(int(seconds / period)):
        now = float(hardware.data.time)
        result = None
        if i % every_command == 0:
            k = int(rng.integers(1, 6))
            command = JointTrajectoryCommand(MODEL.joint_names, now, 0.05 * np.arange(1, k + 1),
                                             targets.positions(targets.next_kind(TARGET_KINDS), k))
            result = safety.filter(command, core.last_state.position, now)
        elif i % every_watchdog == 0:
            result = safety.tick(now)
        if result is not None:
            reasons.update(item.reason for item in result.interventions)
            if result.allowed is not None:
                core.submit(result.allowed)
        state = core.tick()
        positions.append(state.position)
        velocities.append(state.velocity)
    return np.array(positions), np.array(velocities), reasons


def _measure(seed: int, bursts: bool) -> dict[str, float]:
    q, v, reasons = run_hostile(seed, SECONDS, bursts)
    figures = hostile_figures(MODEL, q, v)
    print(f"seed {seed}, bursts {bursts}: {figures}; interventions {dict(reasons)}")
    return figures


@pytest.mark.parametrize("seed, bursts", [(6, False), (0, False), (7, False), (4, True), (7, True), (2, True)])
def test_hostile_stream_keeps_mujoco_within_limits_box_and_off_the_table(seed, bursts):
    assert_within_limits(_measure(seed, bursts))
    if bursts:  # the stream really drove into every boundary
        reasons = run_hostile(seed, SECONDS, bursts)[2]
        assert {Reason.POSITION_LIMIT, Reason.WORKSPACE, Reason.SELF_COLLISION, Reason.TORQUE_LIMIT} <= set(reasons)
