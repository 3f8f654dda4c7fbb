"""``robot-rl hil seed-from-mcap``: a recorded session (an MCAP file written by the project's recorder, real CDR
messages) becomes the transitions the HIL learner's store holds, with the labels the live learner would store,
and a learner started on that store resumes from them. Bad or partial files change nothing and are named."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers_hil import one_torch_thread  # noqa: F401 - a fixture
from policy_helpers import write_joint_target_policy
from rclpy.serialization import serialize_message
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray, String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from robot_rl import topics
from robot_rl.errors import ConfigError, DataError
from robot_rl.hil.online import OnlineConfig, OnlineLearner
from robot_rl.hil.replay import load_transitions
from robot_rl.hil.seed_mcap import SeedConfig, seed_from_mcap
from robot_rl.policy.contract import load_policy
from robot_rl.recording import McapRecorder, RecorderConfig, recorded_topics
from robot_rl.robot.config import load_robot_config

PANDA = load_robot_config("panda")
T0 = 1_700_000_000.0  # s, log time of the first message
HUMAN = (0.505, 1.005)  # s after T0: the human drives
HUMAN_OFFSET = 0.02  # rad on panda_joint1 while the human drives


def _session(path, control: bool = True, commands: bool = True, names: list[str] | None = None) -> None:
    """3 s: joint states at 200 Hz (arm at the default pose, goal there too), commands at 50 Hz (the policy's
    hold, the human's +0.02 rad on joint 1 during HUMAN), success at 1.51 s, a "start" at 2.005 s (if
    ``control``), failure at 2.805 s."""
    recorder = McapRecorder(RecorderConfig(str(path), chunk_bytes=16 * 1024))  # chunks a cut file keeps
    for topic in recorded_topics(images=False):
        recorder.add_topic(topic.topic, topic.type_name)
    out = []
    for k in range(601):
        out.append((k * 0.005, topics.JOINT_STATES, JointState(name=names or list(PANDA.joints),
                                                                position=PANDA.default_pose.tolist())))
    for k in range(150 if commands else 0):
        t = 0.001 + k * 0.02
        q = PANDA.default_pose.copy()
        q[0] += HUMAN_OFFSET if HUMAN[0] - 0.005 <= t < HUMAN[1] - 0.005 else 0.0
        out.append((t, topics.COMMAND, JointTrajectory(joint_names=list(PANDA.joints),
                                                       points=[JointTrajectoryPoint(positions=q.tolist())])))
    out += [(0.0, topics.GOAL, Float64MultiArray(data=PANDA.default_pose.tolist())),
            (0.0, topics.INTERVENTION, Bool(data=False)), (HUMAN[0], topics.INTERVENTION, Bool(data=True)),
            (HUMAN[1], topics.INTERVENTION, Bool(data=False)), (1.51, topics.EPISODE_OUTCOME, Bool(data=True)),
            (2.805, topics.EPISODE_OUTCOME, Bool(data=False))]
    if control:
        out.append((2.005, topics.EPISODE_CONTROL, String(data="start")))
    for t, topic, msg in sorted(out, key=lambda m: m[0]):
        recorder.write(topic, serialize_message(msg), int(round((T0 + t) * 1e9)))
    recorder.close()


@pytest.fixture
def base(tmp_path):
    path = tmp_path / "base.onnx"
    write_joint_target_policy(path)  # 50 Hz, joint_pos_abs, raw = 2 (goal - default)
    return path


def test_a_recorded_session_seeds_the_store_the_learner_resumes_from(tmp_path, base, one_torch_thread):
    _session(tmp_path / "run.mcap")
    out = tmp_path / "hil"
    summary = seed_from_mcap(SeedConfig(tmp_path / "run.mcap", base, out))
    stored = load_transitions(out / "transitions")
    # episode 1: periods 1..75 recorded (period 0 has no command yet), the outcome at period 76 ends it;
    # episode 2: periods 101..140, the failure at period 141 ends it
    assert summary["transitions"] == len(stored["reward"]) == 75 + 40, summary
    assert summary["episodes"] == 2 and summary["successes"] == 1
    assert np.flatnonzero(stored["done"]).tolist() == [74, 114]
    assert stored["reward"][74] == 1.0 and stored["reward"].sum() == 1.0  # success, then failure
    assert np.unique(stored["episode"]).size == 2
    human = stored["intervened"]
    assert human.sum() == summary["intervened_steps"] == 25 and np.flatnonzero(human).tolist() == list(range(25, 50))
    # the human's +0.02 rad is +0.04 raw (scale 1/2) = +0.4 residual at scale 0.1; the policy's hold is 0
    assert np.allclose(stored["action"][human, 0], 0.4, atol=1e-5) and np.allclose(stored["action"][human, 1:], 0)
    assert np.allclose(stored["action"][~human], 0, atol=1e-5) and np.allclose(stored["base_action"], 0, atol=1e-6)
    # a learner on the same out_dir, base and scale takes the store over
    learner = OnlineLearner(load_policy(base), OnlineConfig(out_dir=str(out), min_transitions=2, batch_size=4,
                                                             hidden=8, critics=2))
    try:
        assert learner.stats["resumed_transitions"] == 115 and learner.sampler.n_intervened == 25
    finally:
        learner.close()
    # the same file twice would duplicate: refused, the store unchanged
    with pytest.raises(DataError, match="run.mcap .* was already seeded .* and finished"):
        seed_from_mcap(SeedConfig(tmp_path / "run.mcap", base, out))
    assert len(load_transitions(out / "transitions")["reward"]) == 115
    log = [json.loads(line) for line in (out / "seeded_recordings.jsonl").read_text().splitlines()]
    assert [e["state"] for e in log] == ["started", "done"]


def test_without_start_messages_only_auto_start_records_the_next_episode(tmp_path, base, one_torch_thread):
    _session(tmp_path / "run.mcap", control=False)
    first = seed_from_mcap(SeedConfig(tmp_path / "run.mcap", base, tmp_path / "a"))
    assert first["episodes"] == 1 and first["transitions"] == 75  # resetting after the outcome: nothing recorded
    second = seed_from_mcap(SeedConfig(tmp_path / "run.mcap", base, tmp_path / "b", auto_start=True))
    stored = load_transitions(tmp_path / "b" / "transitions")
    # episode 2 runs from period 77 to the failure at period 141; a third starts at period 142 (no outcome)
    assert second["episodes"] == 2 and np.flatnonzero(stored["done"]).tolist() == [74, 74 + 64]
    assert second["transitions"] == 75 + 64 + 8 and np.unique(stored["episode"]).size == 3


def test_bad_and_partial_recordings_are_named_and_change_nothing(tmp_path, base, one_torch_thread):
    _session(tmp_path / "run.mcap")
    data = (tmp_path / "run.mcap").read_bytes()
    (tmp_path / "cut.mcap").write_bytes(data[: len(data) // 2])
    out = tmp_path / "hil"
    with pytest.raises(DataError, match="cut.mcap is incomplete: .*--allow-truncated"):
        seed_from_mcap(SeedConfig(tmp_path / "cut.mcap", base, out))
    (tmp_path / "text.mcap").write_text("not a recording")
    with pytest.raises(DataError, match="text.mcap is not a readable MCAP file"):
        seed_from_mcap(SeedConfig(tmp_path / "text.mcap", base, out))
    _session(tmp_path / "nocmd.mcap", commands=False)
    with pytest.raises(DataError, match="nocmd.mcap has no /robot_rl/command messages"):
        seed_from_mcap(SeedConfig(tmp_path / "nocmd.mcap", base, out))
    _session(tmp_path / "other.mcap", names=[f"arm_{j}" for j in range(7)])
    with pytest.raises(DataError, match="other.mcap: /joint_states lacks joints .*panda_joint1"):
        seed_from_mcap(SeedConfig(tmp_path / "other.mcap", base, out))
    assert not out.exists()  # nothing was created by the refused files
    partial = seed_from_mcap(SeedConfig(tmp_path / "cut.mcap", base, out, allow_truncated=True))
    assert 0 < partial["transitions"] < 115 and not partial["recording_complete"]
    with pytest.raises(ConfigError, match="transitions were recorded for"):  # another residual scale: refused
        seed_from_mcap(SeedConfig(tmp_path / "run.mcap", base, out, residual_scale=0.2))
    assert len(load_transitions(out / "transitions")["reward"]) == partial["transitions"]
