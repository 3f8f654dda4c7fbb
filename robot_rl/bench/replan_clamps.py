"""The gate's command path in simulated time: policy scheduler -> safety filter -> control core (issue 15).

Why: through the ROS 2 gate at a real 50 chunks/s the one-step student's panda-reach success fell to 49/100 and
the safety filter counted ~19 000 acceleration clamps per 10 episodes (docs/distillation.md). This replays that
path in-process, without ROS and without wall-clock, so the clamps can be counted and a fix measured:

* the policy node's :class:`robot_rl.policy.scheduler.PolicyScheduler` (from the contract, or with an overridden
  ``chunking.ensemble``), ticking every policy period of simulated time: its heartbeat goes to the filter at
  the tick, a requested chunk ``--latency-ms`` later (the gate's inference p50 was ~9 ms), both as the node
  publishes them (the chunk's remaining steps with their observation stamp);
* the real :class:`robot_rl.safety.SafetyFilter` with the filter node's YAML defaults (``output_latency`` 0.04 s
  included) and the watchdog bringup derives for the policy (:func:`robot_rl.bringup.graph.policy_watchdog_timeout_s`);
* its plan into the task env's :class:`robot_rl.control.ControlCore` on MuJoCo, 1 ms control ticks;
* a gripper's target (the first step's, binary) set with every command, as the node publishes it;
* success judged every task period (0.1 s) over the whole ``episode_seconds``, as the gate's observer does
  for an any-step task; clamps = the filter's ``acceleration_limit`` interventions (one per joint and command).

Stand-ins against the gate: no DDS transport delay, the observation is the state at the tick (no stale
joint_states), and inference takes a fixed simulated time.

    python -m robot_rl.bench.replan_clamps --policy P [--ensemble W] --episodes N --blocks K --seed S --json out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import numpy as np

from robot_rl.command import JointTrajectoryCommand
from robot_rl.errors import ConfigError
from robot_rl.learning.stats import wilson_interval
from robot_rl.policy.chunking import ActionChunk
from robot_rl.policy.scheduler import PolicyScheduler, ScheduleConfig
from robot_rl.safety import SafetyConfig, SafetyFilter
from robot_rl.safety.result import Reason

COUNTED = (Reason.ACCELERATION_LIMIT, Reason.VELOCITY_LIMIT, Reason.JERK_LIMIT, Reason.TORQUE_LIMIT,
           Reason.WATCHDOG, Reason.BAD_TIMES)


def gate_safety_config(contract) -> SafetyConfig:
    """The safety filter node's settings in the gate for ``contract``: YAML defaults + the policy watchdog."""
    from robot_rl.bringup.graph import policy_watchdog_timeout_s
    from robot_rl.params import load_param_specs

    params = {name: p.default for name, p in load_param_specs("safety_filter").items()}
    params["watchdog_timeout"] = policy_watchdog_timeout_s(contract)
    return SafetyConfig.from_params(params)


class GatePath:
    """One policy on one task env, its commands through the gate's scheduler and safety filter.

    Args:
        path: the policy .onnx (with its contract).
        ensemble: overrides the contract's ``chunking.ensemble`` when not None.
        n_action_steps: overrides the contract's ``chunking.n_action_steps`` when not None (a 50 Hz export
            replanning every 5th tick separates the command rate from the replanning rate).
        filter_limit_scale: the filter's acceleration and jerk limits times this (a diagnostic, not a
            deployable setting: > 1 asks whether the filter's cuts or the replanning itself cost the success).
        latency_s: simulated inference time, s (a chunk is accepted and sent this long after its tick).
    """

    def __init__(self, path: str, ensemble: float | None = None, latency_s: float = 0.01,
                 n_action_steps: int | None = None, filter_limit_scale: float = 1.0):
        from robot_rl.policy.contract import load_policy
        from robot_rl.policy.runtime import PolicyRuntime, RuntimeConfig
        from robot_rl_sim.tasks import get_task, make_env

        loaded = load_policy(path)
        contract = loaded.contract
        overrides = {k: v for k, v in (("ensemble", ensemble), ("n_action_steps", n_action_steps)) if v is not None}
        contract = dataclasses.replace(contract, chunking=dataclasses.replace(contract.chunking, **overrides))
        self.contract = contract
        self.task = get_task(contract.provenance.task)
        self.env = make_env(self.task)
        gripper_range = (self.task.action.gripper_open, self.task.action.gripper_closed)  # as the task env's
        self.runtime = PolicyRuntime(loaded, robot_model=self.env.robot, config=RuntimeConfig(intra_op_threads=1),
                                     gripper_range=gripper_range)
        self.schedule = ScheduleConfig.from_contract(contract)
        self.safety_config = gate_safety_config(contract)
        self.filter_model = self.env.robot
        if filter_limit_scale != 1.0:
            from robot_rl.robot.model import RobotModel

            config = self.env.robot.config
            self.filter_model = RobotModel(dataclasses.replace(
                config, acceleration_limits=config.acceleration_limits * filter_limit_scale,
                jerk_limits=config.jerk_limits * filter_limit_scale))
        self.latency_s = latency_s
        if not 0.0 <= latency_s < contract.timing.period:
            raise ConfigError(f"latency_s must be in [0, policy period {contract.timing.period}) s, got {latency_s}")

    def _chunk(self, now: float) -> ActionChunk:
        """The policy's chunk on the observation at ``now`` (s), as the policy node builds it."""
        obs = self.env.observe()
        raw = self.runtime.base.run(self.task.flatten_obs(obs).astype(np.float32))
        return self.runtime.chunk(raw, obs["joint_pos"], now)

    def run_episode(self, seed: int) -> dict:
        """One ``episode_seconds`` episode from ``env.reset(seed)``; success, clamps and counts."""
        env, period = self.env, self.contract.timing.period
        env.reset(seed=seed)
        safety, scheduler = SafetyFilter(self.filter_model, self.safety_config), PolicyScheduler(self.schedule)
        ms = round(period / self.task.physics_dt)
        lat = round(self.latency_s / self.task.physics_dt)
        check = round(self.task.policy_dt / self.task.physics_dt)
        counts = dict.fromkeys(COUNTED, 0)
        commands, success_s, pending, disagreement = 0, None, None, []
        for step in range(round(self.task.episode_seconds / self.task.physics_dt)):
            now = float(env.data.time)
            outgoing = []
            if step % ms == 0:
                tick = scheduler.tick(now)
                outgoing.append(tick.command)
                if tick.infer:
                    pending = self._chunk(now)
            if pending is not None and step % ms == lat:
                if scheduler.current is not None:
                    disagreement.append(_disagreement(scheduler.current, pending, self.schedule.replace_from))
                outgoing.append(scheduler.accept(pending, now))
                pending = None
            for chunk in filter(None, outgoing):
                commands += 1
                if chunk.gripper is not None:  # the node publishes the first step's finger target with each command
                    env.hardware.set_gripper(float(chunk.gripper[0]))
                result = safety.filter(_command(chunk), env.data.qpos[env.hardware._qpos].copy(), now)
                for note in result.interventions:
                    if note.reason in counts:
                        counts[note.reason] += 1
                if result.allowed is not None:
                    env.core.submit(result.allowed)
            env.core.tick()
            if (step + 1) % check == 0 and success_s is None \
                    and env.task.quantities(env.data, env.ee_pos())["success"]:
                success_s = float(env.data.time)
        lag = np.array([d for d in disagreement if d is not None]).reshape(-1, 2)
        return {"seed": seed, "success": success_s is not None, "success_time_s": success_s,
                "final_dist_m": env.task.quantities(env.data, env.ee_pos()).get("ee_goal_dist"),
                "disagreement_rad": float(lag[:, 0].mean()) if len(lag) else None,
                "disagreement_along_rad": float(lag[:, 1].mean()) if len(lag) else None,
                "commands": commands, "chunks": scheduler.stats["chunks"], **counts}


def _disagreement(current: ActionChunk, chunk: ActionChunk, first: int) -> tuple[float, float] | None:
    """(max over joints of |chunk - current| at ``chunk``'s step ``first``, rad; the same difference along
    the direction ``current`` moves from there to its end, rad: < 0 when the new chunk is behind). The new
    chunk as the policy output it, before any blending; None when ``current`` does not reach that step."""
    due, old_due = chunk.stamp + chunk.deadlines[first], current.stamp + current.deadlines
    if not old_due[0] <= due <= old_due[-1]:
        return None
    then = np.array([np.interp(due, old_due, current.positions[:, j]) for j in range(current.positions.shape[1])])
    diff, heading = chunk.positions[first] - then, current.positions[-1] - then
    norm = np.linalg.norm(heading)
    return float(np.abs(diff).max()), float(diff @ heading / norm) if norm > 1e-9 else 0.0


def _command(chunk: ActionChunk) -> JointTrajectoryCommand:
    """The JointTrajectory the policy node publishes for ``chunk``."""
    return JointTrajectoryCommand(joint_names=chunk.joint_names, stamp=chunk.stamp, times=chunk.deadlines,
                                  positions=chunk.positions, velocities=chunk.velocities, source="policy")


def summarise(episodes: list[dict]) -> dict:
    """Success (Wilson 95 %), clamps per episode and per command, median time to success."""
    n, ok = len(episodes), sum(e["success"] for e in episodes)
    clamps = np.array([e[Reason.ACCELERATION_LIMIT] for e in episodes], dtype=float)
    commands = np.array([e["commands"] for e in episodes], dtype=float)
    times = [e["success_time_s"] for e in episodes if e["success"]]
    failed = [e["final_dist_m"] for e in episodes if not e["success"] and e["final_dist_m"] is not None]
    lags = [e["disagreement_rad"] for e in episodes if e["disagreement_rad"] is not None]
    along = [e["disagreement_along_rad"] for e in episodes if e["disagreement_along_rad"] is not None]
    return {"episodes": n, "successes": ok, "success_rate": ok / max(n, 1), "success_ci95": wilson_interval(ok, n),
            "acceleration_clamps_per_episode": float(clamps.mean()), "clamps_per_episode_median": float(np.median(clamps)),
            "clamps_per_command": float(clamps.sum() / max(commands.sum(), 1)),
            "commands_per_episode": float(commands.mean()),
            "chunks_per_episode": float(np.mean([e["chunks"] for e in episodes])),
            "median_success_time_s": float(np.median(times)) if times else None,
            "bad_times_per_episode": float(np.mean([e[Reason.BAD_TIMES] for e in episodes])),
            "median_final_dist_failed_m": float(np.median(failed)) if failed else None,
            "disagreement_rad": float(np.mean(lags)) if lags else None,
            "disagreement_along_rad": float(np.mean(along)) if along else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", required=True)
    parser.add_argument("--ensemble", type=float, default=None, help="override the contract's chunking.ensemble")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1_000_000)
    parser.add_argument("--blocks", type=int, default=1, help="reset seeds seed + 1000 k + i, k < blocks, i < "
                        "episodes (the gate runs' blocks of docs/distillation.md)")
    parser.add_argument("--n-action-steps", type=int, default=None, help="override the contract's")
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--filter-limit-scale", type=float, default=1.0,
                        help="diagnostic: the filter's acceleration and jerk limits times this")
    parser.add_argument("--json", default=None, help="write episodes + summary here")
    args = parser.parse_args(argv)
    if args.episodes < 1 or args.blocks < 1:
        parser.error("--episodes and --blocks must be >= 1")
    path = GatePath(args.policy, args.ensemble, args.latency_ms / 1000.0, args.n_action_steps,
                    args.filter_limit_scale)
    episodes = []
    for seed in [args.seed + 1000 * k + i for k in range(args.blocks) for i in range(args.episodes)]:
        episodes.append(path.run_episode(seed))
        print(json.dumps(episodes[-1]), flush=True)
    out = {"policy": args.policy, "chunking": dataclasses.asdict(path.contract.chunking), "latency_ms": args.latency_ms,
           "filter_limit_scale": args.filter_limit_scale,
           "safety": dataclasses.asdict(path.safety_config), "summary": summarise(episodes), "episodes": episodes}
    print(json.dumps(out["summary"]), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
