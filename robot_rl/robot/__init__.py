"""Robot description: URDF + one YAML, loaded into pinocchio.

The model's names load on first use (PEP 562): a process that only reads the YAML (the control node's shell when
its loop runs in its own process) does not import pinocchio.
"""

import importlib

from robot_rl.robot.config import RobotConfig, load_robot_config

_MODEL_EXPORTS = ("JointLimits", "RobotModel", "load_robot_model")
__all__ = ["JointLimits", "RobotConfig", "RobotModel", "load_robot_config", "load_robot_model"]


def __getattr__(name: str):
    if name not in _MODEL_EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module("robot_rl.robot.model"), name)
