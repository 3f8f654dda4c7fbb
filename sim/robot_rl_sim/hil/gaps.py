"""Sim-to-real gaps, declared once: named, seedable sets of :mod:`.perturbations`, applied to any task.

``make_gap_env(task, "camera-bias", seed)`` wraps a fresh :class:`robot_rl_sim.tasks.env.TaskEnv` so that
the policy meets the gap: its physics changed once, its observations measured through the perturbed
sensors, its raw actions mapped to the truth. ``true_obs()`` is what a person watching the robot sees.
Gaps compose: ``"camera-bias+slow-gripper"`` is the union of both. ``robot-rl hil sim --gap`` and
``robot-rl eval --gap`` take these names; docs/hil.md describes each gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl_sim.hil.perturbations import (ActuationGain, EncoderOffset, GripperSpeed, ObjectPhysics, Perturbation,
                                            PoseEstimateError, TargetGain, finish_model)


@dataclass(frozen=True)
class Gap:
    """A named set of perturbations and what it stands for."""

    name: str
    perturbations: tuple[Perturbation, ...]
    description: str


PANDA_DEFAULT_POSE = (0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785)  # rad, config/robots/panda.yaml default_pose

GAPS: dict[str, Gap] = {g.name: g for g in (
    Gap("none", (), "no gap: the simulation the base was trained in"),
    Gap("encoder-offset", (EncoderOffset((0.0, 0.04, 0.0, -0.04, 0.0, 0.0, 0.0)),),
        "joint encoders read +0.04 rad on joint 2 and -0.04 rad on joint 4 (a constant shift undoes it)"),
    Gap("camera-bias", (PoseEstimateError(bias_m=(0.015, -0.01, 0.0), yaw_bias_rad=0.1, noise_m=0.003),),
        "camera calibration error: the object pose (reach: the goal) estimated 1.8 cm and 0.1 rad off, with "
        "3 mm of noise per observation"),
    Gap("camera-bias-large", (PoseEstimateError(bias_m=(0.02, -0.01, 0.0), yaw_bias_rad=0.1, noise_m=0.003),),
        "a larger camera calibration error: the object pose estimated 2.2 cm and 0.1 rad off, with 3 mm of noise "
        "per observation (the pick base at its zero initial noise falls to ~0.5 under it with slow-gripper)"),
    Gap("heavy-cube", (ObjectPhysics(mass_scale=6.0, friction_scale=0.5),),
        "the cube weighs 6x the simulated 50 g and its friction is halved"),
    Gap("slow-gripper", (GripperSpeed(time_constant_s=1.0),),
        "the fingers follow their command with a 1 s lag (damped): closing on the cube takes ~0.7 s, not ~0.1 s"),
    Gap("weak-actuators", (ActuationGain((0.5,)),),
        "the arm's motors deliver half the commanded torque (state-dependent: gravity, accelerations)"),
    Gap("target-gain", (TargetGain((0.9,), PANDA_DEFAULT_POSE),),
        "joint position targets land at default + 0.9 x (target - default) about the Panda's default pose "
        "(state-dependent: the error grows with the distance from it)"),
)}

DEFAULT_GAPS = {"panda-reach": "weak-actuators", "panda-pick-cube": "camera-bias+slow-gripper"}
"""Task -> the gap under which its frozen base falls to 60 % success or less (measured in docs/hil.md)."""


def gap_names() -> list[str]:
    """The declared gap names, sorted."""
    return sorted(GAPS)


def resolve_gap(name: str, task: str) -> tuple[str, tuple[Perturbation, ...]]:
    """(canonical name, perturbations) of ``name``: a declared gap, ``a+b`` (composed), or "" (``task``'s default)."""
    name = name or DEFAULT_GAPS.get(task, "none")
    parts = [p.strip() for p in name.split("+")]
    unknown = [p for p in parts if p not in GAPS]
    if unknown:
        raise ConfigError(f"unknown gap(s) {unknown}: declared gaps are {gap_names()} (compose with '+')")
    return "+".join(parts), tuple(p for part in parts for p in GAPS[part].perturbations)


class GapEnv:
    """A TaskEnv the policy meets through a gap; the interface the HIL loop and the evaluation use.

    ``reset(seed)`` / ``step(action)`` return measured observations (the policy's view), ``step`` takes raw
    actions in measured coordinates; ``true_obs()`` and ``to_measured(true_action)`` serve the simulated
    human. The gap's random draws (observation noise) come from an RNG seeded by (``seed``, reset seed), so
    an episode is reproducible.
    """

    def __init__(self, env, perturbations: tuple[Perturbation, ...] = (), seed: int = 0, name: str = "none"):
        self.env, self.spec, self.perturbations, self.name, self.seed = env, env.spec, perturbations, name, seed
        for p in perturbations:
            p.check(env)
        for p in perturbations:
            p.apply_model(env)
        if perturbations:
            finish_model(env)
        self._rng = np.random.default_rng(seed)
        self._true: dict[str, np.ndarray] = {}

    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        """Reset the wrapped env; returns the measured observation."""
        self._rng = np.random.default_rng(None if seed is None else [self.seed, seed])
        self._true = self.env.reset(seed=seed)
        return self._measured()

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, dict]:
        """Apply a raw action (a,) in measured coordinates; returns (measured obs, reward, success, info)."""
        true_action = np.asarray(action, dtype=float)
        for p in self.perturbations:
            true_action = p.to_true(true_action)
        self._true, reward, success, info = self.env.step(true_action)
        return self._measured(), reward, success, info

    def true_obs(self) -> dict[str, np.ndarray]:
        """The latest observation as it really is."""
        return {k: v.copy() for k, v in self._true.items()}

    def to_measured(self, true_action: np.ndarray) -> np.ndarray:
        """A raw action (a,) in true coordinates -> the policy's measured coordinates."""
        action = np.asarray(true_action, dtype=float)
        for p in reversed(self.perturbations):
            action = p.to_measured(action)
        return action

    def _measured(self) -> dict[str, np.ndarray]:
        obs = self.true_obs()
        for p in self.perturbations:
            obs = p.measure(obs, self.env, self._rng)
        return obs


def make_gap_env(task, gap: str = "", seed: int = 0) -> GapEnv:
    """A fresh MuJoCo env of ``task`` (name or spec) behind ``gap`` ("" = the task's default gap)."""
    from robot_rl_sim.tasks import get_task, make_env

    spec = get_task(task) if isinstance(task, str) else task
    name, perturbations = resolve_gap(gap, spec.name)
    return GapEnv(make_env(spec), perturbations, seed, name)
