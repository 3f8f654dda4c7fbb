"""``robot-rl bench train``: diffusion-policy training throughput (samples/s) on this machine.

Runs the real training loop (:func:`robot_rl.learning.trainer.train`) on
episodes shaped like the chosen task's (random values: throughput does not
depend on them) and reports samples/s and ms per optimiser step, excluding warm-up.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np


def run(task: str = "panda-reach", steps: int = 60, warmup: int = 10, batch_size: int = 256,
        threads: int = 2) -> dict:
    """Returns the benchmark's JSON body."""
    import json

    from robot_rl.learning.diffusion import DiffusionConfig, parameter_count
    from robot_rl.learning.trainer import TrainConfig, new_checkpoint, train
    from robot_rl.learning.windows import Episode
    from robot_rl_sim.tasks import get_task

    spec = get_task(task)
    rng = np.random.default_rng(0)
    episodes = [Episode(rng.normal(size=(spec.max_steps, spec.obs_dim)), rng.normal(size=(spec.max_steps,
                                                                                        spec.action_dim)))
                for _ in range(20)]
    diffusion = DiffusionConfig(obs_dim=spec.obs_dim, action_dim=spec.action_dim)
    step_times: list[float] = []
    last = [time.perf_counter()]

    def on_log(step: int, loss: float, rate: float) -> None:
        now = time.perf_counter()
        step_times.append(now - last[0])
        last[0] = now

    config = TrainConfig(steps=warmup + steps + 1, batch_size=batch_size, log_every=1, checkpoint_every=10 ** 9,
                         threads=threads)
    checkpoint = new_checkpoint(config, diffusion, episodes, json.loads(json.dumps(spec.to_dict())), {})
    with tempfile.TemporaryDirectory() as tmp:
        train(config, checkpoint, episodes, Path(tmp) / "bench.pt", on_log=on_log)
    timed = np.asarray(step_times[warmup:-1])  # the last step also writes the final checkpoint
    from robot_rl.bench.output import percentiles_ms

    return {"task": task, "batch_size": batch_size, "threads": threads, "timed_steps": len(timed),
            "samples_per_s": float(batch_size * len(timed) / timed.sum()),
            "step_ms": percentiles_ms(timed), "parameters": parameter_count(checkpoint.policy())}


def _main(args) -> int:
    from robot_rl.bench.output import emit

    emit("train", run(task=args.task, steps=args.steps, batch_size=args.batch_size, threads=args.threads), args.json)
    return 0


def register(subparsers) -> None:
    """Add ``robot-rl bench train``."""
    parser = subparsers.add_parser("train", help="diffusion policy training throughput (samples/s)")
    parser.add_argument("--json", help="also write the JSON to this file")
    parser.add_argument("--task", default="panda-reach", help="task whose observation/action sizes to use")
    parser.add_argument("--steps", type=int, default=60, help="timed optimiser steps (after 10 warm-up steps)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.set_defaults(func=_main)
