"""The safety path runs on the monotonic clock; ROS time (the system clock) only stamps messages.

The system clock can step (NTP, a manual set); the monotonic clock cannot. :class:`ClockBridge` keeps the offset
ROS time - monotonic time, converts every stamp at reception (ROS -> monotonic) and every output stamp at
publication (monotonic -> ROS), and detects a step: the offset changing by more than ``step_threshold`` between
two readings. A command stamped before a step and received after it is converted with the new offset and so
rejected as ``stale``/``future`` (it is, on the new clock); the plan already sent must be re-stamped (the node
re-sends it on a step).
"""

from __future__ import annotations

import time
from collections.abc import Callable

_MAX_READ_GAP = 1e-4
"""s: a reading of (monotonic, ROS, monotonic) spread wider than this was preempted and is retried."""


class ClockBridge:
    """Monotonic time for the safety core, ROS time for messages.

    Args:
        step_threshold: a change of the offset ROS - monotonic by more than this many seconds between two readings
            is a clock step (NTP slewing changes it by at most 0.5 ms per second).
        ros_time: the ROS clock, s (system time, as the control node uses).
        monotonic: the monotonic clock, s.
    """

    def __init__(self, step_threshold: float, ros_time: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic):
        self.step_threshold = float(step_threshold)
        self._ros_time, self._monotonic = ros_time, monotonic
        self.offset: float | None = None  # ROS time - monotonic time, s
        self.steps = 0  # clock steps detected
        self.last_step = 0.0  # size of the latest step, s (negative: the ROS clock went back)

    def now(self) -> tuple[float, float | None]:
        """(monotonic now, s; the step in s if the ROS clock stepped since the last reading, else None)."""
        for _ in range(3):
            before = self._monotonic()
            ros = self._ros_time()
            after = self._monotonic()
            if after - before <= _MAX_READ_GAP:
                break
        if after - before > _MAX_READ_GAP and self.offset is not None:
            return after, None  # preempted three times: keep the last offset rather than measure a false step
        offset = ros - 0.5 * (before + after)
        step = None
        if self.offset is not None and abs(offset - self.offset) > self.step_threshold:
            step = offset - self.offset
            self.steps, self.last_step = self.steps + 1, step
        self.offset = offset
        return after, step

    def to_monotonic(self, ros_stamp: float) -> float:
        """A ROS-time stamp (s) on the monotonic clock (with the offset of the latest reading)."""
        return ros_stamp - self._offset()

    def to_ros(self, monotonic_time: float) -> float:
        """A monotonic time (s) as a ROS-time stamp."""
        return monotonic_time + self._offset()

    def _offset(self) -> float:
        if self.offset is None:
            self.now()
        return self.offset
