"""A hold-position base policy: the "no base" of ``--method rlpd-scratch``.

It outputs, for every observation, the raw action that commands the measured joint positions (the robot
holds still): ``raw = (q_measured - action.offset) / action.scale`` (gripper scalar 0, i.e. open, but one
residual step away from closing). A residual over it is the policy acting alone, on the base's own action
space (``joint_pos_abs`` targets with the base's clip), parametrised as a step from where the arm is:
``target_t = q_t + s * residual(obs_t)``, s the residual scale (rad per policy step). Its contract copies
the base's joints, observation terms, action semantics and rates, with horizon 1 (a fresh hold every step),
so the same learner, labels, export and runtime serve both methods.
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from robot_rl.errors import ConfigError
from robot_rl.learning.export import OPSET
from robot_rl.policy.contract import LoadedPolicy, PolicyContract, TensorSpec, write_policy
from robot_rl.policy.schema import Chunking


def _joint_slice(contract: PolicyContract) -> slice:
    """Where the newest ``joint_pos`` sample sits in one observation frame."""
    start = 0
    for term in contract.observations:
        if term.source == "joint_pos":
            if term.clip is not None or tuple(contract.obs_joint_names) != tuple(contract.action_joint_names):
                raise ConfigError("a hold base needs an unclipped joint_pos term over the action joints, in order")
            end = start + term.size * term.history
            return slice(end - term.size, end)
        start += term.size * term.history
    raise ConfigError("a hold base needs a joint_pos observation term; the base has none")


class _Hold(nn.Module):
    """obs (1, obs_dim) or (1, history, obs_dim) -> raw actions (1, 1, a) holding the measured joints."""

    def __init__(self, contract: PolicyContract):
        super().__init__()
        term = next(t for t in contract.observations if t.source == "joint_pos")
        n, a = len(contract.action_joint_names), contract.action_dim
        self.where = _joint_slice(contract)

        def vec(values) -> torch.Tensor:
            return torch.as_tensor(np.broadcast_to(np.asarray(values, float), (n,)).copy(), dtype=torch.float32)

        # q = value / term.scale + term.offset; raw = (q - action.offset) / action.scale
        self.register_buffer("gain", 1.0 / (vec(term.scale) * vec(contract.action.scale)))
        self.register_buffer("bias", (vec(term.offset) - vec(contract.action.offset)) / vec(contract.action.scale))
        self.pad = a - n

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        frame = obs.reshape(obs.shape[0], -1, obs.shape[-1])[:, -1]
        raw = frame[:, self.where] * self.gain + self.bias
        raw = torch.cat([raw, torch.zeros(raw.shape[0], self.pad)], dim=-1)
        return raw[:, None, :]


def write_hold_base(base: LoadedPolicy, path: str | Path) -> PolicyContract:
    """Write the hold-position base for ``base``'s contract to ``path`` (.onnx + sidecar)."""
    c = base.contract
    if c.action.type != "joint_pos_abs":
        raise ConfigError(f"a hold base is defined for joint_pos_abs actions, not {c.action.type!r}")
    obs_spec = c.input("obs")
    shape = tuple(1 if isinstance(d, str) else d for d in obs_spec.shape)
    contract = replace(c, inputs=(TensorSpec(obs_spec.name, shape),),
                       outputs=(TensorSpec("actions", (1, 1, c.action_dim), role="action"),),
                       chunking=Chunking(horizon=1, n_action_steps=1, obs_history=c.chunking.obs_history),
                       golden=(), provenance=replace(c.provenance, training_lib="robot_rl.hil.hold_base"))
    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(_Hold(c).eval(), (torch.zeros(shape),), buffer, input_names=[obs_spec.name],
                          output_names=["actions"], opset_version=OPSET, dynamo=False)
    return write_policy(buffer.getvalue(), contract, path)
