"""Seed the HIL learner's transition store from a recorded session (``robot-rl hil seed-from-mcap``; no rclpy).

A session recorded with ``robot-rl bringup --record`` (docs/recording.md) is replayed through the HIL learner
node's own loop, offline: once per base-policy period (the contract's rate) on the recorder's log times,

- the episode phase comes from :class:`robot_rl.hil.episodes.EpisodeControl` fed with the recorded
  /robot_rl/hil/episode_outcome (success / failure) and /robot_rl/hil/episode_control ("start" / "reset")
  messages in order; with ``auto_start`` the next episode starts at the period after an outcome or a
  reset (for recordings without episode-control messages);
- the observation is the newest /joint_states, goal and object pose at the period; periods whose joint state
  is older than ``state_timeout_s`` are skipped, as the node skips them;
- the executed target is the newest /robot_rl/command (the mux output) evaluated one period later, None when
  that command is older than ``command_timeout_s`` (the step is then not recorded, as in the node);
  the executed gripper state is the newest /robot_rl/gripper command (nearer closed or open), if recorded;
- intervened is the newest /robot_rl/hil/intervention value.

A period the learner cannot take (no goal received yet, say) is skipped and counted by reason, as the node
logs and skips it.

Each period goes to :meth:`robot_rl.hil.online.OnlineLearner.step` (no learning updates), so the transitions
(base action from the base ONNX, residual labels, rewards, terminal flags) are the ones the live learner
would have stored, in ``out_dir/transitions``: a learner started later on the same ``out_dir``, base and
residual scale resumes from them.

No data loss or duplication: the whole recording is read and checked before the store is opened (a bad or
partial file changes nothing); a store made for another base or scale is refused by the learner; each
seeded file's sha256 is logged in ``out_dir/seeded_recordings.jsonl`` and seeding the same file again is
refused (also after an interrupted seeding, which the log names).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robot_rl import topics
from robot_rl.errors import ConfigError, DataError, RobotRLError
from robot_rl.hil.episodes import RESET, START, EpisodeControl
from robot_rl.hil.labels import command_target
from robot_rl.policy.observation import ObservationInputs
from robot_rl.recording import Recording, read_recording
from robot_rl.recording.streams import TopicStream, observation_inputs, trajectory_command

SEED_LOG = "seeded_recordings.jsonl"
_TOPICS = (topics.JOINT_STATES, topics.COMMAND, topics.GOAL, topics.OBJECT_POSE, topics.GRIPPER,
           topics.INTERVENTION, topics.EPISODE_OUTCOME, topics.EPISODE_CONTROL)


@dataclass(frozen=True)
class SeedConfig:
    """Settings of one seeding.

    Attributes:
        recording: the MCAP file.
        base_policy: the base ONNX policy the live learner runs on (contract-carrying).
        out_dir: the learner's directory (its ``transitions/`` store is created or appended to).
        robot: shipped robot name or robot YAML the base is checked against.
        residual_scale: raw action units per unit residual, as the learner's (the store records it).
        auto_start: start the next episode at the period after each outcome or reset.
        allow_truncated: accept a recording whose recorder was killed (read to its last whole chunk).
        state_timeout_s, command_timeout_s: the learner node's freshness limits, s.
        seed: the learner's seed (the base's diffusion noise).
    """

    recording: Path
    base_policy: Path
    out_dir: Path
    robot: str = "panda"
    residual_scale: float = 0.1
    auto_start: bool = False
    allow_truncated: bool = False
    state_timeout_s: float = 0.5
    command_timeout_s: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("state_timeout_s", "command_timeout_s"):
            if not (np.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ConfigError(f"SeedConfig.{name} must be finite and > 0 s, got {getattr(self, name)}")


@dataclass(frozen=True)
class Period:
    """One replayed policy period: what the learner node's timer would have seen.

    Attributes:
        inputs: the observation's inputs (stamp: the period's log time, s).
        executed: (n,) rad executed targets in action joint order, or None (not recorded).
        intervened: a human drove.
        gripper_closed: the executed gripper state, None if unknown.
        start: a new episode starts here; end: how the episode ends here (success, failure, time_limit, reset)
            or None; record: the period is a step of a running episode.
        reward, terminal: of an ending period.
    """

    inputs: ObservationInputs
    executed: np.ndarray | None
    intervened: bool
    gripper_closed: bool | None
    start: bool
    end: str | None
    record: bool
    reward: float
    terminal: bool


def _events(streams: dict[str, TopicStream]) -> list[tuple[float, str]]:
    """(log time s, event) of every outcome and episode-control message, in time order."""
    out = [(t, "success" if m.data else "failure") for t, m in zip(streams[topics.EPISODE_OUTCOME].times,
                                                                    streams[topics.EPISODE_OUTCOME].messages)]
    out += [(t, m.data.strip()) for t, m in zip(streams[topics.EPISODE_CONTROL].times,
                                                streams[topics.EPISODE_CONTROL].messages)
            if m.data.strip() in (START, RESET)]
    return sorted(out, key=lambda e: e[0])


def _executed(stream: TopicStream, names: tuple[str, ...], t: float, deadline: float, timeout: float,
              path: Path) -> np.ndarray | None:
    """Targets (n,) rad of the newest command at ``deadline`` s; None without one fresher than ``timeout``."""
    i = stream.index(t)
    if i < 0 or t - stream.times[i] > timeout:
        return None
    try:
        return command_target(trajectory_command(stream.messages[i], stream.times[i]), names, deadline)
    except RobotRLError as exc:
        raise DataError(f"recording {path}: the command received at t={stream.times[i]:.3f} s: {exc}") from exc


def _gripper_closed(stream: TopicStream, gripper, t: float) -> bool | None:
    msg = stream.at(t)
    if msg is None or gripper is None:
        return None
    return abs(msg.data - gripper.closed_position) < abs(msg.data - gripper.open_position)


def replay_periods(recording: Recording, contract, gripper, config: SeedConfig) -> list[Period]:
    """The session as the learner node's periods (see the module docstring); nothing is written.

    Args:
        contract: the base policy's contract (rate, joints); gripper: the robot's GripperConfig or None.

    Raises:
        DataError: naming the file: no joint states or commands, joints the base needs missing, a malformed
            command.
    """
    streams = {topic: TopicStream(recording, topic) for topic in _TOPICS}
    for topic in (topics.JOINT_STATES, topics.COMMAND):
        if not streams[topic].times:
            raise DataError(f"recording {recording.path} has no {topic} messages: nothing to seed from")
    recorded = set(streams[topics.JOINT_STATES].messages[0].name)
    missing = [j for j in dict.fromkeys(contract.obs_joint_names + contract.action_joint_names) if j not in recorded]
    if missing:
        raise DataError(f"recording {recording.path}: /joint_states lacks joints {missing} the base policy needs")
    period, names = contract.timing.period, tuple(contract.action_joint_names)
    control, events = EpisodeControl(), _events(streams)
    states = streams[topics.JOINT_STATES]
    out, e = [], 0
    for k in range(int((states.times[-1] - states.times[0]) / period + 1e-6) + 1):
        t = states.times[0] + k * period
        while e < len(events) and events[e][0] <= t:
            _apply(control, events[e][1], config.auto_start)
            e += 1
        if t - states.times[states.index(t)] > config.state_timeout_s:
            continue  # the node takes no step without a fresh joint state
        tick = control.tick()
        executed = _executed(streams[topics.COMMAND], names, t, t + period, config.command_timeout_s,
                             recording.path) if tick.record else None
        intervention = streams[topics.INTERVENTION].at(t)
        out.append(Period(observation_inputs(streams, t), executed, bool(intervention and intervention.data),
                          _gripper_closed(streams[topics.GRIPPER], gripper, t + period), tick.start, tick.end,
                          tick.record, tick.reward, tick.terminal))
    return out


def _apply(control: EpisodeControl, event: str, auto_start: bool) -> None:
    if event == START:
        control.request_start()
        return
    control.request_reset() if event == RESET else control.outcome(event == "success")
    if auto_start:
        control.request_start()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _log(out_dir: Path, entry: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / SEED_LOG, "a") as f:
        f.write(json.dumps(entry) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _check_not_seeded(out_dir: Path, sha256: str, recording: Path) -> None:
    path = out_dir / SEED_LOG
    lines = path.read_text(errors="replace").splitlines() if path.is_file() else []
    states = [e.get("state") for e in map(_json_or_none, lines) if e and e.get("sha256") == sha256]
    if states:
        how = "and finished" if "done" in states else "but did not finish (interrupted: its transitions are partial)"
        raise DataError(f"recording {recording} (sha256 {sha256[:12]}...) was already seeded into {out_dir} {how}; "
                        f"see {path}. Seeding it again would duplicate its transitions")


def _json_or_none(line: str) -> dict | None:
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        return None
    return entry if isinstance(entry, dict) else None


def seed_from_mcap(config: SeedConfig) -> dict:
    """Replay the recording into ``out_dir/transitions``; returns a summary (transitions, episodes, successes,
    intervened steps, periods, periods skipped by reason, the store's total).

    Raises:
        DataError: naming the file and the problem: unreadable, incomplete (unless allowed), topics or joints
            missing, a malformed command, nothing to store, or already seeded.
        ConfigError: the store holds transitions of another base or residual scale; a bad base policy.
    """
    from robot_rl.hil.online import OnlineConfig, OnlineLearner  # torch: imported on use
    from robot_rl.policy.contract import load_policy
    from robot_rl.robot.model import load_robot_model

    recording = read_recording(config.recording)
    if not recording.complete and not config.allow_truncated:
        raise DataError(f"recording {config.recording} is incomplete: {recording.problem}; "
                        "pass --allow-truncated to use it up to its last chunk")
    robot = load_robot_model(config.robot)
    base = load_policy(config.base_policy, robot=robot)
    periods = replay_periods(recording, base.contract, robot.config.gripper, config)
    steps = sum(p.executed is not None for p in periods)
    if steps < 2:
        raise DataError(f"recording {config.recording}: {steps} recordable step(s) (a running episode with a fresh "
                        f"{topics.COMMAND}); nothing to seed" + ("" if config.auto_start else
                                                                 " (pass --auto-start if the recording has no "
                                                                 f"{topics.EPISODE_CONTROL} 'start' messages)"))
    sha = _sha256(config.recording)
    _check_not_seeded(config.out_dir, sha, config.recording)
    core = OnlineLearner(base, OnlineConfig(out_dir=str(config.out_dir), residual_scale=config.residual_scale,
                                            seed=config.seed), robot_model=robot)
    entry = {"recording": str(config.recording), "sha256": sha, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    _log(config.out_dir, {**entry, "state": "started"})
    try:
        skipped = _feed(core, periods)
    finally:
        core.close()
    stats = dict(core.stats)
    _log(config.out_dir, {**entry, "state": "done", "transitions": stats["transitions"]})
    return {"transitions": stats["transitions"], "episodes": stats["episodes"], "successes": stats["successes"],
            "intervened_steps": stats["intervened_steps"], "periods": len(periods),
            "recorded_periods": sum(p.record for p in periods), "store_transitions": len(core.store.load()["reward"]),
            "skipped_periods": skipped, "recording_complete": recording.complete, "store": str(core.store.root)}


def _feed(core, periods: list[Period]) -> dict[str, int]:
    """The learner node's tick for each period (robot_rl.nodes.hil_learner_node._tick), without learning; a
    period the learner cannot take (e.g. no goal received yet) is skipped, as the node skips it. Returns the
    skipped periods by reason."""
    skipped: dict[str, int] = {}
    for p in periods:
        if p.start:
            core.end_episode()
        try:
            if p.end is not None:
                core.step(p.inputs, None, p.intervened, reward=p.reward, done=p.terminal)
            elif p.record:
                core.step(p.inputs, p.executed, p.intervened, gripper_closed=p.gripper_closed)
        except RobotRLError as exc:
            skipped[str(exc)] = skipped.get(str(exc), 0) + 1
        if p.end is not None:
            core.end_episode()
    return skipped
