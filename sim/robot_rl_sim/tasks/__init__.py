"""Task registry: ``get_task(name) -> TaskSpec``, ``task_names()``, ``make_env(name, seed)``.

Importing this package needs no MuJoCo (Isaac Lab and the trainer read the
specs only); :func:`make_env` imports the MuJoCo env on first use.

Example::

    from robot_rl_sim.tasks import get_task, make_env
    spec = get_task("panda-reach")          # TaskSpec: obs_terms, action, rates...
    env = make_env("panda-reach")
    obs = env.reset(seed=0)                 # dict: term name -> (size,) array
    obs, reward, success, info = env.step(action)   # action (spec.action_dim,)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from robot_rl.errors import ConfigError
from robot_rl_sim.tasks.declarations import TASK_FACTORIES
from robot_rl_sim.tasks.spec import (ACTION_TYPES, OBS_SOURCES, ActionSpec, ObjectSpec, ObsTerm, ResetSpec,
                                     RewardTerm, SuccessSpec, TaskSpec)

if TYPE_CHECKING:
    from robot_rl_sim.tasks.env import TaskEnv

__all__ = ["ACTION_TYPES", "OBS_SOURCES", "ActionSpec", "ObjectSpec", "ObsTerm", "ResetSpec", "RewardTerm",
           "SuccessSpec", "TaskSpec", "get_task", "make_env", "task_names"]


def task_names() -> list[str]:
    """Names of every registered task, sorted."""
    return sorted(TASK_FACTORIES)


def get_task(name: str) -> TaskSpec:
    """The declared spec of task ``name``; ConfigError naming the known tasks if unknown."""
    if name not in TASK_FACTORIES:
        raise ConfigError(f"unknown task {name!r}: registered tasks are {task_names()}")
    return TASK_FACTORIES[name]()


def make_env(task: str | TaskSpec, seed: int | None = None) -> "TaskEnv":
    """A MuJoCo env for a task name or spec, reset with ``seed``."""
    from robot_rl_sim.tasks.env import TaskEnv

    spec = get_task(task) if isinstance(task, str) else task
    env = TaskEnv(spec)
    env.reset(seed=seed)
    return env
