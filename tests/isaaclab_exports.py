"""Produce Isaac Lab style exports for tests: a LEAPP bundle (real ``leapp`` package) and rsl_rl policy.onnx +
params/env.yaml in Isaac Lab's dump_yaml format. The torch policies are real networks driving to a joint target.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from policy_helpers import JointTargetPolicy, export_onnx
from robot_rl.robot.config import load_robot_config


class _SplitInputs(torch.nn.Module):
    """JointTargetPolicy taking joint_pos_rel, joint_vel and goal_rel as separate tensors."""

    def __init__(self, n: int):
        super().__init__()
        self.inner = JointTargetPolicy(n)

    def forward(self, joint_pos, joint_vel, goal):
        return self.inner(torch.cat([joint_pos, joint_vel, goal], dim=-1))


def make_leapp_bundle(root: Path) -> Path:
    """Trace the policy with leapp and compile the bundle under ``root``; return the bundle directory."""
    import leapp
    from leapp import GraphConfigs, InputKindEnum, OutputKindEnum, TensorSemantics, annotate

    cfg = load_robot_config("panda")
    names, n, default = list(cfg.joints), cfg.dof, cfg.default_pose.tolist()
    torch.manual_seed(0)
    model = _SplitInputs(n).eval()
    leapp.start("panda_joint_target", save_path=str(root))
    zeros = torch.zeros(1, n)
    q, v, g = annotate.input_tensors("policy", [
        TensorSemantics(name="joint_pos", ref=zeros.clone(), kind=InputKindEnum.JOINT_POSITION, element_names=names,
                        extra={"offset": default}),
        TensorSemantics(name="joint_vel", ref=zeros.clone(), kind=InputKindEnum.JOINT_VELOCITY, element_names=names),
        TensorSemantics(name="goal", ref=zeros.clone(), kind=InputKindEnum.COMMAND_JOINT_POSITION,
                        element_names=names, extra={"offset": default}),
    ])
    action = model(q, v, g)
    annotate.output_tensors("policy", [TensorSemantics(
        name="action", ref=action, kind=OutputKindEnum.JOINT_POSITION, element_names=names,
        extra={"scale": 0.5, "offset": default})], export_with="onnx-torchscript")
    leapp.stop()
    assert leapp.compile_graph(visualize=False, graph_configs=GraphConfigs(frequency=50.0, extra={"physics_dt": 0.005}))
    return root / "panda_joint_target"


ENV_YAML = """\
viewer:
  eye: !!python/tuple
  - 7.5
  - 7.5
  - 7.5
  origin_type: world
sim:
  physics_prim_path: /physicsScene
  device: cuda:0
  dt: 0.01
  render_interval: 2
  gravity: !!python/tuple
  - 0.0
  - 0.0
  - -9.81
ui_window_class_type: isaaclab.envs.ui.manager_based_rl_env_window:ManagerBasedRLEnvWindow
seed: 42
decimation: 2
scene:
  num_envs: 4096
  env_spacing: 2.5
  robot:
    class_type: isaaclab.assets.articulation.articulation:Articulation
    prim_path: /World/envs/env_.*/Robot
    init_state:
      pos: !!python/tuple
      - 0.0
      - 0.0
      - 0.0
      rot: !!python/tuple
      - 1.0
      - 0.0
      - 0.0
      - 0.0
      joint_pos:
        panda_joint1: {j1}
        panda_joint2: {j2}
        panda_joint3: {j3}
        panda_joint4: {j4}
        panda_joint5: {j5}
        panda_joint6: {j6}
        panda_joint7: {j7}
        panda_finger_joint.*: 0.04
      joint_vel:
        .*: 0.0
    soft_joint_pos_limit_factor: 1.0
actions:
  arm_action:
    class_type: isaaclab.envs.mdp.actions.joint_actions:JointPositionAction
    asset_name: robot
    debug_vis: false
    clip: null
    joint_names:
    - panda_joint.*
    scale: 0.5
    offset: 0.0
    preserve_order: false
    use_default_offset: true
observations:
  policy:
    concatenate_terms: true
    concatenate_dim: -1
    enable_corruption: false
    history_length: null
    flatten_history_dim: true
    joint_pos:
      func: isaaclab.envs.mdp.observations:joint_pos_rel
      params: {{}}
      modifiers: null
      noise: null
      clip: null
      scale: null
      history_length: 0
      flatten_history_dim: true
    joint_vel:
      func: isaaclab.envs.mdp.observations:joint_vel_rel
      params: {{}}
      modifiers: null
      noise: null
      clip: null
      scale: null
      history_length: 0
      flatten_history_dim: true
    actions:
      func: isaaclab.envs.mdp.observations:last_action
      params: {{}}
      modifiers: null
      noise: null
      clip: null
      scale: null
      history_length: 0
      flatten_history_dim: true
episode_length_s: 12.0
"""


class FixedTargetPolicy(torch.nn.Module):
    """rsl_rl-style actor: obs [joint_pos_rel, joint_vel_rel, last_action] -> raw = (target - default) / scale.

    A real MLP whose last layer's bias carries the target and whose weights are zero.
    """

    def __init__(self, n: int, raw_target: np.ndarray):
        super().__init__()
        self.actor = torch.nn.Sequential(torch.nn.Linear(3 * n, 32), torch.nn.ELU(), torch.nn.Linear(32, n))
        torch.nn.init.zeros_(self.actor[2].weight)
        with torch.no_grad():
            self.actor[2].bias.copy_(torch.as_tensor(raw_target, dtype=torch.float32))

    def forward(self, obs):
        return self.actor(obs)


def make_rsl_rl_run(root: Path, target: np.ndarray) -> tuple[Path, Path]:
    """Write ``root/exported/policy.onnx`` and ``root/params/env.yaml``; the policy drives to ``target`` (rad)."""
    cfg = load_robot_config("panda")
    default = cfg.default_pose
    env_text = ENV_YAML.format(**{f"j{i + 1}": float(default[i]) for i in range(cfg.dof)})
    (root / "params").mkdir(parents=True, exist_ok=True)
    (root / "exported").mkdir(parents=True, exist_ok=True)
    (root / "params" / "env.yaml").write_text(env_text)
    torch.manual_seed(0)
    model = FixedTargetPolicy(cfg.dof, (np.asarray(target) - default) / 0.5)
    data = export_onnx(model, (torch.zeros(1, 3 * cfg.dof),), ["obs"], ["actions"])
    (root / "exported" / "policy.onnx").write_bytes(data)
    return root / "exported" / "policy.onnx", root / "params" / "env.yaml"
