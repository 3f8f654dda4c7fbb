"""A simulated human (a scripted stand-in for the person at the teleop device; simulation only).

It watches the true end-effector-to-goal distance. When the arm has made less than ``min_progress_m``
of progress over the last ``patience_steps`` policy steps while still farther than ``engage_factor`` x
the success radius, it takes over and drives with the task's scripted expert (restarted from the current
state) until the end effector is within ``release_factor`` x the success radius or ``max_takeover_steps``
pass; then it hands control back. Reach tasks only (success kind ``ee_within_goal``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_rl.errors import ConfigError


@dataclass(frozen=True)
class HumanConfig:
    """When the simulated human intervenes (steps are policy steps, distances m)."""

    patience_steps: int = 5
    min_progress_m: float = 0.005
    engage_factor: float = 1.5
    release_factor: float = 0.5
    max_takeover_steps: int = 15

    def __post_init__(self) -> None:
        if self.patience_steps < 1 or self.max_takeover_steps < 1:
            raise ConfigError(f"HumanConfig: patience_steps {self.patience_steps} and max_takeover_steps "
                              f"{self.max_takeover_steps} must be >= 1")
        if self.min_progress_m < 0 or not (0 < self.release_factor < self.engage_factor):
            raise ConfigError(f"HumanConfig: need min_progress_m >= 0 and 0 < release_factor "
                              f"({self.release_factor}) < engage_factor ({self.engage_factor})")


class SimulatedHuman:
    """``act(true_obs) -> true raw action or None`` (None: the policy keeps control) once per policy step."""

    def __init__(self, spec, expert, config: HumanConfig = HumanConfig()):
        if spec.success.kind != "ee_within_goal":
            raise ConfigError(f"the simulated human handles reach tasks only, not {spec.name!r} "
                              f"(success kind {spec.success.kind!r})")
        self.spec, self.expert, self.config = spec, expert, config
        self.terms = {t.source: t.name for t in spec.obs_terms}
        self.reset()

    def reset(self) -> None:
        """New episode."""
        self._distances: list[float] = []
        self._takeover_left = 0
        self.interventions = 0

    @property
    def in_control(self) -> bool:
        """True while the human drives."""
        return self._takeover_left > 0

    def act(self, true_obs: dict[str, np.ndarray]) -> np.ndarray | None:
        """The human's raw action (true joint coordinates) this step, or None."""
        radius = self.spec.success.threshold
        distance = float(np.linalg.norm(true_obs[self.terms["ee_pos"]] - true_obs[self.terms["goal"]]))
        self._distances.append(distance)
        if self.in_control and distance < self.config.release_factor * radius:
            self._release()
        elif not self.in_control and self._stalled(distance, radius):
            self._takeover_left = self.config.max_takeover_steps
            self.interventions += 1
            self.expert.reset()
        if not self.in_control:
            return None
        action = self.expert.act(true_obs)
        self._takeover_left -= 1
        if self._takeover_left == 0:
            self._release()
        return action

    def _release(self) -> None:
        """Hand control back; the policy gets a fresh patience window."""
        self._takeover_left = 0
        self._distances.clear()

    def _stalled(self, distance: float, radius: float) -> bool:
        p = self.config.patience_steps
        if distance <= self.config.engage_factor * radius or len(self._distances) <= p:
            return False
        return self._distances[-1 - p] - distance < self.config.min_progress_m
