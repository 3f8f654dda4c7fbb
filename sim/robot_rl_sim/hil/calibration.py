"""A sim-to-real gap to correct: joint encoder offsets (rad) between what the policy measures and the truth."""

from __future__ import annotations

import numpy as np

from robot_rl.errors import ConfigError


class CalibrationOffsetEnv:
    """Wraps a :class:`robot_rl_sim.tasks.env.TaskEnv` whose joint encoders read ``true + offset`` (n,) rad.

    The policy sees measured joint positions and the end effector computed from them (as the policy node
    computes it from /joint_states), and its absolute joint targets are in measured coordinates, so they
    reach ``target - offset`` in truth. ``true_obs()`` is what a person watching the robot sees.
    Only ``joint_pos_abs`` actions are supported (the tasks' action type).
    """

    def __init__(self, env, offset: np.ndarray):
        offset = np.asarray(offset, dtype=float)
        n = len(env.config.joints)
        if offset.shape != (n,) or not np.all(np.isfinite(offset)):
            raise ConfigError(f"calibration offset must be {n} finite values (rad), got {offset.tolist()}")
        if env.spec.action.type != "joint_pos_abs":
            raise ConfigError(f"calibration offsets need joint_pos_abs actions, task {env.spec.name!r} has "
                              f"{env.spec.action.type!r}")
        self.env, self.offset, self.spec = env, offset, env.spec
        self._true: dict[str, np.ndarray] = {}

    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        """Reset the wrapped env; returns the measured observation."""
        self._true = self.env.reset(seed=seed)
        return self._measured(self._true)

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, dict]:
        """Apply a raw action in measured coordinates; returns (measured obs, reward, success, info)."""
        true_action = np.array(action, dtype=float)
        true_action[: len(self.offset)] -= self.offset
        self._true, reward, success, info = self.env.step(true_action)
        return self._measured(self._true), reward, success, info

    def true_obs(self) -> dict[str, np.ndarray]:
        """The latest observation as it really is (no encoder offset)."""
        return {k: v.copy() for k, v in self._true.items()}

    def to_measured(self, true_action: np.ndarray) -> np.ndarray:
        """A raw action (a,) in true joint coordinates -> measured coordinates."""
        action = np.array(true_action, dtype=float)
        action[: len(self.offset)] += self.offset
        return action

    def _measured(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {k: v.copy() for k, v in obs.items()}
        terms = {t.source: t.name for t in self.spec.obs_terms}
        q = obs[terms["joint_pos"]] + self.offset
        out[terms["joint_pos"]] = q
        if "ee_pos" in terms:
            out[terms["ee_pos"]] = self.env.robot.fk(q)
        return out
