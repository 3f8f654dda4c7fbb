"""Hardware interfaces: read joint state, write joint torques. MuJoCo is the default implementation."""

from robot_rl.hardware.base import (HardwareInterface, JointStateSample, create_hardware, hardware_names,
                                    hardware_options, loop_catch_up)

__all__ = ["HardwareInterface", "JointStateSample", "create_hardware", "hardware_names", "hardware_options",
           "loop_catch_up"]
