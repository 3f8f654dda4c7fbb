"""Export a chunk policy for replanning faster than its training rate (``robot-rl export --replan-hz R``).

A policy trained at the task's rate (10 Hz: chunk step i is due at (i + 1) * 0.1 s) is exported with its
chunk resampled in the graph onto a finer grid of period 1/R (R a multiple of the task rate, r = R / rate):
step j of the new chunk is due at (j + 1) / R s and interpolates linearly, in time, between the trained steps
around it; before the first trained step it interpolates from the measured joint position (read from the
observation's ``joint_pos`` term) towards it. The contract then says policy_hz = R (decimation / r),
horizon H * r, n_action_steps 1, replace_from r - 1: the policy node infers on a fresh observation every
1/R s and each chunk replaces the current one from its first trained step on (the steps before it start
from the measured position and run only for the first chunk; robot_rl.policy.chunking.splice). Only
``joint_pos_abs`` actions with unclipped ``joint_pos`` terms (the observed position is recovered from them);
a gripper scalar is not interpolated (each fine step takes the trained step it falls in). With the one-step student
(docs/distillation.md) this is the 50 Hz replanning run; the 10-step teacher cannot infer in 20 ms here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from torch import nn

from robot_rl.errors import ConfigError


class Resampled(nn.Module):
    """forward(obs (1, O)) -> actions (1, H * r, A): ``sampler``'s chunk (1, H, A) on the finer grid.

    Args:
        sampler: obs -> raw action chunk (1, H, A) (e.g. :class:`robot_rl.learning.export.UnrolledDDIM`).
        ratio: r, fine steps per trained step.
        joint_index: (n,) positions of the arm joints' ``joint_pos`` values in the observation vector.
        obs_scale, obs_offset: (n,) that term's scale and offset (value = (q - offset) * scale).
        action_scale, action_offset: (n,) the action's (processed = raw * scale + offset).
    """

    def __init__(self, sampler: nn.Module, ratio: int, joint_index, obs_scale, obs_offset, action_scale,
                 action_offset):
        super().__init__()
        self.sampler, self.ratio = sampler, ratio
        self.register_buffer("joint_index", torch.as_tensor(joint_index, dtype=torch.long))
        for name, value in (("obs_scale", obs_scale), ("obs_offset", obs_offset), ("action_scale", action_scale),
                            ("action_offset", action_offset)):
            self.register_buffer(name, torch.as_tensor(np.asarray(value, dtype=np.float32)))
        self.register_buffer("weights", torch.arange(1, ratio + 1, dtype=torch.float32) / ratio)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        chunk = self.sampler(obs)  # (1, H, A)
        q = obs.reshape(1, -1)[:, self.joint_index] / self.obs_scale + self.obs_offset  # measured, rad
        start = chunk[:, 0].clone()
        start[:, : q.shape[1]] = (q - self.action_offset) / self.action_scale  # raw action holding q
        previous = torch.cat([start[:, None], chunk[:, :-1]], dim=1)
        arm = q.shape[1]
        blend = previous[:, :, None, :arm] + self.weights[None, None, :, None] * (chunk - previous)[:, :, None, :arm]
        gripper = chunk[:, :, None, arm:].expand(-1, -1, self.ratio, -1)
        return torch.cat([blend, gripper], dim=-1).reshape(1, chunk.shape[1] * self.ratio, chunk.shape[2])


def _joint_pos_term(contract) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(observation indices, scale, offset) of the arm joints' positions, from the ``joint_pos`` term."""
    start = 0
    for term in contract.observations:
        if term.source == "joint_pos":
            if term.clip is not None or term.history != 1:
                raise ConfigError(f"--replan-hz needs an unclipped joint_pos term with history 1, {term.name!r} is not")
            names = list(contract.obs_joint_names)
            index = np.array([names.index(n) for n in contract.action_joint_names])
            scale = np.broadcast_to(np.asarray(term.scale, dtype=float), (term.size,))[index]
            offset = np.broadcast_to(np.asarray(term.offset, dtype=float), (term.size,))[index]
            return start + index, scale, offset
        start += term.width
    raise ConfigError("--replan-hz needs a joint_pos observation term (the measured position the first fine "
                      "steps start from)")


def export_replanning(checkpoint, task_spec, path: str | Path, rate_hz: float, min_success_rate: float = 0.8,
                      noise_seed: int = 0, baked: str = "seeded", ensemble: float = 0.0):
    """Write ``path`` (.onnx + sidecar): ``checkpoint``'s deterministic export resampled for ``rate_hz``
    replanning (module docstring; ``baked``: robot_rl.learning.export.BAKED_NOISE; ``ensemble``: the contract's
    ``chunking.ensemble``, robot_rl.policy.chunking.blend); returns the stored contract."""
    from robot_rl.learning.contract_map import contract_for
    from robot_rl.learning.export import (ACTION_OUTPUT, OBS_INPUT, UnrolledDDIM, check_task_matches, git_commit,
                                          onnx_bytes)
    from robot_rl.policy.contract import write_policy

    check_task_matches(checkpoint, task_spec)
    cfg = checkpoint.config
    ratio = rate_hz / task_spec.policy_hz
    if abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1 or task_spec.decimation % round(ratio):
        raise ConfigError(f"--replan-hz {rate_hz:g} must be a multiple of the task rate {task_spec.policy_hz:g} Hz "
                          f"that divides its decimation {task_spec.decimation}")
    ratio = round(ratio)
    if cfg.obs_history != 1 or task_spec.action.type != "joint_pos_abs":
        raise ConfigError(f"--replan-hz needs obs_history 1 and joint_pos_abs actions (got {cfg.obs_history}, "
                          f"{task_spec.action.type!r})")
    base = contract_for(task_spec, cfg, OBS_INPUT, ACTION_OUTPUT, min_success_rate, git_commit())
    index, obs_scale, obs_offset = _joint_pos_term(base)
    action = base.action
    module = Resampled(UnrolledDDIM(checkpoint.policy(use_ema=True), seed=noise_seed, baked=baked).eval(), ratio, index,
                       obs_scale, obs_offset, np.asarray(action.scale, dtype=float)[: len(index)],
                       np.asarray(action.offset, dtype=float)[: len(index)]).eval()
    horizon = cfg.horizon * ratio
    timing = dataclasses.replace(base.timing, decimation=task_spec.decimation // ratio, policy_hz=rate_hz,
                                 max_latency_ms=1000.0 * (horizon - 1) / rate_hz)
    contract = dataclasses.replace(
        base, timing=timing,
        chunking=dataclasses.replace(base.chunking, horizon=horizon, n_action_steps=1, replace_from=ratio - 1,
                                     ensemble=ensemble),
        outputs=(dataclasses.replace(base.outputs[0], shape=(1, horizon, base.action_dim)),))
    golden = np.asarray(checkpoint.dataset.get("golden_obs", []), dtype=np.float32).reshape(-1, 1, cfg.obs_dim)
    if len(golden) == 0:
        raise ConfigError("export needs at least one recorded observation window for the golden vectors")
    inputs = [{OBS_INPUT: window.reshape(1, cfg.obs_dim)} for window in golden]
    data = onnx_bytes(module, torch.from_numpy(inputs[0][OBS_INPUT]))
    return write_policy(data, contract, path, golden_inputs=inputs, atol=1e-4, rtol=1e-4)
