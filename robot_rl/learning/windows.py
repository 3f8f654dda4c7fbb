"""Training windows over demonstration episodes: (observation history, action chunk) pairs.

For every step t of every episode, a sample is the observations of steps
t-To+1..t (the first observation repeated before the episode start) and the
actions of steps t..t+H-1 (the last action repeated after the episode end), as
in Diffusion Policy. Arrays are float32: obs (To, O), actions (H, A).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_rl.errors import ConfigError


@dataclass(frozen=True)
class Episode:
    """One demonstration: obs (T, O) flattened observation frames, actions (T, A) raw actions."""

    obs: np.ndarray
    actions: np.ndarray

    def __post_init__(self):
        if self.obs.ndim != 2 or self.actions.ndim != 2 or len(self.obs) != len(self.actions) or len(self.obs) == 0:
            raise ConfigError(f"episode arrays must be (T, O) and (T, A) with equal T >= 1, got "
                              f"{self.obs.shape} and {self.actions.shape}")


class WindowSampler:
    """Random batches of training windows from a list of episodes.

    Args:
        episodes: demonstrations, all with the same O and A.
        obs_history: To; horizon: H.
    """

    def __init__(self, episodes: list[Episode], obs_history: int, horizon: int):
        if not episodes:
            raise ConfigError("no demonstration episodes to train on")
        dims = {(e.obs.shape[1], e.actions.shape[1]) for e in episodes}
        if len(dims) != 1:
            raise ConfigError(f"episodes disagree on (obs_dim, action_dim): {sorted(dims)}")
        self.obs = np.concatenate([e.obs for e in episodes]).astype(np.float32)
        self.actions = np.concatenate([e.actions for e in episodes]).astype(np.float32)
        lengths = np.array([len(e.obs) for e in episodes])
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self._episode_start = np.repeat(starts, lengths)
        self._episode_end = np.repeat(starts + lengths - 1, lengths)
        self.obs_history, self.horizon = obs_history, horizon

    def __len__(self) -> int:
        """Number of windows (one per recorded step)."""
        return len(self.obs)

    def windows(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Windows anchored at global step indices (B,) -> obs (B, To, O), actions (B, H, A)."""
        index = np.asarray(index)
        obs_idx = index[:, None] + np.arange(-self.obs_history + 1, 1)[None, :]
        obs_idx = np.maximum(obs_idx, self._episode_start[index][:, None])
        act_idx = index[:, None] + np.arange(self.horizon)[None, :]
        act_idx = np.minimum(act_idx, self._episode_end[index][:, None])
        return self.obs[obs_idx], self.actions[act_idx]

    def sample(self, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A uniformly random batch of windows."""
        return self.windows(rng.integers(0, len(self), size=batch_size))
