"""Declarative task description shared by the MuJoCo env, the experts, the dataset, the trainer and Isaac Lab.

A :class:`TaskSpec` is plain data (no MuJoCo, no torch): observation terms,
action terms, reward terms, success rule, reset distribution and rates. The
vocabulary (term sources, action types) is the policy contract's, see
``robot_rl.policy``. Every array is in the robot config's joint order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from robot_rl.errors import ConfigError

OBS_SOURCES = ("joint_pos", "joint_vel", "ee_pos", "goal", "object_pose", "gripper_pos", "last_action")
"""Observation term sources of the policy contract."""
ACTION_TYPES = ("joint_pos_abs", "joint_pos_delta", "joint_vel")
"""Arm action semantics of the policy contract."""
SUCCESS_KINDS = ("ee_within_goal", "object_lifted")
"""Success rules a task may declare (see :mod:`robot_rl_sim.tasks.terms`)."""
REWARD_TERMS = ("ee_goal_distance", "ee_goal_tanh", "ee_object_tanh", "object_lift", "success", "action_rate")
"""Reward term names a task may declare (see :mod:`robot_rl_sim.tasks.terms`)."""


def _floats(name: str, value: Any, size: int | None = None) -> tuple[float, ...]:
    arr = np.atleast_1d(np.asarray(value, dtype=float))
    if size is not None and arr.shape != (size,):
        raise ConfigError(f"{name}: expected {size} values, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{name}: values must be finite, got {arr}")
    return tuple(float(x) for x in arr)


@dataclass(frozen=True)
class ObsTerm:
    """One observation term: ``value = clip((raw - offset) * scale)``, stacked ``history`` frames deep.

    ``scale`` / ``offset`` are scalars or (size,) tuples; ``clip`` is (low, high) or None.
    """

    name: str
    source: str
    size: int
    units: str
    scale: tuple[float, ...] = (1.0,)
    offset: tuple[float, ...] = (0.0,)
    clip: tuple[float, float] | None = None
    history: int = 1

    def __post_init__(self) -> None:
        if self.source not in OBS_SOURCES:
            raise ConfigError(f"obs term {self.name!r}: source {self.source!r} is not one of {OBS_SOURCES}")
        if self.size < 1 or self.history < 1:
            raise ConfigError(f"obs term {self.name!r}: size and history must be >= 1")
        for key in ("scale", "offset"):
            vals = _floats(f"obs term {self.name!r}.{key}", getattr(self, key))
            if len(vals) not in (1, self.size):
                raise ConfigError(f"obs term {self.name!r}.{key}: expected 1 or {self.size} values, got {len(vals)}")
            object.__setattr__(self, key, vals)
        if self.clip is not None:
            lo, hi = _floats(f"obs term {self.name!r}.clip", self.clip, 2)
            if lo >= hi:
                raise ConfigError(f"obs term {self.name!r}.clip: low {lo} must be < high {hi}")
            object.__setattr__(self, "clip", (lo, hi))


@dataclass(frozen=True)
class ActionSpec:
    """Arm action (one value per joint) plus an optional gripper scalar at the end.

    ``processed = clip(raw * scale + offset, clip_low, clip_high)``; for ``joint_pos_delta``
    the target is ``q + processed``. Gripper: raw in [-1, 1], > 0 closes.
    """

    type: str
    joint_names: tuple[str, ...]
    scale: tuple[float, ...]
    offset: tuple[float, ...]
    clip_low: tuple[float, ...]  # rad (or rad/s for joint_vel)
    clip_high: tuple[float, ...]
    gripper: bool = False
    gripper_joints: tuple[str, ...] = ()
    gripper_open: float = 0.04  # m per finger, raw gripper action -1
    gripper_closed: float = 0.0  # m per finger, raw gripper action +1

    def __post_init__(self) -> None:
        if self.type not in ACTION_TYPES:
            raise ConfigError(f"action.type {self.type!r} is not one of {ACTION_TYPES}")
        n = len(self.joint_names)
        for key in ("scale", "offset", "clip_low", "clip_high"):
            object.__setattr__(self, key, _floats(f"action.{key}", getattr(self, key), n))
        if any(lo >= hi for lo, hi in zip(self.clip_low, self.clip_high)):
            raise ConfigError("action.clip_low must be < action.clip_high for every joint")
        if self.gripper and not self.gripper_joints:
            raise ConfigError("action.gripper is set but action.gripper_joints is empty")

    @property
    def size(self) -> int:
        """Length of the raw action vector: arm joints plus one gripper scalar if any."""
        return len(self.joint_names) + int(self.gripper)

    def process(self, raw: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Arm joint targets (n,) rad (or rad/s) from a raw action (size,) and the measured q (n,) rad."""
        n = len(self.joint_names)
        arm = np.clip(raw[:n] * np.asarray(self.scale) + np.asarray(self.offset), self.clip_low, self.clip_high)
        return q + arm if self.type == "joint_pos_delta" else arm

    def gripper_target(self, raw: np.ndarray) -> float:
        """Finger position target (m) from the raw gripper scalar (last entry): closed if > 0, else open.

        Binary, as the policy runtime (robot_rl.policy.runtime) and the Isaac Lab gripper action map it, so a
        policy output near 0 moves the fingers the same way in training, in-process evaluation and on ROS."""
        return self.gripper_closed if float(raw[-1]) > 0.0 else self.gripper_open


@dataclass(frozen=True)
class RewardTerm:
    """``reward += weight * term(state; std)``; ``std`` (m) shapes the tanh kernels."""

    name: str
    weight: float
    std: float = 0.1

    def __post_init__(self) -> None:
        if self.name not in REWARD_TERMS:
            raise ConfigError(f"reward term {self.name!r} is not one of {REWARD_TERMS}")
        if not (np.isfinite(self.weight) and self.std > 0):
            raise ConfigError(f"reward term {self.name!r}: weight must be finite and std > 0")


@dataclass(frozen=True)
class SuccessSpec:
    """Success rule: ``ee_within_goal`` (EE within ``threshold`` m of the goal) or ``object_lifted``
    (object ``threshold`` m above its initial height while both fingers touch it)."""

    kind: str
    threshold: float  # m

    def __post_init__(self) -> None:
        if self.kind not in SUCCESS_KINDS:
            raise ConfigError(f"success.kind {self.kind!r} is not one of {SUCCESS_KINDS}")
        if not self.threshold > 0:
            raise ConfigError(f"success.threshold must be > 0 m, got {self.threshold}")


@dataclass(frozen=True)
class ResetSpec:
    """Reset distribution, all uniform: joint noise around the default pose (rad), goal box (m, base
    frame), object xy box (m, base frame) and yaw range (rad)."""

    joint_noise: float = 0.0
    goal_low: tuple[float, ...] | None = None
    goal_high: tuple[float, ...] | None = None
    object_xy_low: tuple[float, ...] | None = None
    object_xy_high: tuple[float, ...] | None = None
    object_yaw: float = 0.0

    def __post_init__(self) -> None:
        if self.joint_noise < 0 or self.object_yaw < 0:
            raise ConfigError("reset.joint_noise and reset.object_yaw must be >= 0")
        for low, high, size in (("goal_low", "goal_high", 3), ("object_xy_low", "object_xy_high", 2)):
            lo, hi = getattr(self, low), getattr(self, high)
            if (lo is None) != (hi is None):
                raise ConfigError(f"reset.{low} and reset.{high} must be given together")
            if lo is not None:
                lo, hi = _floats(f"reset.{low}", lo, size), _floats(f"reset.{high}", hi, size)
                if any(a > b for a, b in zip(lo, hi)):
                    raise ConfigError(f"reset.{low} must be <= reset.{high}")
                object.__setattr__(self, low, lo)
                object.__setattr__(self, high, hi)


@dataclass(frozen=True)
class ObjectSpec:
    """A free box on the table: half size (m), mass (kg), sliding friction coefficient."""

    name: str = "cube"
    half_size: float = 0.02
    mass: float = 0.05
    friction: float = 1.5

    def __post_init__(self) -> None:
        if not (self.half_size > 0 and self.mass > 0 and self.friction > 0):
            raise ConfigError(f"object {self.name!r}: half_size, mass and friction must be > 0")


@dataclass(frozen=True)
class TaskSpec:
    """Everything a consumer needs to know about a task, as data."""

    name: str
    robot: str  # shipped robot name (config/robots/<robot>.yaml) or YAML path
    joint_names: tuple[str, ...]  # arm joints, in order (from the robot config)
    obs_terms: tuple[ObsTerm, ...]
    action: ActionSpec
    reward: tuple[RewardTerm, ...]
    success: SuccessSpec
    reset: ResetSpec
    physics_dt: float  # s
    decimation: int  # physics steps per policy step
    episode_seconds: float  # s
    object: ObjectSpec | None = None
    description: str = ""
    extras: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"task {self.name!r}"
        if not (0 < self.physics_dt <= 0.01):
            raise ConfigError(f"{where}: physics_dt must be in (0, 0.01] s, got {self.physics_dt}")
        if self.decimation < 1:
            raise ConfigError(f"{where}: decimation must be >= 1, got {self.decimation}")
        if self.episode_seconds * self.policy_hz < 1:
            raise ConfigError(f"{where}: episode_seconds {self.episode_seconds} is shorter than one policy step")
        if tuple(self.action.joint_names) != tuple(self.joint_names):
            raise ConfigError(f"{where}: action.joint_names must equal joint_names {self.joint_names}")
        names = [t.name for t in self.obs_terms]
        if len(set(names)) != len(names):
            raise ConfigError(f"{where}: duplicate observation term names {names}")
        if self.success.kind == "object_lifted" and self.object is None:
            raise ConfigError(f"{where}: success 'object_lifted' needs an object")

    @property
    def policy_hz(self) -> float:
        """Policy rate, Hz = 1 / (physics_dt * decimation)."""
        return 1.0 / (self.physics_dt * self.decimation)

    @property
    def policy_dt(self) -> float:
        """Policy period, s."""
        return self.physics_dt * self.decimation

    @property
    def max_steps(self) -> int:
        """Policy steps per episode."""
        return int(round(self.episode_seconds * self.policy_hz))

    @property
    def obs_dim(self) -> int:
        """Length of one observation frame (all terms, one history step each)."""
        return sum(t.size for t in self.obs_terms)

    @property
    def action_dim(self) -> int:
        """Length of the raw action vector."""
        return self.action.size

    def term(self, name: str) -> ObsTerm:
        """The observation term called ``name``; ConfigError if absent."""
        for t in self.obs_terms:
            if t.name == name:
                return t
        raise ConfigError(f"task {self.name!r} has no observation term {name!r}: {[t.name for t in self.obs_terms]}")

    def flatten_obs(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Concatenate an obs dict (term name -> (size,)) into (obs_dim,) in declared term order."""
        parts = []
        for t in self.obs_terms:
            if t.name not in obs:
                raise ConfigError(f"task {self.name!r}: observation lacks term {t.name!r}")
            value = np.asarray(obs[t.name], dtype=float).reshape(-1)
            if value.shape != (t.size,):
                raise ConfigError(f"task {self.name!r}: term {t.name!r} has {value.size} values, declared {t.size}")
            parts.append(value)
        return np.concatenate(parts)

    def to_dict(self) -> dict:
        """JSON-ready description (stored with every dataset, compared at training time)."""
        out = asdict(self)
        out.update(policy_hz=self.policy_hz, obs_dim=self.obs_dim, action_dim=self.action_dim,
                   max_steps=self.max_steps)
        return out
