"""Hardware interfaces: read joint state, write joint torques. MuJoCo is the default implementation."""

from robot_rl.hardware.base import HardwareInterface, JointStateSample, create_hardware, hardware_names

__all__ = ["HardwareInterface", "JointStateSample", "create_hardware", "hardware_names"]
