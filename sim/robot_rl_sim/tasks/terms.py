"""Reward terms and the task-logic interface the env drives.

A task logic (``reach.py``, ``pick_cube.py``) adds its objects to the scene,
samples its reset, reports its extra observation terms and a few scalar
quantities; the reward is the declared weighted sum of terms over those
quantities, so the declaration in :mod:`declarations` stays the only place a
reward is chosen.
"""

from __future__ import annotations

from typing import Protocol

import mujoco
import numpy as np

from robot_rl.errors import ConfigError
from robot_rl_sim.tasks.spec import RewardTerm, TaskSpec


class TaskLogic(Protocol):
    """What a task adds to the generic env. ``data``/``model`` are the env's MuJoCo objects."""

    def add_to_scene(self, spec: mujoco.MjSpec) -> None:
        """Add bodies/geoms/sites before compiling."""

    def bind(self, model: mujoco.MjModel) -> None:
        """Look up ids in the compiled model."""

    def reset(self, rng: np.random.Generator, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        """Sample goals / object placements after the robot was reset."""

    def observe(self, data: mujoco.MjData) -> dict[str, np.ndarray]:
        """Task-specific observation terms (source name -> array)."""

    def quantities(self, data: mujoco.MjData, ee_pos: np.ndarray) -> dict[str, float]:
        """Scalars for reward terms and success (see :func:`reward`)."""

    def success(self, data: mujoco.MjData, ee_pos: np.ndarray) -> bool:
        """Whether the task is solved in this state."""


def reward_term_value(term: RewardTerm, q: dict[str, float]) -> float:
    """Unweighted value of one term from task quantities ``q``:

    - ``ee_goal_distance``: EE-goal distance, m; ``ee_goal_tanh``: 1 - tanh(d / std);
    - ``ee_object_tanh``: 1 - tanh(EE-object distance / std);
    - ``object_lift``: object height above its start, m, clipped to [0, std] and divided by std;
    - ``success``: 1 when solved; ``action_rate``: squared norm of the action change.
    """
    name = term.name
    try:
        if name == "ee_goal_distance":
            return q["ee_goal_dist"]
        if name == "ee_goal_tanh":
            return 1.0 - float(np.tanh(q["ee_goal_dist"] / term.std))
        if name == "ee_object_tanh":
            return 1.0 - float(np.tanh(q["ee_object_dist"] / term.std))
        if name == "object_lift":
            return float(np.clip(q["lift"], 0.0, term.std) / term.std)
        if name == "success":
            return q["success"]
        if name == "action_rate":
            return q["action_rate"]
    except KeyError as exc:
        raise ConfigError(f"reward term {name!r} needs quantity {exc} that this task does not provide") from exc
    raise ConfigError(f"reward term {name!r} is not implemented")


def reward(spec: TaskSpec, quantities: dict[str, float]) -> float:
    """Declared weighted sum of reward terms."""
    return float(sum(t.weight * reward_term_value(t, quantities) for t in spec.reward))
