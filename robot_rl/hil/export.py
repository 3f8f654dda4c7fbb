"""Export the learned residual as a contract-carrying ONNX policy that names its base by sha256.

The file runs in :class:`robot_rl.policy.runtime.PolicyRuntime` next to the base policy (and in the policy
node's residual hot swap): inputs ``obs`` (the base's observation input shape), ``base_action`` (1, a) and
``noise`` (1, a) (role noise: standard normal while exploring, zeros for the deterministic residual the robot
runs by default), output ``residual`` (1, a) = tanh(mean + std * noise) in [-1, 1]; the contract copies the
base's joints, observation terms, action semantics and rates, so
:func:`robot_rl.policy.runtime.check_residual` accepts it for that base only.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from torch import nn

from robot_rl.errors import ConfigError
from robot_rl.hil.residual_net import ResidualActor
from robot_rl.learning.export import OPSET
from robot_rl.policy.contract import (LoadedPolicy, PolicyContract, Provenance, Residual, TensorSpec,
                                      write_policy)

OBS, BASE_ACTION, NOISE, RESIDUAL = "obs", "base_action", "noise", "residual"
TRAINING_LIB = "robot_rl.hil"


class _Residual(nn.Module):
    """obs (1, *obs_shape), base_action (1, a), noise (1, a) -> tanh(mean + std * noise) (1, a)."""

    def __init__(self, actor: ResidualActor):
        super().__init__()
        self.actor = actor.eval()

    def forward(self, obs: torch.Tensor, base_action: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self.actor(obs.reshape(obs.shape[0], -1), base_action, noise)


def residual_contract(base: PolicyContract, base_sha256: str, scale: float) -> PolicyContract:
    """The residual's contract: the base's interface plus a ``base_action`` input and the residual link."""
    if base.residual is not None:
        raise ConfigError("the base policy is itself a residual; residuals compose on a base policy only")
    if not (np.isfinite(scale) and scale > 0):
        raise ConfigError(f"residual scale must be finite and > 0 (raw action units), got {scale}")
    obs_shape = tuple(1 if isinstance(d, str) else d for d in base.input("obs").shape)
    a = base.action_dim
    return PolicyContract(
        obs_joint_names=base.obs_joint_names, action_joint_names=base.action_joint_names,
        observations=base.observations, action=base.action, timing=base.timing,
        inputs=(TensorSpec(OBS, obs_shape), TensorSpec(BASE_ACTION, (1, a), role="base_action"),
                TensorSpec(NOISE, (1, a), role="noise")),
        outputs=(TensorSpec(RESIDUAL, (1, a), role="action"),),
        residual=Residual(base_policy_id=base_sha256, scale=float(scale)),
        provenance=Provenance(training_lib=TRAINING_LIB, sim_backend=base.provenance.sim_backend,
                              task=base.provenance.task, robot=base.provenance.robot),
        joint_limits=base.joint_limits, default_joint_pos=base.default_joint_pos,
        pass_criteria=base.pass_criteria)


def export_residual(actor: ResidualActor, base: LoadedPolicy, scale: float, path: str | Path,
                    golden_obs: np.ndarray, golden_base: np.ndarray) -> PolicyContract:
    """Write ``path`` (.onnx + sidecar); golden vectors from recorded (obs (k, *obs_shape), base (k, a)) pairs."""
    contract = residual_contract(base.contract, base.sha256, scale)
    obs_shape = contract.input(OBS).shape
    a = contract.action_dim
    golden = [{OBS: np.asarray(o, np.float32).reshape(obs_shape), BASE_ACTION: np.asarray(b, np.float32)[None],
               NOISE: np.full((1, a), 0.5 * (i % 2), np.float32)}  # the second vector checks the sampled path
              for i, (o, b) in enumerate(zip(golden_obs, golden_base))]
    if not golden:
        raise ConfigError("export_residual needs at least one recorded (obs, base_action) pair for golden vectors")
    buffer = io.BytesIO()
    example = tuple(torch.from_numpy(golden[0][name]) for name in (OBS, BASE_ACTION, NOISE))
    with torch.no_grad():
        torch.onnx.export(_Residual(actor), example, buffer, input_names=[OBS, BASE_ACTION, NOISE],
                          output_names=[RESIDUAL], opset_version=OPSET, dynamo=False)
    return write_policy(buffer.getvalue(), contract, path, golden_inputs=golden, atol=1e-4, rtol=1e-4)
