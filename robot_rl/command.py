"""Joint commands as plain numpy data: what every command source produces and every consumer checks.

A command is a stamped joint-trajectory chunk, matched to the robot by joint
NAME, never by index. The ROS 2 shells convert trajectory_msgs/JointTrajectory
to and from this type (see :mod:`robot_rl.nodes.conversions`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_rl.errors import CommandError


@dataclass(frozen=True)
class JointTrajectoryCommand:
    """A stamped chunk of joint-space waypoints.

    Attributes:
        joint_names: names of the joints the columns refer to, (m,).
        stamp: start time of the trajectory, s, on the shared clock (ROS time).
        times: (k,) s after ``stamp`` at which each waypoint is to be reached.
        positions: (k, m) joint positions, rad (m for prismatic joints).
        velocities: (k, m) rad/s, or None when the sender gave none.
        source: who sent it (e.g. ``policy``, ``teleop``), for diagnostics.
    """

    joint_names: tuple[str, ...]
    stamp: float
    times: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray | None = None
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "joint_names", tuple(self.joint_names))
        object.__setattr__(self, "times", np.asarray(self.times, dtype=float).reshape(-1))
        object.__setattr__(self, "positions", np.atleast_2d(np.asarray(self.positions, dtype=float)))
        if self.velocities is not None:
            object.__setattr__(self, "velocities", np.atleast_2d(np.asarray(self.velocities, dtype=float)))

    @property
    def num_points(self) -> int:
        """Number of waypoints k."""
        return int(self.times.shape[0])

    def validate(self) -> None:
        """Check shapes, names, finiteness and timing; raise CommandError naming the problem."""
        names = self.joint_names
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise CommandError(f"duplicate joint names {dupes}")
        k, m = self.num_points, len(names)
        if k == 0:
            raise CommandError("trajectory has no points")
        if self.positions.shape != (k, m):
            raise CommandError(f"positions have shape {self.positions.shape}, expected ({k}, {m}) for joints {names}")
        if self.velocities is not None and self.velocities.shape != (k, m):
            raise CommandError(f"velocities have shape {self.velocities.shape}, expected ({k}, {m})")
        if not np.isfinite(self.stamp):
            raise CommandError(f"stamp {self.stamp} is not finite")
        _require_finite("time_from_start", self.times, names=None)
        _require_finite("positions", self.positions, names)
        if self.velocities is not None:
            _require_finite("velocities", self.velocities, names)
        if self.times[0] < 0 or np.any(np.diff(self.times) <= 0):
            raise CommandError(f"time_from_start must be >= 0 and strictly increasing, got {self.times.tolist()}")

    def in_order(self, joint_names: tuple[str, ...]) -> JointTrajectoryCommand:
        """This command with columns reordered to ``joint_names`` (validated first).

        Raises:
            CommandError: on unknown joints (not in ``joint_names``), missing joints, or any
                problem found by :meth:`validate`.
        """
        self.validate()
        unknown = [n for n in self.joint_names if n not in joint_names]
        if unknown:
            raise CommandError(f"unknown joints {unknown}; this robot has {list(joint_names)}")
        missing = [n for n in joint_names if n not in self.joint_names]
        if missing:
            raise CommandError(f"missing joints {missing}; a command must name every joint of the robot")
        index = [self.joint_names.index(n) for n in joint_names]
        return JointTrajectoryCommand(
            joint_names=tuple(joint_names), stamp=self.stamp, times=self.times,
            positions=self.positions[:, index],
            velocities=None if self.velocities is None else self.velocities[:, index],
            source=self.source,
        )


def _require_finite(field: str, values: np.ndarray, names: tuple[str, ...] | None) -> None:
    bad = ~np.isfinite(values)
    if not bad.any():
        return
    if names is None or values.ndim != 2:
        raise CommandError(f"{field} contains non-finite values {values[bad].tolist()}")
    cols = sorted({names[c] for c in np.nonzero(bad)[1]})
    raise CommandError(f"{field} contain non-finite values (NaN/Inf) for joints {cols}")


def hold_command(joint_names: tuple[str, ...], position: np.ndarray, stamp: float, source: str = "hold"
                 ) -> JointTrajectoryCommand:
    """A one-point command that holds ``position`` (n,) rad from ``stamp`` on."""
    return JointTrajectoryCommand(
        joint_names=joint_names, stamp=stamp, times=np.zeros(1),
        positions=np.asarray(position, dtype=float)[None, :], velocities=np.zeros((1, len(joint_names))),
        source=source,
    )
