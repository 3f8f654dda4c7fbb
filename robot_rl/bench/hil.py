"""``robot-rl bench hil``: what the human-in-the-loop learner costs on this machine, in one run.

* learner updates/s: :class:`robot_rl.hil.learner.ResidualLearner` updates (critic ensemble, actor,
  temperature) on n-step batches drawn from a filled :class:`~robot_rl.hil.sampler.ReplaySampler` (sampling
  included), per (hidden, batch) size;
* env steps/s of the simulated loop: :func:`robot_rl_sim.hil.episode.run_episode` on ``--task`` (panda-reach
  by default) under the task's default gap with the given base, a freshly exported residual exploring,
  every period fed to the learner node's core (no updates);
* seconds per 1k env steps at ``--utd``: 1000 / env rate + 1000 x UTD / update rate (the chosen size).
Output: JSON (rates in 1/s, times in ms and s). Wall-clock rates, and the process's CPU time per update and
per env step (``cpu_ms_per_update``, ``env_steps_per_cpu_s``): on a shared, loaded machine the CPU time is
what one core would take, the wall time what this run got.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT_BASE = Path(__file__).resolve().parents[2] / "tests" / "data" / "panda_reach_small" / "policy.onnx"
SIZES = ((128, 128), (128, 256), (256, 256))  # (hidden, batch)


def update_rate(hidden: int, batch: int, critics: int, updates: int, obs_dim: int = 20, action_dim: int = 7) -> dict:
    """Updates/s and ms per update of a learner of this size (after 5 warm-up updates)."""
    from robot_rl.hil.learner import LearnerConfig, ResidualLearner
    from robot_rl.hil.residual_net import NetConfig
    from robot_rl.hil.sampler import ReplaySampler
    from robot_rl.hil.transitions import ReplayConfig

    rng = np.random.default_rng(0)
    n = 5000
    sampler = ReplaySampler(ReplayConfig((obs_dim,), action_dim, capacity=n))
    sampler.extend({"obs": rng.normal(size=(n, obs_dim)), "base_action": rng.normal(size=(n, action_dim)),
                    "action": rng.uniform(-1, 1, (n, action_dim)), "intervened": rng.random(n) < 0.2,
                    "reward": (rng.random(n) < 0.02).astype(float), "done": rng.random(n) < 0.02,
                    "next_obs": rng.normal(size=(n, obs_dim)), "next_base_action": rng.normal(size=(n, action_dim))})
    learner = ResidualLearner(NetConfig(obs_dim, action_dim, hidden=hidden, critics=critics),
                              LearnerConfig(batch_size=batch))
    learner.fit_normalisation(sampler.arrays()["obs"], sampler.arrays()["base_action"])
    for _ in range(5):
        learner.update(sampler.sample_n_step(rng, batch, 0.5, 3, 0.97))
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(updates):
        learner.update(sampler.sample_n_step(rng, batch, 0.5, 3, 0.97))
    mean, cpu_mean = (time.perf_counter() - start) / updates, (time.process_time() - cpu) / updates
    return {"hidden": hidden, "batch": batch, "critics": critics, "ms_per_update": mean * 1e3,
            "updates_per_s": 1.0 / mean, "cpu_ms_per_update": cpu_mean * 1e3}


def env_rate(base: str, episodes: int, task: str = "panda-reach") -> dict:
    """Env steps/s of the simulated HIL loop (acting with an exploring residual, feeding the learner core)."""
    from robot_rl_sim.hil.episode import run_episode
    from robot_rl_sim.hil.session import HilSimConfig, _Setup

    with tempfile.TemporaryDirectory() as out:
        setup = _Setup(HilSimConfig(base=base, out=out, task=task, method="residual-rl"))
        run_episode(setup.env, setup.runtime(None), setup.learner, setup.human, 0)  # data for an export
        setup.learner.learn(1)
        residual = str(setup.learner.maybe_export())
        runtime = setup.runtime(residual, explore=True)
        start, cpu, steps = time.perf_counter(), time.process_time(), 0
        for e in range(episodes):
            steps += run_episode(setup.env, runtime, setup.learner, setup.human, 1 + e).steps
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
        setup.learner.close()
    return {"task": task, "episodes": episodes, "env_steps": steps, "env_steps_per_s": steps / seconds,
            "env_steps_per_cpu_s": steps / cpu_seconds}


def run(base: str = str(DEFAULT_BASE), critics: int = 10, updates: int = 40, episodes: int = 3, utd: float = 10.0,
        chosen: tuple[int, int] = (128, 256), threads: int = 1, task: str = "panda-reach") -> dict:
    """Returns the benchmark's JSON body."""
    import torch

    torch.set_num_threads(threads)
    learner = [update_rate(h, b, critics, updates) for h, b in SIZES]
    env = env_rate(base, episodes, task)
    size = next(r for r in learner if (r["hidden"], r["batch"]) == tuple(chosen))
    seconds = 1000 / env["env_steps_per_s"] + 1000 * utd / size["updates_per_s"]
    return {"threads": threads, "learner": learner, "env": env,
            "cost_per_1k_env_steps": {"utd": utd, "hidden": chosen[0], "batch": chosen[1], "critics": critics,
                                      "seconds": seconds, "seconds_learning": 1000 * utd / size["updates_per_s"]}}


def _main(args) -> int:
    from robot_rl.bench.output import emit

    emit("hil", run(args.base, args.critics, args.updates, args.episodes, args.utd, tuple(args.chosen),
                    args.threads, args.task), args.json)
    return 0


def register(subparsers) -> None:
    """Add ``robot-rl bench hil``."""
    parser = subparsers.add_parser("hil", help="HIL learner updates/s, simulated loop env steps/s, cost per 1k steps")
    parser.add_argument("--json", help="also write the JSON to this file")
    parser.add_argument("--base", default=str(DEFAULT_BASE), help="base policy for the env loop, trained on --task")
    parser.add_argument("--task", default="panda-reach", help="task of the env loop (under its default gap)")
    parser.add_argument("--critics", type=int, default=10)
    parser.add_argument("--updates", type=int, default=40, help="timed updates per size (after 5 warm-up)")
    parser.add_argument("--episodes", type=int, default=3, help="timed episodes of the simulated loop")
    parser.add_argument("--utd", type=float, default=10.0, help="updates per env step for the cost figure")
    parser.add_argument("--chosen", type=int, nargs=2, default=(128, 256), metavar=("HIDDEN", "BATCH"),
                        help="the learner size the cost figure uses (one of the timed sizes)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.set_defaults(func=_main)
