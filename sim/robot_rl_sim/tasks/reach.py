"""``panda-reach`` task logic: a random Cartesian goal (m, base frame) shown as a site; success within 2 cm."""

from __future__ import annotations

import mujoco
import numpy as np

from robot_rl_sim.tasks.spec import TaskSpec

GOAL_SITE = "goal"


class ReachTask:
    """Goal sampled uniformly in the declared box; the goal is the ``goal`` observation term."""

    def __init__(self, spec: TaskSpec):
        self.spec = spec
        self.goal = np.zeros(3)
        self._site = -1

    def add_to_scene(self, spec: mujoco.MjSpec) -> None:
        """A small visual sphere (no collision) at the goal."""
        spec.worldbody.add_site(name=GOAL_SITE, type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[0.015, 0, 0],
                                rgba=[0.1, 0.8, 0.1, 0.6])

    def bind(self, model: mujoco.MjModel) -> None:
        """Remember the goal site id."""
        self._site = model.site(GOAL_SITE).id

    def reset(self, rng: np.random.Generator, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        """Sample a goal in [goal_low, goal_high] (m)."""
        r = self.spec.reset
        self.goal = rng.uniform(r.goal_low, r.goal_high)
        model.site_pos[self._site] = self.goal

    def observe(self, data: mujoco.MjData) -> dict[str, np.ndarray]:
        """``goal``: (3,) m."""
        return {"goal": self.goal.copy()}

    def quantities(self, data: mujoco.MjData, ee_pos: np.ndarray) -> dict[str, float]:
        """EE-goal distance (m) and success."""
        dist = float(np.linalg.norm(ee_pos - self.goal))
        return {"ee_goal_dist": dist, "success": float(dist <= self.spec.success.threshold)}

    def success(self, data: mujoco.MjData, ee_pos: np.ndarray) -> bool:
        """EE within the declared threshold of the goal."""
        return bool(np.linalg.norm(ee_pos - self.goal) <= self.spec.success.threshold)
