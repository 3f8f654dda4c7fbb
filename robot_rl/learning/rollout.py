"""In-process rollouts of an exported policy in the MuJoCo task env (the fast evaluation mode).

The ONNX file runs under onnxruntime exactly as exported; observation frames
are built by the task spec (the same flattening the demonstrations used) and
stacked at the policy rate; a new chunk is inferred every ``n_action_steps``
policy steps and its raw actions go to ``env.step`` (which processes them per
the task's action spec and sends the targets through the safety filter to the
control core, like the policy node -> safety filter -> control node on ROS).
With zero inference latency this is what the policy node's scheduler does
(robot_rl.policy.scheduler); on ROS, latency is bridged by the chunk's later steps.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from robot_rl.errors import ConfigError


@dataclass(frozen=True)
class EpisodeResult:
    """One evaluation episode: reset seed, success (task solved at any step), policy steps run,
    first step at which the task was solved (or None), total reward."""

    seed: int
    success: bool
    steps: int
    success_step: int | None
    reward: float


class ChunkPolicy:
    """A loaded contract-carrying policy (+ optional residual) driven from task observations.

    Args:
        path: the .onnx file (checked with the policy engineer's ``load_policy``: hash, tensors, golden vectors).
        spec: the task it was trained on (its name must equal the contract's provenance.task).
        threads: onnxruntime intra-op threads.
        residual_path: a residual .onnx whose contract names this base (composed as the policy node does).
    """

    def __init__(self, path, spec, threads: int = 1, residual_path=None):
        from robot_rl.policy.contract import load_policy
        from robot_rl.policy.runtime import OnnxPolicy, RuntimeConfig, check_residual

        loaded = load_policy(path)
        self.contract = loaded.contract
        if self.contract.provenance.task != spec.name:
            raise ConfigError(f"{path} was trained on task {self.contract.provenance.task!r}, not {spec.name!r}")
        if self.contract.obs_dim != spec.obs_dim or self.contract.action_dim != spec.action_dim:
            raise ConfigError(f"{path}: obs/action dims ({self.contract.obs_dim}, {self.contract.action_dim}) "
                              f"differ from task {spec.name!r} ({spec.obs_dim}, {spec.action_dim})")
        self.spec = spec
        config = RuntimeConfig(intra_op_threads=threads)
        self.onnx = OnnxPolicy(loaded, config)
        self.residual = None
        if residual_path is not None:
            residual = load_policy(residual_path)
            check_residual(self.contract, loaded.sha256, residual.contract)
            self.residual = OnnxPolicy(residual, config)
        self.history = self.contract.chunking.obs_history
        self.n_action_steps = self.contract.chunking.n_action_steps

    def window(self, frames: deque) -> np.ndarray:
        """The policy input from stacked frames (oldest first): (obs_dim,) or (obs_history, obs_dim)."""
        return (np.stack(frames) if self.history > 1 else frames[-1]).astype(np.float32)

    def chunk(self, frames: deque) -> np.ndarray:
        """The base's raw actions (n_action_steps, a) from stacked frames (oldest first)."""
        from robot_rl.policy.noise_policy import steering_noise

        window = self.window(frames)
        return self.onnx.run(window, noise=steering_noise(self.residual, window))[: self.n_action_steps]

    def act(self, base_raw: np.ndarray, frames: deque) -> np.ndarray:
        """Raw action (a,) of this step: the base's plus the residual on this step's frames (if any)."""
        from robot_rl.policy.runtime import residual_step

        return base_raw if self.residual is None else residual_step(self.residual, self.window(frames), base_raw)

    def run_episode(self, env, seed: int, stop_after_success: int = 2) -> EpisodeResult:
        """Roll out one episode from ``env.reset(seed)`` until the time limit or shortly after success."""
        obs = env.reset(seed=seed)
        frames: deque = deque(maxlen=self.history)
        frames.extend([self.spec.flatten_obs(obs)] * self.history)
        plan: list[np.ndarray] = []
        success_step, total, step = None, 0.0, 0
        for step in range(1, self.spec.max_steps + 1):
            if not plan:
                plan = list(self.chunk(frames))
            obs, reward, success, _ = env.step(self.act(plan.pop(0), frames))
            frames.append(self.spec.flatten_obs(obs))
            total += reward
            if success and success_step is None:
                success_step = step
            if success_step is not None and step - success_step >= stop_after_success:
                break
        return EpisodeResult(seed, success_step is not None, step, success_step, total)


def evaluate(path, task: str, seeds: list[int], threads: int = 1, progress=None,
             gap: str = "none") -> list[EpisodeResult]:
    """Episodes of policy ``path`` on ``task``, one per reset seed; ``progress(done, total)`` after each.
    ``gap``: a sim-to-real gap of :mod:`robot_rl_sim.hil.gaps` the policy meets ("none": the training sim)."""
    from robot_rl_sim.hil.gaps import make_gap_env
    from robot_rl_sim.tasks import get_task

    spec = get_task(task)
    policy = ChunkPolicy(path, spec, threads)
    env = make_gap_env(spec, gap)
    results = []
    for i, seed in enumerate(seeds):
        results.append(policy.run_episode(env, int(seed)))
        if progress is not None:
            progress(i + 1, len(seeds))
    return results


class _RecordingPolicy(ChunkPolicy):
    """A :class:`ChunkPolicy` that keeps the observation window of every policy step it acts on."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.windows: list[np.ndarray] = []

    def act(self, base_raw: np.ndarray, frames: deque) -> np.ndarray:
        self.windows.append(np.stack(frames).astype(np.float32))
        return super().act(base_raw, frames)


def rollout_windows(path, task: str, seeds: list[int], threads: int = 1) -> tuple[np.ndarray, list[EpisodeResult]]:
    """The observation windows (N, To, O) (oldest frame first, To = the contract's obs_history) that the policy
    ``path`` meets at every policy step of one episode per reset seed on ``task`` (the training sim, no gap), and
    the episodes' results: the states a closed loop visits, to distil on (``train distill --rollout-policy``)."""
    from robot_rl_sim.tasks import get_task, make_env

    spec = get_task(task)
    policy = _RecordingPolicy(path, spec, threads)
    env = make_env(spec)
    results = [policy.run_episode(env, int(seed)) for seed in seeds]
    return np.stack(policy.windows), results
