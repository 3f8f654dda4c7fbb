"""``robot-rl dataset from-mcap``: a recorded session (docs/recording.md) -> a demonstration dataset
(docs/dataset.md) that ``robot-rl train bc`` accepts.

The session is resampled at the task's policy rate (:mod:`robot_rl_sim.dataset.session`) and cut into
episodes at every /robot_rl/hil/episode_outcome (the human's verdict: success or failure). Then either

- ``segments="human"`` (default): every maximal run of steps the human drove (/robot_rl/hil/intervention
  True) is one demonstration; or
- ``segments="episodes"``: every whole episode, human and policy steps alike.

Each stored episode's ``success`` (and ``reward``, 1.0) is set on its last step when it is a whole episode
judged a success, or the human's last takeover in one (the segment that finished the task); the task's dense reward needs simulator quantities and is not reconstructed (0
elsewhere). Steps after the last outcome belong to no judged episode and are not stored. The index line of
each episode records its source (``recording``, ``kind``, ``episode``, ``start_time``, ``intervention_steps``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robot_rl import topics
from robot_rl.errors import ConfigError, DataError
from robot_rl.recording import read_recording
from robot_rl_sim.dataset.format import Episode
from robot_rl_sim.dataset.session import SessionStep, session_steps
from robot_rl_sim.dataset.storage import DemoWriter
from robot_rl_sim.tasks import get_task

SEGMENTS = ("human", "episodes")


@dataclass(frozen=True)
class FromMcapConfig:
    """Settings of a conversion.

    Attributes:
        recording: the MCAP file.
        out: dataset directory (created, or resumed if it holds the same task).
        task: registered task whose observation terms and action the dataset uses.
        segments: one of :data:`SEGMENTS`.
        min_steps: shorter segments are skipped, policy steps.
        allow_truncated: accept a recording whose writer did not close it (read to its last chunk).
    """

    recording: Path
    out: Path
    task: str
    segments: str = "human"
    min_steps: int = 2
    allow_truncated: bool = False

    def __post_init__(self) -> None:
        if self.segments not in SEGMENTS:
            raise ConfigError(f"segments {self.segments!r}: choose one of {SEGMENTS}")
        if self.min_steps < 1:
            raise ConfigError(f"min_steps {self.min_steps} must be >= 1")


def _episodes(steps: list[SessionStep], outcomes: list[tuple[float, bool]]) -> list[tuple[list[SessionStep], bool]]:
    """Steps cut at each outcome time (s): (steps of the episode, its outcome), in order."""
    out, i = [], 0
    for time, success in outcomes:
        j = i
        while j < len(steps) and steps[j].time <= time:
            j += 1
        out.append((steps[i:j], success))
        i = j
    return out


def _human_runs(steps: list[SessionStep]) -> list[tuple[int, int]]:
    """[start, end) index ranges of maximal runs of intervening steps."""
    runs, start = [], None
    for i, step in enumerate(steps + [SessionStep(0.0, {}, np.zeros(0), False)]):
        if step.intervening and start is None:
            start = i
        elif not step.intervening and start is not None:
            runs.append((start, i))
            start = None
    return runs


def _episode(steps: list[SessionStep], success: bool, info: dict) -> Episode:
    T = len(steps)
    successes = np.zeros(T, dtype=bool)
    successes[-1] = success
    return Episode(obs={name: np.stack([s.obs[name] for s in steps]) for name in steps[0].obs},
                   actions=np.stack([s.action for s in steps]), rewards=successes.astype(float),
                   successes=successes, seed=None,
                   info={**info, "start_time": steps[0].time, "intervention_steps": sum(s.intervening for s in steps)})


def from_mcap(config: FromMcapConfig) -> dict:
    """Convert; returns a summary (episodes written, steps, skipped, the recording's state).

    Raises:
        DataError: naming the file and the problem: unreadable, truncated (unless allowed), lacking topics,
            joints or outcomes, or without a segment to store.
    """
    recording = read_recording(config.recording)
    if not recording.complete and not config.allow_truncated:
        raise DataError(f"recording {config.recording} is incomplete: {recording.problem}; "
                        "pass --allow-truncated to use it up to its last chunk")
    spec = get_task(config.task)
    outcomes = [(t * 1e-9, bool(m.data)) for t, m in recording.decoded(topics.EPISODE_OUTCOME)]
    if not outcomes:
        raise DataError(f"recording {config.recording} has no {topics.EPISODE_OUTCOME} message: no episode ends, "
                        "so no episode has an outcome")
    steps = session_steps(recording, spec)
    pieces = []
    for k, (episode, success) in enumerate(_episodes(steps, outcomes)):
        if config.segments == "episodes":
            pieces.append((episode, success, {"kind": "episode", "episode": k}))
            continue
        runs = _human_runs(episode)
        for a, b in runs:  # the human's last takeover in a successful episode is the one that finished it
            pieces.append((episode[a:b], success and (a, b) == runs[-1], {"kind": "human", "episode": k}))
    kept = [p for p in pieces if len(p[0]) >= config.min_steps]
    if not kept:
        what = "human-driven segment (no /robot_rl/hil/intervention True)" if config.segments == "human" else "episode"
        raise DataError(f"recording {config.recording}: no {what} of >= {config.min_steps} steps to store")
    writer = DemoWriter(config.out, spec, info={"source": str(config.recording), "segments": config.segments})
    for piece, success, info in kept:
        writer.write(_episode(piece, success, {"recording": str(config.recording), **info}))
    return {"episodes": len(kept), "steps": sum(len(p[0]) for p in kept), "skipped_short": len(pieces) - len(kept),
            "episodes_judged": len(outcomes), "recording_complete": recording.complete, "out": str(config.out)}
