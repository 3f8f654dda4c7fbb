"""Typed, validated configuration of the safety filter (the robot's limits come from its RobotModel)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from robot_rl.errors import ConfigError


OUTPUT_DT_MIN = 1e-4
"""s: the finest output grid. The jerk bound holds on every grid the parameter allows: a plan spliced onto (or
braked from) a faster one returns to its lower acceleration limit at the jerk limit (kernels.accel_bounds). From
db51eef until that fix the bound was 5 ms: the acceleration stepped down in one grid step there (jerk 1.3x the
limit at 1 ms, 13x at 0.1 ms; docs/safety.md, "Output grid spacing")."""


@dataclass(frozen=True)
class SafetyConfig:
    """Safety-filter settings. Times in seconds, distances in metres.

    Attributes:
        output_dt: spacing of the output waypoints, s. Velocity/acceleration/jerk limits are
            guaranteed on the finite differences of this grid.
        watchdog_timeout: a command keeps the robot moving for at most this long after it was
            received; the allowed plan then brakes to a stop at the deceleration limits.
        max_command_age: commands whose stamp is older than ``now`` by more than this are rejected.
        max_future: commands stamped later than ``now`` by more than this are rejected.
        check_workspace: keep the robot's workspace links inside the robot YAML's box.
        check_collision: keep the self-collision distance above ``collision_margin``.
        collision_margin: minimum link-to-link distance, m; None uses the robot YAML's margin.
        tracking_accel_fraction: fraction of the acceleration limit used to approach a target
            (lower = less overshoot when a target jumps).
        max_backtrack: how many earlier braking points are tried when the plan would leave the
            workspace or come too close to itself, before the command is rejected.
        output_latency: time from filtering a command to the control node applying the resulting
            plan (filter compute + publish + transport + one control tick), s. A command changes the
            plan only after the grid point current at ``now + output_latency``: the part of the plan
            the robot may already be executing when the new plan arrives is never rewritten, so the
            follower switches plans where both coincide (0 for an in-process filter).
        min_waypoint_spacing: smallest gap, s, between two waypoints' ABSOLUTE times (header stamp +
            time_from_start, as float64 computes them); closer waypoints reject the command as ``bad_times``.
            Relative times that increase can coincide once the stamp is added (60 ms and 60 ms + 1 ns at
            stamp 1.7e9 s), which divided by zero before this check.
    """

    output_dt: float = 0.01
    watchdog_timeout: float = 0.1
    max_command_age: float = 0.5
    max_future: float = 0.05
    check_workspace: bool = True
    check_collision: bool = True
    collision_margin: float | None = None
    tracking_accel_fraction: float = 0.5
    max_backtrack: int = 4
    output_latency: float = 0.0
    min_waypoint_spacing: float = 1e-4

    def __post_init__(self) -> None:
        _in_range("output_dt", self.output_dt, OUTPUT_DT_MIN, 0.1)
        _in_range("watchdog_timeout", self.watchdog_timeout, 1e-3, 5.0)
        _in_range("max_command_age", self.max_command_age, 1e-3, 60.0)
        _in_range("max_future", self.max_future, 0.0, 10.0)
        _in_range("tracking_accel_fraction", self.tracking_accel_fraction, 0.01, 1.0)
        _in_range("output_latency", self.output_latency, 0.0, 1.0)
        _in_range("min_waypoint_spacing", self.min_waypoint_spacing, 1e-6, 0.01)
        if self.output_latency >= self.watchdog_timeout:
            raise ConfigError(f"safety config: output_latency ({self.output_latency} s) must be shorter than "
                              f"watchdog_timeout ({self.watchdog_timeout} s)")
        if self.collision_margin is not None:
            _in_range("collision_margin", self.collision_margin, 0.0, 0.5)
        if not isinstance(self.max_backtrack, int) or not 0 <= self.max_backtrack <= 16:
            raise ConfigError(f"safety config: max_backtrack must be an int in [0, 16], got {self.max_backtrack!r}")
        for name in ("check_workspace", "check_collision"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"safety config: {name} must be true/false, got {getattr(self, name)!r}")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> SafetyConfig:
        """Build from a node-parameter dict, ignoring keys that are not filter settings.

        A ``collision_margin`` < 0 means "use the robot YAML's margin".
        """
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in params.items() if k in names}
        if values.get("collision_margin") is not None and values["collision_margin"] < 0:
            values["collision_margin"] = None
        return cls(**values)


def _in_range(name: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ConfigError(f"safety config: {name} must be a number in [{low}, {high}], got {value!r}")
