"""GripperMux and the gripper range checks: who commands the gripper during a takeover, and that no input ever
yields a target outside the robot's [closed, open] (config/robots/*.yaml)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from robot_rl.errors import CommandError
from robot_rl.robot import load_robot_config
from robot_rl.robot.gripper import check_gripper_position, gripper_position_from_fraction
from robot_rl.teleop.gripper_mux import GripperCounts, GripperMux

PANDA = load_robot_config("panda").gripper  # m per finger: open 0.04, closed 0.0
SO101 = load_robot_config("so101").gripper  # rad of the jaw: open 1.0, closed 0.0
ROBOTS = {"panda": PANDA, "so101": SO101}
anything = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10), st.booleans(),
                     st.none(), st.text(max_size=3))


def test_the_fraction_maps_linearly_from_open_to_closed():
    assert gripper_position_from_fraction(PANDA, 0.0) == PANDA.open_position
    assert gripper_position_from_fraction(PANDA, 1.0) == PANDA.closed_position
    assert gripper_position_from_fraction(PANDA, 0.25) == pytest.approx(0.03)
    assert gripper_position_from_fraction(SO101, 0.5) == pytest.approx(0.5)


@pytest.mark.parametrize("fraction, problem", [(float("nan"), "finite"), (float("inf"), "finite"), (True, "finite"),
                                               ("1", "finite"), (1.01, "outside"), (-0.01, "outside")])
def test_bad_fractions_are_refused_naming_the_problem(fraction, problem):
    with pytest.raises(CommandError, match=problem):
        gripper_position_from_fraction(PANDA, fraction)


@pytest.mark.parametrize("position, problem", [(float("nan"), "finite"), (-float("inf"), "finite"),
                                               (0.05, r"outside \[0.0, 0.04\]"), (-0.001, "outside")])
def test_bad_positions_are_refused_naming_the_problem(position, problem):
    with pytest.raises(CommandError, match=problem):
        check_gripper_position(PANDA, position)


def test_a_robot_without_a_gripper_is_named():
    with pytest.raises(CommandError, match="'z1' has no gripper"):
        check_gripper_position(None, 0.0, "z1")
    mux = GripperMux(None, "z1")
    with pytest.raises(CommandError, match="'z1' has no gripper"):
        mux.teleop(1.0, intervening=True)
    assert mux.held is None and mux.counts == GripperCounts(rejected=1)


def test_values_within_tolerance_snap_onto_the_range():
    assert check_gripper_position(PANDA, 0.04 + 1e-12) == 0.04
    assert gripper_position_from_fraction(PANDA, -1e-12) == PANDA.open_position


def test_the_policy_drives_the_gripper_until_the_human_takes_over():
    mux = GripperMux(PANDA)
    assert mux.policy(PANDA.open_position, intervening=False) == PANDA.open_position
    assert mux.teleop(1.0, intervening=False) is None  # the device's state before the takeover: dropped
    assert mux.held == PANDA.open_position
    assert mux.policy(PANDA.open_position, intervening=True) is None  # the takeover starts: the policy's dropped
    assert mux.held == PANDA.open_position  # nothing moves until the human commands the gripper
    assert mux.teleop(1.0, intervening=True) == PANDA.closed_position
    assert mux.policy(PANDA.open_position, intervening=True) is None
    assert mux.held == PANDA.closed_position  # the human's closed gripper is what executes
    assert mux.counts == GripperCounts(policy_forwarded=1, policy_dropped=2, teleop_forwarded=1, teleop_dropped=1)


def test_when_the_takeover_ends_the_policy_takes_the_gripper_back():
    mux = GripperMux(PANDA)
    mux.teleop(1.0, intervening=True)
    assert mux.teleop(0.0, intervening=False) is None  # the human's late commands are dropped
    assert mux.held == PANDA.closed_position  # held until the policy's next command
    assert mux.policy(PANDA.open_position, intervening=False) == PANDA.open_position
    assert mux.held == PANDA.open_position


def test_bad_values_are_counted_never_forwarded_and_keep_the_held_target():
    mux = GripperMux(PANDA, "panda")
    mux.policy(PANDA.closed_position, intervening=False)
    for source, value, intervening in (("teleop", float("nan"), True), ("teleop", 2.0, True),
                                       ("policy", 0.5, False), ("policy", float("inf"), False)):
        with pytest.raises(CommandError):
            getattr(mux, source)(value, intervening)
    assert mux.held == PANDA.closed_position and mux.counts.rejected == 4


@given(robot=st.sampled_from(sorted(ROBOTS)),
       events=st.lists(st.tuples(st.sampled_from(("policy", "teleop")), anything, st.booleans()), max_size=30))
def test_no_input_yields_a_target_outside_closed_open(robot, events):
    gripper = ROBOTS[robot]
    low, high = sorted((gripper.open_position, gripper.closed_position))
    mux = GripperMux(gripper, robot)
    for source, value, intervening in events:
        try:
            out = getattr(mux, source)(value, intervening)
        except CommandError:
            continue
        assert out is None or (isinstance(out, float) and math.isfinite(out) and low <= out <= high)
        assert mux.held is None or low <= mux.held <= high
        if out is not None:
            assert (source == "teleop") == intervening  # the one source that drives now
