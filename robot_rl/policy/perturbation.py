"""Sim2sim perturbations injected by the policy node: extra latency, jitter and observation noise.

Used by the gate (``robot-rl gate``) to check that a policy survives the timing and
sensing imperfections of a real robot. All zero by default (no perturbation).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.policy.observation import ObservationInputs


@dataclass(frozen=True)
class Perturbation:
    """Extra latency latency_ms + U(0, jitter_ms) per inference; Gaussian noise on measured joints.

    Attributes:
        latency_ms: fixed extra delay between observation and command, ms.
        jitter_ms: upper bound of an extra uniform random delay, ms.
        position_noise: std of noise added to joint positions, rad.
        velocity_noise: std of noise added to joint velocities, rad/s.
        seed: random seed.
    """

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    position_noise: float = 0.0
    velocity_noise: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("latency_ms", "jitter_ms", "position_noise", "velocity_noise"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ConfigError(f"Perturbation.{name} must be a finite value >= 0, got {value}")
        object.__setattr__(self, "_rng", np.random.default_rng(self.seed))

    def delay_s(self) -> float:
        """Delay to add to this inference, s."""
        return (self.latency_ms + self._rng.uniform(0.0, self.jitter_ms)) / 1000.0

    def observe(self, inputs: ObservationInputs) -> ObservationInputs:
        """``inputs`` with noisy joint positions and velocities (unchanged when the noise is zero)."""
        if self.position_noise == 0.0 and self.velocity_noise == 0.0:
            return inputs
        n = len(inputs.joint_names)
        return dataclasses.replace(
            inputs, position=inputs.position + self._rng.normal(0.0, self.position_noise, n),
            velocity=inputs.velocity + self._rng.normal(0.0, self.velocity_noise, n))
