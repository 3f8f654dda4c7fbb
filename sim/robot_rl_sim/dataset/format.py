"""On-disk demonstration format (version 1), documented in docs/dataset.md.

    <root>/meta.json                     format name/version, task spec (TaskSpec.to_dict()), creation info
    <root>/episodes/episode_000000.npz   one finished episode per file (numpy .npz, uncompressed)
    <root>/index.jsonl                   one JSON line per finished episode (file, length, success, seed, sha256)

Episode arrays (T policy steps; observation t is the one action t was chosen from):
``obs.<term>`` (T, size) float32 for every declared observation term, ``action``
(T, action_dim) float32 raw actions, ``reward`` (T,) float32, ``success`` (T,) bool
(task solved after step t), plus ``obs.flat`` (T, obs_dim) float32, the terms
concatenated in declared order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl_sim.tasks.spec import TaskSpec

FORMAT_NAME = "robot_rl-demos"
FORMAT_VERSION = 1
META_FILE = "meta.json"
INDEX_FILE = "index.jsonl"
EPISODE_DIR = "episodes"
SPEC_KEYS = ("name", "robot", "joint_names", "obs_terms", "action", "physics_dt", "decimation")
"""Spec fields that must match between a dataset and the task it is used with."""


def episode_filename(index: int) -> str:
    """Relative path of episode ``index``."""
    return f"{EPISODE_DIR}/episode_{index:06d}.npz"


@dataclass
class Episode:
    """One demonstration: per-term observations (T, size), raw actions (T, a), rewards (T,), success (T,)."""

    obs: dict[str, np.ndarray]
    actions: np.ndarray
    rewards: np.ndarray
    successes: np.ndarray
    seed: int | None = None
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.actions.shape[0])

    @property
    def success(self) -> bool:
        """Whether the task was solved at any step."""
        return bool(np.any(self.successes))

    def flat_obs(self, spec: TaskSpec) -> np.ndarray:
        """(T, obs_dim) observations, terms concatenated in the spec's declared order."""
        return np.concatenate([self.obs[t.name].reshape(len(self), t.size) for t in spec.obs_terms], axis=1)

    def check(self, spec: TaskSpec) -> None:
        """ConfigError naming the first array whose shape does not match ``spec``."""
        T = len(self)
        if T < 1:
            raise ConfigError("episode has no steps")
        if self.actions.shape != (T, spec.action_dim):
            raise ConfigError(f"episode actions have shape {self.actions.shape}, expected ({T}, {spec.action_dim})")
        for t in spec.obs_terms:
            arr = self.obs.get(t.name)
            if arr is None or arr.shape != (T, t.size):
                shape = None if arr is None else arr.shape
                raise ConfigError(f"episode obs term {t.name!r} has shape {shape}, expected ({T}, {t.size})")
        for name, arr in (("rewards", self.rewards), ("successes", self.successes)):
            if arr.shape != (T,):
                raise ConfigError(f"episode {name} have shape {arr.shape}, expected ({T},)")


def episode_arrays(episode: Episode, spec: TaskSpec) -> dict[str, np.ndarray]:
    """The arrays stored in an episode's .npz file."""
    arrays = {f"obs.{name}": np.asarray(v, dtype=np.float32) for name, v in episode.obs.items()}
    arrays["obs.flat"] = episode.flat_obs(spec).astype(np.float32)
    arrays["action"] = np.asarray(episode.actions, dtype=np.float32)
    arrays["reward"] = np.asarray(episode.rewards, dtype=np.float32)
    arrays["success"] = np.asarray(episode.successes, dtype=bool)
    return arrays


def episode_from_arrays(arrays: dict[str, np.ndarray], seed: int | None, info: dict) -> Episode:
    """Inverse of :func:`episode_arrays` (``obs.flat`` is derived, not kept)."""
    obs = {k[len("obs."):]: np.asarray(v, dtype=np.float64) for k, v in arrays.items()
           if k.startswith("obs.") and k != "obs.flat"}
    return Episode(obs=obs, actions=np.asarray(arrays["action"], dtype=np.float64),
                   rewards=np.asarray(arrays["reward"], dtype=np.float64),
                   successes=np.asarray(arrays["success"], dtype=bool), seed=seed, info=info)


def spec_mismatches(stored: dict, spec: TaskSpec) -> list[str]:
    """Human-readable differences between a stored spec dict and ``spec`` on :data:`SPEC_KEYS`."""
    import json

    current = json.loads(json.dumps(spec.to_dict()))
    out = []
    for key in SPEC_KEYS:
        if stored.get(key) != current.get(key):
            out.append(f"{key}: dataset has {stored.get(key)!r}, task has {current.get(key)!r}")
    return out
