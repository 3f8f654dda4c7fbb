"""Atomic training checkpoints: everything needed to resume training or export a policy.

A checkpoint is one ``torch.save`` file written with :func:`robot_rl.atomic.atomic_file`
(temporary file, fsync, ``os.replace``), so a crash mid-write never leaves a truncated file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from robot_rl.atomic import atomic_file
from robot_rl.errors import ConfigError
from robot_rl.learning.diffusion import DiffusionConfig, DiffusionPolicy
from robot_rl.learning.normalizer import RangeStats


@dataclass
class Checkpoint:
    """Training state.

    model / ema: state dicts of the trained and the exponential-moving-average policy (the EMA is exported);
    optimizer: optimizer state; step: optimisation steps done; losses: [(step, loss)] history;
    task: the task spec dict the dataset was recorded for; dataset: dataset path and episode count.
    """

    config: DiffusionConfig
    obs_stats: RangeStats
    action_stats: RangeStats
    model: dict
    ema: dict
    optimizer: dict
    step: int
    task: dict
    losses: list = field(default_factory=list)
    dataset: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)

    def to_payload(self) -> dict:
        """Plain dict for torch.save (no custom classes, so ``weights_only`` loading works)."""
        return {"config": self.config.to_dict(), "obs_stats": self.obs_stats.to_dict(),
                "action_stats": self.action_stats.to_dict(), "model": self.model, "ema": self.ema,
                "optimizer": self.optimizer, "step": self.step, "task": self.task, "losses": self.losses,
                "dataset": self.dataset, "train": self.train}

    def policy(self, use_ema: bool = True) -> DiffusionPolicy:
        """The policy with the EMA (default) or raw weights, in eval mode."""
        policy = DiffusionPolicy(self.config, self.obs_stats, self.action_stats)
        policy.load_state_dict(self.ema if use_ema else self.model)
        return policy.eval()


def save_checkpoint(checkpoint: Checkpoint, path: str | Path) -> Path:
    """Write atomically (tmp file, fsync, os.replace); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as f:
        torch.save(checkpoint.to_payload(), f)
    return path


def read_torch_file(path: Path, what: str, weights_only: bool):
    """``torch.load`` of ``path`` onto the CPU; ConfigError naming ``what`` and the file if absent or unreadable."""
    if not path.is_file():
        raise ConfigError(f"{what} not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except Exception as exc:  # noqa: BLE001 - torch raises pickle/zip errors of many types
        raise ConfigError(f"{what} {path} cannot be read by torch.load: {exc}") from exc


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`; ConfigError naming the file if unusable."""
    path = Path(path)
    raw = read_torch_file(path, "checkpoint", weights_only=True)
    missing = {"config", "obs_stats", "action_stats", "model", "ema", "optimizer", "step", "task"} - set(raw)
    if missing:
        raise ConfigError(f"checkpoint {path} lacks fields {sorted(missing)}")
    return Checkpoint(
        config=DiffusionConfig(**raw["config"]), obs_stats=RangeStats.from_dict(raw["obs_stats"]),
        action_stats=RangeStats.from_dict(raw["action_stats"]), model=raw["model"], ema=raw["ema"],
        optimizer=raw["optimizer"], step=int(raw["step"]), task=raw["task"], losses=list(raw.get("losses", [])),
        dataset=raw.get("dataset", {}), train=raw.get("train", {}))
