"""Configuration of the ros2_control bridge, and the check of the vendor's /robot_description against robot_rl's URDF.

Pure (no rclpy): the bridge's YAML (``config/hardware/*.yaml``, see docs/ros2_control.md) is loaded into a typed,
validated :class:`Ros2ControlConfig`; :func:`description_differences` compares two URDF strings joint by joint.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from robot_rl.errors import ConfigError


CONTROLLER_TYPES = ("joint_trajectory", "forward_position", "forward_velocity")
"""joint_trajectory: a JointTrajectoryController (``<controller>/joint_trajectory``, trajectory_msgs);
forward_position / forward_velocity: a forward command controller (``<controller>/commands``,
std_msgs/Float64MultiArray in the controller's ``joints`` order)."""


@dataclass(frozen=True)
class Ros2ControlConfig:
    """The bridge to a vendor's ros2_control stack.

    Attributes:
        controller_type: one of :data:`CONTROLLER_TYPES`.
        controller: the controller's node name as the controller manager loads it, with its namespace
            (e.g. ``/scaled_joint_trajectory_controller``); its topics are ``<controller>/joint_trajectory`` or
            ``<controller>/commands``.
        stream_rate_hz: Hz: how often a forward controller is sent the reference, and how often the JTC is sent
            the reference's stop extension while the reference is off the safety filter's plan (chasing, braking).
        joint_map: robot_rl joint name -> the vendor's name for it (joints not listed keep their name).
        controller_joints: the vendor's joint names in the forward controller's ``joints`` parameter order
            (the order of Float64MultiArray data); empty: robot_rl's joint order, mapped.
        state_topic: the vendor's sensor_msgs/JointState topic (its joint_state_broadcaster's output).
        description_topic: the vendor's std_msgs/String URDF (transient local).
        state_timeout: s: a vendor joint state older than this stops the arm (the bridge latches a fault).
        startup_timeout: s to wait for the first joint state and the robot description at start.
        limit_tolerance: relative difference allowed between the two URDFs' limits.
        velocity_feedback_gain: 1/s, forward_velocity only: the streamed velocity is
            v_ref + gain * (q_ref - q_measured), so position errors do not accumulate.
    """

    controller_type: str
    controller: str
    stream_rate_hz: float = 100.0
    joint_map: dict[str, str] = field(default_factory=dict)
    controller_joints: tuple[str, ...] = ()
    state_topic: str = "/joint_states"
    description_topic: str = "/robot_description"
    state_timeout: float = 0.05
    startup_timeout: float = 10.0
    limit_tolerance: float = 1e-3
    velocity_feedback_gain: float = 2.0

    def __post_init__(self) -> None:
        if self.controller_type not in CONTROLLER_TYPES:
            raise ConfigError(f"ros2_control controller_type {self.controller_type!r} is not one of {CONTROLLER_TYPES}")
        for name in ("controller", "state_topic", "description_topic"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.startswith("/") or value.endswith("/"):
                raise ConfigError(f"ros2_control {name} must be an absolute ROS name like /name, got {value!r}")
        for name in ("stream_rate_hz", "state_timeout", "startup_timeout", "limit_tolerance",
                     "velocity_feedback_gain"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"ros2_control {name} must be a finite number >= 0, got {value!r}")
        if self.stream_rate_hz <= 0 or self.state_timeout <= 0:
            raise ConfigError(f"ros2_control stream_rate_hz and state_timeout must be > 0, got "
                              f"{self.stream_rate_hz}, {self.state_timeout}")
        if not isinstance(self.joint_map, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                           for k, v in self.joint_map.items()):
            raise ConfigError(f"ros2_control joint_map must map robot_rl joint names to vendor names, got "
                              f"{self.joint_map!r}")
        object.__setattr__(self, "controller_joints", tuple(self.controller_joints))
        if len(set(self.joint_map.values())) != len(self.joint_map):
            raise ConfigError(f"ros2_control joint_map maps two joints to one vendor name: {self.joint_map}")

    @property
    def command_topic(self) -> str:
        """The controller's command topic."""
        suffix = "joint_trajectory" if self.controller_type == "joint_trajectory" else "commands"
        return f"{self.controller}/{suffix}"

    def vendor_names(self, joints: tuple[str, ...]) -> tuple[str, ...]:
        """The vendor's names of robot_rl ``joints``."""
        return tuple(self.joint_map.get(j, j) for j in joints)

    def controller_order(self, joints: tuple[str, ...]) -> list[int]:
        """Index into ``joints`` (robot_rl order) of each forward-controller data slot.

        Raises:
            ConfigError: if ``controller_joints`` is not a permutation of the mapped robot joints.
        """
        vendor = self.vendor_names(joints)
        order = self.controller_joints or vendor
        if sorted(order) != sorted(vendor):
            raise ConfigError(f"ros2_control controller_joints {list(order)} must name each of the robot's joints "
                              f"(vendor names {list(vendor)}) once")
        return [vendor.index(name) for name in order]

    def check_joint_map(self, joints: tuple[str, ...]) -> None:
        """ConfigError naming joint_map keys that are not robot joints."""
        unknown = sorted(set(self.joint_map) - set(joints))
        if unknown:
            raise ConfigError(f"ros2_control joint_map names joints {unknown} the robot does not have "
                              f"(robot joints {list(joints)})")


def load_ros2_control_config(path: str | Path) -> Ros2ControlConfig:
    """Read the bridge's YAML (keys: the fields of :class:`Ros2ControlConfig`); ConfigError naming the problem."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"ros2_control config {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"ros2_control config {path}: expected a mapping of settings, got {type(raw).__name__}")
    known = {f.name for f in fields(Ros2ControlConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"ros2_control config {path}: unknown keys {unknown}; known: {sorted(known)}")
    try:
        return Ros2ControlConfig(**raw)
    except TypeError as exc:
        raise ConfigError(f"ros2_control config {path}: {exc}") from exc
    except ConfigError as exc:
        raise ConfigError(f"ros2_control config {path}: {exc}") from exc


@dataclass(frozen=True)
class UrdfJoint:
    """One URDF joint: type and limits (rad or m, rad/s or m/s, Nm or N; NaN where the URDF gives none)."""

    type: str
    lower: float
    upper: float
    velocity: float
    effort: float


def urdf_joints(text: str, what: str) -> dict[str, UrdfJoint]:
    """Joints of a URDF string by name; ConfigError naming ``what`` if it is no URDF."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ConfigError(f"{what} is not valid URDF XML: {exc}") from exc
    if root.tag != "robot":
        raise ConfigError(f"{what} is not a URDF: its root element is <{root.tag}>, not <robot>")
    joints = {}
    for joint in root.iter("joint"):
        if joint.get("name") is None or joint.get("type") is None:
            continue  # a <joint> inside <ros2_control> or <transmission>, not a kinematic joint
        limit = joint.find("limit")
        value = (lambda key: float(limit.get(key, "nan"))) if limit is not None else (lambda key: math.nan)
        joints[joint.get("name")] = UrdfJoint(joint.get("type"), value("lower"), value("upper"), value("velocity"),
                                              value("effort"))
    return joints


LIMIT_UNITS = {"lower": "rad", "upper": "rad", "velocity": "rad/s", "effort": "Nm"}
PRISMATIC_UNITS = {"lower": "m", "upper": "m", "velocity": "m/s", "effort": "N"}


def description_differences(ours: str, vendor: str, joints: tuple[str, ...], joint_map: dict[str, str],
                            tolerance: float) -> list[str]:
    """How the vendor's URDF differs from robot_rl's on the robot's ``joints`` (empty: they agree).

    Checks each joint's presence (by its mapped vendor name), type, and position, velocity and effort limits
    (relative ``tolerance``; a continuous joint has no position limits). The vendor's extra joints are ignored.
    """
    mine, theirs = urdf_joints(ours, "robot_rl's URDF"), urdf_joints(vendor, "the vendor's /robot_description")
    differences = []
    for name in joints:
        vendor_name = joint_map.get(name, name)
        label = name if vendor_name == name else f"{name} (vendor {vendor_name})"
        if name not in mine:
            differences.append(f"joint {name} is not in robot_rl's URDF")
            continue
        if vendor_name not in theirs:
            differences.append(f"joint {label} is missing from the vendor's /robot_description")
            continue
        a, b = mine[name], theirs[vendor_name]
        if a.type != b.type:
            differences.append(f"joint {label}: type {a.type} here, {b.type} on the vendor")
            continue
        keys = ("velocity", "effort") if a.type == "continuous" else ("lower", "upper", "velocity", "effort")
        for key in keys:
            x, y = getattr(a, key), getattr(b, key)
            if not _close(x, y, tolerance):
                unit = (PRISMATIC_UNITS if a.type == "prismatic" else LIMIT_UNITS)[key]
                differences.append(f"joint {label}: {key} limit {x:g} {unit} here, {y:g} on the vendor")
    return differences


def _close(x: float, y: float, tolerance: float) -> bool:
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return abs(x - y) <= tolerance * max(abs(x), abs(y), 1e-9)
