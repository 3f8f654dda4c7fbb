"""A pose-goal actor for test LEAPP bundles: differential IK written in torch ops that trace into ONNX.

A stand-in for a PPO actor trained on Isaac-Reach-Franka (no Isaac Sim here): from the observed arm joints and
an ``ee_pose`` command (target pose of one body in the robot base frame, ``x y z qx qy qz qw`` as Isaac Lab 3's
UniformPoseCommand holds it) it computes the joint target that brings the body there. Its kinematics are the
URDF's, as pinocchio's model holds them (joint placements, joint axes, the body's placement on its joint).
"""

from __future__ import annotations

import numpy as np
import torch

ORIENTATION_WEIGHT_M = 0.2
"""Metres of position error one radian of orientation error weighs in the IK step."""


def _skew(axis: np.ndarray) -> np.ndarray:
    x, y, z = axis
    return np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])


def _joint_axis(joint) -> np.ndarray:
    """Unit rotation axis (3,) of a pinocchio revolute joint model."""
    name = joint.shortname()
    axes = {"JointModelRX": (1.0, 0.0, 0.0), "JointModelRY": (0.0, 1.0, 0.0), "JointModelRZ": (0.0, 0.0, 1.0)}
    if name in axes:
        return np.array(axes[name])
    if name == "JointModelRevoluteUnaligned":
        return np.asarray(joint.extract().axis, dtype=float)
    raise ValueError(f"pose_reach: joint type {name} is not revolute")


class ChainKinematics(torch.nn.Module):
    """Pose and geometric Jacobian of ``body`` (base frame) for a batch of arm joint positions (B, n) rad."""

    def __init__(self, robot_model, body: str):
        super().__init__()
        pin_model = robot_model.model
        frame = pin_model.frames[robot_model.frame_id(body)]
        chain, joint = [], frame.parentJoint
        while joint > 0:
            chain.append(joint)
            joint = pin_model.parents[joint]
        chain.reverse()
        f32 = torch.float32
        self.index = [pin_model.joints[j].idx_q for j in chain]
        self.register_buffer("rot", torch.tensor(np.stack([pin_model.jointPlacements[j].rotation for j in chain]),
                                                 dtype=f32))
        self.register_buffer("trans", torch.tensor(np.stack([pin_model.jointPlacements[j].translation
                                                             for j in chain]), dtype=f32))
        axes = [_joint_axis(pin_model.joints[j]) for j in chain]
        self.register_buffer("axis", torch.tensor(np.stack(axes), dtype=f32))
        self.register_buffer("skew", torch.tensor(np.stack([_skew(a) for a in axes]), dtype=f32))
        self.register_buffer("tip_rot", torch.tensor(frame.placement.rotation, dtype=f32))
        self.register_buffer("tip_trans", torch.tensor(frame.placement.translation, dtype=f32))

    def forward(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(body position (B, 3) m, body rotation (B, 3, 3), Jacobian (B, 6, n): linear rows, then angular)."""
        batch = q.shape[0]
        rot = torch.eye(3, dtype=q.dtype).expand(batch, 3, 3)
        pos = torch.zeros(batch, 3, dtype=q.dtype)
        origins, axes = [], []
        eye = torch.eye(3, dtype=q.dtype)
        for k, i in enumerate(self.index):
            pos = pos + (rot @ self.trans[k].unsqueeze(-1)).squeeze(-1)
            rot = rot @ self.rot[k]
            origins.append(pos)
            axes.append((rot @ self.axis[k].unsqueeze(-1)).squeeze(-1))
            angle = q[:, i].reshape(batch, 1, 1)
            skew = self.skew[k]
            rot = rot @ (eye + torch.sin(angle) * skew + (1.0 - torch.cos(angle)) * (skew @ skew))
        tip = pos + (rot @ self.tip_trans.unsqueeze(-1)).squeeze(-1)
        columns = [torch.cat([torch.linalg.cross(z, tip - o), z], dim=-1) for z, o in zip(axes, origins)]
        return tip, rot @ self.tip_rot, torch.stack(columns, dim=-1)


def quat_xyzw_to_matrix(quat: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (B, 3, 3) of unit quaternions (B, 4) in Isaac Lab 3's order (x, y, z, w)."""
    x, y, z, w = quat.unbind(-1)
    rows = [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]
    return torch.stack(rows, dim=-1).reshape(quat.shape[0], 3, 3)


class PoseReach(torch.nn.Module):
    """``iterations`` Jacobian-transpose steps (each with the step length that minimises the linearised error)
    from the measured arm joints towards the pose command; returns the arm joint target (B, n) rad."""

    def __init__(self, robot_model, body: str, iterations: int = 1, max_step_rad: float = 0.25):
        super().__init__()
        self.kinematics = ChainKinematics(robot_model, body)
        self.iterations, self.max_step_rad = iterations, max_step_rad

    def forward(self, q: torch.Tensor, pose_command: torch.Tensor) -> torch.Tensor:
        goal_pos, goal_rot = pose_command[:, :3], quat_xyzw_to_matrix(pose_command[:, 3:7])
        weight = torch.tensor([1.0, 1.0, 1.0] + [ORIENTATION_WEIGHT_M] * 3, dtype=q.dtype)
        target = q
        for _ in range(self.iterations):
            pos, rot, jac = self.kinematics(target)
            rot_error = 0.5 * torch.linalg.cross(rot, goal_rot, dim=1).sum(dim=-1)  # small-angle axis * angle
            error = torch.cat([goal_pos - pos, rot_error], dim=-1) * weight
            jac = jac * weight.unsqueeze(-1)
            step = (jac.transpose(1, 2) @ error.unsqueeze(-1)).squeeze(-1)
            moved = (jac @ step.unsqueeze(-1)).squeeze(-1)
            length = (error * moved).sum(-1, keepdim=True) / ((moved * moved).sum(-1, keepdim=True) + 1e-9)
            target = target + torch.clamp(length * step, -self.max_step_rad, self.max_step_rad)
        return target
