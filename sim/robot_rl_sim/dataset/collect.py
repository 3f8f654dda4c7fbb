"""Collect scripted-expert demonstrations into a dataset directory, in parallel worker processes.

Workers run episodes and send them back; the main process writes each one as
soon as it arrives (:class:`DemoWriter`), so an interrupted collection keeps
every episode finished before the interruption.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl_sim.dataset.format import Episode
from robot_rl_sim.dataset.storage import DemoWriter

SEED_STRIDE = 1_000_000
EXTRA_STEPS_AFTER_SUCCESS = 2  # policy steps recorded after the first success (shows holding it)


@dataclass(frozen=True)
class CollectConfig:
    """What to collect: task, count, seeding, noise (0..2), workers, whether failed episodes are kept."""

    task: str
    episodes: int
    out: Path
    seed: int = 0
    noise: float = 1.0
    workers: int = 1
    keep_failures: bool = False
    max_attempts_factor: float = 2.0

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ConfigError(f"collect.episodes must be >= 1, got {self.episodes}")
        if self.workers < 1:
            raise ConfigError(f"collect.workers must be >= 1, got {self.workers}")
        if not 0.0 <= self.noise <= 2.0:
            raise ConfigError(f"collect.noise must be in [0, 2], got {self.noise}")
        if self.seed < 0:
            raise ConfigError(f"collect.seed must be >= 0, got {self.seed}")


def run_episode(env, expert, seed: int) -> Episode:
    """One expert episode from ``env.reset(seed)``, until success (+ a few steps) or the time limit."""
    spec = env.spec
    obs = env.reset(seed=seed)
    expert.reset()
    frames: dict[str, list] = {t.name: [] for t in spec.obs_terms}
    actions, rewards, successes = [], [], []
    remaining = None
    for _ in range(spec.max_steps):
        action = expert.act(obs)
        for name in frames:
            frames[name].append(obs[name])
        obs, reward, success, _ = env.step(action)
        actions.append(action)
        rewards.append(reward)
        successes.append(success)
        if success and remaining is None:
            remaining = EXTRA_STEPS_AFTER_SUCCESS
        elif remaining is not None:
            remaining -= 1
        if remaining == 0:
            break
    return Episode(obs={k: np.array(v) for k, v in frames.items()}, actions=np.array(actions),
                   rewards=np.array(rewards), successes=np.array(successes), seed=seed)


_WORKER: dict = {}


def _init_worker(task: str, noise: float) -> None:
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from robot_rl_sim.tasks import make_env

    _WORKER["env"] = make_env(task)
    _WORKER["noise"] = noise


def _worker_episode(seed: int) -> Episode:
    from robot_rl_sim.experts import make_expert

    env = _WORKER["env"]
    expert = make_expert(env.spec, seed=seed, noise=_WORKER["noise"], model=env.robot)
    return run_episode(env, expert, seed)


def _episodes(config: CollectConfig, seeds: Iterator[int]) -> Iterator[Episode]:
    if config.workers == 1:
        _init_worker(config.task, config.noise)
        for seed in seeds:
            yield _worker_episode(seed)
        return
    ctx = mp.get_context("spawn")
    with ctx.Pool(config.workers, initializer=_init_worker, initargs=(config.task, config.noise)) as pool:
        yield from pool.imap(_worker_episode, seeds)


def collect(config: CollectConfig, progress: Callable[[int, int], None] | None = None) -> dict:
    """Collect until ``config.episodes`` episodes are stored (failures dropped unless ``keep_failures``).

    Resumes an existing directory of the same task. Returns a summary dict
    (stored, attempted, successes, out). ``progress(stored, target)`` is called after each write.
    """
    from robot_rl_sim.tasks import get_task

    spec = get_task(config.task)
    writer = DemoWriter(config.out, spec, info={"expert_noise": config.noise, "seed": config.seed})
    base = config.seed * SEED_STRIDE
    used = [e["seed"] - base for e in writer.entries.values() if isinstance(e.get("seed"), int)]
    start = 1 + max(used, default=-1)  # a resumed collection continues after the last stored seed
    stored = len(writer.entries)
    max_attempts = int(config.episodes * config.max_attempts_factor) + 10
    seeds = iter(range(base + start, base + start + max_attempts))
    attempted = successes = 0
    for episode in _episodes(config, seeds):
        if stored >= config.episodes:
            break
        attempted += 1
        successes += episode.success
        if episode.success or config.keep_failures:
            episode.info = {"expert_noise": config.noise}
            writer.write(episode)
            stored += 1
            if progress:
                progress(stored, config.episodes)
    if stored < config.episodes:
        raise ConfigError(f"collected only {stored} of {config.episodes} episodes in {attempted} attempts: the "
                          f"expert fails too often on {config.task!r} (noise {config.noise})")
    return {"out": str(config.out), "stored": stored, "attempted": attempted, "successes": successes}
