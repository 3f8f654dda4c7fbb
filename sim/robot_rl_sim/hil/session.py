"""``robot-rl hil sim``: human-in-the-loop residual learning against MuJoCo, measured round by round.

The base policy (a contract-carrying ONNX file trained on the task) meets a sim-to-real gap it was not
trained for (:mod:`.gaps`, ``gap``). Each round collects episodes in which a
simulated human (:mod:`.human`, a scripted stand-in for the person at the teleop device) takes over when
the task stalls, while the policy acts with the residual exported last round. Every
period goes through the ``hil_learner_node``'s own core (:class:`robot_rl.hil.online.OnlineLearner`: labels,
transition store, updates, export), so this measures the code the robot runs. After the round's updates
the new residual (an ONNX policy bound to the base's sha256) is evaluated WITHOUT the human, composed
with the base by onnxruntime as the policy node composes it. Everything goes to ``out/``:
``transitions/``, ``residual_<k>.onnx``, ``learner.pt``, ``progress.json`` (the rounds so far, after each round: what an
interrupted run leaves), ``report.json`` (last).

``method`` (:data:`robot_rl.hil.methods.METHODS`): ``bc`` clones the corrections (HG-DAgger), ``residual-rl``
(default) learns from the sparse reward over the frozen base, ``rlpd-scratch`` learns the same way over a
hold-position base (:mod:`robot_rl.hil.hold_base`, ``out/hold_base.onnx``): the policy acting alone. The
learner runs ``utd`` updates per collected step after each round (or ``updates_per_round`` if set), and
``demo_episodes`` fully human-driven episodes are stored before round 0 (the offline data, with every
intervention).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from robot_rl.atomic import write_atomic
from robot_rl.errors import ConfigError
from robot_rl.hil.methods import method_defaults
from robot_rl_sim.hil.evaluate import evaluate_episodes, eval_seeds

DEFAULT_SCALES = {"bc": 0.1, "residual-rl": 0.1, "rlpd-scratch": 0.2, "dsrl": 1.5}  # dsrl: its latent bound
"""Residual scale per method, rad per unit residual: over a base, a correction; alone, a step per period."""



@dataclass(frozen=True)
class HilSimConfig:
    """One run. ``gap``: a gap name of :mod:`.gaps` ("" = the task's default); ``residual_scale`` in raw action
    units (rad); ``human_budget``: the most steps the simulated human may drive in the run."""

    base: str
    out: str
    task: str = "panda-reach"
    rounds: int = 4
    episodes_per_round: int = 10
    updates_per_round: int = 0  # 0: utd x the steps collected in the round
    utd: float = 10.0
    eval_episodes: int = 20
    eval_every: int = 1  # evaluate after every k-th round (and always after the last)
    residual_scale: float | None = None  # None: the method's (DEFAULT_SCALES)
    gap: str = ""  # a declared gap (robot_rl_sim.hil.gaps; '+' composes); "": the task's default
    human_budget: int = 3000  # most steps the simulated human may drive in the run
    human_waits_for_grasp: bool = False  # pick-cube: the human's trigger waits while the fingers close (.human)
    human_anticipates: bool = False  # pick-cube: short corrections before the failure (.anticipate)
    human_correction_steps: int = 8  # anticipate: the most steps one correction drives
    human_corrects_until: str = "phase"  # anticipate: hand back after the phase, or at the "grasp" (.human)
    method: str = "residual-rl"
    bc_weight: float | None = None  # actor loss weights (None: the method's, robot_rl.hil.methods)
    q_weight: float | None = None
    anchor_weight: float | None = None
    anchor_target: str = "executed"  # robot_rl.hil.methods.ANCHOR_TARGETS
    explore: bool | None = None  # collection samples the residual (None: the method's); evaluation never does
    explore_scale: float = 1.0  # sampled: the residual's noise input times this, a fraction of its learned std
    demo_episodes: int = 0
    gripper_labels: str = "both"  # robot_rl.hil.labels.GRIPPER_LABELS
    threads: int = 1  # onnxruntime intra-op and torch threads
    seed: int = 0
    reward: str = "success"  # the learner's reward: the true success, or "classifier" (.classifier_reward)
    classifier: str = ""  # the success classifier ONNX of reward "classifier"

    @property
    def scale(self) -> float:
        """Raw action units (rad) per unit residual: ``residual_scale``, or the method's default."""
        return DEFAULT_SCALES[self.method] if self.residual_scale is None else float(self.residual_scale)

    def __post_init__(self) -> None:
        if min(self.rounds, self.episodes_per_round, self.eval_episodes, self.eval_every) < 1 \
                or self.updates_per_round < 0 or self.demo_episodes < 0 or not self.utd >= 0:
            raise ConfigError(f"HilSimConfig: rounds {self.rounds}, episodes_per_round {self.episodes_per_round}, "
                              f"eval_episodes {self.eval_episodes} and eval_every {self.eval_every} must be >= 1, "
                              f"updates_per_round, demo_episodes and utd >= 0")
        method_defaults(self.method)
        from robot_rl.hil.methods import ANCHOR_TARGETS

        if self.anchor_target not in ANCHOR_TARGETS or self.explore not in (None, True, False):
            raise ConfigError(f"HilSimConfig: anchor_target {self.anchor_target!r} must be one of {ANCHOR_TARGETS} "
                              f"and explore None, True or False (got {self.explore!r})")
        from robot_rl.policy.runtime import RuntimeConfig

        RuntimeConfig(explore_scale=self.explore_scale)  # ConfigError naming the range
        from robot_rl.hil.labels import gripper_evidence

        gripper_evidence(None, self.gripper_labels)  # ConfigError naming the modes
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise ConfigError(f"HilSimConfig: residual_scale must be > 0, got {self.residual_scale}")
        from robot_rl_sim.hil.gaps import resolve_gap

        resolve_gap(self.gap, self.task)  # ConfigError naming the declared gaps
        from robot_rl_sim.hil.classifier_reward import REWARD_SOURCES

        if self.reward not in REWARD_SOURCES or (self.reward == "classifier") != bool(self.classifier):
            raise ConfigError(f"HilSimConfig: reward must be one of {REWARD_SOURCES}, and a classifier path is "
                              f"given exactly for 'classifier' (got reward {self.reward!r}, classifier "
                              f"{self.classifier!r})")


@dataclass
class RoundStats:
    """What one round measured: collection with the human, then the exported residual alone."""

    round: int
    human_step_fraction: float  # share of executed steps the human drove during collection
    interventions_per_episode: float
    collect_success: float  # with the human (it finishes what it takes over)
    eval_success: float | None  # base + this round's residual, no human (None: not evaluated, eval_every)
    eval_final_distance_m: float | None  # mean final remaining distance (SimulatedHuman.remaining), evaluation
    updates: int
    env_steps: int = 0  # policy periods run so far, demonstrations and collection (not evaluation)
    human_steps: int = 0  # of them, steps the human drove, so far
    losses: dict = field(default_factory=dict)
    residual: str = ""
    seconds: float = 0.0


class _Setup:
    """What a run needs, built once: env, base policy, simulated human, the learner node's core."""

    def __init__(self, config: HilSimConfig):
        import torch

        from robot_rl.hil.methods import learner_class
        from robot_rl.hil.online import OnlineConfig
        from robot_rl.learning.rollout import ChunkPolicy
        from robot_rl_sim.experts import make_expert
        from robot_rl_sim.hil.classifier_reward import reward_learner
        from robot_rl_sim.hil.gaps import make_gap_env
        from robot_rl_sim.hil.human import HumanConfig, make_human
        from robot_rl_sim.tasks import get_task

        torch.set_num_threads(config.threads)  # small networks: 1 thread is ~30x faster per update here than 2
        self.spec = get_task(config.task)
        self.base = ChunkPolicy(config.base, self.spec, config.threads)  # evaluation, and the task check
        self.loaded = self.base.onnx.policy  # LoadedPolicy: contract, bytes, sha256
        if config.method == "rlpd-scratch":
            self._hold_base(config)
        self.explore = method_defaults(config.method)["explore"] if config.explore is None else config.explore
        self.explore_scale = config.explore_scale
        self.env = make_gap_env(self.spec, config.gap, seed=config.seed)
        self.robot = self.env.env.robot
        human_config = HumanConfig.for_task(self.spec, budget_steps=config.human_budget,
                                            wait_for_grasp=config.human_waits_for_grasp,
                                            anticipate=config.human_anticipates,
                                            anticipate_max_steps=config.human_correction_steps,
                                            anticipate_until=config.human_corrects_until)
        self.human = make_human(self.spec, self.robot, human_config, seed=config.seed)
        self.demo_expert = make_expert(self.spec, seed=config.seed + 1, noise=0.0, model=self.robot)
        # updates_per_step is set so high that the update budget never binds: a round runs its own count
        online = OnlineConfig(out_dir=config.out, residual_scale=config.scale, updates_per_step=1e6,
                              min_transitions=2, export_every_updates=1, method=config.method,
                              bc_weight=config.bc_weight, q_weight=config.q_weight,
                              anchor_weight=config.anchor_weight, anchor_target=config.anchor_target,
                              gripper_labels=config.gripper_labels, seed=config.seed)
        learner = learner_class(config.method)
        self.learner = reward_learner(lambda reward_fn: learner(self.loaded, online, robot_model=self.robot,
                                                                reward_fn=reward_fn),
                                      config.reward, config.classifier, self.robot)

    def _hold_base(self, config: HilSimConfig) -> None:
        """rlpd-scratch: the hold-position base replaces the trained one (out/hold_base.onnx)."""
        from robot_rl.hil.hold_base import write_hold_base
        from robot_rl.learning.rollout import ChunkPolicy

        path = Path(config.out) / "hold_base.onnx"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_hold_base(self.loaded, path)
        self.base = ChunkPolicy(path, self.spec, config.threads)
        self.loaded = self.base.onnx.policy

    def runtime(self, residual: str | None, explore: bool = False):
        """The acting PolicyRuntime: the base plus ``residual`` (an exported file) if given, sampled if
        ``explore``."""
        from robot_rl.policy.contract import load_policy
        from robot_rl.policy.runtime import PolicyRuntime, RuntimeConfig

        extra = load_policy(residual, robot=self.robot) if residual else None
        config = RuntimeConfig(seed=0, explore_residual=explore, explore_scale=self.explore_scale)
        return PolicyRuntime(self.loaded, extra, robot_model=self.robot, config=config)


def evaluate(setup: _Setup, residual_path: str | None, seeds: list[int]) -> tuple[float, float]:
    """(success rate, mean final true remaining distance m (SimulatedHuman.remaining)) of base (+ residual
    ONNX), no human (:mod:`.evaluate`)."""
    from robot_rl.learning.rollout import ChunkPolicy

    policy = ChunkPolicy(setup.loaded.path, setup.spec, residual_path=residual_path) \
        if residual_path else setup.base
    successes, distances = evaluate_episodes(policy, setup.env, setup.human.remaining, seeds)
    return float(np.mean(successes)), float(np.mean(distances))


def _collect(setup: _Setup, config: HilSimConfig, round_index: int, residual: str | None) -> list:
    """Episodes with the simulated human, acted by base + ``residual``; the learner stores every period."""
    from robot_rl_sim.hil.episode import run_episode

    runtime = setup.runtime(residual, explore=setup.explore)
    first = 1_000_000 + round_index * config.episodes_per_round  # disjoint from the evaluation seeds
    demos = [run_episode(setup.env, runtime, setup.learner, None, 2_000_000 + e, demo_expert=setup.demo_expert)
             for e in range(config.demo_episodes if round_index == 0 else 0)]
    return demos + [run_episode(setup.env, runtime, setup.learner, setup.human, first + e)
                    for e in range(config.episodes_per_round)]


def run_hil_sim(config: HilSimConfig, log=print) -> dict:
    """All rounds; returns the report (also written to ``out/report.json``)."""
    out = Path(config.out)
    setup = _Setup(config)
    started = time.perf_counter()
    base_success, base_distance = evaluate(setup, None, eval_seeds(config.eval_episodes))
    log(f"[hil] base alone with gap {setup.env.name!r}: success {base_success:.2f}, "
        f"final distance {base_distance * 100:.1f} cm")
    rounds, residual, totals = [], setup.learner.stats["last_export"] or None, [0, 0]  # dsrl: its initial one
    try:
        for r in range(config.rounds):
            stats = _round(setup, config, r, residual, totals)
            residual = stats.residual
            rounds.append(stats)
            write_atomic(out / "progress.json", json.dumps([asdict(s) for s in rounds], indent=1).encode())
            evaluated = "not evaluated" if stats.eval_success is None else \
                f"success {stats.eval_success:.2f}, final distance {stats.eval_final_distance_m * 100:.1f} cm"
            log(f"[hil] round {r}: human drove {stats.human_step_fraction:.0%} of steps, "
                f"{stats.interventions_per_episode:.1f} takeovers/episode, {stats.env_steps} env steps so far; "
                f"residual alone: {evaluated} ({stats.seconds:.0f} s)")
    finally:
        setup.learner.close()
    report = {"config": asdict(config), "base_policy_sha256": setup.loaded.sha256,
              "gap": setup.env.name, "human": {"steps": setup.human.steps, "budget_left": setup.human.budget_left,
                                                "delay_steps": setup.human.delay_steps,
                                                "config": asdict(setup.human.config)},
              "base_eval": {"success": base_success, "final_distance_m": base_distance},
              "rounds": [asdict(s) for s in rounds], "seconds": time.perf_counter() - started,
              "reward": {"source": config.reward, **({"classifier": config.classifier, **setup.learner.audit()}
                                                     if config.reward == "classifier" else {})}}
    write_atomic(out / "report.json", json.dumps(report, indent=1).encode())
    return report


def _round(setup: _Setup, config: HilSimConfig, r: int, residual: str | None, totals: list[int]) -> RoundStats:
    """Collect with the human (acting with ``residual``), learn, export, evaluate without the human (after
    every ``eval_every``-th round and the last).
    ``totals`` [env steps, human steps] so far is updated in place."""
    t0 = time.perf_counter()
    episodes = _collect(setup, config, r, residual)
    learner = setup.learner
    steps = sum(e.steps for e in episodes)
    totals[0] += steps
    totals[1] += sum(e.human_steps for e in episodes)
    learner.learn(config.updates_per_round or int(round(config.utd * steps)))
    path = learner.maybe_export()
    path = str(path) if path is not None else residual
    success = distance = None
    if (r + 1) % config.eval_every == 0 or r == config.rounds - 1:
        success, distance = evaluate(setup, path, eval_seeds(config.eval_episodes))
    return RoundStats(r, sum(e.human_steps for e in episodes) / steps,
                      float(np.mean([e.interventions for e in episodes])),
                      float(np.mean([e.success for e in episodes])), success, distance, learner.learner.updates,
                      totals[0], totals[1], dict(learner.losses), path or "", time.perf_counter() - t0)
