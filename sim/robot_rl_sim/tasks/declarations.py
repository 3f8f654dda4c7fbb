"""The task declarations: the one place each task's terms, rates and distributions are written down.

Both the MuJoCo env (:mod:`robot_rl_sim.tasks.env`) and the Isaac Lab configs
(:mod:`robot_rl_sim.isaaclab`) are generated from these specs. Joint names,
limits and the gripper come from the robot config (``config/robots/<robot>.yaml``
and its URDF), never written here.

Rates: physics at 1 kHz (the robot config's control rate, the same loop rate as
the ROS control node) with decimation 100 gives a 10 Hz policy.
"""

from __future__ import annotations

import math
from functools import lru_cache

from robot_rl.errors import ConfigError
from robot_rl.robot.config import RobotConfig, load_robot_config
from robot_rl_sim.tasks.spec import (ActionSpec, ObjectSpec, ObsTerm, ResetSpec, RewardTerm, SuccessSpec,
                                     TaskSpec)

PHYSICS_DT = 0.001  # s, equal to the Panda's control period (1 kHz)
DECIMATION = 100  # -> 10 Hz policy


def _soft_limits(config: RobotConfig) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """URDF position limits shrunk by the config's margin (rad), via the pinocchio model."""
    from robot_rl.robot.model import RobotModel

    limits = RobotModel(config).limits
    return tuple(map(float, limits.soft_lower)), tuple(map(float, limits.soft_upper))


def _arm_terms(n: int) -> tuple[ObsTerm, ...]:
    return (
        ObsTerm("joint_pos", "joint_pos", n, "rad"),
        ObsTerm("joint_vel", "joint_vel", n, "rad/s"),
        ObsTerm("ee_pos", "ee_pos", 3, "m"),
    )


def _abs_action(config: RobotConfig, gripper: bool) -> ActionSpec:
    low, high = _soft_limits(config)
    n = config.dof
    grip = config.gripper
    if gripper and grip is None:
        raise ConfigError(f"robot {config.name!r} has no gripper (config/robots/{config.name}.yaml)")
    return ActionSpec(
        type="joint_pos_abs", joint_names=config.joints, scale=(1.0,) * n, offset=(0.0,) * n,
        clip_low=low, clip_high=high, gripper=gripper,
        gripper_joints=grip.joints if (gripper and grip) else (),
        gripper_open=grip.open_position if grip else 0.04,
        gripper_closed=grip.closed_position if grip else 0.0,
    )


@lru_cache(maxsize=None)
def panda_reach(robot: str = "panda") -> TaskSpec:
    """``panda-reach``: bring the end effector within 2 cm of a random Cartesian goal (m, base frame)."""
    config = load_robot_config(robot)
    return TaskSpec(
        name="panda-reach", robot=robot, joint_names=config.joints,
        obs_terms=_arm_terms(config.dof) + (ObsTerm("goal", "goal", 3, "m"),),
        action=_abs_action(config, gripper=False),
        reward=(RewardTerm("ee_goal_distance", -0.2), RewardTerm("ee_goal_tanh", 1.0, std=0.1),
                RewardTerm("success", 1.0), RewardTerm("action_rate", -0.01)),
        success=SuccessSpec("ee_within_goal", 0.02),
        reset=ResetSpec(joint_noise=0.1, goal_low=(0.35, -0.3, 0.15), goal_high=(0.65, 0.3, 0.55)),
        physics_dt=PHYSICS_DT, decimation=DECIMATION, episode_seconds=3.5,
        description="Reach a random Cartesian goal with the end effector (success: within 2 cm).",
    )


@lru_cache(maxsize=None)
def panda_pick_cube(robot: str = "panda") -> TaskSpec:
    """``panda-pick-cube``: grasp a 4 cm cube at a random table pose and lift it 10 cm."""
    config = load_robot_config(robot)
    return TaskSpec(
        name="panda-pick-cube", robot=robot, joint_names=config.joints,
        obs_terms=_arm_terms(config.dof) + (ObsTerm("gripper_pos", "gripper_pos", 1, "m"),
                                            ObsTerm("object_pose", "object_pose", 7, "m, quat wxyz")),
        action=_abs_action(config, gripper=True),
        reward=(RewardTerm("ee_object_tanh", 1.0, std=0.1), RewardTerm("object_lift", 5.0, std=0.1),
                RewardTerm("success", 5.0), RewardTerm("action_rate", -0.01)),
        success=SuccessSpec("object_lifted", 0.10),
        reset=ResetSpec(joint_noise=0.05, object_xy_low=(0.4, -0.15), object_xy_high=(0.6, 0.15),
                        object_yaw=math.pi / 4),
        physics_dt=PHYSICS_DT, decimation=DECIMATION, episode_seconds=7.0,
        object=ObjectSpec(name="cube", half_size=0.02, mass=0.05, friction=1.5),
        description="Grasp a cube on the table and lift it 10 cm above its initial height while holding it.",
    )


TASK_FACTORIES = {"panda-reach": panda_reach, "panda-pick-cube": panda_pick_cube}
"""Task name -> function building its :class:`TaskSpec`."""
