"""Isaac Lab observation functions and the gripper action for the robot_rl tasks (needs isaaclab + torch).

Each function returns (num_envs, size) tensors with the same meaning and units
as the MuJoCo env's term of the same source (robot base frame, m, quat wxyz).
"""

from __future__ import annotations

import torch
from isaaclab.assets import Articulation, RigidObject
from isaaclab.envs import ManagerBasedRLEnv
from isaaclab.envs.mdp.actions.actions_cfg import BinaryJointPositionActionCfg
from isaaclab.envs.mdp.actions.binary_joint_actions import BinaryJointPositionAction
from isaaclab.managers import SceneEntityCfg
from isaaclab.utils import configclass
from isaaclab.utils.math import combine_frame_transforms, quat_apply, subtract_frame_transforms


def ee_pos_base(env: ManagerBasedRLEnv, offset: tuple[float, float, float] = (0.0, 0.0, 0.1034),
                asset_cfg: SceneEntityCfg = SceneEntityCfg("robot", body_names=["panda_hand"])) -> torch.Tensor:
    """TCP position (num_envs, 3) m in the robot base frame: ``body`` + ``offset`` in the body frame."""
    robot: Articulation = env.scene[asset_cfg.name]
    body = asset_cfg.body_ids[0]
    pos_w = robot.data.body_pos_w[:, body] + quat_apply(robot.data.body_quat_w[:, body],
                                                       torch.tensor(offset, device=env.device).expand(env.num_envs, 3))
    pos_b, _ = subtract_frame_transforms(robot.data.root_pos_w, robot.data.root_quat_w, pos_w)
    return pos_b


def goal_position(env: ManagerBasedRLEnv, command_name: str = "ee_goal") -> torch.Tensor:
    """Goal position (num_envs, 3) m in the base frame, from a pose command."""
    return env.command_manager.get_command(command_name)[:, :3]


def object_pose_base(env: ManagerBasedRLEnv, object_cfg: SceneEntityCfg = SceneEntityCfg("object"),
                     robot_cfg: SceneEntityCfg = SceneEntityCfg("robot")) -> torch.Tensor:
    """Object position m + quaternion wxyz (num_envs, 7) in the robot base frame."""
    robot: Articulation = env.scene[robot_cfg.name]
    obj: RigidObject = env.scene[object_cfg.name]
    pos, quat = subtract_frame_transforms(robot.data.root_pos_w, robot.data.root_quat_w,
                                          obj.data.root_pos_w, obj.data.root_quat_w)
    return torch.cat([pos, quat], dim=-1)


def gripper_opening(env: ManagerBasedRLEnv,
                    asset_cfg: SceneEntityCfg = SceneEntityCfg("robot", joint_names=["panda_finger_joint.*"])
                    ) -> torch.Tensor:
    """Mean finger joint position (num_envs, 1) m."""
    robot: Articulation = env.scene[asset_cfg.name]
    return robot.data.joint_pos[:, asset_cfg.joint_ids].mean(dim=-1, keepdim=True)


def object_lifted(env: ManagerBasedRLEnv, height: float, initial_height: float,
                  object_cfg: SceneEntityCfg = SceneEntityCfg("object")) -> torch.Tensor:
    """Bool (num_envs,): object at least ``height`` m above ``initial_height`` (world z)."""
    obj: RigidObject = env.scene[object_cfg.name]
    return obj.data.root_pos_w[:, 2] - env.scene.env_origins[:, 2] >= initial_height + height


def ee_within_goal(env: ManagerBasedRLEnv, threshold: float, command_name: str = "ee_goal") -> torch.Tensor:
    """Bool (num_envs,): TCP within ``threshold`` m of the goal."""
    return torch.linalg.norm(ee_pos_base(env) - goal_position(env, command_name), dim=-1) <= threshold


class PositiveClosesGripperAction(BinaryJointPositionAction):
    """Isaac Lab's binary gripper closes on a negative action; the contract's gripper closes on > 0."""

    def process_actions(self, actions: torch.Tensor) -> None:
        super().process_actions(-actions)


@configclass
class PositiveClosesGripperActionCfg(BinaryJointPositionActionCfg):
    """Config of :class:`PositiveClosesGripperAction`."""

    class_type: type = PositiveClosesGripperAction


__all__ = ["PositiveClosesGripperActionCfg", "combine_frame_transforms", "ee_pos_base", "ee_within_goal",
           "goal_position", "gripper_opening", "object_lifted", "object_pose_base"]


def declared_reward(env: ManagerBasedRLEnv, term: str, std: float, threshold: float = 0.02,
                    initial_height: float = 0.02) -> torch.Tensor:
    """The MuJoCo task's reward term ``term`` (see robot_rl_sim.tasks.terms), (num_envs,)."""
    ee = ee_pos_base(env)
    if term in ("ee_goal_distance", "ee_goal_tanh"):
        dist = torch.linalg.norm(ee - goal_position(env), dim=-1)
        return dist if term == "ee_goal_distance" else 1.0 - torch.tanh(dist / std)
    if term == "ee_object_tanh":
        return 1.0 - torch.tanh(torch.linalg.norm(ee - object_pose_base(env)[:, :3], dim=-1) / std)
    if term == "object_lift":
        lift = object_pose_base(env)[:, 2] - initial_height
        return torch.clamp(lift, 0.0, std) / std
    if term == "success":
        if "ee_goal" in env.command_manager.active_terms:
            return ee_within_goal(env, threshold).float()
        return object_lifted(env, threshold, initial_height).float()
    if term == "action_rate":
        return torch.sum((env.action_manager.action - env.action_manager.prev_action) ** 2, dim=-1)
    raise ValueError(f"unknown reward term {term!r}")
