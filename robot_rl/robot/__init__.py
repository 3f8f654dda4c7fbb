"""Robot description: URDF + one YAML, loaded into pinocchio."""

from robot_rl.robot.config import RobotConfig, load_robot_config
from robot_rl.robot.model import JointLimits, RobotModel, load_robot_model

__all__ = ["JointLimits", "RobotConfig", "RobotModel", "load_robot_config", "load_robot_model"]
