"""Task spec -> policy contract: the one mapping from a simulation task to what the robot must check.

Used by the diffusion exporter and the rsl_rl (Isaac Lab) exporter, so joint order, observation terms, action
semantics and rates in the contract are exactly the task's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.policy.contract import (ActionSpec, Chunking, Normalization, ObsTerm, PassCriteria, PolicyContract,
                                      Provenance, TensorSpec, Timing)
from robot_rl.robot.config import load_robot_config

TRAINING_LIB = "robot_rl.learning.diffusion"


def obs_term_for(term) -> ObsTerm:
    """Task term (value = clip((raw - offset) * scale)) -> contract term (value = clip(raw - offset) * scale).

    The clip bounds are divided by the per-dimension scale so both conventions give the same value.
    """
    scale = np.broadcast_to(np.asarray(term.scale, dtype=float), (term.size,))
    offset = np.broadcast_to(np.asarray(term.offset, dtype=float), (term.size,))
    clip = None
    if term.clip is not None:
        if np.any(scale == 0):
            raise ConfigError(f"task obs term {term.name!r}: a clipped term cannot have a zero scale")
        a, b = term.clip[0] / scale, term.clip[1] / scale
        clip = (np.minimum(a, b).tolist(), np.maximum(a, b).tolist())
    return ObsTerm(name=term.name, source=term.source, size=term.size, units=term.units, scale=scale.tolist(),
                   offset=offset.tolist(), clip=clip, history=term.history)


def action_for(action) -> ActionSpec:
    """Task action spec -> contract action spec (last_action carries the raw action, as the env records it)."""
    return ActionSpec(type=action.type, scale=action.scale, offset=action.offset,
                      clip=(action.clip_low, action.clip_high), last_action="raw", gripper=action.gripper)


@dataclass(frozen=True)
class PolicyShape:
    """Tensor layout of a non-diffusion policy, in the attributes :func:`contract_for` reads from a
    DiffusionConfig: one observation vector in (1, obs_dim), one action out (1, action_dim)."""

    obs_dim: int
    action_dim: int
    obs_history: int = 1
    horizon: int = 1
    n_action_steps: int = 1
    denoising_steps: int = 0


@dataclass(frozen=True)
class Origin:
    """Where a policy comes from (the contract's provenance) and how its graph treats observations."""

    training_lib: str = TRAINING_LIB
    sim_backend: str = "mujoco"
    normalization: str = "baked"  # baked: normaliser inside the graph; none: the graph takes raw observations
    chunked_output: bool = True  # action output (1, H, A); False: (1, A), only with horizon 1


def max_latency_ms(task_spec, diffusion) -> float:
    """Oldest observation (ms) whose chunk is still used: the steps predicted beyond the executed ones,
    (horizon - n_action_steps) policy periods, at least one period. The policy node goes on along the current
    chunk's later steps while the next inference runs (robot_rl.policy.scheduler), so a chunk that arrives
    within this bound continues a motion the previous chunk still covers."""
    return task_spec.policy_dt * 1000.0 * max(1, diffusion.horizon - diffusion.n_action_steps)


def contract_for(task_spec, diffusion, obs_name: str, action_name: str, min_success_rate: float,
                 git_commit: str = "", origin: Origin = Origin()) -> PolicyContract:
    """The contract of a policy (a DiffusionConfig or :class:`PolicyShape` ``diffusion``) trained on ``task_spec``.

    Observation input (1, To, O) (or (1, O) when To == 1) and action output (1, H, A) (or (1, A) with
    ``origin.chunked_output`` False). Joints, observation terms, action semantics and rates come from
    ``task_spec`` only, so every exporter that uses this function writes the same contract fields.
    """
    if any(t.history != 1 for t in task_spec.obs_terms):
        raise ConfigError(f"task {task_spec.name!r}: per-term history is not supported by the exporters "
                          "(it stacks whole observation frames: chunking.obs_history)")
    if diffusion.obs_dim != task_spec.obs_dim or diffusion.action_dim != task_spec.action_dim:
        raise ConfigError(f"policy dims (obs {diffusion.obs_dim}, action {diffusion.action_dim}) differ from task "
                          f"{task_spec.name!r} (obs {task_spec.obs_dim}, action {task_spec.action_dim})")
    config = load_robot_config(task_spec.robot)
    action = task_spec.action
    to, h = diffusion.obs_history, diffusion.horizon
    obs_shape = (1, to, task_spec.obs_dim) if to > 1 else (1, task_spec.obs_dim)  # static batch 1, see export.py
    if not origin.chunked_output and h != 1:
        raise ConfigError(f"an unchunked action output needs horizon 1, got {h}")
    act_shape = (1, h, task_spec.action_dim) if origin.chunked_output else (1, task_spec.action_dim)
    return PolicyContract(
        obs_joint_names=tuple(task_spec.joint_names), action_joint_names=tuple(action.joint_names),
        observations=tuple(obs_term_for(t) for t in task_spec.obs_terms), action=action_for(action),
        timing=Timing(physics_dt=task_spec.physics_dt, decimation=task_spec.decimation,
                      policy_hz=task_spec.policy_hz, max_latency_ms=max_latency_ms(task_spec, diffusion)),
        inputs=(TensorSpec(obs_name, obs_shape, "float32", "obs"),),
        outputs=(TensorSpec(action_name, act_shape, "float32", "action"),),
        chunking=Chunking(horizon=h, n_action_steps=diffusion.n_action_steps,
                          denoising_steps=diffusion.denoising_steps, obs_history=to),
        normalization=Normalization(kind=origin.normalization),
        provenance=Provenance(training_lib=origin.training_lib, sim_backend=origin.sim_backend, task=task_spec.name,
                              robot=config.name, git_commit=git_commit),
        joint_limits={n: [lo, hi] for n, lo, hi in zip(action.joint_names, action.clip_low, action.clip_high)},
        default_joint_pos={n: float(q) for n, q in zip(config.joints, config.default_pose)},
        pass_criteria=PassCriteria(min_success_rate=min_success_rate),
    )
