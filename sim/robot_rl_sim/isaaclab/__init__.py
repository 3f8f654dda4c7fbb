"""Isaac Lab task package for the GPU path: the robot_rl tasks as ``ManagerBasedRLEnvCfg`` gym ids.

Import-guarded: without Isaac Lab installed, importing this package registers
nothing and :data:`AVAILABLE` is False; the shared declarations
(:mod:`robot_rl_sim.isaaclab.declarations`) work everywhere.
"""

from __future__ import annotations

import importlib.util

from robot_rl_sim.isaaclab.declarations import GYM_IDS, declaration

AVAILABLE = importlib.util.find_spec("isaaclab") is not None
"""Whether Isaac Lab is importable here."""

_ENTRY_POINTS = {
    "panda-reach": "robot_rl_sim.isaaclab.env_cfg:PandaReachEnvCfg",
    "panda-pick-cube": "robot_rl_sim.isaaclab.env_cfg:PandaPickCubeEnvCfg",
}


def register_gym_ids() -> list[str]:
    """Register every task with Gymnasium (Isaac Lab's ManagerBasedRLEnv); returns the ids."""
    import gymnasium as gym

    for task, gym_id in GYM_IDS.items():
        gym.register(id=gym_id, entry_point="isaaclab.envs:ManagerBasedRLEnv", disable_env_checker=True,
                     kwargs={"env_cfg_entry_point": _ENTRY_POINTS[task],
                             "rsl_rl_cfg_entry_point": "robot_rl_sim.isaaclab.agents:PandaPpoRunnerCfg"})
    return list(GYM_IDS.values())


if AVAILABLE:
    register_gym_ids()

__all__ = ["AVAILABLE", "GYM_IDS", "declaration", "register_gym_ids"]
