"""``robot-rl hil sim``: human-in-the-loop residual learning against MuJoCo, measured round by round.

The base policy (a contract-carrying ONNX file trained on the task) meets a sim-to-real gap it was not
trained for: joint encoder offsets (:mod:`.calibration`). Each round collects episodes in which a
simulated human (:mod:`.human`, a scripted stand-in for the person at the teleop device) takes over when
the arm stalls short of the goal; the learner (:mod:`robot_rl.hil.learner`) then updates the residual
from every transition (human and policy), exports it as a residual ONNX policy bound to the base's
sha256, and that file is evaluated WITHOUT the human: composed with the base by onnxruntime exactly as
the policy node composes it. Everything goes to ``out/``: the transition store, one residual per round,
``report.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from robot_rl.atomic import write_atomic
from robot_rl.errors import ConfigError


@dataclass(frozen=True)
class HilSimConfig:
    """One run. Offsets in rad per joint (robot order); ``residual_scale`` in raw action units (rad)."""

    base: str
    out: str
    task: str = "panda-reach"
    rounds: int = 4
    episodes_per_round: int = 10
    updates_per_round: int = 400
    eval_episodes: int = 20
    residual_scale: float = 0.1
    calibration_offset: tuple[float, ...] = (0.0, 0.04, 0.0, -0.04, 0.0, 0.0, 0.0)
    explore: bool = True
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


@dataclass
class RoundStats:
    """What one round measured: collection with the human, then the exported residual alone."""

    round: int
    human_step_fraction: float  # share of executed steps the human drove during collection
    interventions_per_episode: float
    collect_success: float  # with the human (it finishes what it takes over)
    eval_success: float  # base + this round's residual, no human
    eval_final_distance_m: float  # mean final end-effector-goal distance in the evaluation
    updates: int
    losses: dict = field(default_factory=dict)
    residual: str = ""
    seconds: float = 0.0


class _Setup:
    """What a run needs, built once: envs, base policy, simulated human, learner."""

    def __init__(self, config: HilSimConfig):
        from robot_rl.hil.learner import LearnerConfig, ResidualLearner
        from robot_rl.hil.residual_net import NetConfig
        from robot_rl.learning.rollout import ChunkPolicy
        from robot_rl_sim.experts import make_expert
        from robot_rl_sim.hil.calibration import CalibrationOffsetEnv
        from robot_rl_sim.hil.human import SimulatedHuman
        from robot_rl_sim.tasks import get_task, make_env

        import torch

        torch.set_num_threads(config.threads)  # small networks: 1 thread is ~30x faster per update here than 2
        self.spec = get_task(config.task)
        self.base = ChunkPolicy(config.base, self.spec, config.threads)
        self.loaded = self.base.onnx.policy  # LoadedPolicy: contract, bytes, sha256
        self.env = CalibrationOffsetEnv(make_env(self.spec), np.asarray(config.calibration_offset))
        self.human = SimulatedHuman(self.spec, make_expert(self.spec, seed=config.seed, noise=0.0,
                                                           model=self.env.env.robot))
        obs_dim = self.base.history * self.spec.obs_dim
        weights = LearnerConfig(bc_weight=config.bc_weight, q_weight=config.q_weight)
        self.learner = ResidualLearner(NetConfig(obs_dim, self.spec.action_dim), weights, seed=config.seed)

    def residual(self, explore: bool):
        """The learner's residual as ``f(window (To, O), chunk (k, a)) -> (k, a)``."""
        return lambda window, chunk: self.learner.act(window, chunk, explore=explore)


def evaluate(setup: _Setup, residual_path: str | None, seeds: list[int]) -> tuple[float, float]:
    """(success rate, mean final true end-effector-goal distance m) of base (+ residual ONNX), no human."""
    from robot_rl.learning.rollout import ChunkPolicy

    policy = ChunkPolicy(setup.loaded.path, setup.spec, residual_path=residual_path) \
        if residual_path else setup.base
    terms = {t.source: t.name for t in setup.spec.obs_terms}
    successes, distances = [], []
    for seed in seeds:
        successes.append(policy.run_episode(setup.env, seed).success)
        true = setup.env.true_obs()
        distances.append(float(np.linalg.norm(true[terms["ee_pos"]] - true[terms["goal"]])))
    return float(np.mean(successes)), float(np.mean(distances))


def _collect(setup: _Setup, config: HilSimConfig, round_index: int, store, sampler) -> list:
    """Episodes with the simulated human; every transition goes to the store (disk) and the sampler."""
    from robot_rl_sim.hil.episode import run_episode

    records = []
    for e in range(config.episodes_per_round):
        seed = 1_000_000 + round_index * config.episodes_per_round + e  # disjoint from the evaluation seeds
        record = run_episode(setup.env, setup.base, setup.residual(config.explore), setup.human,
                             config.residual_scale, seed)
        transitions = record.transitions()
        for t in range(len(record.reward)):
            sampler.add(store.add(**{name: values[t] for name, values in transitions.items()}))
        store.end_episode()  # a no-op after a terminal (done) step
        records.append(record)
    return records


def _open_replay(setup: _Setup, config: HilSimConfig, out: Path):
    """(TransitionStore under ``out/transitions``, an empty ReplaySampler) for this run's shapes."""
    from robot_rl.hil.replay import TransitionStore
    from robot_rl.hil.sampler import ReplaySampler
    from robot_rl.hil.transitions import ReplayConfig

    replay = ReplayConfig(obs_shape=(setup.base.history, setup.spec.obs_dim), action_dim=setup.spec.action_dim)
    store = TransitionStore(out / "transitions", replay, policy={"base_sha256": setup.loaded.sha256,
                                                                 "task": config.task})
    return store, ReplaySampler(replay)


def _learn(setup: _Setup, config: HilSimConfig, sampler, rng) -> dict[str, float]:
    """``updates_per_round`` learner updates on 50/50 online / human batches; mean losses."""
    learner = setup.learner
    if not learner.fitted:
        data = sampler.arrays()
        learner.fit_normalisation(data["obs"], data["base_action"])
    losses: dict[str, list[float]] = {}
    for _ in range(config.updates_per_round):
        for key, value in learner.update(sampler.sample_mixed(rng, learner.config.batch_size)).items():
            losses.setdefault(key, []).append(value)
    return {k: float(np.mean(v)) for k, v in losses.items()}


def _export(setup: _Setup, scale: float, records: list, path: Path) -> str:
    """Write the residual ONNX; golden vectors from the first two steps of the round's last episode."""
    from robot_rl.hil.export import export_residual

    golden = records[-1]
    export_residual(setup.learner.actor, setup.loaded, scale, path, golden.obs[:2], golden.base_action[:2])
    return str(path)


def run_hil_sim(config: HilSimConfig, log=print) -> dict:
    """All rounds; returns the report (also written to ``out/report.json``)."""
    out = Path(config.out)
    setup = _Setup(config)
    store, sampler = _open_replay(setup, config, out)
    rng = np.random.default_rng(config.seed)
    eval_seeds = list(range(config.eval_episodes))
    started = time.perf_counter()
    base_success, base_distance = evaluate(setup, None, eval_seeds)
    log(f"[hil] base alone with the calibration offset: success {base_success:.2f}, "
        f"final distance {base_distance * 100:.1f} cm")
    rounds = []
    for r in range(config.rounds):
        t0 = time.perf_counter()
        records = _collect(setup, config, r, store, sampler)
        losses = _learn(setup, config, sampler, rng)
        path = _export(setup, config.residual_scale, records, out / f"residual_round{r}.onnx")
        success, distance = evaluate(setup, path, eval_seeds)
        steps = np.concatenate([rec.intervened for rec in records])
        stats = RoundStats(r, float(steps.mean()), float(np.mean([rec.interventions for rec in records])),
                           float(np.mean([rec.success for rec in records])), success, distance,
                           setup.learner.updates, losses, path, time.perf_counter() - t0)
        rounds.append(stats)
        log(f"[hil] round {r}: human drove {stats.human_step_fraction:.0%} of steps, "
            f"{stats.interventions_per_episode:.1f} takeovers/episode; residual alone: success {success:.2f}, "
            f"final distance {distance * 100:.1f} cm ({stats.seconds:.0f} s)")
    report = {"config": asdict(config), "base_policy_sha256": setup.loaded.sha256,
              "base_eval": {"success": base_success, "final_distance_m": base_distance},
              "rounds": [asdict(s) for s in rounds], "seconds": time.perf_counter() - started}
    store.close()
    write_atomic(out / "report.json", json.dumps(report, indent=1).encode())
    return report
