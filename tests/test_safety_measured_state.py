"""Finding 4 of issue 17: the measured state the filter anchors on is checked (robot_rl/safety/anchoring.py).

A measured state outside the soft limits, the workspace box or the collision/floor margin gets a named
``measured_state`` intervention, the output never moves further out, commands back in are followed at
recovery speed, and a reset re-anchors on the measured state through the rate limiter (no jump)."""

from __future__ import annotations

import numpy as np

from robot_rl.command import JointTrajectoryCommand
from robot_rl.robot import load_robot_model
from robot_rl.safety import Reason, SafetyConfig, SafetyFilter
from robot_rl.safety.anchoring import RECOVERY_SPEED

MODEL = load_robot_model("panda")
LIM, NAMES, DT, NOW = MODEL.limits, MODEL.joint_names, 0.01, 1000.0
Q0 = MODEL.config.default_pose


def _command(target: np.ndarray, now: float) -> JointTrajectoryCommand:
    return JointTrajectoryCommand(NAMES, now, np.array([0.05, 0.1]), np.repeat(target[None, :], 2, axis=0))


def _stream(safety: SafetyFilter, measured: np.ndarray, target: np.ndarray, commands: int = 60):
    """Send ``target`` every 20 ms with ``measured`` as the state; the executed grid and all interventions."""
    executed, notes = {}, []
    for k in range(commands):
        now = NOW + 0.02 * k
        result = safety.filter(_command(target, now), measured, now)
        notes += result.interventions
        if result.allowed is not None:
            k0 = int(round((result.allowed.stamp - NOW) / DT))
            executed = {i: q for i, q in executed.items() if i < k0}
            executed.update({k0 + i: q for i, q in enumerate(result.allowed.positions)})
    return np.array([executed[i] for i in sorted(executed)]), notes


def test_a_joint_5_mrad_past_its_soft_limit_is_named_and_recovers_slowly_instead_of_freezing():
    """On a9d9b63 every command became a hold at the measured state outside the limit (frozen for good)."""
    measured = Q0.copy()
    measured[3] = LIM.soft_upper[3] + 0.005
    inside = measured.copy()
    inside[3] -= 0.1
    safety = SafetyFilter(MODEL, SafetyConfig(check_collision=False))
    path, notes = _stream(safety, measured, inside)
    assert any(n.reason == Reason.MEASURED_STATE and n.joint == NAMES[3] for n in notes), [str(n) for n in notes]
    excess = np.maximum(path[:, 3] - LIM.soft_upper[3], 0.0)
    assert np.all(np.diff(excess) <= 1e-12), "moved further past the limit"
    assert np.allclose(path[-1], inside, atol=1e-6), "did not recover to the target"
    speed = np.abs(np.diff(path[: np.argmax(excess == 0) + 1], axis=0)) / DT  # while outside
    assert np.all(speed <= RECOVERY_SPEED * LIM.velocity + 1e-9)
    assert not safety.recovering


def test_commands_further_out_are_not_followed_while_outside():
    measured = Q0.copy()
    measured[3] = LIM.soft_upper[3] + 0.005
    further = measured.copy()
    further[3] += 0.3
    path, notes = _stream(SafetyFilter(MODEL, SafetyConfig(check_collision=False)), measured, further, commands=20)
    excess = np.maximum(path[:, 3] - LIM.soft_upper[3], 0.0)  # the target is clamped to the limit: moves in
    assert np.all(np.diff(excess) <= 1e-12) and path[:, 3].max() <= measured[3]


def test_a_state_below_the_floor_margin_recovers_upwards_and_never_goes_lower():
    """The hand 2 mm above the table (margin 5 mm): named, and the distance to the floor never shrinks."""
    low = Q0.copy()
    low[1], low[3] = 1.2, -1.0  # hand into the table
    for s in np.linspace(0, 1, 400):  # find a pose with the closest pair 2 mm apart, to the floor
        q = Q0 + s * (low - Q0)
        distance, pair = MODEL.min_collision_distance(q)
        if distance < 0.002:
            break
    assert "floor" in pair[0] + pair[1]
    safety = SafetyFilter(MODEL, SafetyConfig(check_workspace=False))
    path, notes = _stream(safety, q, Q0, commands=40)
    assert any(n.reason == Reason.MEASURED_STATE and "floor" in n.detail for n in notes), [str(n) for n in notes]
    distances = np.array([MODEL.min_collision_distance(x)[0] for x in path])
    short = np.maximum(MODEL.config.collision.margin - distances, 0)
    assert np.all(np.diff(short) <= 1e-12) and short[-1] == 0.0


def test_a_reset_re_anchors_on_an_offset_measurement_through_the_rate_limiter_without_a_jump():
    """On a9d9b63 the reset's hold jumped to the measured state (1.3 rad with an offset)."""
    safety = SafetyFilter(MODEL, SafetyConfig(check_collision=False))
    safety.filter(_command(Q0, NOW), Q0, NOW)
    safety.estop(NOW + 0.05)
    measured = Q0.copy()
    measured[0] += 1.3
    result = safety.reset(NOW + 1.0, measured)
    q = np.vstack([Q0, Q0, result.allowed.positions])
    assert np.array_equal(result.allowed.positions[0], Q0), "the re-anchoring starts where the plan holds"
    v = np.diff(q, axis=0) / DT
    a = np.diff(v, axis=0) / DT
    assert np.all(np.abs(v) <= RECOVERY_SPEED * LIM.velocity + 1e-9)
    assert np.all(np.abs(a) <= RECOVERY_SPEED * LIM.acceleration + 1e-6)
    assert np.allclose(q[-1], measured, atol=1e-6), "ends at the measured state"
    assert any(n.reason == Reason.RESET and "re-anchoring" in n.detail for n in result.interventions)


def test_a_simulator_reset_drops_the_held_plan_and_the_next_command_anchors_on_the_teleported_state():
    """A simulator's episode reset teleports the arm: re-anchoring from the old held point (above) stalled each
    gate episode ~2 s while the plan crept back. With ``simulator_moved_robot`` the next command starts at the
    measured state at rest, through the rate limiter."""
    safety = SafetyFilter(MODEL, SafetyConfig(check_collision=False))
    safety.filter(_command(Q0, NOW), Q0, NOW)
    safety.estop(NOW + 0.05)
    teleported = Q0 + 0.3
    result = safety.reset(NOW + 1.0, teleported, simulator_moved_robot=True)
    assert result.allowed is None and [n.reason for n in result.interventions] == [Reason.RESET]
    follow = safety.filter(_command(teleported + 0.01, NOW + 1.1), teleported, NOW + 1.1)
    assert np.array_equal(follow.allowed.positions[0], teleported), "the plan starts at the measured state"
    q = np.vstack([teleported, teleported, follow.allowed.positions])
    v = np.diff(q, axis=0) / DT
    assert np.all(np.abs(v) <= LIM.velocity + 1e-9) and np.all(np.abs(np.diff(v, axis=0) / DT) <= LIM.acceleration + 1e-6)


def test_a_simulator_reset_while_still_moving_keeps_the_plan():
    """The plan is dropped only at rest: a reset mid-brake re-sends the running plan, as a plain reset does."""
    safety = SafetyFilter(MODEL, SafetyConfig(check_collision=False))
    safety.filter(_command(Q0 + 0.5, NOW), Q0, NOW)
    result = safety.reset(NOW + 0.2, Q0 + 0.3, simulator_moved_robot=True)
    assert result.allowed is not None and safety.plan is not None
