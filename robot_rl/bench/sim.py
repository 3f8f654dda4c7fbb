"""``robot-rl bench sim``: env steps/s of each task vs the raw ``mj_step`` rate of the same model.

For each task, one run measures (a) the env's policy steps per second under its
scripted expert's actions (replayed, so the expert's IK is not timed), (b) the
physics steps per second of the env (policy steps x decimation), and (c) bare
``mujoco.mj_step`` on the same compiled model and state with zero control. The
ratio physics-in-env / raw is the cost of the control law, observations and
task logic (1.0 would be free). Times are reported in ms.
"""

from __future__ import annotations

import time

import numpy as np


def _expert_actions(env, seed: int, steps: int) -> list[np.ndarray]:
    from robot_rl_sim.experts import make_expert

    obs = env.reset(seed=seed)
    expert = make_expert(env.spec, seed=seed, model=env.robot)
    actions = []
    for _ in range(steps):
        actions.append(expert.act(obs))
        obs, *_ = env.step(actions[-1])
    return actions


def bench_task(name: str, episodes: int = 3, raw_steps: int = 20000) -> dict:
    """Measured rates for one task (see module docstring)."""
    import mujoco

    from robot_rl.bench.output import percentiles_ms
    from robot_rl_sim.tasks import make_env

    env = make_env(name)
    spec = env.spec
    step_s = []
    for ep in range(episodes):
        actions = _expert_actions(env, ep, spec.max_steps)
        env.reset(seed=ep)
        for a in actions:
            t0 = time.perf_counter()
            env.step(a)
            step_s.append(time.perf_counter() - t0)
    env.reset(seed=0)
    data = mujoco.MjData(env.model)
    data.qpos[:], data.qvel[:] = env.data.qpos, env.data.qvel
    t0 = time.perf_counter()
    for _ in range(raw_steps):
        mujoco.mj_step(env.model, data)
    raw_rate = raw_steps / (time.perf_counter() - t0)
    env_rate = len(step_s) / float(np.sum(step_s))
    return {"policy_hz": spec.policy_hz, "decimation": spec.decimation, "physics_dt_ms": spec.physics_dt * 1e3,
            "env_steps_per_s": env_rate, "env_physics_steps_per_s": env_rate * spec.decimation,
            "raw_mj_steps_per_s": raw_rate, "ratio_env_physics_to_raw": env_rate * spec.decimation / raw_rate,
            "realtime_factor": env_rate * spec.decimation * spec.physics_dt,
            "env_step_ms": percentiles_ms(np.asarray(step_s)), "raw_mj_step_ms": 1e3 / raw_rate}


def run(tasks: list[str] | None = None, episodes: int = 3) -> dict:
    """The benchmark's JSON body: one entry per task."""
    from robot_rl_sim.tasks import task_names

    names = tasks or task_names()
    return {"tasks": {name: bench_task(name, episodes) for name in names}}


def _main(args) -> int:
    from robot_rl.bench.output import emit

    emit("sim", run(args.task or None, args.episodes), args.json)
    return 0


def register(subparsers) -> None:
    """Add ``robot-rl bench sim``."""
    parser = subparsers.add_parser("sim", help="MuJoCo task env steps/s vs raw mj_step rate")
    parser.add_argument("--json", help="also write the JSON to this file")
    parser.add_argument("--task", action="append", help="task to measure (repeatable; default: all registered)")
    parser.add_argument("--episodes", type=int, default=3, help="expert episodes timed per task")
    parser.set_defaults(func=_main)
