"""Random transition batches in the learner's layout (see robot_rl.hil.learner), and a one-thread fixture."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def one_torch_thread():
    """Small networks on one thread (two-core machines: more threads contend instead of helping)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def batch(rng: np.random.Generator, size: int, obs_dim: int, action_dim: int,
          intervened_fraction: float) -> dict[str, np.ndarray]:
    """``size`` random transitions; the first ``intervened_fraction`` of them human-controlled."""
    f32 = np.float32
    return {"obs": rng.normal(size=(size, obs_dim)).astype(f32),
            "base_action": rng.normal(size=(size, action_dim)).astype(f32),
            "action": rng.uniform(-1, 1, size=(size, action_dim)).astype(f32),
            "intervened": np.arange(size) < int(round(intervened_fraction * size)),
            "reward": np.zeros(size, f32), "done": np.zeros(size, bool),
            "next_obs": rng.normal(size=(size, obs_dim)).astype(f32),
            "next_base_action": rng.normal(size=(size, action_dim)).astype(f32)}
