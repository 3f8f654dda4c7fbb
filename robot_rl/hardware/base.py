"""The hardware interface: the one seam between the control loop and a robot, simulated or real.

Kept small on purpose (read state, write torques, close) so that MuJoCo, the
serial firmware and vendor arms can all implement it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.robot.config import RobotConfig


@dataclass(frozen=True)
class JointStateSample:
    """Measured joint state, arrays (n,) in the robot's joint order.

    Attributes:
        stamp: hardware time of the sample, s (simulated time for MuJoCo).
        position: rad.
        velocity: rad/s.
        effort: Nm actually applied.
    """

    stamp: float
    position: np.ndarray
    velocity: np.ndarray
    effort: np.ndarray


class HardwareInterface(Protocol):
    """A torque-controlled robot.

    ``write`` applies torques for one control period; a simulated robot advances
    its physics by that period, a real one returns at once. A simulator sets ``lockstep = True``
    (its time advances only when written), so the control loop runs ticks it missed back to back
    (see :func:`loop_catch_up`) instead of letting simulated time fall behind the wall clock.

    Optional methods, found by duck typing (the control node uses them when present):

    - ``diagnostics() -> dict``: health of the device (flags, counters), published on /diagnostics
      (nested dicts flattened); a non-empty ``"fault"`` entry (str) names a latched fault.
    - ``clear_fault() -> None``: clear a latched fault (the control node's ``~/clear_fault`` service).
    - ``command_mode: str``: ``"torque"`` (the default when absent: ``write`` takes torques) or ``"position"``
      for servos that close their own loop (hardware ``feetech``): the control core then calls
      ``write_position(position (n,) rad, velocity (n,) rad/s)`` with its limited reference instead of ``write``.
    """

    joint_names: tuple[str, ...]
    lockstep: bool

    def read(self) -> JointStateSample:
        """Latest measured state."""

    def write(self, effort: np.ndarray) -> None:
        """Command joint torques (n,) Nm for the next control period."""

    def close(self) -> None:
        """Release the device; the robot must be left holding or braked."""


def check_reset(hardware: HardwareInterface | str, move_hardware: bool, clear_fault: bool,
                capabilities: tuple[bool, bool] | None = None) -> None:
    """Raise ConfigError if ``hardware`` cannot do the reset asked for (see ``ControlCore.request_reset``).

    ``hardware`` is the object, or its class name with ``capabilities`` = (has ``reset``, has ``clear_fault``)
    (a shell whose hardware lives in the loop process)."""
    name = hardware if isinstance(hardware, str) else type(hardware).__name__
    can_reset, can_clear = capabilities or (hasattr(hardware, "reset"), hasattr(hardware, "clear_fault"))
    if move_hardware and not can_reset:
        raise ConfigError(f"hardware {name} cannot be reset (only simulators can)")
    if clear_fault and not can_clear:
        raise ConfigError(f"hardware {name} has no latched faults to clear")


LOCKSTEP_CATCH_UP_S = 0.25
"""s: lag behind the wall clock a lockstep simulator's control loop recovers by back-to-back ticks."""


def loop_catch_up(hardware: HardwareInterface) -> float:
    """Catch-up allowance (s) for the control loop driving ``hardware``: 0 for a real robot."""
    return LOCKSTEP_CATCH_UP_S if getattr(hardware, "lockstep", False) else 0.0


_REGISTRY: dict[str, str] = {
    "mujoco": "robot_rl_sim.hardware:MujocoHardware",
    "serial": "robot_rl.hardware.serial_firmware:SerialFirmwareHardware",
    "feetech": "robot_rl.hardware.feetech:FeetechHardware",
    "ros2_control": "robot_rl.nodes.ros2_control_link:create_ros2_control_hardware",
}
"""Hardware name -> "module:factory"; factories take (RobotConfig, **options)."""


def hardware_names() -> list[str]:
    """Names accepted by :func:`create_hardware`."""
    return sorted(_REGISTRY)


def hardware_options(hardware: str, port: str = "", task: str = "", seed: int = 0, rt_priority: int = 0,
                     key_file: str = "", calibration: str = "", config: str = "") -> dict:
    """Options for :func:`create_hardware` from the control node's parameters.

    Args:
        hardware: hardware name.
        port: serial device (``hardware_port``): required by ``serial``, refused by every other hardware.
        task, seed: MuJoCo only: simulated task (``""`` for the plain scene) and its reset seed.
        rt_priority: the control loop's SCHED_FIFO priority; ``serial`` reads its port at the same priority.
        key_file: the firmware link's key file (``hardware_key_file``): required by ``serial``, refused by the others.
        calibration: the servo calibration YAML (``hardware_calibration``): required by ``feetech``, refused by the
            others. ``feetech`` also requires ``port`` (its servo bus) and reads it at ``rt_priority``.
        config: the bridge's YAML (``hardware_config``): required by ``ros2_control``, refused by the others.

    Raises:
        ConfigError: naming the parameter that does not fit ``hardware``.
    """
    if hardware == "ros2_control":
        if not config:
            raise ConfigError("hardware 'ros2_control' needs parameter hardware_config: the bridge's YAML "
                              "(config/hardware/*.yaml, docs/ros2_control.md)")
        if task or port or key_file or calibration:
            raise ConfigError("hardware 'ros2_control' takes none of the parameters task, hardware_port, "
                              "hardware_key_file, hardware_calibration")
        return {"config_path": config}
    if config:
        raise ConfigError(f"parameter hardware_config ({config!r}) is for hardware 'ros2_control' only")
    if hardware == "feetech":
        return _feetech_options(port, task, key_file, calibration, rt_priority)
    if calibration:
        raise ConfigError(f"parameter hardware_calibration ({calibration!r}) is for hardware 'feetech' only")
    if hardware == "serial":
        if not port:
            raise ConfigError("hardware 'serial' needs parameter hardware_port: the firmware's serial device "
                              "(e.g. /dev/ttyACM0, or the pty path rr_firmware_host prints)")
        if task:
            raise ConfigError(f"parameter task ({task!r}) simulates a task on MuJoCo hardware only, "
                              f"not on hardware 'serial'")
        if not key_file:
            raise ConfigError("hardware 'serial' needs parameter hardware_key_file: the firmware link's key "
                              "(create one with `robot-rl firmware provision --key-file PATH`)")
        return {"port": port, "key_file": key_file, "rt_priority": rt_priority}
    if key_file:
        raise ConfigError(f"parameter hardware_key_file ({key_file!r}) is for hardware 'serial' only")
    if port:
        raise ConfigError(f"parameter hardware_port ({port!r}) is for hardware 'serial' only; "
                          f"hardware {hardware!r} takes no serial port")
    return {"task": task, "seed": seed} if task else {}


def _feetech_options(port: str, task: str, key_file: str, calibration: str, rt_priority: int) -> dict:
    """Options of hardware ``feetech`` (see :func:`hardware_options`)."""
    if not port:
        raise ConfigError("hardware 'feetech' needs parameter hardware_port: the servo bus device (e.g. "
                          "/dev/ttyACM0, or the pty path the simulated bus prints)")
    if not calibration:
        raise ConfigError("hardware 'feetech' needs parameter hardware_calibration: the servo calibration YAML "
                          "(make one with `robot-rl calibrate feetech`)")
    if task or key_file:
        raise ConfigError(f"parameters task ({task!r}) and hardware_key_file ({key_file!r}) are not for "
                          f"hardware 'feetech'")
    return {"port": port, "calibration": calibration, "rt_priority": rt_priority}


def create_hardware(name: str, config: RobotConfig, **options) -> HardwareInterface:
    """Instantiate hardware ``name`` for robot ``config``; the implementation is imported lazily."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown hardware {name!r}; available: {hardware_names()}")
    module_name, factory = _REGISTRY[name].split(":")
    module = importlib.import_module(module_name)
    return getattr(module, factory)(config, **options)
