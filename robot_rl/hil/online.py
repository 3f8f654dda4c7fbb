"""Online residual learning from the live command stream: the core of the HIL learner node (no rclpy).

Once per policy period the node calls :meth:`OnlineLearner.step` with what was observed and what was
commanded to the robot for that period (after the command mux: the policy's command, or the human's
while intervening). The learner mirrors the policy node: it pushes one observation frame per period into
the contract's :class:`~robot_rl.policy.observation.ObservationAssembler` and runs the base policy on the
same schedule (a new chunk every ``n_action_steps`` periods; base action of step i = chunk[i]). The residual
acts per step on that step's observation (:mod:`robot_rl.policy.runtime`), so the transition of step t is::

    obs, base_action   step t's own observation window (*obs_shape), base raw action of step t (a,)
    action             clip((executed_raw_t - base_raw_t) / s, -1, 1)  (robot_rl.hil.labels; s per entry)
    intervened         a human's command reached the robot during step t
    reward, done       the human's episode outcome arriving before step t+1: success +1, failure 0, done
    next_obs, next_base_action   step t+1's (window, base action)

An episode also ends, not terminally, when the goal changes (the pending step bootstraps from its own
state, as a time limit in the simulated loop). Transitions go to a crash-safe
:class:`~robot_rl.hil.replay.TransitionStore` (``out_dir/transitions``, resumed on restart: its transitions
refill the sampler) and a :class:`~robot_rl.hil.sampler.ReplaySampler`; :meth:`learn` runs the method's
updates (:class:`~robot_rl.hil.learner.ResidualLearner`; symmetric offline/online n-step batches; a WSRL-style
warm start on the offline data first if asked) at ``updates_per_step`` updates per stored transition, and
:meth:`maybe_export` writes ``out_dir/residual_<k>.onnx`` bound to the base's sha256.

Threads: :meth:`step` (executor thread) and :meth:`learn` / :meth:`maybe_export` (a learning thread) share
the sampler under :attr:`lock`; the networks are touched by the learning thread only.

Limits: the base runs here a second time unless the caller passes the base action the actor used (the
simulated loop does); for a stochastic (diffusion) base its samples differ from the policy node's, and the
labels of policy-driven steps carry that difference. A ``last_action`` term is fed
the base's raw action (the policy node feeds base + residual).

Restart: the learner's networks, optimisers and counters are saved to ``out_dir/learner.pt`` (atomically)
at each export and on :meth:`close`; a restarted learner loads them and refills its sampler from the
store, so it goes on where it stopped (minus the updates since its last save).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robot_rl.atomic import atomic_file
from robot_rl.errors import ConfigError
from robot_rl.hil.labels import check_invertible, gripper_evidence, raw_from_targets, residual_label
from robot_rl.hil.methods import ANCHOR_TARGETS, method_defaults
from robot_rl.hil.replay import TransitionStore, load_transitions
from robot_rl.hil.sampler import ReplaySampler
from robot_rl.hil.transitions import ReplayConfig
from robot_rl.policy.contract import LoadedPolicy
from robot_rl.policy.observation import ObservationInputs
from robot_rl.policy.runtime import PolicyRuntime, RuntimeConfig, residual_scales

RESIDUAL_FILE = re.compile(r"residual_(\d+)\.onnx")
LEARNER_CHECKPOINT = "learner.pt"  # networks, optimisers, counters: a restarted learner goes on from it


@dataclass(frozen=True)
class OnlineConfig:
    """Settings of the online learner.

    Attributes:
        out_dir: directory of the transition store (``transitions/``) and the exported residuals.
        residual_scale: raw action units per unit residual (rad for joint position actions).
        updates_per_step: gradient updates per stored transition (update-to-data ratio, UTD).
        min_transitions: stored transitions before the first update.
        export_every_updates: a residual is exported after every this many updates.
        batch_size: transitions per update (half of them intervened once there are any).
        flush_every: steps buffered before the store writes them (a crash loses fewer).
        capacity: transitions the sampler holds (the oldest go first).
        hidden: hidden units per layer of the residual and critic MLPs.
        method: bc | residual-rl | rlpd-scratch (:data:`robot_rl.hil.methods.METHODS`): the actor-loss
            weights and whether the acting residual explores; rlpd-scratch is meant for a hold-position base
            (:mod:`robot_rl.hil.hold_base`).
        q_weight, bc_weight, anchor_weight: the actor loss's weights (None: the method's).
        anchor_target: the anchor's target on policy-driven samples (:data:`robot_rl.hil.learner.ANCHOR_TARGETS`).
        critics: members of the critic ensemble; n_step: n of the n-step returns; gamma: discount per step.
        offline_fraction: share of each batch drawn from the human-driven (offline) transitions (RLPD 0.5).
        warm_start_updates: updates on the offline data alone before the first online one (WSRL-style; 0 off).
        gripper_labels: which executed gripper states label the gripper entry (:data:`robot_rl.hil.labels.
            GRIPPER_LABELS`; pick-cube measurement in docs/hil.md).
        seed: seeds the networks, the sampling and the base's diffusion noise.
    """

    out_dir: str
    residual_scale: float = 0.1
    updates_per_step: float = 1.0
    min_transitions: int = 200
    export_every_updates: int = 500
    batch_size: int = 256
    flush_every: int = 20
    capacity: int = 200_000
    hidden: int = 128
    method: str = "residual-rl"
    q_weight: float | None = None
    bc_weight: float | None = None
    anchor_weight: float | None = None
    anchor_target: str = "executed"
    critics: int = 10
    n_step: int = 3
    gamma: float = 0.97
    offline_fraction: float = 0.5
    warm_start_updates: int = 0
    gripper_labels: str = "both"
    seed: int = 0

    def __post_init__(self) -> None:
        defaults = method_defaults(self.method)
        gripper_evidence(None, self.gripper_labels)  # ConfigError naming the modes
        for name in ("bc_weight", "q_weight", "anchor_weight"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, defaults[name])
            if not (np.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ConfigError(f"OnlineConfig.{name} must be finite and >= 0, got {getattr(self, name)}")
        if self.anchor_target not in ANCHOR_TARGETS:
            raise ConfigError(f"OnlineConfig.anchor_target {self.anchor_target!r} unknown; known: {ANCHOR_TARGETS}")
        if not (0.0 <= self.offline_fraction <= 1.0 and 0.0 <= self.gamma < 1.0):
            raise ConfigError(f"OnlineConfig: offline_fraction {self.offline_fraction} must be in [0, 1] and "
                              f"gamma {self.gamma} in [0, 1)")
        if not self.out_dir:
            raise ConfigError("OnlineConfig.out_dir must name a directory")
        if not (np.isfinite(self.residual_scale) and self.residual_scale > 0):
            raise ConfigError(f"OnlineConfig.residual_scale must be finite and > 0 (raw action units), "
                              f"got {self.residual_scale}")
        if not (np.isfinite(self.updates_per_step) and self.updates_per_step >= 0):
            raise ConfigError(f"OnlineConfig.updates_per_step must be >= 0, got {self.updates_per_step}")
        for name, minimum in (("min_transitions", 2), ("export_every_updates", 1), ("batch_size", 2),
                              ("flush_every", 1), ("capacity", 2), ("hidden", 1), ("seed", 0), ("critics", 2),
                              ("n_step", 1), ("warm_start_updates", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
                raise ConfigError(f"OnlineConfig.{name} must be an integer >= {minimum}, got {value!r}")


@dataclass
class _Step:
    """One executed step waiting for its next state."""

    obs: np.ndarray  # (*obs_shape) this step's observation window
    base_action: np.ndarray  # (a,) base raw action
    action: np.ndarray  # (a,) executed residual, [-1, 1]
    intervened: bool


class OnlineLearner:
    """Builds transitions from the live stream, stores them, learns the residual and exports it.

    Args:
        base: the base policy (loaded and checked against the robot by the caller).
        config: see :class:`OnlineConfig`.
        robot_model: RobotModel for ``ee_pos`` observation terms and gripper joints (as the policy node's).
        reward_fn: a learned reward source (:class:`robot_rl.hil.classifier.SuccessClassifier`): called on each
            step's measurement; True ends the previous step's transition as a success (reward 1, done) unless
            the caller passed an outcome. None: the caller's outcomes alone.
    """

    def __init__(self, base: LoadedPolicy, config: OnlineConfig, robot_model=None,
                 reward_fn: Callable[[ObservationInputs], bool] | None = None):
        check_invertible(base.contract)
        self.base, self.config, self.reward_fn = base, config, reward_fn
        self.terminal = False  # the last step ended its episode terminally (an outcome or reward_fn)
        self._scales = residual_scales(base.contract, config.residual_scale)
        self.runtime = PolicyRuntime(base, robot_model=robot_model, config=RuntimeConfig(seed=config.seed))
        self.out_dir = Path(config.out_dir)
        self.lock = threading.Lock()
        self._rng = np.random.default_rng(config.seed)
        self.replay = ReplayConfig(obs_shape=self._obs_shape(), action_dim=base.contract.action_dim,
                                   capacity=config.capacity, flush_every=config.flush_every)
        self.store = self._open_store()
        try:
            self.sampler = ReplaySampler(self.replay)
            self.sampler.extend(load_transitions(self.store.root, self.replay))  # a resumed store's transitions
            self.learner = self._make_learner()
            self._resume_learner()
        except BaseException:
            self.store.close()  # release the writer lock
            raise
        self.stats = {"transitions": 0, "intervened_steps": 0, "episodes": 0, "successes": 0, "updates": 0,
                      "exports": 0, "last_export": "", "resumed_transitions": len(self.sampler)}
        self.losses: dict[str, float] = {}
        self._updates_at_start = self._exported_at = self.learner.updates  # a resumed learner's count
        self._next_export = 1 + max((int(m.group(1)) for p in self.out_dir.glob("residual_*.onnx")
                                     if (m := RESIDUAL_FILE.fullmatch(p.name))), default=-1)
        self._reset_episode_state()
        self._goal: np.ndarray | None = None

    def _obs_shape(self) -> tuple[int, ...]:
        """Shape of the observation window the base takes: (obs_dim,) or (obs_history, obs_dim)."""
        c = self.base.contract
        return (c.obs_dim,) if c.chunking.obs_history == 1 else (c.chunking.obs_history, c.obs_dim)

    def _open_store(self) -> TransitionStore:
        """The store under out_dir/transitions; ConfigError if it was recorded for another base or scale."""
        policy = {"base_sha256": self.base.sha256, "residual_scale": self.config.residual_scale,
                  "residual": "per-step"}  # stores of the earlier per-chunk residual are refused
        store = TransitionStore(self.out_dir / "transitions", self.replay, policy=policy)
        recorded = {k: store.meta.get("policy", {}).get(k) for k in policy}
        if recorded != policy:
            store.close()
            raise ConfigError(f"{store.root}: transitions were recorded for {recorded}, this learner has {policy}; "
                              "use another out_dir")
        return store

    def _make_learner(self):
        from robot_rl.hil.learner import LearnerConfig, ResidualLearner  # torch: imported only here
        from robot_rl.hil.residual_net import NetConfig

        c = self.config
        net = NetConfig(int(np.prod(self.replay.obs_shape)), self.replay.action_dim, hidden=c.hidden,
                        critics=c.critics)
        learner = LearnerConfig(batch_size=c.batch_size, bc_weight=c.bc_weight, q_weight=c.q_weight,
                                anchor_weight=c.anchor_weight, gamma=c.gamma, anchor_target=c.anchor_target)
        return ResidualLearner(net, learner, seed=c.seed)

    def _resume_learner(self) -> None:
        """Load out_dir/learner.pt if an earlier run left one (its transitions were checked by the store)."""
        path = self.out_dir / LEARNER_CHECKPOINT
        if path.is_file():
            import torch

            self.learner.load_state_dict(torch.load(path, weights_only=True))

    def save_learner(self) -> Path:
        """Write the learner's state to out_dir/learner.pt atomically (at each export and on close)."""
        import torch

        path = self.out_dir / LEARNER_CHECKPOINT
        with atomic_file(path) as f:
            torch.save(self.learner.state_dict(), f)
        return path

    def _reset_episode_state(self) -> None:
        self._chunk_raw: np.ndarray | None = None  # (horizon, a) base raw actions of the current chunk
        self._q_obs: np.ndarray | None = None  # (n,) rad, joint positions the chunk was inferred from
        self._index = 0  # next step of the chunk
        self._pending: _Step | None = None

    # ----- per policy period (executor thread) ------------------------------------------------------------
    def step(self, inputs: ObservationInputs, executed_targets: np.ndarray | None, intervened: bool,
             reward: float = 0.0, done: bool = False, base_action: np.ndarray | None = None,
             gripper_closed: bool | None = None) -> dict[str, np.ndarray] | None:
        """One policy period: observe, run the base on schedule, store the previous step's transition.

        Args:
            inputs: this period's measurement (and goal / object pose).
            executed_targets: (n,) rad, joint position targets commanded to the robot for this step (action
                joint order), or None when none is known (this step is then not recorded).
            intervened: a human's command reached the robot during this step.
            reward, done: the episode outcome that arrived since the previous call (it ends that step's
                transition: success reward 1, failure 0, done True).
            base_action: (a,) the base raw action the acting policy used for this step, if the caller knows it
                (then the base is not run here: same schedule, its chunk-start frame is still tracked).
            gripper_closed: the executed gripper state, if known (it makes the gripper label correctable).

        Returns:
            the stored transition (arrays of :data:`robot_rl.hil.transitions.FIELDS`), or None if none was.
        """
        if self._goal_changed(inputs.goal):
            self.end_episode()
        classified = self.reward_fn is not None and not done and self._pending is not None \
            and bool(self.reward_fn(inputs))  # the learned reward source ends the episode: no step after it
        reward, done = (1.0, True) if classified else (reward, done)
        window = self.runtime.observe(inputs)  # one frame per period, as the policy node
        base = self._base_action(window, inputs, base_action)
        stored = self._finish(window, base, float(reward), bool(done))
        self.terminal = bool(done) and stored is not None
        if executed_targets is not None and not classified:
            executed = raw_from_targets(self.base.contract, executed_targets, self._q_obs, base,
                                        gripper_evidence(gripper_closed, self.config.gripper_labels))
            self._pending = _Step(window, base, residual_label(executed, base, self._scales), bool(intervened))
        return stored

    def _goal_changed(self, goal: np.ndarray | None) -> bool:
        """Whether ``goal`` differs from the previous step's (the first goal is no change)."""
        goal = None if goal is None else np.asarray(goal, dtype=float)
        changed = self._goal is not None and goal is not None and (
            goal.shape != self._goal.shape or not np.array_equal(goal, self._goal))
        self._goal = goal if goal is not None else self._goal
        return changed

    def _base_action(self, window: np.ndarray, inputs: ObservationInputs, given: np.ndarray | None) -> np.ndarray:
        """Base raw action (a,) of this step: ``given``, or chunk[i] of a chunk inferred from ``window`` every
        n_action_steps steps (the chunk-start joint positions are kept for joint_pos_delta labels)."""
        if self._q_obs is None or self._index >= self.base.contract.chunking.n_action_steps:
            self._chunk_raw = None if given is not None else self.runtime.act_on(window, inputs).raw
            self._index = 0
            self._q_obs = self.runtime.observe.joint_values(inputs, self.base.contract.action_joint_names, "position")
        if given is None and self._chunk_raw is None:
            raise ConfigError("OnlineLearner.step: pass base_action at every step of an episode or at none")
        base = np.asarray(given, dtype=float) if given is not None else self._chunk_raw[self._index]
        self._index += 1
        return base

    def _finish(self, next_obs: np.ndarray, next_base: np.ndarray, reward: float,
                done: bool) -> dict[str, np.ndarray] | None:
        """Store the pending step with this next state; None if there is none."""
        step, self._pending = self._pending, None
        if step is None:
            return None
        with self.lock:
            stored = self.store.add(obs=step.obs, base_action=step.base_action, action=step.action,
                                    intervened=step.intervened, reward=reward, done=done, next_obs=next_obs,
                                    next_base_action=next_base)
            self.sampler.add(stored)
        self.stats["transitions"] += 1
        self.stats["intervened_steps"] += int(step.intervened)
        self.stats["episodes"] += int(done)
        self.stats["successes"] += int(done and reward > 0)
        return stored

    def end_episode(self) -> dict[str, np.ndarray] | None:
        """End the episode without a terminal state (goal change): the pending step bootstraps from its own
        state; observation histories and the chunk start afresh (as the policy node's on a new goal)."""
        pending = self._pending
        stored = None if pending is None else self._finish(pending.obs, pending.base_action, 0.0, False)
        with self.lock:
            self.store.end_episode()
        self.stats["episodes"] += int(stored is not None)
        self.runtime.reset()
        self._reset_episode_state()
        return stored

    # ----- learning (learning thread) ---------------------------------------------------------------------
    def update_budget(self) -> int:
        """Updates owed: updates_per_step x transitions stored by this process, minus updates it ran."""
        done = self.learner.updates - self._updates_at_start
        return max(0, int(self.config.updates_per_step * self.stats["transitions"]) - done)

    def learn(self, max_updates: int) -> int:
        """Run up to ``max_updates`` updates (within :meth:`update_budget`) once ``min_transitions`` are held;
        the input normalisation is frozen from the data held at the first update. Returns updates run."""
        with self.lock:
            held = len(self.sampler)
            data = self.sampler.arrays() if held >= self.config.min_transitions and not self.learner.fitted else None
        if held < self.config.min_transitions:
            return 0
        if data is not None:
            self.learner.fit_normalisation(data["obs"], data["base_action"])
        if not self.learner.warm_started:
            self._warm_start()
        count = min(int(max_updates), self.update_budget())
        self._updates(count, self.config.offline_fraction)
        return count

    def _warm_start(self) -> None:
        """WSRL-style: ``warm_start_updates`` updates on the offline (human-driven) data alone, once there are
        any; they do not count against the update budget."""
        c = self.config
        if c.warm_start_updates and self.sampler.n_intervened:
            self._updates(c.warm_start_updates, 1.0)
            self._updates_at_start += c.warm_start_updates
        self.learner.warm_started = bool(self.sampler.n_intervened) or not c.warm_start_updates

    def _updates(self, count: int, offline_fraction: float) -> None:
        """``count`` updates on n-step batches, ``offline_fraction`` of each from the human-driven data."""
        c, sums = self.config, {}
        for _ in range(count):
            with self.lock:
                batch = self.sampler.sample_n_step(self._rng, c.batch_size, offline_fraction, c.n_step, c.gamma)
            for key, value in self.learner.update(batch).items():
                sums[key] = sums.get(key, 0.0) + value
        if count:
            self.losses = {k: v / count for k, v in sums.items()}
            self.stats["updates"] = self.learner.updates

    def maybe_export(self) -> Path | None:
        """Write ``out_dir/residual_<k>.onnx`` when export_every_updates updates passed since the last
        export; returns its path (None if not due). Golden vectors: two held transitions."""
        if self.learner.updates - self._exported_at < self.config.export_every_updates:
            return None
        from robot_rl.hil.export import export_residual  # torch

        with self.lock:
            golden = self.sampler.sample(np.random.default_rng(0), 2)
        path = self.out_dir / f"residual_{self._next_export:04d}.onnx"
        export_residual(self.learner.actor, self.base, self.config.residual_scale, path,
                        golden["obs"][:2], golden["base_action"][:2])
        self._exported_at, self._next_export = self.learner.updates, self._next_export + 1
        self.save_learner()
        self.stats["exports"] += 1
        self.stats["last_export"] = str(path)
        return path

    def close(self) -> None:
        """Write the buffered transitions and the learner's state, and release the store (idempotent).
        Call it when no :meth:`learn` runs (the node joins its learning thread first)."""
        if self.learner.updates > self._updates_at_start:
            self.save_learner()
        with self.lock:
            self.store.close()
