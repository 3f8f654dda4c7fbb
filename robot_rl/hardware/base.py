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
    """

    joint_names: tuple[str, ...]
    lockstep: bool

    def read(self) -> JointStateSample:
        """Latest measured state."""

    def write(self, effort: np.ndarray) -> None:
        """Command joint torques (n,) Nm for the next control period."""

    def close(self) -> None:
        """Release the device; the robot must be left holding or braked."""


LOCKSTEP_CATCH_UP_S = 0.25
"""s: lag behind the wall clock a lockstep simulator's control loop recovers by back-to-back ticks."""


def loop_catch_up(hardware: HardwareInterface) -> float:
    """Catch-up allowance (s) for the control loop driving ``hardware``: 0 for a real robot."""
    return LOCKSTEP_CATCH_UP_S if getattr(hardware, "lockstep", False) else 0.0


_REGISTRY: dict[str, str] = {
    "mujoco": "robot_rl_sim.hardware:MujocoHardware",
    "serial": "robot_rl.hardware.serial_firmware:SerialFirmwareHardware",
}
"""Hardware name -> "module:factory"; factories take (RobotConfig, **options)."""


def hardware_names() -> list[str]:
    """Names accepted by :func:`create_hardware`."""
    return sorted(_REGISTRY)


def create_hardware(name: str, config: RobotConfig, **options) -> HardwareInterface:
    """Instantiate hardware ``name`` for robot ``config``; the implementation is imported lazily."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown hardware {name!r}; available: {hardware_names()}")
    module_name, factory = _REGISTRY[name].split(":")
    module = importlib.import_module(module_name)
    return getattr(module, factory)(config, **options)
