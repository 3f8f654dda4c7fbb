"""``robot-rl train bc``: behaviour cloning of a diffusion policy on recorded demonstrations.

Reads a demonstration directory (format: sim/robot_rl_sim/dataset, docs/dataset.md),
refuses it if its stored task spec differs from the registered task, trains with
a tqdm progress bar and TensorBoard logs, and checkpoints atomically to
``<out>/checkpoint.pt`` (``--resume`` continues from it).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.learning.windows import Episode

CHECKPOINT_NAME = "checkpoint.pt"
GOLDEN_WINDOWS = 3


def load_episodes(dataset: str | Path, spec, successful_only: bool = True) -> tuple[list[Episode], dict]:
    """Episodes of ``dataset`` as (flat obs (T, O), raw actions (T, A)) pairs, plus a summary dict.

    Raises:
        ConfigError: not a dataset, a dataset recorded for another task or a different spec of it
            (joint names, observation terms, action, rates: named in the message), or no usable episode.
    """
    from robot_rl_sim.dataset import open_dataset

    demos = open_dataset(dataset, spec=spec)
    episodes = []
    for i in range(len(demos)):
        if successful_only and not demos.entries[i].get("success", True):
            continue
        demo = demos.episode(i)
        episodes.append(Episode(obs=demo.flat_obs(spec).astype(np.float32),
                                actions=np.asarray(demo.actions, dtype=np.float32)))
    if not episodes:
        raise ConfigError(f"dataset {dataset}: no {'successful ' if successful_only else ''}episodes "
                          f"(of {len(demos)} recorded)")
    summary = {"path": str(Path(dataset).resolve()), "episodes": len(episodes), "recorded": len(demos),
               "steps": int(sum(len(e.obs) for e in episodes))}
    return episodes, summary


def golden_windows(episodes: list[Episode], obs_history: int, horizon: int, count: int = GOLDEN_WINDOWS,
                   seed: int = 0) -> list:
    """``count`` recorded observation windows (To, O) as nested lists, for the exporter's golden vectors."""
    from robot_rl.learning.windows import WindowSampler

    sampler = WindowSampler(episodes, obs_history, horizon)
    index = np.random.default_rng(seed).choice(len(sampler), size=min(count, len(sampler)), replace=False)
    return sampler.windows(np.sort(index))[0].tolist()


def run_training(task: str, dataset: str | Path, out: str | Path, config, diffusion_overrides: dict | None = None,
                 resume: bool = False, progress: bool = True):
    """Train (or resume) and return the final :class:`~robot_rl.learning.checkpoint.Checkpoint`."""
    import torch
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    from robot_rl.learning.checkpoint import load_checkpoint
    from robot_rl.learning.diffusion import DiffusionConfig, parameter_count
    from robot_rl.learning.trainer import new_checkpoint, train
    from robot_rl_sim.tasks import get_task

    spec = get_task(task)
    episodes, summary = load_episodes(dataset, spec)
    out = Path(out)
    path = out / CHECKPOINT_NAME
    if resume:
        checkpoint = load_checkpoint(path)
        if checkpoint.task.get("name") != spec.name:
            raise ConfigError(f"{path} was trained on task {checkpoint.task.get('name')!r}, not {spec.name!r}")
    else:
        diffusion = DiffusionConfig(obs_dim=spec.obs_dim, action_dim=spec.action_dim, **(diffusion_overrides or {}))
        summary["golden_obs"] = golden_windows(episodes, diffusion.obs_history, diffusion.horizon)
        checkpoint = new_checkpoint(config, diffusion, episodes, json.loads(json.dumps(spec.to_dict())), summary)
    writer = SummaryWriter(str(out / "tensorboard"))
    writer.add_text("config", json.dumps({"train": {k: v for k, v in vars(config).items() if k != "diffusion"},
                                          "model": checkpoint.config.to_dict(), "dataset": summary}))
    bar = tqdm(total=config.steps, initial=checkpoint.step, desc=f"train bc {task}", unit="step",
               disable=not progress)

    def on_log(step: int, loss: float, rate: float) -> None:
        writer.add_scalar("train/loss", loss, step)
        writer.add_scalar("train/samples_per_s", rate, step)
        bar.update(step - bar.n)
        bar.set_postfix(loss=f"{loss:.4f}", samples_s=f"{rate:.0f}")

    torch.manual_seed(config.seed)
    try:
        checkpoint = train(config, checkpoint, episodes, path, on_log=on_log)
    finally:
        bar.close()
        writer.close()
    checkpoint.train["parameters"] = parameter_count(checkpoint.policy())
    return checkpoint
