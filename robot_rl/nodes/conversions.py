"""Conversions between ROS 2 messages and robot_rl's numpy types. Joints are matched by NAME."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Duration, Time
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from robot_rl.command import JointTrajectoryCommand
from robot_rl.errors import CommandError
from robot_rl.hardware.base import JointStateSample


def stamp_to_seconds(stamp: Time) -> float:
    """builtin_interfaces/Time -> seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def seconds_to_stamp(t: float) -> Time:
    """Seconds -> builtin_interfaces/Time."""
    sec = int(np.floor(t))
    return Time(sec=sec, nanosec=min(int(round((t - sec) * 1e9)), 999_999_999))


def _duration(t: float) -> Duration:
    sec = int(np.floor(t))
    return Duration(sec=sec, nanosec=min(int(round((t - sec) * 1e9)), 999_999_999))


def trajectory_from_msg(msg: JointTrajectory, receive_time: float, source: str = "") -> JointTrajectoryCommand:
    """JointTrajectory -> JointTrajectoryCommand; a zero header stamp means "start at receive_time" (s).

    Raises:
        CommandError: if the points have inconsistent lengths (naming the point index).
    """
    names = tuple(msg.joint_names)
    points = list(msg.points)
    m = len(names)
    positions, velocities, times = [], [], []
    has_vel = bool(points) and all(len(p.velocities) for p in points)
    for i, p in enumerate(points):
        if len(p.positions) != m:
            raise CommandError(f"point {i} has {len(p.positions)} positions for {m} joint names")
        if has_vel and len(p.velocities) != m:
            raise CommandError(f"point {i} has {len(p.velocities)} velocities for {m} joint names")
        positions.append(p.positions)
        velocities.append(p.velocities)
        times.append(p.time_from_start.sec + p.time_from_start.nanosec * 1e-9)
    stamp = stamp_to_seconds(msg.header.stamp)
    return JointTrajectoryCommand(
        joint_names=names, stamp=stamp if stamp > 0 else receive_time,
        times=np.array(times, dtype=float), positions=np.array(positions, dtype=float).reshape(len(points), m),
        velocities=np.array(velocities, dtype=float).reshape(len(points), m) if has_vel else None,
        source=source,
    )


def trajectory_to_msg(cmd: JointTrajectoryCommand) -> JointTrajectory:
    """JointTrajectoryCommand -> JointTrajectory with an absolute header stamp."""
    msg = JointTrajectory()
    msg.header.stamp = seconds_to_stamp(cmd.stamp)
    msg.joint_names = list(cmd.joint_names)
    for i in range(cmd.num_points):
        point = JointTrajectoryPoint()
        point.positions = cmd.positions[i].tolist()
        if cmd.velocities is not None:
            point.velocities = cmd.velocities[i].tolist()
        point.time_from_start = _duration(float(cmd.times[i]))
        msg.points.append(point)
    return msg


def joint_state_to_msg(names: tuple[str, ...], sample: JointStateSample, stamp: float,
                       extra: tuple[tuple[str, ...], np.ndarray, np.ndarray] | None = None) -> JointState:
    """JointStateSample -> sensor_msgs/JointState stamped ``stamp`` (s, ROS clock).

    ``extra`` = (names, positions, velocities) of joints outside the controlled set (e.g. gripper
    fingers), appended with zero effort.
    """
    msg = JointState()
    msg.header.stamp = seconds_to_stamp(stamp)
    msg.name = list(names)
    msg.position = sample.position.tolist()
    msg.velocity = sample.velocity.tolist()
    msg.effort = sample.effort.tolist()
    if extra is not None and extra[0]:
        msg.name += list(extra[0])
        msg.position = list(msg.position) + extra[1].tolist()
        msg.velocity = list(msg.velocity) + extra[2].tolist()
        msg.effort = list(msg.effort) + [0.0] * len(extra[0])
    return msg


def joint_state_from_msg(msg: JointState, joint_names: tuple[str, ...]
                         ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """(stamp s, position, velocity, effort) for ``joint_names`` in that order, matched by name.

    Missing velocity/effort fields come back as zeros.

    Raises:
        CommandError: naming joints absent from the message.
    """
    index = {name: i for i, name in enumerate(msg.name)}
    missing = [n for n in joint_names if n not in index]
    if missing:
        raise CommandError(f"joint_states lacks joints {missing}")
    order = [index[n] for n in joint_names]

    def pick(values) -> np.ndarray:
        arr = np.asarray(values, dtype=float)
        return arr[order] if arr.size == len(msg.name) else np.zeros(len(order))

    return stamp_to_seconds(msg.header.stamp), pick(msg.position), pick(msg.velocity), pick(msg.effort)


def hardware_diagnostic_status(name: str, values: dict) -> DiagnosticStatus:
    """A hardware's ``diagnostics()`` dict -> DiagnosticStatus: ERROR naming the latched fault when
    ``values["fault"]`` is non-empty, else OK; every entry as a KeyValue (see :func:`key_values`)."""
    fault = values.get("fault", "")
    return DiagnosticStatus(level=DiagnosticStatus.ERROR if fault else DiagnosticStatus.OK, name=name,
                            message=f"latched: {fault}" if fault else "ok", values=key_values(values))


def key_values(values: dict, prefix: str = "") -> list[KeyValue]:
    """Flat KeyValues of ``values``: a nested dict's entries as "outer.inner", a list comma-separated,
    anything else as ``str``."""
    out = []
    for key, value in values.items():
        if isinstance(value, dict):
            out += key_values(value, f"{prefix}{key}.")
        else:
            text = ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
            out.append(KeyValue(key=f"{prefix}{key}", value=text))
    return out
