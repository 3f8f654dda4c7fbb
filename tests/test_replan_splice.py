"""Replanning chunks replace the current one from their first trained step (Chunking.replace_from,
docs/distillation.md); without replace_from a new chunk replaces the current one whole, as before."""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.errors import ConfigError
from robot_rl.policy.chunking import ActionChunk, splice
from robot_rl.policy.schema import Chunking
from robot_rl.policy.scheduler import PolicyScheduler, ScheduleConfig

PERIOD = 0.02  # s, 50 Hz
RATIO = 5  # fine steps per trained step (10 Hz training)


def _chunk(stamp: float, positions) -> ActionChunk:
    """A chunk (k, n) whose step j is due (j + 1) * PERIOD after ``stamp``."""
    positions = np.asarray(positions, dtype=float)
    return ActionChunk(stamp=stamp, joint_names=tuple("abc"[: positions.shape[1]]),
                       deadlines=PERIOD * np.arange(1, len(positions) + 1), positions=positions,
                       velocities=np.zeros_like(positions), gripper=np.zeros(len(positions)), raw=positions.copy(),
                       saturated=np.zeros(positions.shape, bool))


def test_splice_keeps_the_current_steps_due_before_the_new_chunks_step():
    current = _chunk(0.0, np.arange(20.0)[:, None])  # step j at (j + 1) * 0.02 s holds j
    new = _chunk(0.03, 100.0 + np.arange(20.0)[:, None])
    out = splice(current, new, replace_from=4)  # new step 4 is due at 0.03 + 0.1 s
    np.testing.assert_allclose(out.stamp + out.deadlines, np.r_[0.04:0.121:0.02, 0.13 + 0.02 * np.arange(16)])
    np.testing.assert_array_equal(out.positions[:, 0], np.r_[1:6, 104:120])
    assert out.gripper.shape == out.raw.shape[:1] == (21,)
    assert splice(None, new, 4) is new and splice(current, new, 0) is new


def test_scheduler_without_replace_from_publishes_the_chunk_as_computed():
    sched = PolicyScheduler(ScheduleConfig(period=PERIOD, max_latency=0.5, n_action_steps=1))
    sched.accept(_chunk(0.0, np.ones((5, 2))), 0.001)
    second = _chunk(0.02, np.full((5, 2), 3.0))
    sent = sched.accept(second, 0.021)
    np.testing.assert_array_equal(sent.positions, second.positions)
    np.testing.assert_array_equal(sent.deadlines, second.deadlines)


def _travel(replace_from: int, lag_s: float = 0.05, speed: float = 0.5) -> float:
    """rad an arm covers in 1 s when it follows its command (held until the next step is due) with a
    first-order lag ``lag_s`` and the policy plans at ``speed`` every PERIOD the way the --replan-hz export
    does: trained step i at (i + 1) * RATIO * PERIOD, fine steps before the first from the measured q."""
    sched = PolicyScheduler(ScheduleConfig(period=PERIOD, max_latency=0.5, n_action_steps=1,
                                           replace_from=replace_from))
    q, ms = 0.0, 1e-3
    for k in range(50):
        t = k * PERIOD
        assert sched.tick(t).infer
        sched.accept(_chunk(t, (q + speed * PERIOD * np.arange(1, 4 * RATIO + 1))[:, None]), t)
        due = sched.current.stamp + sched.current.deadlines
        for i in range(1, 21):
            step = min(int(np.searchsorted(due, t + i * ms)), len(due) - 1)
            q += (sched.current.positions[step, 0] - q) * ms / lag_s
    return q


def test_replacing_from_the_trained_step_keeps_a_lagging_arm_moving_at_50_hz():
    measured, spliced = _travel(0), _travel(RATIO - 1)
    assert measured < 0.2 and spliced > 0.3  # measured 0.17 and 0.36 of the planned 0.5 rad


@pytest.mark.parametrize("field,make", [
    ("replace_from", lambda: Chunking(horizon=4, replace_from=4)),
    ("replace_from", lambda: Chunking(horizon=4, replace_from=-1)),
    ("replace_from", lambda: ScheduleConfig(period=PERIOD, max_latency=0.1, replace_from=-1)),
    ("ensemble", lambda: Chunking(horizon=4, ensemble=1.0)), ("ensemble", lambda: Chunking(horizon=4, ensemble=-0.1)),
    ("ensemble", lambda: Chunking(horizon=4, ensemble=True)), ("ensemble", lambda: Chunking(horizon=4, ensemble="x")),
    ("ensemble", lambda: ScheduleConfig(period=PERIOD, max_latency=0.1, ensemble=float("nan")))])
def test_bad_chunking_is_refused_by_name(field, make):
    with pytest.raises(ConfigError, match=field):
        make()


@pytest.mark.parametrize("field,value", [("replace_from", 4), ("ensemble", 0.9)])
def test_chunking_extras_are_written_only_when_set_and_round_trip(field, value):
    import dataclasses

    from policy_helpers import panda_contract

    from robot_rl.policy.contract import contract_from_dict, contract_to_dict

    plain = panda_contract(horizon=8)
    assert field not in contract_to_dict(plain)["chunking"]  # older readers accept it unchanged
    changed = dataclasses.replace(plain, chunking=dataclasses.replace(plain.chunking, **{field: value}))
    assert contract_to_dict(changed)["chunking"][field] == value
    assert contract_from_dict(contract_to_dict(changed)) == changed
    assert contract_from_dict(contract_to_dict(plain)) == plain
    assert getattr(ScheduleConfig.from_contract(changed), field) == value
    raw = contract_to_dict(changed)
    raw["chunking"][field] = 8
    with pytest.raises(ConfigError, match=field):  # horizon 8: replace_from < 8, ensemble < 1
        contract_from_dict(raw)


def test_in_process_executor_splices_like_the_scheduler():
    from robot_rl.policy.chunking import ChunkExecutor

    executor = ChunkExecutor(max_latency=1.0, replace_from=4)
    executor.accept(_chunk(0.0, np.arange(20.0)[:, None]), 0.0)
    executor.accept(_chunk(0.03, 100.0 + np.arange(20.0)[:, None]), 0.03)
    assert executor.target_at(0.1)[0] == 4.0 and executor.target_at(0.2)[0] == 108.0  # due 0.21 s
