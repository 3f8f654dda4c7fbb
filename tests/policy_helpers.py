"""Small real policies for the policy tests: torch modules exported to ONNX with a robot_rl contract.

Not mocks: the models are real torch networks exported by torch.onnx and run by onnxruntime.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch

from robot_rl.policy.contract import (
    ActionSpec, Chunking, ObsTerm, PassCriteria, PolicyContract, Provenance, Residual, TensorSpec, Timing,
    write_policy,
)
from robot_rl.robot.config import load_robot_config


def export_onnx(module: torch.nn.Module, example: tuple, input_names: list[str], output_names: list[str]) -> bytes:
    """TorchScript-based ONNX export (opset 17) of ``module`` to bytes."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), example, buffer, input_names=input_names, output_names=output_names,
                          opset_version=17, dynamo=False)
    return buffer.getvalue()


class JointTargetPolicy(torch.nn.Module):
    """raw = gain * goal_rel: drives joint_pos_abs actions (scale 1/gain, offset default) to the goal joints.

    Observation: [joint_pos - default (n), joint_vel (n), goal - default (n)]. A random hidden MLP branch with a
    zero output layer keeps it a real network without changing the answer.
    """

    def __init__(self, n: int, gain: float = 2.0, horizon: int = 1):
        super().__init__()
        self.n, self.gain, self.horizon = n, gain, horizon
        self.hidden = torch.nn.Sequential(torch.nn.Linear(3 * n, 32), torch.nn.ELU(), torch.nn.Linear(32, n))
        torch.nn.init.zeros_(self.hidden[2].weight)
        torch.nn.init.zeros_(self.hidden[2].bias)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        action = self.gain * obs[:, 2 * self.n:3 * self.n] + self.hidden(obs)
        if self.horizon == 1:
            return action
        return action[:, None, :].repeat(1, self.horizon, 1)


def panda_contract(horizon: int = 1, n_action_steps: int = 1, gain: float = 2.0, policy_hz: float = 50.0,
                   **changes) -> PolicyContract:
    """Contract for :class:`JointTargetPolicy` on the shipped Panda (names read from its YAML)."""
    cfg = load_robot_config("panda")
    names, n, default = cfg.joints, cfg.dof, cfg.default_pose.tolist()
    out_shape = ("batch", n) if horizon == 1 else ("batch", horizon, n)
    fields = dict(
        obs_joint_names=names, action_joint_names=names,
        observations=(ObsTerm("joint_pos", "joint_pos", n, "rad", offset=default),
                      ObsTerm("joint_vel", "joint_vel", n, "rad/s", scale=0.05),
                      ObsTerm("goal", "goal", n, "rad", offset=default)),
        action=ActionSpec("joint_pos_abs", scale=1.0 / gain, offset=default),
        timing=Timing(physics_dt=0.005, decimation=int(round(200 / policy_hz)), policy_hz=policy_hz,
                      max_latency_ms=100.0),
        chunking=Chunking(horizon=horizon, n_action_steps=n_action_steps),
        inputs=(TensorSpec("obs", ("batch", 3 * n)),),
        outputs=(TensorSpec("actions", out_shape, role="action"),),
        provenance=Provenance(training_lib="tests", sim_backend="mujoco", task="joint-target", robot="panda"),
        default_joint_pos=dict(zip(names, default)),
        pass_criteria=PassCriteria(min_success_rate=0.5),
    )
    fields.update(changes)
    return PolicyContract(**fields)


def write_joint_target_policy(path: Path, horizon: int = 1, n_action_steps: int = 1, seed: int = 0,
                              **changes) -> PolicyContract:
    """Export :class:`JointTargetPolicy` with its contract to ``path``; return the stored contract."""
    torch.manual_seed(seed)
    contract = panda_contract(horizon=horizon, n_action_steps=n_action_steps, **changes)
    n = len(contract.action_joint_names)
    module = JointTargetPolicy(n, horizon=horizon)
    data = export_onnx(module, (torch.zeros(1, 3 * n),), ["obs"], ["actions"])
    return write_policy(data, contract, path)


class ResidualPolicy(torch.nn.Module):
    """residual(obs, base_action) = bias - base_action * 0 + obs-independent constant; a real linear map."""

    def __init__(self, n: int, obs_dim: int, constant: float):
        super().__init__()
        self.obs_layer = torch.nn.Linear(obs_dim, n)
        torch.nn.init.zeros_(self.obs_layer.weight)
        torch.nn.init.constant_(self.obs_layer.bias, constant)

    def forward(self, obs: torch.Tensor, base_action: torch.Tensor) -> torch.Tensor:
        return self.obs_layer(obs) + 0.0 * base_action


def write_residual_policy(path: Path, base: PolicyContract, base_sha256: str, constant: float,
                          scale: float) -> PolicyContract:
    """A residual that outputs ``constant`` per joint, composed with weight ``scale`` on ``base``."""
    n = len(base.action_joint_names)
    module = ResidualPolicy(n, base.obs_dim, constant)
    data = export_onnx(module, (torch.zeros(1, base.obs_dim), torch.zeros(1, n)), ["obs", "base_action"],
                       ["residual"])
    contract = PolicyContract(
        obs_joint_names=base.obs_joint_names, action_joint_names=base.action_joint_names,
        observations=base.observations, action=base.action, timing=base.timing,
        inputs=(TensorSpec("obs", ("batch", base.obs_dim)),
                TensorSpec("base_action", ("batch", n), role="base_action")),
        outputs=(TensorSpec("residual", ("batch", n), role="action"),),
        residual=Residual(base_policy_id=base_sha256, scale=scale),
        provenance=Provenance(training_lib="tests", task="joint-target"))
    return write_policy(data, contract, path)


def panda_inputs(q: np.ndarray, goal: np.ndarray | None, stamp: float = 0.0):
    """ObservationInputs for the Panda arm at q (7,) with zero velocity."""
    from robot_rl.policy.observation import ObservationInputs

    names = load_robot_config("panda").joints
    return ObservationInputs(stamp=stamp, joint_names=names, position=np.asarray(q, float),
                             velocity=np.zeros(len(names)), goal=goal)


def train_tiny_reach_diffusion(root: Path, threads: int) -> tuple[dict, Path]:
    """A small diffusion policy (U-Net 16/32, 10 DDIM steps) briefly trained on 3 recorded panda-reach
    demonstrations in ``root`` (not a good policy, a real one): (checkpoint, its path root/teacher/checkpoint.pt)."""
    import json

    from robot_rl.learning.diffusion import DiffusionConfig
    from robot_rl.learning.train_bc import golden_windows, load_episodes
    from robot_rl.learning.trainer import TrainConfig, new_checkpoint, train
    from robot_rl_sim.dataset.collect import CollectConfig, collect
    from robot_rl_sim.tasks import get_task

    torch.set_num_threads(threads)
    collect(CollectConfig(task="panda-reach", episodes=3, out=root / "demos"))
    spec = get_task("panda-reach")
    episodes, summary = load_episodes(root / "demos", spec)
    diffusion = DiffusionConfig(obs_dim=spec.obs_dim, action_dim=spec.action_dim, channels=(16, 32))
    summary["golden_obs"] = golden_windows(episodes, diffusion.obs_history, diffusion.horizon)
    config = TrainConfig(steps=40, batch_size=32, warmup=4, log_every=20, threads=threads)
    checkpoint = new_checkpoint(config, diffusion, episodes, json.loads(json.dumps(spec.to_dict())), summary)
    path = root / "teacher" / "checkpoint.pt"
    return train(config, checkpoint, episodes, path), path
