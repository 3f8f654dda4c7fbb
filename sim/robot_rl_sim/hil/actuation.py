"""A state-dependent sim-to-real gap: actuation gain about the default pose (joint position actions).

A stand-in until the named gaps of ``robot_rl_sim.hil.gaps`` land: the joints reach
``default + gain * (target - default)`` instead of ``target`` (a mis-set position gain or transmission
ratio), so the error grows with the distance from the default pose and no constant offset corrects it.
Observations are true (the encoders are right); only what the commands do differs.
"""

from __future__ import annotations

import numpy as np

from robot_rl.errors import ConfigError


class ActuationGainEnv:
    """Wraps a TaskEnv (joint_pos_abs actions) whose joints reach ``default + gain * (target - default)``.

    Same interface as :class:`robot_rl_sim.hil.calibration.CalibrationOffsetEnv`: ``reset``, ``step``
    (measured = true observations here), ``true_obs``, ``to_measured`` (a true raw action -> the command
    that produces it).
    """

    def __init__(self, env, gain: np.ndarray, default: np.ndarray):
        n = len(env.config.joints)
        gain, default = np.broadcast_to(np.asarray(gain, float), (n,)).copy(), np.asarray(default, float)
        if default.shape != (n,) or not np.all(np.isfinite(gain)) or np.any(gain <= 0):
            raise ConfigError(f"actuation gain must be {n} finite values > 0 and the default pose {n} values, "
                              f"got {gain.tolist()}, {default.tolist()}")
        if env.spec.action.type != "joint_pos_abs":
            raise ConfigError(f"an actuation gain needs joint_pos_abs actions, task {env.spec.name!r} has "
                              f"{env.spec.action.type!r}")
        self.env, self.gain, self.default, self.spec = env, gain, default, env.spec
        self._true: dict[str, np.ndarray] = {}

    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        self._true = self.env.reset(seed=seed)
        return self.true_obs()

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, dict]:
        """Apply a raw action (a,) as the gap distorts it; returns (obs, reward, success, info)."""
        true_action = np.array(action, dtype=float)
        n = len(self.gain)
        true_action[:n] = self.default + self.gain * (true_action[:n] - self.default)
        self._true, reward, success, info = self.env.step(true_action)
        return self.true_obs(), reward, success, info

    def true_obs(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self._true.items()}

    def to_measured(self, true_action: np.ndarray) -> np.ndarray:
        """The command (a,) that makes the joints reach ``true_action`` (a,)."""
        action = np.array(true_action, dtype=float)
        n = len(self.gain)
        action[:n] = self.default + (action[:n] - self.default) / self.gain
        return action
