"""Run the gate: start the real node graph as processes, drive episodes, measure, judge against the contract.

The gate process holds one rclpy observer node: it resets the robot (``/control_node/reset``), publishes
goals, and records /joint_states, the policy's commands and /diagnostics. Metrics:

* success per episode (task-specific, see :mod:`robot_rl_sim.gate.tasks`) with a 95% Wilson interval;
* tracking_error_rad: mean |measured - commanded| (rad) at each command step's deadline;
* saturation_fraction: share of action entries clipped (policy node diagnostics);
* interventions_per_episode: safety-filter ``interventions`` (its /diagnostics) per episode.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.paths import config_dir
from robot_rl.policy.contract import read_contract
from robot_rl.robot.model import load_robot_model
from robot_rl_sim.gate.stats import failed_criteria, wilson_interval
from robot_rl_sim.gate.tasks import GateTask


@dataclass(frozen=True)
class GateConfig:
    """Gate settings; times in s, latency in ms, noise in rad and rad/s."""

    policy: str
    robot: str = "panda"
    episodes: int = 5
    episode_s: float = 3.0
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    position_noise: float = 0.0
    velocity_noise: float = 0.0
    seed: int = 0
    startup_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.episodes < 1 or self.episode_s <= 0:
            raise ConfigError(f"gate: episodes ({self.episodes}) must be >= 1 and episode_s ({self.episode_s}) > 0")


def gate_graph(config: GateConfig, log_dir: Path) -> tuple[list, bool]:
    """(node specs, safety filter present). Without the safety filter node installed, the control node
    follows the policy's command topic directly and the report says so."""
    from robot_rl.bringup.graph import NodeSpec, bringup_graph
    from robot_rl.topics import COMMAND

    policy_params = {"latency_ms": config.latency_ms, "jitter_ms": config.jitter_ms,
                     "position_noise": config.position_noise, "velocity_noise": config.velocity_noise,
                     "seed": config.seed}
    control = {"stats_path": str(log_dir / "control_stats.json")}
    import importlib.util

    if (config_dir() / "nodes" / "safety_filter.yaml").is_file() and \
            importlib.util.find_spec("robot_rl.nodes.safety_filter_node") is not None:
        specs = bringup_graph(config.robot, "mujoco", policy=config.policy,
                              overrides={"policy_node": policy_params, "control_node": control})
        return specs, True
    specs = [NodeSpec("control_node", "control_node", "robot_rl.nodes.control_node",
                      {"robot": config.robot, "hardware": "mujoco", "command_topic": COMMAND, **control}),
             NodeSpec("policy_node", "policy_node", "robot_rl.nodes.policy_node",
                      {"robot": config.robot, "policy_path": config.policy, **policy_params}, param_file="policy")]
    return specs, False


def run_gate(config: GateConfig, log_dir: str | Path) -> dict:
    """Run the gate; return the report (``passed`` False with ``reasons`` when criteria fail)."""
    contract, _ = read_contract(config.policy)
    task = GateTask(contract.provenance.task)
    model = load_robot_model(config.robot)
    rng = np.random.default_rng(config.seed)
    goals = [task.sample_goal(model, rng) for _ in range(config.episodes)]
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    specs, has_filter = gate_graph(config, log_dir)
    env = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
           "ROS_DOMAIN_ID": os.environ.get("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 200)))}
    os.environ.update(env)
    from robot_rl.bringup.runner import GraphRunner
    from robot_rl_sim.gate.observer import GateObserver

    with GraphRunner(specs, log_dir, env=env) as runner, GateObserver(model.joint_names) as observer:
        episodes = observer.run_episodes(runner, goals, task, model, config)
        diag = observer.diagnostics
    return _report(config, contract, episodes, diag, has_filter, str(log_dir))


def _report(config: GateConfig, contract, episodes: list[dict], diag: dict, has_filter: bool, log_dir: str) -> dict:
    successes = sum(e["success"] for e in episodes)
    entries = float(diag.get("policy_node", {}).get("action_entries", 0))
    saturated = float(diag.get("policy_node", {}).get("saturated_entries", 0))
    interventions = diag.get("safety_filter", {}).get("interventions")
    errors = [e["tracking_error_rad"] for e in episodes if e["tracking_error_rad"] is not None]
    report = {
        "policy": config.policy, "task": contract.provenance.task, "robot": config.robot,
        "episodes": episodes, "success_rate": successes / len(episodes),
        "success_ci95": list(wilson_interval(successes, len(episodes))),
        "tracking_error_rad": float(np.mean(errors)) if errors else None,
        "saturation_fraction": saturated / entries if entries else None,
        "interventions_per_episode": float(interventions) / len(episodes) if interventions is not None else None,
        "safety_filter": has_filter,
        "policy_diagnostics": diag.get("policy_node", {}),
        "injection": {k: v for k, v in asdict(config).items() if k in
                      ("latency_ms", "jitter_ms", "position_noise", "velocity_noise", "seed")},
        "pass_criteria": asdict(contract.pass_criteria), "log_dir": log_dir,
    }
    report["reasons"] = failed_criteria(contract.pass_criteria, report)
    if entries == 0:
        report["reasons"].append("the policy node sent no actions (see its log in log_dir)")
    report["passed"] = not report["reasons"]
    return report
