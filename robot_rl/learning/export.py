"""Export a trained diffusion policy to a contract-carrying ONNX file (``robot-rl export``).

The fixed DDIM loop is unrolled into ONE graph: obs history (B, To, O) in
physical units -> normalise -> encoder -> ``denoising_steps`` U-Net evaluations
from a fixed initial noise baked into the file -> unnormalise -> action chunk
(B, H, A) raw actions. The policy node then runs any diffusion policy like any
other chunking policy, and the golden vectors pin the whole sampler, not just
the denoiser. Why this choice: docs/training.md.
"""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
from pathlib import Path

import numpy as np
import torch
from torch import nn

from robot_rl.errors import ConfigError
from robot_rl.learning.checkpoint import Checkpoint
from robot_rl.learning.diffusion import DiffusionPolicy

OPSET = 18
OBS_INPUT, NOISE_INPUT, ACTION_OUTPUT = "obs", "noise", "actions"
BAKED_NOISE = ("seeded", "zero")
"""The baked initial noise: one standard-normal draw seeded by the noise seed (default), or zero (the
noise distribution's mean; on the pick-cube base it scores far above the seed-0 draw, docs/hil.md)."""


def baked_noise(config, seed: int, kind: str = "seeded") -> torch.Tensor:
    """The fixed initial noise (1, H, A) of a deterministic export: standard normal seeded by ``seed``, or
    zeros for ``kind`` "zero"."""
    if kind not in BAKED_NOISE:
        raise ConfigError(f"baked noise {kind!r} not in {BAKED_NOISE}")
    if kind == "zero":
        return torch.zeros((1, config.horizon, config.action_dim))
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((1, config.horizon, config.action_dim), generator=generator)


class UnrolledDDIM(nn.Module):
    """The sampler as a module: forward(obs (B, To, O) or (B, O) if To == 1[, noise (B, H, A)]) -> actions (B, H, A).

    Args:
        policy: trained policy (eval mode).
        seed: seeds the fixed initial noise (1, H, A) that every inference starts from when no noise is given.
        baked: :data:`BAKED_NOISE`: that noise seeded by ``seed``, or zero.
    """

    def __init__(self, policy: DiffusionPolicy, seed: int = 0, baked: str = "seeded"):
        super().__init__()
        self.policy = policy.eval()
        self.register_buffer("initial_noise", baked_noise(policy.config, seed, baked))

    def forward(self, obs: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        config = self.policy.config
        obs = obs.reshape(obs.shape[0], config.obs_history, config.obs_dim)
        return self.policy.sample(obs, self.initial_noise.expand(obs.shape[0], -1, -1) if noise is None else noise)


def onnx_bytes(module: nn.Module, example: torch.Tensor, noise: torch.Tensor | None = None) -> bytes:
    """Serialised ONNX (opset :data:`OPSET`) of ``module`` traced at ``example`` (batch 1), with a second graph
    input ``noise`` when an example ``noise`` is given.

    The batch dimension is static (1, as the policy node runs it): with a symbolic batch the unrolled
    graph keeps hundreds of Shape/Slice nodes and onnxruntime takes ~10x longer to create a session.
    """
    if example.shape[0] != 1:
        raise ConfigError(f"export traces with batch 1, got an example of shape {tuple(example.shape)}")
    args, names = ((example,), [OBS_INPUT]) if noise is None else ((example, noise), [OBS_INPUT, NOISE_INPUT])
    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(module, args, buffer, input_names=names, output_names=[ACTION_OUTPUT],
                          opset_version=OPSET, dynamo=False)
    return buffer.getvalue()


def git_commit() -> str:
    """HEAD commit of the checkout this code runs from, or '' outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def check_task_matches(checkpoint: Checkpoint, task_spec) -> None:
    """ConfigError unless the checkpoint was trained on exactly ``task_spec`` (compared as JSON)."""
    current = json.loads(json.dumps(task_spec.to_dict()))
    if checkpoint.task != current:
        diff = sorted(k for k in set(current) | set(checkpoint.task) if current.get(k) != checkpoint.task.get(k))
        raise ConfigError(f"checkpoint was trained on a different spec of task {task_spec.name!r}: "
                          f"fields {diff} differ from the registered task")


def export_policy(checkpoint: Checkpoint, task_spec, path: str | Path, min_success_rate: float = 0.8,
                  noise_seed: int = 0, golden_obs: np.ndarray | None = None, noise_input: bool = False,
                  baked: str = "seeded"):
    """Write ``path`` (.onnx + sidecar) for ``checkpoint`` trained on ``task_spec``; returns the stored contract.

    Args:
        min_success_rate: the gate's pass criterion stored in the contract.
        noise_seed: seed of the baked initial noise (and of the golden vectors' noise with ``noise_input``).
        golden_obs: (k, To, O) recorded observation windows to record golden outputs for (default: the
            windows stored in the checkpoint at training time).
        noise_input: take the initial noise as a second graph input ``noise`` (1, H, A) (contract role
            ``noise``, standard normal) instead of baking it in; the golden vectors feed the baked noise, so
            they equal the default export's outputs.
        baked: :data:`BAKED_NOISE`: the baked initial noise seeded by ``noise_seed`` (default) or zero.
    """
    from robot_rl.learning.contract_map import contract_for
    from robot_rl.policy.contract import NoiseInput, TensorSpec, write_policy

    check_task_matches(checkpoint, task_spec)
    module = UnrolledDDIM(checkpoint.policy(use_ema=True), seed=noise_seed, baked=baked).eval()
    cfg = checkpoint.config
    if golden_obs is None:
        golden_obs = np.asarray(checkpoint.dataset.get("golden_obs", []), dtype=np.float32)
    golden_obs = np.asarray(golden_obs, dtype=np.float32).reshape(-1, cfg.obs_history, cfg.obs_dim)
    if len(golden_obs) == 0:
        raise ConfigError("export needs at least one recorded observation window for the golden vectors")
    contract = contract_for(task_spec, cfg, OBS_INPUT, ACTION_OUTPUT, min_success_rate, git_commit())
    shape = contract.input("obs").shape  # (1, To, O), or (1, O) when To == 1
    inputs = [{OBS_INPUT: window.reshape(shape)} for window in golden_obs]
    noise = None
    if noise_input:
        noise = module.initial_noise.clone()
        contract = dataclasses.replace(contract, noise=NoiseInput(), inputs=contract.inputs + (
            TensorSpec(NOISE_INPUT, tuple(noise.shape), "float32", "noise"),))
        inputs = [{**i, NOISE_INPUT: noise.numpy()} for i in inputs]
    data = onnx_bytes(module, torch.from_numpy(inputs[0][OBS_INPUT]), noise)
    return write_policy(data, contract, path, golden_inputs=inputs, atol=1e-4, rtol=1e-4)
