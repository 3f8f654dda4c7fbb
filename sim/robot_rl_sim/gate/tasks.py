"""What the gate asks of a policy per task: goal sampling and success, from joint states via pinocchio FK.

* ``panda-reach``: goal = Cartesian EE position (3,) m, sampled as FK of a random joint configuration near
  the default pose (so it is reachable); success = EE within 2 cm of the goal at the episode's end.
* ``joint-target``: goal = joint positions (n,) rad near the default pose; success = every joint within
  0.05 rad of its goal at the episode's end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_rl.errors import ConfigError

REACH_TOLERANCE_M = 0.02
JOINT_TOLERANCE_RAD = 0.05


@dataclass(frozen=True)
class GateTask:
    """Goal sampler and success test for one task name."""

    name: str
    spread_rad: float = 0.3  # goals come from joint configurations default +- spread

    def sample_goal(self, model, rng: np.random.Generator) -> np.ndarray:
        """A reachable goal for ``model`` (RobotModel)."""
        limits = model.limits
        q = np.clip(model.config.default_pose + rng.uniform(-self.spread_rad, self.spread_rad, model.dof),
                    limits.soft_lower, limits.soft_upper)
        if self.name == "panda-reach":
            return model.fk(q)
        if self.name == "joint-target":
            return q
        raise ConfigError(f"the gate knows tasks 'panda-reach' and 'joint-target', not {self.name!r} "
                          "(contract provenance.task)")

    def error(self, model, q: np.ndarray, goal: np.ndarray) -> float:
        """Distance to the goal: m for reach, max |rad| for joint targets."""
        if self.name == "panda-reach":
            return float(np.linalg.norm(model.fk(q) - goal))
        return float(np.max(np.abs(q - goal)))

    def success(self, error: float) -> bool:
        """Whether the final error counts as success."""
        return error <= (REACH_TOLERANCE_M if self.name == "panda-reach" else JOINT_TOLERANCE_RAD)
