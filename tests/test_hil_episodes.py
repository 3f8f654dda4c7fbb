"""Episode control (robot_rl.hil.episodes) and the residual's bytes on the wire (robot_rl.hil.transfer)."""

from __future__ import annotations

import pytest

from robot_rl.errors import ConfigError
from robot_rl.hil.episodes import EpisodeConfig, EpisodeControl, Phase
from robot_rl.hil.transfer import ResidualPayload
from robot_rl.teleop.keyboard import KeyboardConfig, KeyboardTeleop


def _ticks(control: EpisodeControl, n: int) -> list:
    return [control.tick() for _ in range(n)]


def test_an_outcome_ends_the_episode_and_nothing_is_recorded_until_the_next_start():
    control = EpisodeControl()
    assert all(t.record for t in _ticks(control, 3)) and control.steps == 3
    control.outcome(True)
    end = control.tick()
    assert (end.record, end.end, end.terminal, end.reward) == (False, "success", True, 1.0)
    control.outcome(False)  # the episode is over: ignored
    resetting = _ticks(control, 5)
    assert not any(t.record or t.end for t in resetting) and control.phase is Phase.RESETTING
    control.request_start()
    start = control.tick()
    assert start.start and start.record and control.steps == 1 and control.episode == 2
    control.request_start()  # already running: ignored
    control.outcome(False)
    fail = control.tick()
    assert (fail.end, fail.terminal, fail.reward) == ("failure", True, 0.0)
    assert control.counts == {"success": 1, "failure": 1, "time_limit": 0, "reset": 0, "start": 1,
                              "ignored_failure": 1, "ignored_start": 1}


def test_time_limit_and_reset_end_the_episode_without_a_terminal_state():
    control = EpisodeControl(EpisodeConfig(time_limit_steps=4))
    ticks = _ticks(control, 6)
    assert [t.record for t in ticks] == [True] * 4 + [False, False]
    assert ticks[4].end == "time_limit" and not ticks[4].terminal and ticks[4].reward == 0.0
    control.request_start()
    control.tick()
    control.request_reset()
    reset = control.tick()
    assert reset.end == "reset" and not reset.terminal and control.phase is Phase.RESETTING
    control.request_start()
    control.request_reset()  # start, then reset, in one period: the episode starts and ends at once
    both = control.tick()
    assert both.start and both.end == "reset" and not both.record


def test_waiting_for_the_first_start_and_the_classifier_ending_an_episode():
    control = EpisodeControl(EpisodeConfig(start_running=False))
    assert control.episode == 0 and not control.tick().record
    control.request_start()
    assert control.tick().start and control.episode == 1
    control.ended_by_reward()
    assert control.phase is Phase.RESETTING and control.counts["success"] == 1 and not control.tick().record
    with pytest.raises(ConfigError, match="time_limit_steps"):
        EpisodeConfig(time_limit_steps=-1)


def test_residual_payload_round_trip_and_refusals(tmp_path):
    source = tmp_path / "residual_0003.onnx"
    source.write_bytes(b"onnx bytes" * 100)
    payload = ResidualPayload.from_file(source)
    received = ResidualPayload.parse(payload.header, payload.data)
    written = received.write(tmp_path / "other_machine")
    assert written.read_bytes() == source.read_bytes() and written.name.endswith("_residual_0003.onnx")
    corrupted = bytearray(payload.data)
    corrupted[7] ^= 1
    with pytest.raises(ConfigError, match="residual_0003.onnx: sha256 mismatch"):
        ResidualPayload.parse(payload.header, bytes(corrupted)).write(tmp_path / "x")
    with pytest.raises(ConfigError, match="sha256 mismatch"):
        ResidualPayload.parse(payload.header, payload.data[:-1]).checked()  # truncated
    with pytest.raises(ConfigError, match="not '<name>.onnx sha256=<64 hex>'"):
        ResidualPayload.parse("../../etc/passwd sha256=00", payload.data)
    with pytest.raises(ConfigError, match="received no bytes"):
        ResidualPayload.parse(payload.header, b"").checked()
    assert not (tmp_path / "x").exists()


def test_operator_keys_start_and_reset_episodes():
    events = KeyboardTeleop().press("gexy", 0.0)
    assert events.controls == ("start", "reset") and events.outcomes == (True,)
    with pytest.raises(ConfigError, match=r"keys \['g'\] are bound twice"):
        KeyboardConfig(stop_key="g")
