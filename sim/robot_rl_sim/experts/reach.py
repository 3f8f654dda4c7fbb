"""Scripted expert for ``panda-reach``: straight Cartesian line to the goal, solved with pinocchio IK."""

from __future__ import annotations

import numpy as np

from robot_rl.robot.model import RobotModel
from robot_rl_sim.experts.ik import current_yaw, solve_ik, step_towards, yaw_down_rotation
from robot_rl_sim.tasks.spec import TaskSpec


class ReachExpert:
    """Moves a Cartesian waypoint towards the goal at a noisy speed, with a noisy path, hand pointing down.

    Noise (scaled by ``noise``; 0 is deterministic): speed factor in [1 - 0.3 noise, 1 + 0.3 noise],
    a lateral detour of up to 6 cm x noise that fades out near the goal, and Gaussian jitter of
    3 mm x noise on the waypoints while far from the goal.

    Args:
        spec: the task. model: pinocchio model of ``spec.robot``. seed: noise seed.
        speed: nominal Cartesian speed, m/s.
    """

    def __init__(self, spec: TaskSpec, model: RobotModel, seed: int | None = None, noise: float = 1.0,
                 speed: float = 0.35):
        self.spec, self.model, self.noise = spec, model, noise
        self.rng = np.random.default_rng(seed)
        self.speed = speed
        self.reset()

    def reset(self) -> None:
        """Start a new episode (new noise draws)."""
        n = self.noise
        self._speed = self.speed * self.rng.uniform(1 - 0.3 * n, 1 + 0.3 * n)
        self._detour = self.rng.normal(0.0, 0.03 * n, 3)
        self._q = None
        self._waypoint = None
        self._rotation = None

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Raw action (spec.action_dim,): absolute joint targets, rad."""
        goal = obs["goal"]
        if self._q is None:
            self._q = obs["joint_pos"].copy()
            self._waypoint = self.model.fk(self._q)
            self._rotation = yaw_down_rotation(current_yaw(self.model, self._q))
        dist = float(np.linalg.norm(goal - self._waypoint))
        fade = min(1.0, dist / 0.15)
        aim = goal + self._detour * fade
        self._waypoint = step_towards(self._waypoint, aim, self._speed * self.spec.policy_dt)
        jitter = self.rng.normal(0.0, 0.003 * self.noise, 3) * fade
        self._q = solve_ik(self.model, self._q, self._waypoint + jitter, self._rotation)
        return self._q.copy()
