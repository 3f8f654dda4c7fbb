"""``robot-rl bench safety-filter``: per-command latency of the safety filter (ms, p50/p99/max).

Scenario: a 7-joint Panda policy stream, one command every ``period`` s, each a chunk of
``chunk`` waypoints ``chunk_dt`` s apart on a smooth path around the default pose; the filter
runs its full pipeline (checks, grid sampling, rate limiting, dead-man brake, FK workspace check
and, in the first configuration, self-collision). A third scenario, random target jumps, shows
the cost when the rate limiter and backtracking do real work. ``latency_ms`` is wall-clock time
(what the node sees, inflated by other processes on a loaded machine); ``cpu_time_ms`` is the
thread's CPU time per call, and the 1-minute load average is reported alongside.
``geometry_evaluations_per_command`` counts the FK/self-collision evaluations the path checker
could not prove unnecessary (robot_rl/safety/geometry.py); ``torque_bound_passes_per_command`` the interval
inverse-dynamics passes of the torque bound (robot_rl/safety/torque_bound.py).
"""

from __future__ import annotations

import argparse
import gc
import os
import time

import numpy as np

from robot_rl.bench.output import emit, percentiles_ms


def _smooth_command(model, t: float, chunk: int, chunk_dt: float):
    from robot_rl.command import JointTrajectoryCommand

    times = chunk_dt * np.arange(1, chunk + 1)
    phase = 2 * np.pi * (t + times)[:, None] / 4.0
    positions = model.config.default_pose + 0.3 * np.sin(phase + np.arange(model.dof))
    return JointTrajectoryCommand(model.joint_names, t, times, positions, source="bench")


def _jump_command(model, t: float, chunk: int, chunk_dt: float, rng):
    from robot_rl.command import JointTrajectoryCommand

    lim = model.limits
    target = rng.uniform(lim.soft_lower, lim.soft_upper)
    return JointTrajectoryCommand(model.joint_names, t, chunk_dt * np.arange(1, chunk + 1),
                                  np.repeat(target[None, :], chunk, axis=0), source="bench")


def measure(check_collision: bool, scenario: str, commands: int, chunk: int, chunk_dt: float, period: float,
            robot: str = "panda") -> dict:
    """Latency of ``commands`` filter calls (after 50 warm-up calls), and how many changed/rejected anything."""
    from robot_rl.robot import load_robot_model
    from robot_rl.safety import SafetyConfig, SafetyFilter

    model = load_robot_model(robot)
    safety = SafetyFilter(model, SafetyConfig(check_collision=check_collision))
    gc.freeze()  # as the node does after start-up (robot_rl.nodes.main.run_node)
    rng = np.random.default_rng(0)
    now, q = 1000.0, model.config.default_pose.copy()
    durations, cpu, changed, rejected = np.empty(commands), np.empty(commands), 0, 0
    for i in range(commands + 50):
        if i == 50:
            evaluations_before, torque_before = safety.checker.evaluations, int(safety.torque.evaluations[0])
        cmd = _smooth_command(model, now, chunk, chunk_dt) if scenario == "smooth" else \
            _jump_command(model, now, chunk, chunk_dt, rng)
        start, start_cpu = time.perf_counter(), time.thread_time()
        result = safety.filter(cmd, q, now)
        elapsed, elapsed_cpu = time.perf_counter() - start, time.thread_time() - start_cpu
        if i >= 50:
            durations[i - 50], cpu[i - 50] = elapsed, elapsed_cpu
            changed += bool(result.interventions)
            rejected += result.rejected
        now += period
    return {"latency_ms": percentiles_ms(durations), "cpu_time_ms": percentiles_ms(cpu), "commands": commands,
            "with_interventions": changed, "rejected": rejected,
            "geometry_evaluations_per_command": (safety.checker.evaluations - evaluations_before) / commands,
            "torque_bound_passes_per_command": (int(safety.torque.evaluations[0]) - torque_before) / commands}


def register(subparsers) -> None:
    parser = subparsers.add_parser("safety-filter", help="per-command latency of the safety filter")
    parser.add_argument("--robot", default="panda", help="robot config name or YAML path")
    parser.add_argument("--json", default=None, help="write the JSON result here")
    parser.add_argument("--commands", type=int, default=2000, help="commands per configuration")
    parser.add_argument("--chunk", type=int, default=8, help="waypoints per command")
    parser.add_argument("--chunk-dt", type=float, default=0.02, help="s between waypoints")
    parser.add_argument("--period", type=float, default=0.02, help="s between commands")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    load_before = os.getloadavg()
    common = dict(commands=args.commands, chunk=args.chunk, chunk_dt=args.chunk_dt, period=args.period,
                  robot=args.robot)
    results = {
        "scenario": f"robot {args.robot}, {args.chunk} waypoints x {args.chunk_dt} s per command, one every "
                    f"{args.period} s, output grid 0.01 s, FK workspace check on",
        "collision_on": measure(True, "smooth", **common),
        "collision_off": measure(False, "smooth", **common),
        "random_jumps_collision_on": measure(True, "jumps", **common),
        "load_average_1min": {"before": load_before[0], "after": os.getloadavg()[0]},
        "cpu_count": os.cpu_count(),
    }
    emit("safety-filter", results, args.json)
    return 0
