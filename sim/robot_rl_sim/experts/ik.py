"""Damped least-squares inverse kinematics on the pinocchio model, plus Cartesian waypoint stepping."""

from __future__ import annotations

import numpy as np
import pinocchio as pin

from robot_rl.robot.model import RobotModel


def yaw_down_rotation(yaw: float) -> np.ndarray:
    """(3, 3) end-effector orientation pointing straight down (tool z = -world z), rotated ``yaw`` rad."""
    c, s = np.cos(yaw), np.sin(yaw)
    rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return rz @ np.diag([1.0, -1.0, -1.0])


def solve_ik(model: RobotModel, q_start: np.ndarray, position: np.ndarray, rotation: np.ndarray,
             iterations: int = 8, damping: float = 1e-3, posture_gain: float = 0.02) -> np.ndarray:
    """Joint positions (n,) rad putting the end effector at ``position`` (3,) m, ``rotation`` (3, 3).

    Damped least squares on the LOCAL_WORLD_ALIGNED Jacobian, starting at ``q_start``
    (n,) rad, with a small null-space pull towards the robot's default pose; the
    result is clipped to the soft joint limits.
    """
    lim = model.limits
    q = np.asarray(q_start, dtype=float).copy()
    default = model.config.default_pose
    for _ in range(iterations):
        pose = model.frame_pose(q)
        err = np.concatenate([position - pose[:3, 3], pin.log3(rotation @ pose[:3, :3].T)])
        jac = model.jacobian(q)
        jjt = jac @ jac.T + damping * np.eye(6)
        j_pinv = jac.T @ np.linalg.solve(jjt, np.eye(6))
        null = np.eye(len(q)) - j_pinv @ jac
        q = np.clip(q + j_pinv @ err + posture_gain * null @ (default - q), lim.soft_lower, lim.soft_upper)
    return q


def step_towards(current: np.ndarray, goal: np.ndarray, max_step: float) -> np.ndarray:
    """Point (3,) at most ``max_step`` m from ``current`` along the line to ``goal``."""
    delta = goal - current
    dist = float(np.linalg.norm(delta))
    return goal.copy() if dist <= max_step else current + delta * (max_step / dist)


def current_yaw(model: RobotModel, q: np.ndarray) -> float:
    """Yaw (rad) of the end effector's x axis in the world xy plane."""
    rot = model.frame_pose(q)[:3, :3]
    return float(np.arctan2(rot[1, 0], rot[0, 0]))
