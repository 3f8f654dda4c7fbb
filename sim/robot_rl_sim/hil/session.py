"""``robot-rl hil sim``: human-in-the-loop residual learning against MuJoCo, measured round by round.

The base policy (a contract-carrying ONNX file trained on the task) meets a sim-to-real gap it was not
trained for (:mod:`.gaps`, ``gap``). Each round collects episodes in which a
simulated human (:mod:`.human`, a scripted stand-in for the person at the teleop device) takes over when
the task stalls, while the policy acts with the residual exported last round. Every
period goes through the ``hil_learner_node``'s own core (:class:`robot_rl.hil.online.OnlineLearner`: labels,
transition store, updates, export), so this measures the code the robot runs. After the round's updates
the new residual (an ONNX policy bound to the base's sha256) is evaluated WITHOUT the human, composed
with the base by onnxruntime as the policy node composes it. Everything goes to ``out/``:
``transitions/``, ``residual_<k>.onnx``, ``learner.pt``, ``report.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from robot_rl.atomic import write_atomic
from robot_rl.errors import ConfigError

EVAL_SEED = 3_000_000  # evaluation reset seeds: disjoint from the demonstrations' (0, 1, ...) and collection's


@dataclass(frozen=True)
class HilSimConfig:
    """One run. ``gap``: a gap name of :mod:`.gaps` ("" = the task's default); ``residual_scale`` in raw action
    units (rad); ``human_budget``: the most steps the simulated human may drive in the run."""

    base: str
    out: str
    task: str = "panda-reach"
    rounds: int = 4
    episodes_per_round: int = 10
    updates_per_round: int = 400
    eval_episodes: int = 20
    residual_scale: float = 0.1
    gap: str = ""
    human_budget: int = 3000
    method: str = "bc"  # pass-through for the learner's --method (hil-learner gives it its meaning)
    bc_weight: float = 2.0  # actor loss weights (robot_rl.hil.learner.LearnerConfig)
    q_weight: float = 0.0
    threads: int = 1  # onnxruntime intra-op and torch threads
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.rounds, self.episodes_per_round, self.eval_episodes) < 1 or self.updates_per_round < 0:
            raise ConfigError(f"HilSimConfig: rounds {self.rounds}, episodes_per_round {self.episodes_per_round} "
                              f"and eval_episodes {self.eval_episodes} must be >= 1, updates_per_round >= 0")
        if not (np.isfinite(self.residual_scale) and self.residual_scale > 0):
            raise ConfigError(f"HilSimConfig: residual_scale must be > 0, got {self.residual_scale}")
        from robot_rl_sim.hil.gaps import resolve_gap

        resolve_gap(self.gap, self.task)  # ConfigError naming the declared gaps


@dataclass
class RoundStats:
    """What one round measured: collection with the human, then the exported residual alone."""

    round: int
    human_step_fraction: float  # share of executed steps the human drove during collection
    interventions_per_episode: float
    collect_success: float  # with the human (it finishes what it takes over)
    eval_success: float  # base + this round's residual, no human
    eval_final_distance_m: float  # mean final remaining distance (SimulatedHuman.remaining) in the evaluation
    updates: int
    env_steps: int = 0  # cumulative policy steps collected in the run (the human's included)
    human_steps: int = 0  # cumulative steps the human drove in the run
    losses: dict = field(default_factory=dict)
    residual: str = ""
    seconds: float = 0.0


class _Setup:
    """What a run needs, built once: env, base policy, simulated human, the learner node's core."""

    def __init__(self, config: HilSimConfig):
        import torch

        from robot_rl.hil.online import OnlineConfig, OnlineLearner
        from robot_rl.learning.rollout import ChunkPolicy
        from robot_rl_sim.hil.gaps import make_gap_env
        from robot_rl_sim.hil.human import HumanConfig, make_human
        from robot_rl_sim.tasks import get_task

        torch.set_num_threads(config.threads)  # small networks: 1 thread is ~30x faster per update here than 2
        self.spec = get_task(config.task)
        self.base = ChunkPolicy(config.base, self.spec, config.threads)  # evaluation, and the task check
        self.loaded = self.base.onnx.policy  # LoadedPolicy: contract, bytes, sha256
        self.env = make_gap_env(self.spec, config.gap, seed=config.seed)
        self.robot = self.env.env.robot
        human_config = HumanConfig.for_task(self.spec, budget_steps=config.human_budget)
        self.human = make_human(self.spec, self.robot, human_config, seed=config.seed)
        self.env_steps = 0  # policy steps collected so far
        # updates_per_step is set so high that the update budget never binds: a round runs updates_per_round
        self.learner = OnlineLearner(self.loaded, OnlineConfig(
            out_dir=config.out, residual_scale=config.residual_scale, updates_per_step=1e6, min_transitions=2,
            export_every_updates=max(1, config.updates_per_round), bc_weight=config.bc_weight,
            q_weight=config.q_weight, seed=config.seed), robot_model=self.robot)

    def runtime(self, residual: str | None):
        """The acting PolicyRuntime: the base plus ``residual`` (an exported file) if given."""
        from robot_rl.policy.contract import load_policy
        from robot_rl.policy.runtime import PolicyRuntime, RuntimeConfig

        extra = load_policy(residual, robot=self.robot) if residual else None
        return PolicyRuntime(self.loaded, extra, robot_model=self.robot, config=RuntimeConfig(seed=0))


def evaluate(setup: _Setup, residual_path: str | None, seeds: list[int]) -> tuple[float, float]:
    """(success rate, mean final true remaining distance m (SimulatedHuman.remaining)) of base (+ residual
    ONNX), no human."""
    from robot_rl.learning.rollout import ChunkPolicy

    policy = ChunkPolicy(setup.loaded.path, setup.spec, residual_path=residual_path) \
        if residual_path else setup.base
    successes, distances = [], []
    for seed in seeds:
        successes.append(policy.run_episode(setup.env, seed).success)
        distances.append(setup.human.remaining(setup.env.true_obs()))
    return float(np.mean(successes)), float(np.mean(distances))


def _collect(setup: _Setup, config: HilSimConfig, round_index: int, residual: str | None) -> list:
    """Episodes with the simulated human, acted by base + ``residual``; the learner stores every period."""
    from robot_rl_sim.hil.episode import run_episode

    runtime = setup.runtime(residual)
    first = 1_000_000 + round_index * config.episodes_per_round  # disjoint from the evaluation seeds
    episodes = [run_episode(setup.env, runtime, setup.learner, setup.human, first + e)
                for e in range(config.episodes_per_round)]
    setup.env_steps += sum(e.steps for e in episodes)
    return episodes


def run_hil_sim(config: HilSimConfig, log=print) -> dict:
    """All rounds; returns the report (also written to ``out/report.json``)."""
    out = Path(config.out)
    setup = _Setup(config)
    eval_seeds = [EVAL_SEED + i for i in range(config.eval_episodes)]
    started = time.perf_counter()
    base_success, base_distance = evaluate(setup, None, eval_seeds)
    log(f"[hil] base alone with gap {setup.env.name!r}: success {base_success:.2f}, "
        f"final distance {base_distance * 100:.1f} cm")
    rounds, residual = [], None
    try:
        for r in range(config.rounds):
            stats = _round(setup, config, r, residual)
            residual = stats.residual
            rounds.append(stats)
            log(f"[hil] round {r}: human drove {stats.human_step_fraction:.0%} of steps, "
                f"{stats.interventions_per_episode:.1f} takeovers/episode; residual alone: success "
                f"{stats.eval_success:.2f}, final distance {stats.eval_final_distance_m * 100:.1f} cm "
                f"({stats.seconds:.0f} s)")
    finally:
        setup.learner.close()
    report = {"config": asdict(config), "base_policy_sha256": setup.loaded.sha256,
              "gap": setup.env.name, "human": {"steps": setup.human.steps, "budget_left": setup.human.budget_left,
                                                "delay_steps": setup.human.delay_steps,
                                                "config": asdict(setup.human.config)},
              "base_eval": {"success": base_success, "final_distance_m": base_distance},
              "rounds": [asdict(s) for s in rounds], "seconds": time.perf_counter() - started}
    write_atomic(out / "report.json", json.dumps(report, indent=1).encode())
    return report


def _round(setup: _Setup, config: HilSimConfig, r: int, residual: str | None) -> RoundStats:
    """Collect with the human (acting with ``residual``), learn, export, evaluate without the human."""
    t0 = time.perf_counter()
    episodes = _collect(setup, config, r, residual)
    learner = setup.learner
    learner.learn(config.updates_per_round)
    path = learner.maybe_export()
    path = str(path) if path is not None else residual
    success, distance = evaluate(setup, path, [EVAL_SEED + i for i in range(config.eval_episodes)])
    steps = sum(e.steps for e in episodes)
    return RoundStats(r, sum(e.human_steps for e in episodes) / steps,
                      float(np.mean([e.interventions for e in episodes])),
                      float(np.mean([e.success for e in episodes])), success, distance, learner.learner.updates,
                      setup.env_steps, setup.human.steps, dict(learner.losses), path or "", time.perf_counter() - t0)
