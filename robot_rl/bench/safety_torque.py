"""``robot-rl bench safety-torque``: the worst torque the safety filter's output asks for, over hostile commands in
gravity-heavy poses (issue 17: it must stay <= the URDF effort limit).

Streams start at rest in a gravity-heavy pose (the 64 of 3000 random poses inside the soft limits, the box and
the collision margin where gravity alone needs the largest fraction of some joint's URDF effort limit) and send a hostile command every 20 ms: a jump to
a random target across the range, a move to another gravity-heavy pose, or a push in a fixed direction, with
waypoints 0-0.3 s ahead; every 25th event is an e-stop followed by a reset. The filter runs with its default
settings (box and collision checks on; ``--no-collision`` turns the self/floor collision checks off). Every output message is judged on its own grid, preceded by the two
points of the executed trajectory before it: torque = pinocchio RNEA with finite-difference velocity and
acceleration, plus the URDF's joint damping and friction, over the URDF effort limit. This is the measure the
filter's bound (robot_rl/safety/torque_bound.py) is meant to keep <= TORQUE_FRACTION (0.9).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from robot_rl.bench.output import emit

STREAM = 40  # commands per stream (then a fresh filter at another heavy pose)


def _heavy_poses(model, rng, count: int = 64, samples: int = 3000) -> tuple[list[np.ndarray], float]:
    """The ``count`` most gravity-loaded of ``samples`` random poses inside the soft limits, the box and the collision
    margin (largest |gravity torque| / URDF effort over the joints), and the smallest such ratio among them."""
    lim, effort = model.limits, np.array(model.model.effortLimit)
    poses, loads = [], []
    while len(poses) < samples:
        q = rng.uniform(lim.soft_lower, lim.soft_upper)
        pts = model.frame_positions(q, model.config.workspace.links)
        if model.config.workspace.contains(pts) and model.min_collision_distance(q)[0] > model.config.collision.margin:
            poses.append(q)
            loads.append(np.max(np.abs(model.gravity(q)) / effort))
    order = np.argsort(loads)[::-1][:count]
    return [poses[i] for i in order], float(loads[order[-1]])


def _ratios(model, data, history: np.ndarray, positions: np.ndarray, dt: float) -> np.ndarray:
    """|tau| / effort (m, n) at ``positions`` (m, n) after the two ``history`` points (2, n)."""
    import pinocchio

    seq = np.vstack([history, positions, positions[-1:], positions[-1:]])
    v = np.diff(seq, axis=0) / dt
    a = np.diff(v, axis=0) / dt
    pm = model.model
    tau = np.array([pinocchio.rnea(pm, data, seq[k + 2], v[k + 1], a[k]) for k in range(len(a))])
    tau += np.array(pm.damping) * v[1:] + np.array(pm.friction) * np.sign(v[1:])
    return np.abs(tau) / np.array(pm.effortLimit)


def _splice(executed: list, first: float | None, msg, dt: float) -> tuple[list, float]:
    """The executed grid (list index = grid index from the first output's stamp + 2) after ``msg`` replaced it from
    its first point on (the last point held in between)."""
    first = msg.stamp if first is None else first
    k0 = int(round((msg.stamp - first) / dt)) + 2
    executed = executed + [executed[-1]] * max(0, k0 - len(executed))
    return executed[:k0] + list(msg.positions), first


def _command(model, kind: str, q: np.ndarray, heavy, push, now: float, rng):
    from robot_rl.command import JointTrajectoryCommand

    lim = model.limits
    k = int(rng.integers(1, 5))
    times = np.sort(rng.uniform(0.0, 0.3, k)) + 0.005 * np.arange(1, k + 1)
    if kind == "jump":
        positions = np.repeat(rng.uniform(lim.lower, lim.upper)[None, :], k, axis=0)
    elif kind == "heavy":
        positions = np.repeat(heavy[int(rng.integers(len(heavy)))][None, :], k, axis=0)
    else:
        positions = q + np.outer(np.arange(1, k + 1) / k, push * rng.choice([0.3, 1.0, 3.0]))
    return JointTrajectoryCommand(model.joint_names, now, times, positions, source="bench")


def measure(robot: str, commands: int, seed: int = 0, collision: bool = True) -> dict:
    """Worst torque ratio over ``commands`` hostile commands on ``robot`` (see the module docstring)."""
    from robot_rl.robot import load_robot_model
    from robot_rl.safety import Reason, SafetyConfig, SafetyFilter

    model = load_robot_model(robot)
    data, rng = model.model.createData(), np.random.default_rng(seed)
    heavy, least_load = _heavy_poses(model, rng)
    dt = SafetyConfig().output_dt
    worst, worst_at, over_budget, slowed, rejected, sent, points = 0.0, None, 0, 0, 0, 0, 0
    started = time.perf_counter()
    for stream in range(-(-commands // STREAM)):
        q0 = heavy[stream % len(heavy)]
        safety, push = SafetyFilter(model, SafetyConfig(check_collision=collision)), rng.uniform(-1, 1, model.dof)
        executed, first, now = [q0, q0], None, 1000.0  # grid points from the first output's stamp - 2 dt
        for i in range(min(STREAM, commands - stream * STREAM)):
            now += 0.02
            k_now = 0 if first is None else int(np.floor((now - first) / dt + 1e-6)) + 2
            measured = executed[min(k_now, len(executed) - 1)]
            if i % 25 == 24:  # e-stop, then a reset once at rest
                msg = safety.estop(now).allowed
                if msg is not None:
                    executed, first = _splice(executed, first, msg, dt)
                now += 0.5
                measured = executed[-1]
                msg = safety.reset(now, measured).allowed
            else:
                kind = str(rng.choice(["jump", "heavy", "push"]))
                result = safety.filter(_command(model, kind, measured, heavy, push, now, rng), measured, now)
                slowed += any(n.reason == Reason.TORQUE_LIMIT for n in result.interventions)
                rejected += result.rejected
                msg = result.allowed
            if msg is None:
                continue
            first = msg.stamp if first is None else first
            k0 = int(round((msg.stamp - first) / dt)) + 2
            ratios = _ratios(model, data, np.array((executed + [executed[-1]] * k0)[k0 - 2:k0]), msg.positions, dt)
            executed, first = _splice(executed, first, msg, dt)
            sent, points = sent + 1, points + len(msg.positions)
            over_budget += int(np.any(ratios > 0.9 + 1e-9))
            if ratios.max() > worst:
                worst, worst_at = float(ratios.max()), {"stream": stream, "command": i,
                                                        "joint": int(np.argmax(ratios.max(axis=0)))}
    return {"robot": robot, "commands": commands, "seed": seed, "collision_checks": collision, "messages_checked": sent, "grid_points_checked": points,
            "worst_torque_ratio": worst, "worst_at": worst_at, "messages_over_0.9": over_budget,
            "commands_slowed_by_torque_limit": slowed, "commands_rejected": rejected,
            "gravity_heavy_start_poses": len(heavy), "their_least_gravity_over_effort": least_load,
            "seconds": time.perf_counter() - started}


def register(subparsers) -> None:
    parser = subparsers.add_parser("safety-torque", help="worst torque / URDF effort over hostile commands in "
                                                         "gravity-heavy poses")
    parser.add_argument("--json", default=None, help="write the JSON result here")
    parser.add_argument("--commands", type=int, default=100_000, help="commands per robot")
    parser.add_argument("--robots", nargs="+", default=["panda", "ur5"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-collision", action="store_true", help="self/floor collision checks off (faster; the "
                                                                     "box stays on)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    load_before = os.getloadavg()
    results = {"robots": [measure(robot, args.commands, args.seed, not args.no_collision) for robot in args.robots],
               "load_average_1min": {"before": load_before[0], "after": os.getloadavg()[0]},
               "cpu_count": os.cpu_count()}
    emit("safety-torque", results, args.json)
    return 0
