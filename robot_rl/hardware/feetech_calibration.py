"""Calibration of a Feetech arm: per joint its servo id, homing offset, range and direction, in one YAML file.

Written by ``robot-rl calibrate feetech`` (:mod:`robot_rl.hardware.feetech_calibrate`)::

    robot: so101
    model: 777                     # servo model number every joint must answer (STS3215)
    joints:                        # the robot's arm joints, then its gripper joints, in the robot YAML's order
      shoulder_pan: {id: 1, direction: 1, homing_offset: -212, range_min: 810, range_max: 3270, firmware: "3.10"}
      ...

A joint at its URDF zero reads Present_Position :data:`CENTER_STEP` once ``homing_offset`` (steps) is in the
servo; ``direction`` is -1 where the servo turns against the URDF axis; ``range_min``/``range_max`` (steps,
Present_Position) are the ends of travel found by moving the joint by hand, written to the servo's
Min/Max_Position_Limit so that the servo itself refuses goals beyond them; ``firmware`` is the version the
servo had when calibrated (the bus is refused at start if it changed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import yaml

from robot_rl.atomic import write_atomic
from robot_rl.errors import ConfigError
from robot_rl.hardware import feetech_table as ft
from robot_rl.robot.config import RobotConfig

PING_TRIES = 3
"""Pings a servo gets before it counts as missing (a packet can be lost on a noisy bus)."""


@dataclass(frozen=True)
class JointCalibration:
    """One joint's servo (steps, see the module docstring)."""

    id: int
    direction: int
    homing_offset: int
    range_min: int
    range_max: int
    firmware: str

    def __post_init__(self) -> None:
        checks = {"id": isinstance(self.id, int) and 0 <= self.id <= 252,
                  "direction": self.direction in (1, -1),
                  "homing_offset": isinstance(self.homing_offset, int) and abs(self.homing_offset) < 2048,
                  "range_min, range_max": (isinstance(self.range_min, int) and isinstance(self.range_max, int)
                                           and 0 <= self.range_min <= ft.CENTER_STEP <= self.range_max
                                           < ft.STEPS_PER_TURN),
                  "firmware": isinstance(self.firmware, str) and self.firmware.count(".") == 1}
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(f"{bad} invalid in {self} (id 0..252, direction +-1, |homing_offset| < 2048, "
                              f"0 <= range_min <= {ft.CENTER_STEP} <= range_max <= 4095, firmware 'MAJOR.MINOR')")


@dataclass(frozen=True)
class FeetechCalibration:
    """The calibration of robot ``robot``: ``joints`` by name, in the robot's order (arm, then gripper)."""

    robot: str
    model: int
    joints: dict[str, JointCalibration]

    def __post_init__(self) -> None:
        ids = [j.id for j in self.joints.values()]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"calibration of {self.robot}: servo ids repeat: {ids}")

    def array(self, field: str, names: tuple[str, ...]) -> np.ndarray:
        """``field`` of the joints ``names``, (len(names),)."""
        return np.array([getattr(self.joints[n], field) for n in names])

    def to_radians(self, steps: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
        """Joint positions (rad) of Present_Position values (steps)."""
        return self.array("direction", names) * (np.asarray(steps, float) - ft.CENTER_STEP) * ft.RAD_PER_STEP

    def to_steps(self, position: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
        """Goal_Position (int steps) of joint positions (rad), clipped into each joint's calibrated range."""
        steps = ft.CENTER_STEP + self.array("direction", names) * np.asarray(position, float) / ft.RAD_PER_STEP
        return np.clip(np.rint(steps), self.array("range_min", names), self.array("range_max", names)).astype(int)

    def save(self, path: str | Path) -> None:
        doc = {"robot": self.robot, "model": self.model,
               "joints": {name: asdict(j) for name, j in self.joints.items()}}
        header = "# Feetech servo calibration, written by `robot-rl calibrate feetech` (docs/feetech.md)\n"
        write_atomic(Path(path), (header + yaml.safe_dump(doc, sort_keys=False)).encode())


def joint_names(config: RobotConfig) -> tuple[str, ...]:
    """Every servo-driven joint of ``config``: its arm joints, then its gripper joints."""
    return tuple(config.joints) + (tuple(config.gripper.joints) if config.gripper else ())


def load_calibration(path: str | Path, config: RobotConfig) -> FeetechCalibration:
    """Read and check a calibration file against robot ``config``.

    Raises:
        ConfigError: unreadable file, a missing or unknown joint, a bad value (each named with the file).
    """
    try:
        doc = yaml.safe_load(Path(path).read_text())
        joints = {name: JointCalibration(**{**values, "firmware": str(values["firmware"])})
                  for name, values in doc["joints"].items()}
        calibration = FeetechCalibration(robot=str(doc["robot"]), model=int(doc["model"]), joints=joints)
    except ConfigError as exc:
        raise ConfigError(f"feetech calibration {path}: {exc}") from exc
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ConfigError(f"feetech calibration {path}: not a calibration file (robot, model, joints: "
                          f"id, direction, homing_offset, range_min, range_max, firmware): {exc!r} "
                          f"(make one with `robot-rl calibrate feetech`)") from exc
    expected = joint_names(config)
    if tuple(calibration.joints) != expected:
        raise ConfigError(f"feetech calibration {path} has joints {list(calibration.joints)}, robot "
                          f"{config.name!r} needs {list(expected)} in that order")
    return calibration


def check_servos(bus, servos: dict[str, int], model: int, firmware: dict[str, str] | None = None) -> dict[str, str]:
    """Check that each joint's servo id answers on ``bus`` with ``model`` and (if given) the firmware version.

    Returns each joint's firmware version "MAJOR.MINOR".

    Raises:
        ConfigError: naming every joint whose servo is missing, of another model or firmware.
    """
    found, problems = {}, []
    for name, servo_id in servos.items():
        answered = next((m for m in (bus.ping(servo_id) for _ in range(PING_TRIES)) if m is not None), None)
        if answered is None:
            problems.append(f"{name}: servo id {servo_id} does not answer")
            continue
        if answered != model:
            problems.append(f"{name}: servo id {servo_id} is model {answered}, expected {model}")
            continue
        found[name] = f"{bus.read(servo_id, ft.FIRMWARE_MAJOR)}.{bus.read(servo_id, ft.FIRMWARE_MINOR)}"
        if firmware is not None and found[name] != firmware[name]:
            problems.append(f"{name}: servo id {servo_id} has firmware {found[name]}, calibrated with "
                            f"{firmware[name]} (recalibrate after a firmware update)")
    if problems:
        raise ConfigError(f"servo bus {bus.port} does not match: {'; '.join(problems)}")
    return found
