"""Session recording to MCAP: schemas as ros2 bag writes them, a bringup --record whose per-topic counts match
what was published, and a SIGKILLed recorder whose file still reads up to its last chunk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from mcap.reader import make_reader
from rclpy.qos import DurabilityPolicy, QoSProfile
from rclpy.serialization import serialize_message
from ros_probe import RosProbe, wait_for
from std_msgs.msg import Bool, Float64, Float64MultiArray
from sensor_msgs.msg import Image, JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from robot_rl import topics
from robot_rl.bringup.graph import node_spec
from robot_rl.bringup.runner import GraphRunner
from robot_rl.bringup.session import random_domain_id
from robot_rl.errors import ConfigError, DataError
from robot_rl.recording import McapRecorder, RecorderConfig, read_recording
from robot_rl.recording.schemas import SEPARATOR, schema_text

LATCHED = QoSProfile(depth=100, durability=DurabilityPolicy.TRANSIENT_LOCAL)  # deep: 100 Hz bursts
PUBLISHED = {  # topics no node of a --source none graph publishes: (type, latched)
    topics.GOAL: (Float64MultiArray, True),
    topics.INTERVENTION: (Bool, True),
    topics.EPISODE_OUTCOME: (Bool, False),
    topics.OBJECT_POSE: (PoseStamped, False),
    topics.POLICY_COMMAND: (JointTrajectory, False),
    topics.TELEOP_COMMAND: (JointTrajectory, False),
    topics.POLICY_LATENCY: (Float64, False),
}


def test_schema_text_nests_definitions_like_ros2_bag():
    text = schema_text("diagnostic_msgs/msg/DiagnosticArray")
    assert text.startswith("# This message is used to send diagnostic information")
    for nested in ("std_msgs/Header", "builtin_interfaces/Time", "diagnostic_msgs/DiagnosticStatus",
                   "diagnostic_msgs/KeyValue"):
        assert f"{SEPARATOR}\nMSG: {nested}\n" in text
    with pytest.raises(ConfigError, match="no message definition nosuch_msgs/msg/Foo"):
        schema_text("nosuch_msgs/msg/Foo")


def test_recorder_refuses_to_overwrite_and_reader_names_bad_files(tmp_path):
    (tmp_path / "old.mcap").write_bytes(b"x")
    with pytest.raises(ConfigError, match="exists"):
        McapRecorder(RecorderConfig(str(tmp_path / "old.mcap")))
    with pytest.raises(DataError, match="old.mcap is not a readable MCAP file"):
        read_recording(tmp_path / "old.mcap")
    with pytest.raises(DataError, match="does not exist"):
        read_recording(tmp_path / "none.mcap")


def _publish(probe: RosProbe, n: int) -> None:
    """Publish ``n`` messages on every topic of PUBLISHED, once the recorder subscribes to each."""
    pubs = {topic: probe.node.create_publisher(kind, topic, LATCHED if latched else 100)
            for topic, (kind, latched) in PUBLISHED.items()}
    for topic in pubs:
        wait_for(lambda t=topic: "recorder" in {i.node_name for i in probe.node.get_subscriptions_info_by_topic(t)},
                 timeout=60)
    time.sleep(1.0)  # discovery of both ends (the recorder's reader matching our writer) settles
    for i in range(n):
        for topic, pub in pubs.items():
            msg = PUBLISHED[topic][0]()
            if topic == topics.GOAL:
                msg.data = [0.5, 0.0, float(i)]
            pub.publish(msg)
        time.sleep(0.01)


def _teleop_session(probe: RosProbe, published: Counter) -> None:
    """A scripted human drives over the mux's topics: two episodes, each a takeover moving panda_joint1 by
    0.25 rad at 25 Hz, then an outcome (success, then failure)."""
    states = probe.collect(JointState, topics.JOINT_STATES)
    wait_for(lambda: len(states) > 0, timeout=30)
    names = list(states[-1][1].name[:7])
    command = probe.node.create_publisher(JointTrajectory, topics.COMMAND, 100)
    wait_for(lambda: "recorder" in {i.node_name for i in probe.node.get_subscriptions_info_by_topic(topics.COMMAND)},
             timeout=60)
    pubs = {topics.INTERVENTION: probe.node.create_publisher(Bool, topics.INTERVENTION, LATCHED),
            topics.EPISODE_OUTCOME: probe.node.create_publisher(Bool, topics.EPISODE_OUTCOME, 100)}
    time.sleep(1.0)
    for success in (True, False):
        q0 = list(states[-1][1].position[:7])
        pubs[topics.INTERVENTION].publish(Bool(data=True))
        for k in range(1, 41):
            point = JointTrajectoryPoint(positions=[q0[0] + 0.25 * k / 40] + q0[1:])
            point.time_from_start.nanosec = 100_000_000
            command.publish(JointTrajectory(joint_names=names, points=[point]))  # zero stamp: start on receipt
            time.sleep(0.04)
        pubs[topics.INTERVENTION].publish(Bool(data=False))
        time.sleep(0.5)
        pubs[topics.EPISODE_OUTCOME].publish(Bool(data=success))
        published.update({topics.COMMAND: 40, topics.INTERVENTION: 2, topics.EPISODE_OUTCOME: 1})
        time.sleep(0.3)


@pytest.fixture(scope="module")
def recorded_session(tmp_path_factory):
    """``robot-rl bringup --source none --record``: a test participant publishes N messages on each of
    PUBLISHED, then drives a teleop session; returns (path, published counts per topic, bringup output)."""
    tmp = tmp_path_factory.mktemp("session")
    path, n, published = tmp / "run.mcap", 25, Counter()
    ros_env = {"ROS_DOMAIN_ID": random_domain_id(), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in ros_env.items():
            mp.setenv(key, value)
        proc = subprocess.Popen([sys.executable, "-m", "robot_rl.cli", "bringup", "--source", "none",
                                 "--record", str(path), "--log-dir", str(tmp / "logs")],
                                env={**os.environ, **ros_env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        try:
            with RosProbe() as probe:
                diagnostics = probe.collect(DiagnosticArray, topics.DIAGNOSTICS)
                wait_for(lambda: {"control_node", "safety_filter"} <= {s.name for _, m in diagnostics
                                                                       for s in m.status if s.message != "starting"},
                         timeout=180)  # every node runs (a SIGINT while one starts up is no clean stop; a filter
                # still starting, compiling its kernels on a loaded machine, would drop the human's commands)
                _publish(probe, n)
                published.update({topic: n for topic in PUBLISHED})
                _teleop_session(probe, published)
                time.sleep(1.0)
        finally:
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=90)
    return path, published, proc.returncode, out


@pytest.mark.ros
def test_bringup_record_counts_every_published_message(recorded_session):
    path, published, returncode, out = recorded_session
    assert returncode == 0, out
    recording = read_recording(path)
    assert recording.complete, recording.problem
    counts = recording.counts()
    assert {topic: counts[topic] for topic in published} == dict(published)
    assert counts[topics.JOINT_STATES] > 100 and counts[topics.DIAGNOSTICS] > 0, counts
    assert counts[topics.SAFE_COMMAND] > 0, counts  # the safety filter passed the human's commands on
    with open(path, "rb") as f:  # the closed file's summary (what Foxglove and ros2 bag index by) agrees
        summary = make_reader(f).get_summary()
    assert {summary.channels[c].topic: k for c, k in summary.statistics.channel_message_counts.items()} == \
        {t: k for t, k in counts.items()}
    assert {s.encoding for s in summary.schemas.values()} == {"ros2msg"}
    assert {c.message_encoding for c in summary.channels.values()} == {"cdr"}
    goals = [msg.data for _, msg in recording.decoded(topics.GOAL)]
    assert goals == [[0.5, 0.0, float(i)] for i in range(25)]
    _other_readers_agree(path, counts, goals)
    states = recording.decoded(topics.JOINT_STATES)
    assert list(states[-1][1].name)[:1] == ["panda_joint1"]


def _other_readers_agree(path, counts: Counter, goals: list) -> None:
    """The file read as Foxglove or ros2 bag would: mcap's own indexed reader decoding with mcap_ros2, and
    the independent ``rosbags`` reader (rosbag2's MCAP storage layout, QoS metadata, its own CDR decoder
    built from the file's schema text): same messages per topic, same goals."""
    from mcap_ros2.decoder import DecoderFactory
    from rosbags.highlevel import AnyReader

    with open(path, "rb") as f:
        decoded = Counter(channel.topic for _, channel, _, _ in
                          make_reader(f, decoder_factories=[DecoderFactory()]).iter_decoded_messages())
    assert decoded == counts
    with AnyReader([path]) as reader:
        assert {c.topic: c.msgcount for c in reader.connections if c.msgcount} == dict(counts)  # + silent topics
        latched = {c.topic for c in reader.connections
                   if c.ext.offered_qos_profiles[0].durability.name == "TRANSIENT_LOCAL"}
        assert {topics.GOAL, topics.INTERVENTION} <= latched
        by_topic = Counter()
        for connection, _, raw in reader.messages():
            message = reader.deserialize(raw, connection.msgtype)  # every message, every type
            by_topic[connection.topic] += 1
            if connection.topic == topics.GOAL:
                assert list(message.data) == goals[by_topic[topics.GOAL] - 1]
    assert by_topic == counts


@pytest.mark.ros
def _cli(argv: list[str]) -> int:
    """Run ``robot-rl ARGV`` in this process (no second torch import); its exit code."""
    from robot_rl.cli import main

    with pytest.raises(SystemExit) as done:
        main(argv)
    return done.value.code


def test_dataset_from_mcap_turns_the_teleop_session_into_demos_train_bc_accepts(recorded_session, tmp_path, capsys):
    from robot_rl_sim.dataset import open_dataset
    from robot_rl_sim.tasks import get_task

    path = recorded_session[0]
    out = tmp_path / "demos"
    assert _cli(["dataset", "from-mcap", str(path), "--out", str(out), "--task", "panda-reach"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["episodes"] == 2 and summary["recording_complete"]
    spec = get_task("panda-reach")
    demos = open_dataset(out, spec=spec)
    first, second = demos.episode(0), demos.episode(1)
    assert first.success and not second.success  # the outcomes the human gave
    for episode in (first, second):  # 40 commands at 25 Hz: >= 1.6 s of takeover (longer under load), 10 Hz
        assert 12 <= len(episode) <= 60, len(episode)
        assert episode.info["kind"] == "human" and episode.info["intervention_steps"] == len(episode)
        joint1 = episode.actions[:, 0]
        assert np.all(np.diff(joint1) >= 0) and 0.15 < joint1[-1] - joint1[0] < 0.25  # the ramp (a step may
        # repeat the previous command when the loaded machine delays the scripted human)
        # what the policy would have observed: the recorded joint states, the recorded goal
        assert np.allclose(episode.obs["goal"][-1], [0.5, 0.0, 24.0])
        moved = episode.obs["joint_pos"][-1, 0] - episode.obs["joint_pos"][0, 0]
        assert 0.05 < moved < 0.3, moved  # the recorded arm followed the human (lagging: jerk-limited tracking)
    from robot_rl_sim.dataset.lerobot import LeRobotExportConfig, export_lerobot

    exported = export_lerobot(LeRobotExportConfig(dataset=out, out=tmp_path / "lerobot"))  # and on to LeRobot
    assert (tmp_path / "lerobot" / "meta" / "info.json").is_file(), exported
    assert _cli(["train", "bc", "--task", "panda-reach", "--dataset", str(out), "--out", str(tmp_path / "run"),
                 "--steps", "2", "--batch-size", "4", "--horizon", "4", "--n-action-steps", "2", "--obs-history", "1",
                 "--threads", "1", "--warmup", "1", "--checkpoint-every", "2", "--log-every", "1"]) == 0
    assert (tmp_path / "run" / "checkpoint.pt").is_file()


@pytest.mark.ros
def test_hil_seed_from_mcap_turns_the_teleop_session_into_learner_transitions(recorded_session, tmp_path, capsys):
    from robot_rl.hil.replay import load_transitions

    out = tmp_path / "hil"
    base = os.path.join(os.path.dirname(__file__), "data", "panda_reach_small", "policy.onnx")  # 10 Hz panda-reach
    # no "start" in this session: each episode follows the last outcome; the control node holds the human's last
    # target through the 0.5 s pause before the outcome: a 2 s command timeout labels those steps with it
    assert _cli(["hil", "seed-from-mcap", str(recorded_session[0]), "--base", base, "--out-dir", str(out),
                 "--auto-start", "--command-timeout", "2.0"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    stored = load_transitions(out / "transitions")
    assert summary["episodes"] == 2 and summary["successes"] == 1, summary
    assert len(stored["reward"]) == summary["transitions"] == summary["store_transitions"]
    assert stored["reward"][stored["done"]].tolist() == [1.0, 0.0]
    human = stored["intervened"]  # 40 commands at 25 Hz per takeover: >= 1.6 s at 10 Hz (longer under load)
    assert 20 <= human.sum() <= 2 * 60, human.sum()
    assert np.abs(stored["action"][human]).max() > 0.1  # the human's corrections, in residual units


@pytest.mark.ros
def test_a_sigkilled_recorder_leaves_a_file_readable_to_its_last_chunk(tmp_path, ros_env):
    path, n = tmp_path / "killed.mcap", 40
    spec = node_spec("recorder", {"path": str(path), "flush_period_s": 0.1, "image_period_s": 0.5})
    with GraphRunner([spec], tmp_path, env=ros_env) as graph, RosProbe() as probe:
        _publish(probe, n)
        images = probe.node.create_publisher(Image, topics.CAMERA_COLOR, 100)
        wait_for(lambda: images.get_subscription_count() > 0, timeout=60)
        started = time.monotonic()
        for i in range(30):  # 1.5 s of 20 Hz images: at most one per 0.5 s is recorded
            images.publish(Image(height=2, width=2, encoding="rgb8", step=6, data=bytes(range(12))))
            time.sleep(0.05)
        image_seconds = time.monotonic() - started
        time.sleep(1.5)  # > flush_period_s: every message is in a written chunk
        graph.kill("recorder", signal.SIGKILL)
        wait_for(lambda: graph.exited() != {}, timeout=30)
    recording = read_recording(path)
    assert not recording.complete and "footer" in recording.problem
    counts = recording.counts()
    assert {topic: counts[topic] for topic in PUBLISHED} == {topic: n for topic in PUBLISHED}
    assert [m.data for _, m in recording.decoded(topics.GOAL)][-1] == [0.5, 0.0, float(n - 1)]
    image_times = [t * 1e-9 for t, _ in recording.decoded(topics.CAMERA_COLOR)]
    assert 2 <= len(image_times) <= image_seconds / 0.5 + 1 and min(np.diff(image_times)) >= 0.5, image_times
    assert bytes(recording.decoded(topics.CAMERA_COLOR)[0][1].data) == bytes(range(12))
    from robot_rl_sim.dataset.from_mcap import FromMcapConfig, from_mcap

    with pytest.raises(DataError, match="killed.mcap is incomplete: the file ends without its footer"):
        from_mcap(FromMcapConfig(path, tmp_path / "demos", "panda-reach"))
    with pytest.raises(DataError, match="has no /joint_states messages"):
        from_mcap(FromMcapConfig(path, tmp_path / "demos", "panda-reach", allow_truncated=True))
    # a file cut inside a chunk reads up to the chunk before
    data = path.read_bytes()
    (tmp_path / "cut.mcap").write_bytes(data[: len(data) - 7])
    cut = read_recording(tmp_path / "cut.mcap")
    assert not cut.complete and len(cut.messages) <= len(recording.messages)


def test_serialized_messages_round_trip_through_a_closed_file(tmp_path):
    recorder = McapRecorder(RecorderConfig(str(tmp_path / "r.mcap")))
    recorder.add_topic(topics.EPISODE_OUTCOME, "std_msgs/msg/Bool")
    for i in range(3):
        recorder.write(topics.EPISODE_OUTCOME, serialize_message(Bool(data=i == 2)), 1_000 + i)
    recorder.close()
    recording = read_recording(tmp_path / "r.mcap")
    assert recording.complete
    assert [(t, m.data) for t, m in recording.decoded(topics.EPISODE_OUTCOME)] == [(1000, False), (1001, False),
                                                                                   (1002, True)]
