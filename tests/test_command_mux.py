"""CommandMux: every transition between the policy, the human, and the human gone stale (times in s)."""

from __future__ import annotations

import dataclasses

import pytest

from robot_rl.errors import ConfigError
from robot_rl.teleop.mux import CommandMux, MuxConfig, MuxCounts, MuxState

TIMEOUT = 0.2


@pytest.fixture
def mux() -> CommandMux:
    return CommandMux(MuxConfig(teleop_timeout_s=TIMEOUT))


def test_not_intervening_the_policy_passes_and_teleop_does_not(mux):
    assert mux.state(0.0) == MuxState.POLICY and not mux.intervening
    assert mux.policy(1.0) and mux.policy(1.1)
    assert not mux.teleop(1.1, 1.1)
    assert mux.state(1.2) == MuxState.POLICY
    assert mux.counts == MuxCounts(policy_forwarded=2, teleop_dropped=1)


def test_intervention_start_drops_the_policy_and_forwards_fresh_teleop(mux):
    assert mux.policy(0.9)
    assert mux.set_intervening(True, 1.0)
    assert mux.state(1.0) == MuxState.TELEOP  # the human's first chunk has TIMEOUT to arrive
    assert not mux.policy(1.01)
    assert mux.teleop(1.02, 1.03)
    assert not mux.policy(1.04)
    assert mux.teleop(1.05, 1.06) and mux.state(1.06) == MuxState.TELEOP
    assert mux.counts == MuxCounts(interventions=1, policy_forwarded=1, policy_dropped=2, teleop_forwarded=2)


def test_repeated_flags_change_nothing(mux):
    assert not mux.set_intervening(False, 0.5)
    assert mux.set_intervening(True, 1.0)
    assert not mux.set_intervening(True, 1.5)  # the teleop node re-publishes its flag periodically
    assert mux.counts.interventions == 1


def test_stale_teleop_forwards_nothing_and_never_falls_back_to_the_policy(mux):
    mux.set_intervening(True, 1.0)
    assert mux.teleop(1.0, 1.01)
    assert mux.state(1.01 + TIMEOUT) == MuxState.TELEOP
    assert mux.state(1.02 + TIMEOUT) == MuxState.TELEOP_STALE  # no chunk for longer than the timeout
    assert not mux.policy(2.0)  # still the human's turn: the safety filter's watchdog brakes
    assert mux.state(5.0) == MuxState.TELEOP_STALE and mux.intervening
    assert mux.teleop(5.0, 5.01)  # the human's commands come back
    assert mux.state(5.01) == MuxState.TELEOP
    assert mux.counts.policy_forwarded == 0 and mux.counts.policy_dropped == 1


def test_no_teleop_chunk_at_all_after_intervention_start_goes_stale(mux):
    mux.set_intervening(True, 1.0)
    assert mux.state(1.0 + TIMEOUT) == MuxState.TELEOP
    assert mux.state(1.01 + TIMEOUT) == MuxState.TELEOP_STALE
    assert not mux.policy(1.5)


def test_a_teleop_chunk_stamped_too_long_before_receipt_is_not_forwarded(mux):
    mux.set_intervening(True, 1.0)
    assert not mux.teleop(1.0, 1.01 + TIMEOUT)  # delayed in transit
    assert mux.teleop(1.0, 0.99 + TIMEOUT)
    assert mux.teleop(0.0, 5.0)  # no stamp: "now"
    assert mux.counts.teleop_stale == 1 and mux.counts.teleop_forwarded == 2


def test_stale_chunks_do_not_keep_the_human_fresh(mux):
    mux.set_intervening(True, 1.0)
    for t in (1.1, 1.2, 1.3):
        assert not mux.teleop(t - 1.0, t)
    assert mux.state(1.3) == MuxState.TELEOP_STALE


def test_intervention_end_resumes_the_policy_with_its_next_chunk(mux):
    mux.set_intervening(True, 1.0)
    assert mux.teleop(1.1, 1.1)
    assert not mux.policy(1.15)
    assert mux.set_intervening(False, 1.2)
    assert mux.state(1.2) == MuxState.POLICY
    assert not mux.teleop(1.2, 1.21)  # the human's last chunks in flight are dropped
    assert mux.policy(1.25)
    assert mux.counts == MuxCounts(interventions=1, policy_forwarded=1, policy_dropped=1, teleop_forwarded=1,
                                   teleop_dropped=1)


def test_intervention_end_while_stale_resumes_the_policy(mux):
    mux.set_intervening(True, 1.0)
    assert mux.state(2.0) == MuxState.TELEOP_STALE
    mux.set_intervening(False, 2.0)
    assert mux.state(2.0) == MuxState.POLICY and mux.policy(2.01)


def test_a_second_intervention_counts_and_starts_fresh(mux):
    mux.set_intervening(True, 1.0)
    assert mux.teleop(1.0, 1.0)
    mux.set_intervening(False, 1.1)
    assert mux.set_intervening(True, 3.0)
    assert mux.counts.interventions == 2
    assert mux.state(2.99 + TIMEOUT) == MuxState.TELEOP  # grace from the new start, not the old chunk
    assert mux.state(3.01 + TIMEOUT) == MuxState.TELEOP_STALE


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf"), 11.0, True, "0.2"])
def test_config_rejects_bad_timeouts(value):
    with pytest.raises(ConfigError, match="teleop_timeout_s"):
        MuxConfig(teleop_timeout_s=value)


def test_counts_have_the_diagnostics_keys():
    assert [f.name for f in dataclasses.fields(MuxCounts)] == [
        "interventions", "policy_forwarded", "policy_dropped", "teleop_forwarded", "teleop_dropped", "teleop_stale"]
