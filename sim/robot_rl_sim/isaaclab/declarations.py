"""Isaac Lab task declarations generated from the shared TaskSpecs (no Isaac Lab import).

:mod:`robot_rl_sim.isaaclab.env_cfg` builds the ``ManagerBasedRLEnvCfg`` classes
from these dicts, and ``tests/test_isaaclab_task.py`` checks them against the
MuJoCo task, so both simulators train on the same terms, joint order and rates.
"""

from __future__ import annotations

from robot_rl.errors import ConfigError
from robot_rl_sim.tasks import get_task
from robot_rl_sim.tasks.spec import TaskSpec

GYM_IDS = {"panda-reach": "RobotRL-Panda-Reach-v0", "panda-pick-cube": "RobotRL-Panda-PickCube-v0"}
"""Task name -> Gymnasium id registered by :mod:`robot_rl_sim.isaaclab`."""

OBS_FUNCTIONS = {
    "joint_pos": "isaaclab.envs.mdp:joint_pos",  # absolute joint positions, rad
    "joint_vel": "isaaclab.envs.mdp:joint_vel",  # rad/s
    "ee_pos": "robot_rl_sim.isaaclab.mdp:ee_pos_base",  # TCP position in the robot base frame, m
    "goal": "robot_rl_sim.isaaclab.mdp:goal_position",  # pose command position, m
    "object_pose": "robot_rl_sim.isaaclab.mdp:object_pose_base",  # pos m + quat wxyz, base frame
    "gripper_pos": "robot_rl_sim.isaaclab.mdp:gripper_opening",  # mean finger position, m
    "last_action": "isaaclab.envs.mdp:last_action",
}
"""Observation source (contract vocabulary) -> Isaac Lab observation function."""


def declaration(task: str | TaskSpec) -> dict:
    """Everything the Isaac Lab config of ``task`` takes from the shared spec, as plain data."""
    spec = get_task(task) if isinstance(task, str) else task
    if spec.name not in GYM_IDS:
        raise ConfigError(f"task {spec.name!r} has no Isaac Lab gym id; known: {sorted(GYM_IDS)}")
    act = spec.action
    if act.type != "joint_pos_abs":
        raise ConfigError(f"task {spec.name!r}: Isaac Lab config supports joint_pos_abs actions, got {act.type!r}")
    return {
        "task": spec.name,
        "gym_id": GYM_IDS[spec.name],
        "joint_names": list(spec.joint_names),
        "obs_terms": [{"name": t.name, "source": t.source, "size": t.size, "func": OBS_FUNCTIONS[t.source],
                       "scale": list(t.scale), "offset": list(t.offset), "clip": t.clip, "history": t.history}
                      for t in spec.obs_terms],
        "action": {"type": act.type, "joint_names": list(act.joint_names), "scale": list(act.scale),
                   "offset": list(act.offset), "clip_low": list(act.clip_low), "clip_high": list(act.clip_high),
                   "gripper": act.gripper, "gripper_joints": list(act.gripper_joints),
                   "gripper_open": act.gripper_open, "gripper_closed": act.gripper_closed},
        "physics_dt": spec.physics_dt,
        "decimation": spec.decimation,
        "policy_hz": spec.policy_hz,
        "episode_length_s": spec.episode_seconds,
        "success": {"kind": spec.success.kind, "threshold": spec.success.threshold},
        "reset": {"joint_noise": spec.reset.joint_noise, "goal_low": spec.reset.goal_low,
                  "goal_high": spec.reset.goal_high, "object_xy_low": spec.reset.object_xy_low,
                  "object_xy_high": spec.reset.object_xy_high, "object_yaw": spec.reset.object_yaw},
        "object": None if spec.object is None else {"half_size": spec.object.half_size, "mass": spec.object.mass,
                                                   "friction": spec.object.friction},
        "ee_frame": "panda_hand", "ee_offset": [0.0, 0.0, 0.1034],  # TCP = panda_hand + 10.34 cm along z
    }
