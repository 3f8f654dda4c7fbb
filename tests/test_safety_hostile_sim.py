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

from robot_rl.robot import hostile, load_robot_model
from robot_rl.safety import Reason

MODEL = load_robot_model("panda")
COMMAND_PERIOD = 0.02  # s
SECONDS = 16.0  # s of hostile commands per run


@lru_cache(maxsize=8)
def run_hostile(seed: int, seconds: float, bursts: bool) -> tuple[np.ndarray, np.ndarray, Counter]:
    """Measured MuJoCo (positions, velocities), each (k, n), over ``seconds`` of hostile commands, and the
    filter's interventions counted by reason (robot_rl.robot.hostile.run_hostile, also run by check-robot)."""
    return hostile.run_hostile(MODEL, seed, seconds, bursts, COMMAND_PERIOD)


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
