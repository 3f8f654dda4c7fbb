"""``robot-rl train distill``: a one-step student from a multi-step diffusion teacher (consistency distillation).

The teacher's deterministic DDIM sampler (eta = 0) is a discretised probability-flow ODE: from an initial noise
z at the first timestep t_0 (90 for T = 100, K = 10) it passes through states x_{t_0} = z, x_{t_1}, ..., x_{t_{K-1}}
and ends at the sample x*. The student is the consistency function of that discretised ODE: for every state on
a trajectory it predicts the trajectory's end, f(x_{t_k}, t_k, obs) ~ x*. One-step sampling evaluates it once,
at (z, t_0): the same graph as the teacher's sampler with one step, so the exporter, the contract
(``chunking.denoising_steps`` = 1) and the policy node need nothing new.

Data: trajectories are computed once by the frozen teacher (its EMA weights) on the training set's observation
windows (and, optionally, on windows met in closed-loop rollouts of exports: :func:`rollout_pool`), each with
fresh standard-normal initial noise, and a share with the export's baked noise (the
deterministic export samples exactly that noise). The student has the teacher's architecture and starts from its
weights (eps-parametrised like the teacher, so f(x, t) = clip((x - sqrt(1 - a_t) eps) / sqrt(a_t))); a smaller
student (``channels``) starts from fresh weights. Loss: MSE between the unclipped prediction and x* in the
normalised action space; half of each batch at t_0 (the point one-step sampling uses), half at the later states.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from robot_rl.errors import ConfigError
from robot_rl.learning.checkpoint import Checkpoint, save_checkpoint
from robot_rl.learning.diffusion import DiffusionPolicy
from robot_rl.learning.trainer import _ema_update, _lr_factor


@dataclass(frozen=True)
class DistillConfig:
    """Distillation settings. pool: teacher trajectories computed up front; baked_fraction: share of them that
    start from the export's baked noise (``noise_seed``); start_share: share of each batch at the first
    timestep; holdout: trajectories kept out of training to report the student's error; teacher_batch: batch of
    the teacher's sampling; channels: student U-Net widths (None: the teacher's, initialised from it); other
    fields as :class:`robot_rl.learning.trainer.TrainConfig` (steps, lr, warmup, EMA, threads, max_seconds)."""

    steps: int = 1500
    batch_size: int = 256
    lr: float = 3e-4
    weight_decay: float = 1e-6
    warmup: int = 50
    ema_max: float = 0.995
    pool: int = 8192
    baked_fraction: float = 0.25
    rollout_share: float = 0.5
    noise_seed: int = 0
    start_share: float = 0.5
    holdout: int = 256
    teacher_batch: int = 512
    channels: tuple[int, ...] | None = None
    seed: int = 0
    threads: int = 1
    log_every: int = 50
    checkpoint_every: int = 500
    max_seconds: float | None = None

    def __post_init__(self):
        for name in ("steps", "batch_size", "pool", "holdout", "teacher_batch", "threads", "log_every",
                     "checkpoint_every"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"DistillConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.holdout >= self.pool:
            raise ConfigError(f"DistillConfig.holdout ({self.holdout}) must be smaller than pool ({self.pool})")
        for name in ("baked_fraction", "start_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"DistillConfig.{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.rollout_share < 1.0:
            raise ConfigError(f"DistillConfig.rollout_share must be in [0, 1) (the rest is training-set windows), "
                              f"got {self.rollout_share}")
        if not (self.lr > 0 and 0 <= self.ema_max < 1 and self.warmup >= 0):
            raise ConfigError(f"DistillConfig: need lr > 0, 0 <= ema_max < 1, warmup >= 0 "
                              f"(got {self.lr}, {self.ema_max}, {self.warmup})")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ConfigError(f"DistillConfig.max_seconds must be > 0 s or None, got {self.max_seconds}")


@dataclass
class TrajectoryPool:
    """Teacher trajectories. obs: (N, To, O) raw windows; states: (N, K, H, A) normalised states at the teacher's
    K timesteps (``timesteps``, descending); target: (N, H, A) normalised final samples."""

    obs: torch.Tensor
    states: torch.Tensor
    target: torch.Tensor
    timesteps: list[int]

    def split(self, holdout: int) -> tuple[TrajectoryPool, TrajectoryPool]:
        """(training pool, the last ``holdout`` trajectories)."""
        cut = len(self.obs) - holdout
        part = lambda s: TrajectoryPool(self.obs[s], self.states[s], self.target[s], self.timesteps)  # noqa: E731
        return part(slice(0, cut)), part(slice(cut, None))


def initial_noise(teacher: DiffusionPolicy, count: int, config: DistillConfig, rng: torch.Generator) -> torch.Tensor:
    """(count, H, A) initial noise: standard normal, the first ``baked_fraction`` share the export's baked noise."""
    from robot_rl.learning.export import baked_noise

    noise = torch.randn((count, teacher.config.horizon, teacher.config.action_dim), generator=rng)
    noise[: int(round(config.baked_fraction * count))] = baked_noise(teacher.config, config.noise_seed)
    return noise[torch.randperm(count, generator=rng)]


@torch.no_grad()
def teacher_trajectories(teacher: DiffusionPolicy, obs: np.ndarray, config: DistillConfig) -> TrajectoryPool:
    """Run the teacher's DDIM sampler on every window of ``obs`` (N, To, O) from :func:`initial_noise`."""
    rng = torch.Generator().manual_seed(config.seed)
    obs_t = torch.as_tensor(obs, dtype=torch.float32)
    noise = initial_noise(teacher, len(obs_t), config, rng)
    states, target = [], []
    for start in range(0, len(obs_t), config.teacher_batch):
        chunk = slice(start, start + config.teacher_batch)
        features = teacher.encoder(teacher.obs_norm.normalize(obs_t[chunk]))
        path = teacher.ddim_states(features, noise[chunk])
        states.append(torch.stack(path[:-1], dim=1))
        target.append(path[-1])
    return TrajectoryPool(obs_t, torch.cat(states), torch.cat(target), teacher.ddim_timesteps())


def student_from(teacher_checkpoint: Checkpoint, config: DistillConfig,
                 init: Checkpoint | None = None) -> DiffusionPolicy:
    """The student: the teacher's model with one denoising step from the teacher's first timestep; the teacher's
    EMA weights, or fresh (seeded) weights when ``config.channels`` differs from the teacher's, or the EMA weights
    of ``init`` (an earlier student of the same widths: a further round of distillation)."""
    teacher_cfg = teacher_checkpoint.config
    first = teacher_checkpoint.policy().ddim_timesteps()[0]
    channels = tuple(config.channels) if config.channels else teacher_cfg.channels
    student_cfg = replace(teacher_cfg, denoising_steps=1, start_timestep=first, channels=channels)
    torch.manual_seed(config.seed)
    student = DiffusionPolicy(student_cfg, teacher_checkpoint.obs_stats, teacher_checkpoint.action_stats)
    if init is not None:
        if tuple(init.config.channels) != channels or init.config.denoising_steps != 1:
            raise ConfigError(f"--init: a one-step student with U-Net widths {channels} is needed, got widths "
                              f"{tuple(init.config.channels)} and {init.config.denoising_steps} denoising steps")
        student.load_state_dict(init.ema)
    elif channels == teacher_cfg.channels:
        student.load_state_dict(teacher_checkpoint.ema)
    return student


def consistency_loss(student: DiffusionPolicy, pool: TrajectoryPool, index: torch.Tensor,
                     point: torch.Tensor) -> torch.Tensor:
    """MSE between the student's prediction of the trajectory end from state ``point`` (B,) of trajectories
    ``index`` (B,) and the teacher's end, in the normalised action space (unclipped prediction)."""
    x = pool.states[index, point]
    t = torch.as_tensor(pool.timesteps, dtype=torch.long)[point]
    features = student.encoder(student.obs_norm.normalize(pool.obs[index]))
    prediction = student.predict_x0(x, t, student.unet(x, t, features))
    return torch.nn.functional.mse_loss(prediction, pool.target[index])


@torch.no_grad()
def one_step_error(student: DiffusionPolicy, pool: TrajectoryPool) -> dict:
    """The student's one-step samples vs the teacher's on ``pool`` (normalised units; 1 = half the demonstrated
    range of a dimension): mean and max absolute difference, and the RMS."""
    features = student.encoder(student.obs_norm.normalize(pool.obs))
    sample = student.ddim_states(features, pool.states[:, 0])[-1]
    diff = (sample - pool.target).abs()
    return {"mean_abs": float(diff.mean()), "max_abs": float(diff.max()), "rms": float(diff.pow(2).mean().sqrt())}


def _batch_points(batch: int, steps: int, start_share: float, rng: torch.Generator) -> torch.Tensor:
    """(B,) trajectory states to train on: index 0 (the first timestep) for a ``start_share`` of the batch, the
    later states uniformly for the rest."""
    if steps == 1:
        return torch.zeros(batch, dtype=torch.long)
    later = torch.randint(1, steps, (batch,), generator=rng)
    return torch.where(torch.rand(batch, generator=rng) < start_share, torch.zeros_like(later), later)


def distill(teacher_checkpoint: Checkpoint, obs: np.ndarray, config: DistillConfig, checkpoint_path: str | Path,
            on_log: Callable[[int, float, dict], None] | None = None, init: Checkpoint | None = None) -> Checkpoint:
    """Distil ``teacher_checkpoint`` on observation windows ``obs`` (N, To, O) into a one-step student; the
    student's checkpoint (exportable by ``robot-rl export``) is written to ``checkpoint_path`` every
    ``checkpoint_every`` steps and at the end, and returned. on_log(step, mean loss, holdout error); init: an
    earlier student to start from (:func:`student_from`)."""
    torch.set_num_threads(config.threads)
    started = time.perf_counter()
    pool, holdout = teacher_trajectories(teacher_checkpoint.policy(), obs, config).split(config.holdout)
    teacher_seconds = time.perf_counter() - started
    model = student_from(teacher_checkpoint, config, init).train()
    ema = copy.deepcopy(model).eval()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    rng = torch.Generator().manual_seed(config.seed + 1)
    checkpoint = Checkpoint(config=model.config, obs_stats=teacher_checkpoint.obs_stats,
                            action_stats=teacher_checkpoint.action_stats, model={}, ema={}, optimizer={}, step=0,
                            task=teacher_checkpoint.task, dataset=dict(teacher_checkpoint.dataset),
                            train={"distill": {"teacher_step": teacher_checkpoint.step, "pool": len(pool.obs),
                                               "holdout": len(holdout.obs), "teacher_seconds": teacher_seconds,
                                               "initial_error": one_step_error(model, holdout),
                                               "config": {k: v for k, v in vars(config).items()}}})
    losses, t0 = [], time.perf_counter()
    for step in range(config.steps):
        for group in optimizer.param_groups:
            group["lr"] = config.lr * _lr_factor(step, config, time.perf_counter() - t0)
        index = torch.randint(0, len(pool.obs), (config.batch_size,), generator=rng)
        loss = consistency_loss(model, pool, index, _batch_points(config.batch_size, len(pool.timesteps),
                                                                  config.start_share, rng))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        _ema_update(ema, model, step, config.ema_max)
        losses.append(float(loss.detach()))
        done = step + 1
        out_of_time = config.max_seconds is not None and time.perf_counter() - t0 >= config.max_seconds
        last = done == config.steps or out_of_time
        if done % config.log_every == 0 or last:
            checkpoint.losses.append((done, float(np.mean(losses))))
            losses = []
            if on_log is not None:
                on_log(done, checkpoint.losses[-1][1], one_step_error(ema, holdout) if last else {})
        if done % config.checkpoint_every == 0 or last:
            checkpoint = _snapshot(checkpoint, model, ema, optimizer, done, time.perf_counter() - t0, holdout)
            checkpoint.train["samples"] = done * config.batch_size
            save_checkpoint(checkpoint, checkpoint_path)
        if out_of_time:
            break
    return checkpoint


def _snapshot(checkpoint: Checkpoint, model, ema, optimizer, step: int, seconds: float,
              holdout: TrajectoryPool) -> Checkpoint:
    checkpoint.model = copy.deepcopy(model.state_dict())
    checkpoint.ema = copy.deepcopy(ema.state_dict())
    checkpoint.optimizer = copy.deepcopy(optimizer.state_dict())
    checkpoint.step = step
    checkpoint.train["seconds"] = seconds
    checkpoint.train["distill"]["holdout_error"] = one_step_error(ema, holdout)
    return checkpoint


def training_windows(teacher_checkpoint: Checkpoint, dataset: str | Path | None, count: int,
                     seed: int = 0) -> tuple[np.ndarray, dict]:
    """``count`` observation windows (count, To, O) of the teacher's training set (``dataset``, default the
    path stored in the teacher's checkpoint; successful episodes only, as in training), drawn without
    replacement while there are enough (with replacement beyond: each draw gets its own noise); and a summary."""
    from robot_rl.learning.export import check_task_matches
    from robot_rl.learning.train_bc import load_episodes
    from robot_rl.learning.windows import WindowSampler
    from robot_rl_sim.tasks import get_task

    spec = get_task(teacher_checkpoint.task.get("name", ""))
    check_task_matches(teacher_checkpoint, spec)
    dataset = dataset or teacher_checkpoint.dataset.get("path")
    if not dataset:
        raise ConfigError("the teacher checkpoint names no dataset: pass --dataset (its training demonstrations)")
    episodes, summary = load_episodes(dataset, spec)
    sampler = WindowSampler(episodes, teacher_checkpoint.config.obs_history, teacher_checkpoint.config.horizon)
    index = np.random.default_rng(seed).choice(len(sampler), size=count, replace=count > len(sampler))
    return sampler.windows(np.sort(index))[0], {**summary, "windows": len(sampler)}


ROLLOUT_BASE_SEED = 5_000_000  # reset seeds of the pool's rollouts: apart from the demos' and evaluations'


def rollout_pool(teacher_checkpoint: Checkpoint, policies: list[str | Path], episodes: int,
                 config: DistillConfig) -> tuple[np.ndarray, dict]:
    """``round(rollout_share * pool)`` observation windows drawn (seeded; with replacement only if there are too
    few) from the windows every policy step of ``episodes`` closed-loop episodes of each export in ``policies``
    meets on the teacher's task (reset seeds ``ROLLOUT_BASE_SEED + i``): the states the student will act in,
    its own mistakes' included when a student export is among them (DAgger's data, labelled by the teacher);
    and a summary (windows and successes per policy)."""
    from robot_rl.learning.rollout import rollout_windows

    if episodes < 1:
        raise ConfigError(f"rollout policies need --rollout-episodes >= 1, got {episodes}")
    windows, summary = [], {}
    for path in policies:
        found, results = rollout_windows(path, teacher_checkpoint.task.get("name", ""),
                                         [ROLLOUT_BASE_SEED + i for i in range(episodes)], config.threads)
        if found.shape[1:] != (teacher_checkpoint.config.obs_history, teacher_checkpoint.config.obs_dim):
            raise ConfigError(f"{path}: its observation windows {found.shape[1:]} are not the teacher's "
                              f"({teacher_checkpoint.config.obs_history}, {teacher_checkpoint.config.obs_dim})")
        windows.append(found)
        summary[str(path)] = {"windows": len(found), "successes": sum(r.success for r in results),
                              "episodes": episodes}
    windows = np.concatenate(windows)
    count = int(round(config.rollout_share * config.pool))
    index = np.random.default_rng(config.seed + 2).choice(len(windows), size=count, replace=count > len(windows))
    return windows[index], summary


def run_distill(teacher: str | Path, dataset: str | Path | None, out: str | Path, config: DistillConfig,
                progress: bool = True, rollout_policies: list[str | Path] | None = None,
                rollout_episodes: int = 0, init: str | Path | None = None) -> Checkpoint:
    """``robot-rl train distill``: the student's checkpoint in ``<out>/checkpoint.pt`` (exportable as any
    diffusion checkpoint), with the teacher's path and its holdout error in ``train["distill"]``. With
    ``rollout_policies`` (exports on the teacher's task), a ``config.rollout_share`` of the pool's windows come
    from their closed-loop rollouts (:func:`rollout_pool`), the rest from the training set."""
    from tqdm import tqdm

    from robot_rl.learning.checkpoint import load_checkpoint
    from robot_rl.learning.train_bc import CHECKPOINT_NAME

    teacher_checkpoint = load_checkpoint(teacher)
    rollout = rollout_pool(teacher_checkpoint, rollout_policies, rollout_episodes, config) \
        if rollout_policies else None
    count = config.pool - (0 if rollout is None else len(rollout[0]))
    obs, summary = training_windows(teacher_checkpoint, dataset, count, config.seed)
    if rollout is not None:
        obs = np.concatenate([obs, rollout[0]])[np.random.default_rng(config.seed).permutation(config.pool)]
        summary = {**summary, "rollouts": rollout[1]}
    bar = tqdm(total=config.steps, desc="train distill", unit="step", disable=not progress)

    def on_log(step: int, loss: float, error: dict) -> None:
        bar.update(step - bar.n)
        bar.set_postfix(loss=f"{loss:.5f}", **({"holdout_mean_abs": f"{error['mean_abs']:.4f}"} if error else {}))

    try:
        checkpoint = distill(teacher_checkpoint, obs, config, Path(out) / CHECKPOINT_NAME, on_log=on_log,
                             init=None if init is None else load_checkpoint(init))
    finally:
        bar.close()
    checkpoint.train["distill"].update(teacher=str(Path(teacher).resolve()), dataset=summary)
    save_checkpoint(checkpoint, Path(out) / CHECKPOINT_NAME)
    return checkpoint
