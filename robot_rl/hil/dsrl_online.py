"""DSRL in the HIL learner: ``method`` "dsrl" of the learner node and ``robot-rl hil sim`` (no rclpy).

:class:`DsrlOnlineLearner` is the :class:`~robot_rl.hil.online.OnlineLearner` (same interface, store, sampler,
update budget, restart) with a chunk as its transition: the noise policy chooses the base's initial noise once
per chunk, on the chunk-start observation, so one stored transition is one chunk of ``k = n_action_steps``
policy periods::

    obs            chunk-start observation window (*obs_shape)
    action         the latent the base was given / LATENT_SCALE, (H * A,) in [-1, 1]
    base_action    the executed raw action chunk (k rows, the human's steps where they drove; a chunk cut short
                   by the episode's end repeats its last row), flattened and zero-padded to H * A
    intervened     a human's command reached the robot during the chunk
    reward, done   the outcome arriving during the chunk (success 1, done); discount gamma^k per chunk
    next_obs       the next chunk's start window (its own window at an episode's non-terminal end)
    next_base_action   zeros (unused)

n-step returns are off (n_step 1: a chunk is already k periods). The base must take its initial noise as an
input (``robot-rl export --noise-input``). The latent scale is :data:`robot_rl.hil.dsrl.LATENT_SCALE`;
``residual_scale`` is not used. Exports are ``residual_<k>.onnx`` noise policies
(:mod:`robot_rl.hil.dsrl_export`), the first (the untrained actor: latent 0, or 1.5 tanh(eps) exploring) at
construction so the robot acts with latents the actor can represent from the first chunk. The latent of a
chunk is the one the caller passes (the simulated loop knows it), else the one this learner's own copy of the
newest export chooses (deterministic, as the policy node runs it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.hil.labels import raw_from_targets
from robot_rl.hil.online import OnlineConfig, OnlineLearner
from robot_rl.hil.replay import TransitionStore
from robot_rl.hil.transitions import ReplayConfig
from robot_rl.policy.contract import LoadedPolicy, load_policy
from robot_rl.policy.observation import ObservationInputs
from robot_rl.policy.runtime import PolicyRuntime, RuntimeConfig

STORE_KIND = "dsrl-chunk"  # the store's policy record: a residual learner's store is refused, and vice versa


@dataclass
class _Chunk:
    """One chunk being executed: its start window, latent (H, A) and the executed raw rows so far."""

    obs: np.ndarray
    latent: np.ndarray
    rows: list = field(default_factory=list)
    intervened: bool = False
    base_action: None = None  # what OnlineLearner.end_episode passes on as the next base action (unused here)


class DsrlOnlineLearner(OnlineLearner):
    """Builds chunk transitions from the live stream, learns the noise policy (DSRL) and exports it."""

    def __init__(self, base: LoadedPolicy, config: OnlineConfig, robot_model=None, reward_fn=None):
        from robot_rl.hil.dsrl_export import noise_policy_contract

        noise_policy_contract(base.contract, base.sha256)  # ConfigError unless the base takes its noise as input
        spec, chunking = base.contract.input("noise"), base.contract.chunking
        self._k = chunking.n_action_steps
        self._latent_shape = tuple(int(d) for d in spec.shape[1:])
        self._robot_model = robot_model
        config = dataclasses.replace(config, gamma=config.gamma ** self._k, n_step=1)
        super().__init__(base, config, robot_model=robot_model, reward_fn=reward_fn)
        self._swap: Path | None = None
        newest = sorted(self.out_dir.glob("residual_*.onnx"))
        path = newest[-1] if newest else self._export()
        self.stats["last_export"] = str(path)
        self._load_acting(path)

    @property
    def _latent_dim(self) -> int:
        return int(np.prod(self._latent_shape))

    def _open_store(self) -> TransitionStore:
        """The store of chunk transitions (action_dim H * A); ConfigError if recorded for another base or kind."""
        self.replay = ReplayConfig(obs_shape=self._obs_shape(), action_dim=self._latent_dim,
                                   capacity=self.config.capacity, flush_every=self.config.flush_every)
        from robot_rl.hil.dsrl import LATENT_SCALE

        policy = {"base_sha256": self.base.sha256, "residual_scale": LATENT_SCALE, "residual": STORE_KIND}
        store = TransitionStore(self.out_dir / "transitions", self.replay, policy=policy)
        recorded = {key: store.meta.get("policy", {}).get(key) for key in policy}
        if recorded != policy:
            store.close()
            raise ConfigError(f"{store.root}: transitions were recorded for {recorded}, this DSRL learner has "
                              f"{policy}; use another out_dir")
        return store

    def _make_learner(self):
        from robot_rl.hil.dsrl import DsrlConfig, DsrlLearner  # torch: imported only here

        c, a = self.config, self.base.contract.action_dim
        return DsrlLearner(DsrlConfig(int(np.prod(self.replay.obs_shape)), self._latent_dim, self._k * a,
                                      hidden=c.hidden, critics=c.critics, gamma=c.gamma,
                                      batch_size=c.batch_size, anchor_weight=c.anchor_weight), seed=c.seed)

    def _load_acting(self, path: Path) -> None:
        """This learner's acting copy: the base composed with the noise policy at ``path`` (observation state
        kept)."""
        runtime = PolicyRuntime(self.base, load_policy(path), robot_model=self._robot_model,
                                config=RuntimeConfig(seed=self.config.seed))
        self.runtime = runtime.take_over(self.runtime)

    # ----- per policy period (executor thread) ------------------------------------------------------------
    def step(self, inputs: ObservationInputs, executed_targets: np.ndarray | None, intervened: bool,
             reward: float = 0.0, done: bool = False, base_action: np.ndarray | None = None,
             gripper_closed: bool | None = None, latent: np.ndarray | None = None) -> dict[str, np.ndarray] | None:
        """One policy period (as :meth:`OnlineLearner.step`); ``latent`` (H, A): the noise the acting base was
        given for the chunk starting at this period (with ``base_action``; else this learner's own choice).
        Returns the chunk transition stored at this period, if one was."""
        if self._goal_changed(inputs.goal):
            self.end_episode()
        classified = self.reward_fn is not None and not done and self._pending is not None \
            and bool(self.reward_fn(inputs))
        reward, done = (1.0, True) if classified else (reward, done)
        window = self.runtime.observe(inputs)
        starts = self._q_obs is None or self._index >= self._k
        if starts and base_action is None and self._swap is not None:
            path, self._swap = self._swap, None
            self._load_acting(path)
        base = self._base_action(window, inputs, base_action)
        stored = self._finish(window, None, float(reward), bool(done)) if starts or done else None
        self.terminal = bool(done) and stored is not None
        if executed_targets is None or classified or done:
            self._pending = None if starts or done else self._pending
            return stored
        executed = raw_from_targets(self.base.contract, executed_targets, self._q_obs, base, gripper_closed)
        if starts:
            self._pending = _Chunk(window, self._chunk_latent(base_action, latent))
        if self._pending is not None:
            self._pending.rows.append(executed)
            self._pending.intervened |= bool(intervened)
        return stored

    def _chunk_latent(self, base_action: np.ndarray | None, latent: np.ndarray | None) -> np.ndarray:
        """The latent (H, A) of the chunk starting now: the caller's, or the one this learner's runtime used."""
        if latent is None and base_action is not None:
            raise ConfigError("DsrlOnlineLearner.step: pass the chunk's latent with its base_action")
        value = self.runtime.base.last_noise if latent is None else latent
        value = np.asarray(value, dtype=float)
        if value.shape != self._latent_shape:
            raise ConfigError(f"DSRL latent must have the base's noise shape {self._latent_shape}, got {value.shape}")
        return value

    def _finish(self, next_obs: np.ndarray, next_base: None, reward: float,
                done: bool) -> dict[str, np.ndarray] | None:
        """Store the pending chunk with this next state (``next_base`` unused); None if there is none. At an
        episode's non-terminal end (:meth:`OnlineLearner.end_episode`) it bootstraps from its own start window."""
        from robot_rl.hil.dsrl import LATENT_SCALE

        chunk, self._pending = self._pending, None
        if chunk is None or not chunk.rows:
            return None
        rows = np.asarray(chunk.rows + [chunk.rows[-1]] * (self._k - len(chunk.rows)), dtype=np.float32)
        executed = np.zeros(self._latent_dim, dtype=np.float32)
        executed[: rows.size] = rows.ravel()
        action = np.clip(chunk.latent.ravel() / LATENT_SCALE, -1.0, 1.0)
        with self.lock:
            stored = self.store.add(obs=chunk.obs, base_action=executed, action=action, intervened=chunk.intervened,
                                    reward=reward, done=done, next_obs=next_obs,
                                    next_base_action=np.zeros(self._latent_dim, np.float32))
            self.sampler.add(stored)
        self.stats["transitions"] += 1
        self.stats["intervened_steps"] += int(chunk.intervened)
        self.stats["episodes"] += int(done)
        self.stats["successes"] += int(done and reward > 0)
        return stored

    # ----- export (learning thread) -----------------------------------------------------------------------
    def _export(self) -> Path:
        from robot_rl.hil.dsrl_export import export_noise_policy  # torch

        path = self.out_dir / f"residual_{self._next_export:04d}.onnx"
        export_noise_policy(self.learner.actor, self.base, path)
        self._next_export += 1
        return path

    def maybe_export(self) -> Path | None:
        """Write ``out_dir/residual_<k>.onnx`` (a noise policy) when export_every_updates updates passed since
        the last export; this learner's acting copy switches to it at the next chunk start."""
        if self.learner.updates - self._exported_at < self.config.export_every_updates:
            return None
        path = self._export()
        self._exported_at, self._swap = self.learner.updates, path
        self.save_learner()
        self.stats["exports"] += 1
        self.stats["last_export"] = str(path)
        return path
