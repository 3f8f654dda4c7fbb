"""Export the DSRL noise actor as a noise policy: a contract-carrying ONNX file bound to its base's sha256.

Inputs ``obs`` (the base's observation input shape) and ``eps`` (1, H, A) (role noise: standard normal while
exploring, zeros for the deterministic latent the robot runs by default); output ``latent`` (1, H, A) (role
action) = LATENT_SCALE * tanh(mean + std * eps). The contract copies the base's joints, observation terms,
action semantics and rates, and its ``residual`` section (kind "noise", scale = LATENT_SCALE) names the base
by sha256, so :func:`robot_rl.policy.noise_policy.check_noise_policy` accepts it for that base only.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from torch import nn

from robot_rl.errors import ConfigError
from robot_rl.hil.dsrl import LATENT_SCALE, NoiseActor
from robot_rl.hil.export import TRAINING_LIB
from robot_rl.learning.export import OPSET
from robot_rl.policy.contract import LoadedPolicy, PolicyContract, Provenance, Residual, TensorSpec, write_policy
from robot_rl.policy.schema import Chunking

OBS, EPS, LATENT = "obs", "eps", "latent"


class _NoisePolicy(nn.Module):
    """obs (1, *obs_shape), eps (1, H, A) -> latent (1, H, A)."""

    def __init__(self, actor: NoiseActor):
        super().__init__()
        self.actor = actor.eval()

    def forward(self, obs: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        return self.actor(obs.reshape(obs.shape[0], -1), eps.reshape(eps.shape[0], -1)).reshape(eps.shape)


def noise_policy_contract(base: PolicyContract, base_sha256: str) -> PolicyContract:
    """The noise policy's contract for ``base`` (which must take its initial noise as an input)."""
    spec = base.input("noise")
    if base.residual is not None or spec is None:
        raise ConfigError("DSRL needs a base diffusion policy exported with its initial noise as an input "
                          "(`robot-rl export --noise-input`); this base " +
                          ("is itself a residual" if base.residual is not None else "has no input with role 'noise'"))
    obs_shape = tuple(1 if isinstance(d, str) else d for d in base.input("obs").shape)
    latent_shape = (1,) + tuple(spec.shape[1:])
    return PolicyContract(
        obs_joint_names=base.obs_joint_names, action_joint_names=base.action_joint_names,
        observations=base.observations, action=base.action, timing=base.timing,
        chunking=Chunking(horizon=latent_shape[1], n_action_steps=base.chunking.n_action_steps,
                          obs_history=base.chunking.obs_history),
        inputs=(TensorSpec(OBS, obs_shape), TensorSpec(EPS, latent_shape, role="noise")),
        outputs=(TensorSpec(LATENT, latent_shape, role="action"),),
        residual=Residual(base_policy_id=base_sha256, scale=LATENT_SCALE, kind="noise"),
        provenance=Provenance(training_lib=TRAINING_LIB, sim_backend=base.provenance.sim_backend,
                              task=base.provenance.task, robot=base.provenance.robot),
        joint_limits=base.joint_limits, default_joint_pos=base.default_joint_pos,
        pass_criteria=base.pass_criteria)


def export_noise_policy(actor: NoiseActor, base: LoadedPolicy, path: str | Path) -> PolicyContract:
    """Write ``path`` (.onnx + sidecar); golden vectors on the base's own golden observations (zero eps and a
    sampled one)."""
    contract = noise_policy_contract(base.contract, base.sha256)
    obs_shape, latent_shape = contract.input("obs").shape, contract.input("noise").shape
    base_obs = base.contract.input("obs").name
    windows = [np.asarray(g.inputs[base_obs], np.float32).reshape(obs_shape) for g in base.contract.golden[:2]]
    if not windows:
        raise ConfigError("export_noise_policy: the base contract has no golden vectors to take observations from")
    golden = [{OBS: w, EPS: np.full(latent_shape, 0.5 * (i % 2), np.float32)} for i, w in enumerate(windows)]
    buffer = io.BytesIO()
    example = tuple(torch.from_numpy(golden[0][name]) for name in (OBS, EPS))
    with torch.no_grad():
        torch.onnx.export(_NoisePolicy(actor), example, buffer, input_names=[OBS, EPS], output_names=[LATENT],
                          opset_version=OPSET, dynamo=False)
    return write_policy(buffer.getvalue(), contract, path, golden_inputs=golden, atol=1e-4, rtol=1e-4)
