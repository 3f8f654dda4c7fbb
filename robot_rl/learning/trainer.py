"""Behaviour-cloning loop for the diffusion policy: AdamW, cosine LR, EMA weights, atomic checkpoints.

Pure training logic over in-memory episodes; the command line and dataset
reading live in :mod:`robot_rl.learning.train_bc`.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from robot_rl.errors import ConfigError
from robot_rl.learning.checkpoint import Checkpoint, save_checkpoint
from robot_rl.learning.diffusion import DiffusionConfig, DiffusionPolicy
from robot_rl.learning.normalizer import compute_range_stats
from robot_rl.learning.windows import Episode, WindowSampler


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings. steps: total optimiser steps (a resumed run continues to this total);
    lr: peak learning rate; warmup: linear warm-up steps; ema_max: EMA decay ceiling;
    checkpoint_every / log_every: in steps; threads: torch intra-op threads;
    max_seconds: training wall-time budget, s (None: none). The cosine schedule follows whichever of step
    and time budget is further along, and training stops (checkpointed) when the budget is spent, so a run
    on a loaded machine still ends annealed and on time."""

    steps: int = 3000
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-6
    warmup: int = 100
    ema_max: float = 0.999
    checkpoint_every: int = 500
    log_every: int = 25
    seed: int = 0
    threads: int = 2
    diffusion: DiffusionConfig | None = None  # obs/action dims are filled from the data
    max_seconds: float | None = None

    def __post_init__(self):
        for name in ("steps", "batch_size", "checkpoint_every", "log_every", "threads"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and 0 <= self.ema_max < 1 and self.warmup >= 0):
            raise ConfigError(f"TrainConfig: need lr > 0, 0 <= ema_max < 1, warmup >= 0 "
                              f"(got {self.lr}, {self.ema_max}, {self.warmup})")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ConfigError(f"TrainConfig.max_seconds must be > 0 s or None, got {self.max_seconds}")


def new_checkpoint(config: TrainConfig, diffusion: DiffusionConfig, episodes: list[Episode], task: dict,
                   dataset: dict) -> Checkpoint:
    """A step-0 checkpoint: fresh weights and normalisers from the dataset statistics."""
    torch.manual_seed(config.seed)
    obs_stats = compute_range_stats(np.concatenate([e.obs for e in episodes]))
    action_stats = compute_range_stats(np.concatenate([e.actions for e in episodes]))
    policy = DiffusionPolicy(diffusion, obs_stats, action_stats)
    state = copy.deepcopy(policy.state_dict())
    return Checkpoint(config=diffusion, obs_stats=obs_stats, action_stats=action_stats, model=state,
                      ema=copy.deepcopy(state), optimizer={}, step=0, task=task, dataset=dataset,
                      train={"seconds": 0.0, "samples": 0})


def _lr_factor(step: int, config: TrainConfig, seconds: float = 0.0) -> float:
    """Learning-rate multiplier at ``step`` after ``seconds`` s of training: linear warm-up, then cosine decay
    over the step budget or the time budget (``config.max_seconds``), whichever is further along."""
    if step < config.warmup:
        return (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    if config.max_seconds is not None:
        progress = max(progress, seconds / config.max_seconds)
    return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


@torch.no_grad()
def _ema_update(ema: DiffusionPolicy, model: DiffusionPolicy, step: int, ema_max: float) -> None:
    decay = min(ema_max, 1 - (1 + step) ** -0.75)  # warm-up: early averages follow the model closely
    for e, m in zip(ema.parameters(), model.parameters()):
        e.mul_(decay).add_(m.detach(), alpha=1 - decay)


def train(config: TrainConfig, checkpoint: Checkpoint, episodes: list[Episode], checkpoint_path: str | Path,
          on_log: Callable[[int, float, float], None] | None = None) -> Checkpoint:
    """Train ``checkpoint`` on ``episodes`` until ``config.steps`` (or ``config.max_seconds`` of training);
    returns the final checkpoint.

    Args:
        checkpoint: a fresh one (:func:`new_checkpoint`) or a resumed one (:func:`load_checkpoint`).
        checkpoint_path: written atomically every ``checkpoint_every`` steps and at the end.
        on_log: called as on_log(step, mean loss since last log, samples/s) every ``log_every`` steps.
    """
    torch.set_num_threads(config.threads)
    model, ema = checkpoint.policy(use_ema=False).train(), checkpoint.policy(use_ema=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if checkpoint.optimizer:
        optimizer.load_state_dict(checkpoint.optimizer)
    sampler = WindowSampler(episodes, checkpoint.config.obs_history, checkpoint.config.horizon)
    rng = np.random.default_rng(config.seed + checkpoint.step)
    torch.manual_seed(config.seed + checkpoint.step)
    window_losses, t_log, t_total = [], time.perf_counter(), checkpoint.train.get("seconds", 0.0)
    for step in range(checkpoint.step, config.steps):
        obs, actions = (torch.from_numpy(x) for x in sampler.sample(config.batch_size, rng))
        for group in optimizer.param_groups:
            group["lr"] = config.lr * _lr_factor(step, config, t_total + time.perf_counter() - t_log)
        loss = model.compute_loss(obs, actions)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        _ema_update(ema, model, step, config.ema_max)
        window_losses.append(float(loss.detach()))
        done = step + 1
        out_of_time = (config.max_seconds is not None
                       and t_total + time.perf_counter() - t_log >= config.max_seconds)
        if done % config.log_every == 0 or done == config.steps or out_of_time:
            elapsed = time.perf_counter() - t_log
            mean_loss = float(np.mean(window_losses))
            checkpoint.losses.append((done, mean_loss))
            if on_log is not None:
                on_log(done, mean_loss, len(window_losses) * config.batch_size / max(elapsed, 1e-9))
            t_total += elapsed
            checkpoint.train["samples"] = checkpoint.train.get("samples", 0) + len(window_losses) * config.batch_size
            window_losses, t_log = [], time.perf_counter()
        if done % config.checkpoint_every == 0 or done == config.steps or out_of_time:
            checkpoint = _snapshot(checkpoint, model, ema, optimizer, done, t_total)
            save_checkpoint(checkpoint, checkpoint_path)
        if out_of_time:
            break
    return checkpoint


def _snapshot(checkpoint: Checkpoint, model, ema, optimizer, step: int, seconds: float) -> Checkpoint:
    checkpoint.model = copy.deepcopy(model.state_dict())
    checkpoint.ema = copy.deepcopy(ema.state_dict())
    checkpoint.optimizer = copy.deepcopy(optimizer.state_dict())
    checkpoint.step = step
    checkpoint.train["seconds"] = seconds
    return checkpoint


