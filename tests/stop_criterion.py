"""The stop criterion after a command source goes silent (robot_rl/control/stop.py), for the stop tests.

With T the time of the last command and deadline = T + watchdog timeout + 2 control periods (or the deadline of
the layer that applies, robot_rl.control.stop.stop_deadline): see :func:`robot_rl.control.stop.stop_metrics`.
"""

from __future__ import annotations

import numpy as np

from robot_rl.control.stop import STOP_TOLERANCE, stop_failures
from robot_rl.control.stop import stop_metrics as _metrics_from_deadline
from robot_rl.robot.model import JointLimits

__all__ = ["STOP_TOLERANCE", "assert_stopped_in_time", "stop_metrics"]


def stop_metrics(t: np.ndarray, v: np.ndarray, last_command: float, watchdog: float, control_period: float,
                 limits: JointLimits) -> tuple[float, float, float]:
    """(speed rise rad/s, time to rest s, budget s) from deadline = last_command + watchdog + 2 control periods."""
    return _metrics_from_deadline(t, v, last_command + watchdog + 2 * control_period, limits)


def assert_stopped_in_time(rise: float, rest: float, budget: float) -> None:
    """Fail with the figures unless the criterion holds."""
    failures = stop_failures(rise, rest, budget)
    assert not failures, "; ".join(failures)
