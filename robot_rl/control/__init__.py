"""Controllers and the fixed-rate control loop (pure: numpy in, numpy out, no rclpy).

Exports load on first use (PEP 562): the ROS shell of a loop in its own process imports the light modules
(loop, state exchange) without the compiled kernels, pinocchio and ruckig (3.4 s of imports at load 17, measured).
"""

import importlib

_EXPORTS = {"ControlCore": "core", "ControlCoreConfig": "core", "impedance_torque": "impedance",
            "FixedRateLoop": "loop", "LoopStats": "loop"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
