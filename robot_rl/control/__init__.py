"""Controllers and the fixed-rate control loop (pure: numpy in, numpy out, no rclpy)."""

from robot_rl.control.core import ControlCore, ControlCoreConfig
from robot_rl.control.impedance import impedance_torque
from robot_rl.control.loop import FixedRateLoop, LoopStats

__all__ = ["ControlCore", "ControlCoreConfig", "FixedRateLoop", "LoopStats", "impedance_torque"]
