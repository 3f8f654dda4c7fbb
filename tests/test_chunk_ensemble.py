"""Temporal ensembling of replanned chunks (Chunking.ensemble, docs/distillation.md "Smoothing 50 Hz replanning"):
the blend, that ensemble 0 (every existing contract) executes exactly as before, and a pure-numpy model of a
lagging arm under chunks that disagree. The contract field's validation and round trip: test_replan_splice.py."""

from __future__ import annotations

import numpy as np
import pytest
from test_replan_splice import PERIOD, RATIO, _chunk

from robot_rl.policy.chunking import ChunkExecutor, blend, splice
from robot_rl.policy.scheduler import PolicyScheduler, ScheduleConfig


def test_blend_weighs_the_current_chunk_where_both_cover_the_time():
    current = _chunk(0.0, np.arange(10.0)[:, None])  # due 0.02 .. 0.2 s, holds 0 .. 9
    new = _chunk(0.05, np.full((10, 1), 100.0))  # due 0.07 .. 0.25 s, off the current grid by 10 ms
    out = blend(current, new, 0.75)
    inside = np.arange(10) < 7  # due <= 0.2 s
    then = np.interp(0.05 + new.deadlines, current.deadlines, np.arange(10.0))  # 2.5, 3.5, ...
    np.testing.assert_allclose(out.positions[inside, 0], 0.75 * then[inside] + 25.0)
    np.testing.assert_array_equal(out.positions[~inside], new.positions[~inside])  # beyond the current chunk
    np.testing.assert_array_equal(out.raw, new.raw)  # the policy's own outputs are kept for logging
    assert blend(current, new, 0.0) is new and blend(_chunk(1.0, np.ones((3, 1))), new, 0.5) is new


def test_blended_gripper_stays_binary_and_keeps_a_close_that_newer_chunks_postpone():
    """Replanned every period, pick-cube chunks kept planning the close a little later, so their first step
    never closed (0/100 at 50 Hz in replan_clamps); the ensemble keeps the older chunks' close."""
    from dataclasses import replace

    current = replace(_chunk(0.0, np.zeros((10, 1))), gripper=np.where(np.arange(10) < 4, 0.04, 0.0))
    later = replace(_chunk(0.02, np.zeros((10, 1))), gripper=np.where(np.arange(10) < 6, 0.04, 0.0))
    strong, weak = blend(current, later, 0.95).gripper, blend(current, later, 0.3).gripper
    assert set(strong) <= {0.0, 0.04} and set(weak) <= {0.0, 0.04}
    np.testing.assert_array_equal(strong[:5], [0.04, 0.04, 0.04, 0.0, 0.0])  # current closes from 0.1 s on
    np.testing.assert_array_equal(weak, later.gripper)


def test_repeated_blending_weighs_older_chunks_exponentially():
    executor = ChunkExecutor(max_latency=1.0, ensemble=0.5)
    for k, value in enumerate((8.0, 4.0, 0.0)):  # three chunks that all predict time 0.1 s
        executor.accept(_chunk(0.02 * k, np.full((20, 1), value)), 0.02 * k)
    assert executor.target_at(0.1)[0] == pytest.approx(0.25 * 8.0 + 0.25 * 4.0 + 0.5 * 0.0)


@pytest.mark.parametrize("replace_from", [0, RATIO - 1])
def test_ensemble_zero_executes_exactly_as_before(replace_from):
    """A default contract (no ``ensemble``) gives the same published chunks as the splice rule alone."""
    rng = np.random.default_rng(0)
    sched = PolicyScheduler(ScheduleConfig(period=PERIOD, max_latency=0.5, n_action_steps=1, replace_from=replace_from))
    current = None
    for k in range(6):
        chunk = _chunk(k * PERIOD, rng.normal(size=(20, 3)))
        sent = sched.accept(chunk, k * PERIOD + 0.005)
        expected = splice(current, chunk, replace_from)
        keep = expected.stamp + expected.deadlines > k * PERIOD + 0.005 + sched.config.min_lead
        np.testing.assert_array_equal(sent.positions, expected.positions[keep])
        np.testing.assert_array_equal(sent.deadlines, expected.deadlines[keep])
        current = sent


def test_splice_never_joins_two_waypoints_due_at_the_same_time():
    """Stamps from accumulated float time put the current chunk's step and the new chunk's first kept step
    1e-16 s apart; the filter rejects such a command (``bad_times``, 42 per episode in the gate's 50 Hz runs)."""
    current = _chunk(0.1 + 0.2 - 0.3, np.zeros((20, 1)))  # 5.6e-17 s, not 0
    new = _chunk(0.02, np.ones((20, 1)))
    due = (out := splice(current, new, RATIO - 1)).stamp + out.deadlines
    assert np.diff(due).min() > PERIOD / 2


def _commands(ensemble: float, noise: float, lag_s: float = 0.05, speed: float = 0.5, seed: int = 0):
    """(rad the arm covers in 1 s, RMS second difference of the command at the end of each period, rad): an arm lagging its command
    (held until the next step is due) by a first-order ``lag_s`` while the policy replans every PERIOD as
    the --replan-hz export does (trained step i at (i + 1) * RATIO * PERIOD, fine steps before it from the
    measured q), planning ``speed`` rad/s plus independent noise ``noise`` rad per chunk (disagreement)."""
    rng = np.random.default_rng(seed)
    sched = PolicyScheduler(ScheduleConfig(period=PERIOD, max_latency=0.5, n_action_steps=1,
                                           replace_from=RATIO - 1, ensemble=ensemble))
    q, ms, sent = 0.0, 1e-3, []
    for k in range(50):
        t = k * PERIOD
        assert sched.tick(t).infer
        plan = q + speed * PERIOD * np.arange(1, 4 * RATIO + 1) + noise * rng.normal()
        sched.accept(_chunk(t, plan[:, None]), t)
        due = sched.current.stamp + sched.current.deadlines
        for i in range(1, 21):
            target = sched.current.positions[min(int(np.searchsorted(due, t + i * ms)), len(due) - 1), 0]
            q += (target - q) * ms / lag_s
        sent.append(target)
    return q, float(np.sqrt(np.mean(np.diff(sent, 2) ** 2)))


def test_ensembling_smooths_disagreeing_chunks_and_keeps_the_arm_moving():
    travel, jumps = _commands(0.0, noise=0.02)
    smooth_travel, smooth_jumps = _commands(0.9, noise=0.02)
    assert smooth_jumps < jumps / 2.5  # measured 0.0083 vs 0.031 rad
    assert smooth_travel > travel  # measured 0.42 vs 0.35 of the 0.5 rad planned: the blend keeps the lead


def test_export_refuses_ensemble_without_replanning(tmp_path, capsys):
    from robot_rl.cli import main as robot_rl_main

    out = str(tmp_path / "x.onnx")
    with pytest.raises(SystemExit) as exit_info:
        robot_rl_main(["export", "--checkpoint", str(tmp_path / "none.pt"), "--out", out, "--ensemble", "0.5"])
    assert exit_info.value.code == 2
    assert "--ensemble applies to --replan-hz" in capsys.readouterr().err


def test_the_bench_measures_disagreement_along_the_motion_and_uses_the_gates_filter_settings():
    from policy_helpers import panda_contract

    from robot_rl.bench.replan_clamps import _disagreement, gate_safety_config

    current = _chunk(0.0, np.arange(20.0)[:, None] * [1.0, -1.0])  # moving +1, -1 rad per step
    behind = _chunk(0.02, (np.arange(20.0)[:, None] + 0.5) * [1.0, -1.0])  # step 4 due at 0.12 s: 5.5 not 6
    size, along = _disagreement(current, behind, RATIO - 1)
    assert size == pytest.approx(0.5) and along == pytest.approx(-0.5 * np.sqrt(2))
    assert _disagreement(current, _chunk(1.0, np.zeros((20, 2))), RATIO - 1) is None  # beyond the current chunk
    config = gate_safety_config(panda_contract(policy_hz=2.0))
    assert config.output_latency == 0.04 and config.watchdog_timeout == 1.0  # YAML default, 2 policy periods
