"""Run the gate: start the real node graph as processes, drive episodes, measure, judge against the contract.

The graph is :func:`robot_rl.bringup.graph.bringup_graph` (policy node -> real safety filter -> control node
on MuJoCo); for a registered task the control node simulates the task's own scene and reset distribution
(parameters ``task``, ``seed``) and publishes the object pose; the safety filter's watchdog is the one
bringup_graph derives from the contract (:func:`robot_rl.bringup.graph.policy_watchdog_timeout_s`: two
policy periods, since the policy node sends a heartbeat every period).
The gate process holds one rclpy observer node: per episode it deactivates the policy node, resets the
robot (``/control_node/reset``: the task's reset distribution is re-sampled there), publishes the goal,
re-activates the policy node, and records /joint_states, /robot_rl/object_pose, the policy's commands and
/diagnostics. Metrics:

* success per episode (the task's own rule, see :mod:`robot_rl_sim.gate.tasks`) with a 95% Wilson interval;
* tracking_error_rad: mean |measured - commanded| (rad) at each command step's deadline;
* saturation_fraction: share of action entries clipped (policy node diagnostics);
* interventions_per_episode: safety-filter rejections + clamps (sum of its per-reason /diagnostics counters,
  without the stops ``watchdog``/``estop``/``reset`` that the gate's own episode switching causes) per
  episode; every counter is in ``interventions_by_reason``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from robot_rl import topics
from robot_rl.bringup.session import isolated_ros_env
from robot_rl.control.loop import percentiles
from robot_rl.errors import ConfigError
from robot_rl.policy.contract import read_contract
from robot_rl.robot.model import load_robot_model
from robot_rl.safety.result import Reason
from robot_rl_sim.gate.stats import failed_criteria, wilson_interval
from robot_rl_sim.gate.tasks import GateTask


@dataclass(frozen=True)
class GateConfig:
    """Gate settings; times in s, latency in ms, noise in rad and rad/s."""

    policy: str
    robot: str = "panda"
    episodes: int = 5
    episode_s: float | None = None  # None: the task's episode length (3 s for the test task joint-target)
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    position_noise: float = 0.0
    velocity_noise: float = 0.0
    seed: int = 0
    startup_timeout_s: float = 120.0  # policy load + contract checks on a loaded machine

    def __post_init__(self) -> None:
        if self.episodes < 1 or (self.episode_s is not None and self.episode_s <= 0):
            raise ConfigError(f"gate: episodes ({self.episodes}) must be >= 1 and episode_s ({self.episode_s}) > 0")
        if self.seed < 0:
            raise ConfigError(f"gate: seed must be >= 0, got {self.seed}")


STOP_REASONS = (Reason.WATCHDOG, Reason.ESTOP, Reason.RESET)
"""Safety-filter counters not counted as interventions on the policy (see the module docstring)."""
DEFAULT_EPISODE_S = 3.0


def gate_graph(config: GateConfig, log_dir: Path, control_task: str = "") -> tuple[list, float]:
    """(node specs, safety watchdog s): policy node (with the injected perturbations), safety filter
    (watchdog as bringup_graph derives it from the policy's contract), control node simulating
    ``control_task`` ("" = plain robot scene) with the gate's seed."""
    from robot_rl.bringup.graph import bringup_graph

    policy_params = {"latency_ms": config.latency_ms, "jitter_ms": config.jitter_ms,
                     "position_noise": config.position_noise, "velocity_noise": config.velocity_noise,
                     "seed": config.seed}
    control = {"stats_path": str(log_dir / "control_stats.json"), "task": control_task, "seed": config.seed}
    specs = bringup_graph(config.robot, "mujoco", policy=config.policy,
                          overrides={"policy_node": policy_params, "control_node": control})
    safety = next(s for s in specs if s.name == "safety_filter")
    return specs, safety.parameters["watchdog_timeout"]


def run_gate(config: GateConfig, log_dir: str | Path, camera: str = "") -> dict:
    """Run the gate; return the report (``passed`` False with ``reasons`` when criteria fail). ``camera``: an
    object YAML name: the policy observes that object's pose from the camera pipeline, not the simulator
    (:mod:`robot_rl_sim.gate.camera`; success is still judged on the simulator's pose)."""
    contract, _ = read_contract(config.policy)
    model = load_robot_model(config.robot)
    goal_units = next((t.units for t in contract.observations if t.source == "goal"), "")
    task = GateTask(contract.provenance.task, model.config, goal_units=goal_units)
    rng = np.random.default_rng(config.seed)
    goals = [task.sample_goal(model, rng) for _ in range(config.episodes)]
    episode_s = config.episode_s or task.episode_s or DEFAULT_EPISODE_S
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    specs, watchdog_s = gate_graph(config, log_dir, task.control_task)
    env = isolated_ros_env()
    os.environ.update(env)
    from robot_rl.bringup.runner import GraphRunner
    from robot_rl_sim.gate.observer import GateObserver

    object_topic, probe = topics.OBJECT_POSE, None
    if camera:
        from robot_rl_sim.gate.camera import PoseErrorProbe, camera_graph

        specs, object_topic = camera_graph(specs, log_dir, camera)
        probe = PoseErrorProbe()
    with GraphRunner(specs, log_dir, env=env) as runner, \
            GateObserver(model.joint_names, watchdog_s, object_topic) as observer:
        if probe is not None:
            probe.attach(observer.node)
        episodes = observer.run_episodes(runner, goals, task, model, config, episode_s)
        diag, latencies = observer.diagnostics, list(observer.latencies_ms)
    report = _report(config, contract, episodes, diag, str(log_dir))
    report["perception"] = probe.summary(diag) if probe is not None else None
    report["episode_s"], report["safety_watchdog_timeout_s"] = episode_s, watchdog_s
    report["inference_latency_ms"] = ({**percentiles(latencies),
                                       "max_latency_ms_contract": contract.timing.max_latency_ms}
                                      if latencies else None)
    return report


def interventions(safety_diag: dict[str, str]) -> tuple[int | None, dict[str, int]]:
    """(interventions on the policy's commands, every counter by reason) from the safety filter's
    /diagnostics values (reason -> count); (None, {}) when the filter never reported."""
    counts = {k: int(float(v)) for k, v in safety_diag.items() if k in Reason.ALL}
    if not counts:
        return None, {}
    return sum(v for k, v in counts.items() if k not in STOP_REASONS), counts


def _report(config: GateConfig, contract, episodes: list[dict], diag: dict, log_dir: str) -> dict:
    successes = sum(e["success"] for e in episodes)
    entries = float(diag.get("policy_node", {}).get("action_entries", 0))
    saturated = float(diag.get("policy_node", {}).get("saturated_entries", 0))
    total, by_reason = interventions(diag.get("safety_filter", {}))
    errors = [e["tracking_error_rad"] for e in episodes if e["tracking_error_rad"] is not None]
    report = {
        "policy": config.policy, "task": contract.provenance.task, "robot": config.robot,
        "episodes": episodes, "success_rate": successes / len(episodes),
        "success_ci95": list(wilson_interval(successes, len(episodes))),
        "tracking_error_rad": float(np.mean(errors)) if errors else None,
        "saturation_fraction": saturated / entries if entries else None,
        "interventions_per_episode": total / len(episodes) if total is not None else None,
        "interventions_by_reason": by_reason, "safety_filter": bool(diag.get("safety_filter")),
        "policy_diagnostics": diag.get("policy_node", {}),
        "injection": {k: v for k, v in asdict(config).items() if k in
                      ("latency_ms", "jitter_ms", "position_noise", "velocity_noise", "seed")},
        "pass_criteria": asdict(contract.pass_criteria), "log_dir": log_dir,
    }
    report["reasons"] = failed_criteria(contract.pass_criteria, report)
    if not diag.get("safety_filter"):
        report["reasons"].append("the safety filter published no diagnostics (see its log in log_dir)")
    if entries == 0:
        report["reasons"].append("the policy node sent no actions (see its log in log_dir)")
    report["passed"] = not report["reasons"]
    return report
