"""Scripted experts with injected noise, one per task: ``make_expert(spec, seed, noise).act(obs) -> action``."""

from __future__ import annotations

from robot_rl.errors import ConfigError
from robot_rl.robot.model import RobotModel
from robot_rl_sim.experts.pick_cube import PickCubeExpert
from robot_rl_sim.experts.reach import ReachExpert
from robot_rl_sim.tasks.spec import TaskSpec
from robot_rl.robot.config import load_robot_config

__all__ = ["PickCubeExpert", "ReachExpert", "make_expert"]


def make_expert(spec: TaskSpec, seed: int | None = None, noise: float = 1.0,
                model: RobotModel | None = None) -> ReachExpert | PickCubeExpert:
    """The scripted expert for ``spec`` (by its success rule). ``noise`` in [0, 2] scales the injected noise.

    Call ``expert.reset()`` at each episode start, then ``expert.act(obs)`` every policy step.
    """
    if not 0.0 <= noise <= 2.0:
        raise ConfigError(f"expert noise must be in [0, 2], got {noise}")
    model = model or RobotModel(load_robot_config(spec.robot))
    if spec.success.kind == "ee_within_goal":
        return ReachExpert(spec, model, seed=seed, noise=noise)
    if spec.success.kind == "object_lifted":
        return PickCubeExpert(spec, model, seed=seed, noise=noise)
    raise ConfigError(f"task {spec.name!r}: no scripted expert for success kind {spec.success.kind!r}")
