"""The robot YAML: everything a robot's URDF lacks, as a typed, validated config.

A robot is its URDF (kinematics, dynamics, hard limits, collision geometry) plus
this one YAML (soft-limit margins, acceleration/jerk limits, workspace box,
default pose, gains, control rate). Both pinocchio and MuJoCo load the same URDF.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from robot_rl.errors import ConfigError
from robot_rl.paths import config_dir


ERD_SCHEME = "example-robot-data://"
"""URDF reference into the example-robot-data wheel's share directory."""


def example_robot_data_share() -> Path:
    """Directory that holds ``example-robot-data/`` (the cmeel share prefix).

    Raises:
        ConfigError: if the example-robot-data wheel is not installed.
    """
    import importlib.util

    spec = importlib.util.find_spec("cmeel")
    candidates = []
    if spec is not None and spec.origin:
        site = Path(spec.origin).resolve().parent.parent
        candidates.append(site / "cmeel.prefix" / "share")
    import sys

    candidates += [Path(p) / "cmeel.prefix" / "share" for p in sys.path if p]
    for share in candidates:
        if (share / "example-robot-data").is_dir():
            return share
    raise ConfigError(
        "example-robot-data is not installed: `pip install example-robot-data` "
        "provides the Panda and UR5 URDFs"
    )


def resolve_urdf(reference: str, relative_to: Path) -> Path:
    """Turn a URDF reference from a robot YAML into an existing file path.

    Args:
        reference: ``example-robot-data://robots/...``, an absolute path, or a
            path relative to the YAML's directory.
        relative_to: directory of the YAML file.
    """
    if reference.startswith(ERD_SCHEME):
        path = example_robot_data_share() / "example-robot-data" / reference[len(ERD_SCHEME):]
    else:
        path = Path(reference)
        if not path.is_absolute():
            path = relative_to / path
    if not path.is_file():
        raise ConfigError(f"URDF not found: {reference!r} (resolved to {path})")
    return path


@dataclass(frozen=True)
class WorkspaceBox:
    """Axis-aligned Cartesian box (metres, robot base frame) that the listed links must stay in."""

    lower: np.ndarray  # (3,) m
    upper: np.ndarray  # (3,) m
    links: tuple[str, ...]  # URDF link/frame names checked against the box

    def __post_init__(self) -> None:
        object.__setattr__(self, "lower", _vector("workspace.lower", self.lower, 3))
        object.__setattr__(self, "upper", _vector("workspace.upper", self.upper, 3))
        if np.any(self.lower >= self.upper):
            raise ConfigError(f"workspace: lower {self.lower} must be < upper {self.upper} on every axis")
        if not self.links:
            raise ConfigError("workspace.links: list at least one link to keep inside the box")
        object.__setattr__(self, "links", tuple(self.links))

    def contains(self, points: np.ndarray, tol: float = 0.0) -> bool:
        """True if every point (k, 3) lies inside the box grown by ``tol`` metres."""
        pts = np.atleast_2d(points)
        return bool(np.all(pts >= self.lower - tol) and np.all(pts <= self.upper + tol))


@dataclass(frozen=True)
class GripperConfig:
    """Optional parallel gripper driven by position, outside the arm's joint vector."""

    joints: tuple[str, ...]
    open_position: float  # m per finger
    closed_position: float  # m per finger
    kp: float = 400.0  # N/m, MuJoCo position actuator gain

    def __post_init__(self) -> None:
        if not self.joints:
            raise ConfigError("gripper.joints: must list at least one joint")
        object.__setattr__(self, "joints", tuple(self.joints))


@dataclass(frozen=True)
class CollisionConfig:
    """Collision checking: minimum allowed distance, pairs never checked, and the surface the robot stands on.

    ``floor`` (m, z in the base frame; None: none) is the top of the table or floor under the robot:
    every link's collision geometry, except the ``floor_ignore`` links that rest on it (the base), must
    stay ``margin`` above it. The workspace box bounds a few frames; this bounds the whole arm.
    """

    margin: float = 0.01  # m
    ignore_pairs: tuple[tuple[str, str], ...] = ()  # link-name pairs, beyond adjacent links
    floor: float | None = None  # m
    floor_ignore: tuple[str, ...] = ()  # link names

    def __post_init__(self) -> None:
        if not np.isfinite(self.margin) or self.margin < 0:
            raise ConfigError(f"collision.margin must be a finite distance >= 0 m, got {self.margin}")
        if self.floor is not None and (isinstance(self.floor, bool) or not isinstance(self.floor, (int, float))
                                       or not np.isfinite(self.floor)):
            raise ConfigError(f"collision.floor must be a finite height in m (or absent), got {self.floor!r}")
        object.__setattr__(self, "floor_ignore", tuple(str(link) for link in self.floor_ignore))
        pairs = []
        for pair in self.ignore_pairs:
            if len(pair) != 2:
                raise ConfigError(f"collision.ignore_pairs: {pair!r} is not a pair of link names")
            pairs.append((str(pair[0]), str(pair[1])))
        object.__setattr__(self, "ignore_pairs", tuple(pairs))


@dataclass(frozen=True)
class RobotConfig:
    """What the URDF lacks, for one robot. Arrays are per controlled joint, in ``joints`` order."""

    name: str
    urdf_path: Path
    joints: tuple[str, ...]  # controlled joints, by URDF name
    ee_frame: str  # end-effector frame (URDF link name)
    position_margin: np.ndarray  # (n,) rad, soft limit = URDF limit shrunk by this
    acceleration_limits: np.ndarray  # (n,) rad/s^2
    jerk_limits: np.ndarray  # (n,) rad/s^3
    default_pose: np.ndarray  # (n,) rad
    kp: np.ndarray  # (n,) Nm/rad
    kd: np.ndarray  # (n,) Nm s/rad
    workspace: WorkspaceBox
    armature: np.ndarray | float = 0.0  # (n,) kg m^2, rotor inertia seen at each joint (URDFs lack it)
    control_rate_hz: float = 1000.0
    velocity_scale: float = 1.0  # fraction of URDF velocity limit allowed for motion
    collision: CollisionConfig = field(default_factory=CollisionConfig)
    gripper: GripperConfig | None = None
    source: Path | None = None  # the YAML this came from, for error messages

    def __post_init__(self) -> None:
        if not self.joints or len(set(self.joints)) != len(self.joints):
            raise ConfigError(f"{self._where()}joints: must be a non-empty list of unique names, got {self.joints}")
        object.__setattr__(self, "joints", tuple(self.joints))
        n = len(self.joints)
        for name in ("position_margin", "acceleration_limits", "jerk_limits", "default_pose", "kp", "kd", "armature"):
            object.__setattr__(self, name, _vector(self._where() + name, getattr(self, name), n))
        for name in ("acceleration_limits", "jerk_limits"):
            if np.any(getattr(self, name) <= 0):
                raise ConfigError(f"{self._where()}{name}: every entry must be > 0, got {getattr(self, name)}")
        for name in ("position_margin", "kp", "kd", "armature"):
            if np.any(getattr(self, name) < 0):
                raise ConfigError(f"{self._where()}{name}: every entry must be >= 0, got {getattr(self, name)}")
        if not (1.0 <= self.control_rate_hz <= 10000.0):
            raise ConfigError(f"{self._where()}control_rate_hz must be in [1, 10000] Hz, got {self.control_rate_hz}")
        if not (0.0 < self.velocity_scale <= 1.0):
            raise ConfigError(f"{self._where()}velocity_scale must be in (0, 1], got {self.velocity_scale}")

    @property
    def dof(self) -> int:
        """Number of controlled joints."""
        return len(self.joints)

    @property
    def control_period(self) -> float:
        """Control period in seconds."""
        return 1.0 / self.control_rate_hz

    def _where(self) -> str:
        return f"{self.source}: " if self.source else ""


def _vector(name: str, value: Any, n: int) -> np.ndarray:
    """A finite float vector of length ``n``; a scalar is broadcast."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: expected numbers, got {value!r}") from exc
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ConfigError(f"{name}: expected {n} values (one per joint), got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{name}: values must be finite, got {arr}")
    arr = arr.copy()
    arr.flags.writeable = False
    return arr


_REQUIRED = ("name", "urdf", "joints", "ee_frame", "acceleration_limits", "jerk_limits",
             "default_pose", "gains", "workspace")
_OPTIONAL = ("position_margin", "control_rate_hz", "velocity_scale", "collision", "gripper", "armature")


def robot_yaml_path(robot: str | Path) -> Path:
    """Path of a robot YAML: a shipped robot name (``panda``) or a file path."""
    candidate = Path(robot)
    if candidate.suffix in (".yaml", ".yml"):
        if not candidate.is_file():
            raise ConfigError(f"robot YAML not found: {candidate}")
        return candidate
    shipped = config_dir() / "robots" / f"{robot}.yaml"
    if not shipped.is_file():
        known = sorted(p.stem for p in (config_dir() / "robots").glob("*.yaml"))
        raise ConfigError(f"unknown robot {robot!r}: shipped robots are {known}, or pass a path to a YAML")
    return shipped


def load_robot_config(robot: str | Path) -> RobotConfig:
    """Load and validate a robot YAML (a shipped name such as ``panda`` or a path)."""
    path = robot_yaml_path(robot)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at top level")
    missing = [k for k in _REQUIRED if k not in raw]
    unknown = sorted(set(raw) - set(_REQUIRED) - set(_OPTIONAL))
    if missing:
        raise ConfigError(f"{path}: missing required keys {missing}")
    if unknown:
        raise ConfigError(f"{path}: unknown keys {unknown} (allowed: {sorted(_REQUIRED + _OPTIONAL)})")
    try:
        return _build(raw, path)
    except ConfigError as exc:
        if str(path) in str(exc):
            raise
        raise ConfigError(f"{path}: {exc}") from exc
    except (TypeError, KeyError, ValueError) as exc:
        raise ConfigError(f"{path}: invalid value: {exc}") from exc


def _build(raw: dict, path: Path) -> RobotConfig:
    gains = raw["gains"]
    if not isinstance(gains, dict) or set(gains) != {"kp", "kd"}:
        raise ConfigError(f"gains: expected a mapping with exactly 'kp' and 'kd', got {gains!r}")
    ws = raw["workspace"]
    gripper = raw.get("gripper")
    return RobotConfig(
        name=str(raw["name"]),
        urdf_path=resolve_urdf(str(raw["urdf"]), path.parent),
        joints=tuple(str(j) for j in raw["joints"]),
        ee_frame=str(raw["ee_frame"]),
        position_margin=raw.get("position_margin", 0.0),
        acceleration_limits=raw["acceleration_limits"],
        jerk_limits=raw["jerk_limits"],
        default_pose=raw["default_pose"],
        kp=gains["kp"],
        kd=gains["kd"],
        workspace=WorkspaceBox(lower=ws["lower"], upper=ws["upper"], links=tuple(ws["links"])),
        armature=raw.get("armature", 0.0),
        control_rate_hz=float(raw.get("control_rate_hz", 1000.0)),
        velocity_scale=float(raw.get("velocity_scale", 1.0)),
        collision=CollisionConfig(**(raw.get("collision") or {})),
        gripper=GripperConfig(**gripper) if gripper else None,
        source=path,
    )


def replace(config: RobotConfig, **changes: Any) -> RobotConfig:
    """A copy of ``config`` with fields changed (validated again)."""
    return dataclasses.replace(config, **changes)
