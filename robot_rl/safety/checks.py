"""Rejection checks: a command that fails any of these is dropped whole, with the reason and joint."""

from __future__ import annotations

import numpy as np

from robot_rl.command import JointTrajectoryCommand
from robot_rl.safety import kernels
from robot_rl.safety.config import SafetyConfig
from robot_rl.safety.result import Intervention, Reason


def check_command(command: JointTrajectoryCommand, joint_names: tuple[str, ...], now: float,
                  config: SafetyConfig, efforts: np.ndarray | None = None
                  ) -> tuple[np.ndarray | None, list[Intervention]]:
    """Validate ``command`` for a robot with ``joint_names`` at time ``now`` (s).

    Returns:
        (positions (k, n) reordered to ``joint_names``, interventions). positions is None when the
        command is rejected; the interventions then say why (first failing check only).
    """
    in_robot_order = command.joint_names == joint_names  # the usual case: no name checks, no reordering
    checks = (_check_shapes, _check_finite, _check_times) if in_robot_order else \
        (_check_names, _check_shapes, _check_finite, _check_times)
    if in_robot_order and _well_formed(command, joint_names):
        checks = ()  # one compiled pass found nothing for the detailed checks to name
    for check in checks:
        problem = check(command, joint_names)
        if problem is not None:
            return None, [problem]
    problem = _check_stamp(command, now, config) or _check_spacing(command, config)
    if problem is not None:
        return None, [problem]
    notes = _check_efforts(efforts, command.joint_names)
    if notes and notes[0].reason == Reason.NON_FINITE:
        return None, notes
    if in_robot_order:
        return command.positions, notes
    index = [command.joint_names.index(n) for n in joint_names]
    return command.positions[:, index], notes


def _well_formed(cmd: JointTrajectoryCommand, joint_names: tuple[str, ...]) -> bool:
    """Shapes, finiteness and time order all fine (the common case), in one compiled pass."""
    return (_check_shapes(cmd, joint_names) is None and bool(np.isfinite(cmd.stamp))
            and kernels.finite_increasing(cmd.times, cmd.positions)
            and (cmd.velocities is None or bool(np.isfinite(cmd.velocities).all())))


def _check_names(cmd: JointTrajectoryCommand, joint_names: tuple[str, ...]) -> Intervention | None:
    seen: set[str] = set()
    for name in cmd.joint_names:
        if name in seen:
            return Intervention(Reason.DUPLICATE_JOINT, name, f"joint {name!r} appears twice")
        seen.add(name)
    for name in cmd.joint_names:
        if name not in joint_names:
            return Intervention(Reason.UNKNOWN_JOINT, name, f"joint {name!r} is not one of {list(joint_names)}")
    for name in joint_names:
        if name not in seen:
            return Intervention(Reason.MISSING_JOINT, name, f"joint {name!r} is missing; commands name every joint")
    return None


def _check_shapes(cmd: JointTrajectoryCommand, joint_names: tuple[str, ...]) -> Intervention | None:
    k, m = cmd.times.shape[0], len(cmd.joint_names)
    if k == 0:
        return Intervention(Reason.BAD_SHAPE, None, "trajectory has no points")
    if cmd.positions.shape != (k, m):
        return Intervention(Reason.BAD_SHAPE, None, f"positions shape {cmd.positions.shape}, expected {(k, m)}")
    if cmd.velocities is not None and cmd.velocities.shape != (k, m):
        return Intervention(Reason.BAD_SHAPE, None, f"velocities shape {cmd.velocities.shape}, expected {(k, m)}")
    return None


def _check_finite(cmd: JointTrajectoryCommand, joint_names: tuple[str, ...]) -> Intervention | None:
    if not np.isfinite(cmd.stamp):
        return Intervention(Reason.NON_FINITE, None, f"stamp is {cmd.stamp}")
    if not np.all(np.isfinite(cmd.times)):
        return Intervention(Reason.NON_FINITE, None, "time_from_start contains NaN/Inf")
    for field, values in (("positions", cmd.positions), ("velocities", cmd.velocities)):
        if values is None:
            continue
        bad = ~np.isfinite(values)
        if bad.any():
            joint = cmd.joint_names[int(np.nonzero(bad)[1][0])]
            return Intervention(Reason.NON_FINITE, joint, f"{field} of {joint!r} contain NaN/Inf")
    return None


def _check_times(cmd: JointTrajectoryCommand, joint_names: tuple[str, ...]) -> Intervention | None:
    times = cmd.times
    if times[0] < 0 or np.any(np.diff(times) <= 0):
        return Intervention(Reason.BAD_TIMES, None,
                            f"time_from_start must be >= 0 and strictly increasing, got {times[:8].tolist()}")
    return None


def _check_stamp(cmd: JointTrajectoryCommand, now: float, config: SafetyConfig) -> Intervention | None:
    age = now - cmd.stamp
    if age > config.max_command_age:
        return Intervention(Reason.STALE, None, f"stamp is {age:.3f} s old (max {config.max_command_age} s)")
    if -age > config.max_future:
        return Intervention(Reason.FUTURE, None, f"stamp is {-age:.3f} s in the future (max {config.max_future} s)")
    return None


def _check_spacing(cmd: JointTrajectoryCommand, config: SafetyConfig) -> Intervention | None:
    """Absolute waypoint times (stamp + time_from_start, float64) at least ``min_waypoint_spacing`` apart."""
    gap = kernels.min_gap(float(cmd.stamp), cmd.times)
    if gap >= config.min_waypoint_spacing:
        return None
    return Intervention(Reason.BAD_TIMES, None,
                        f"two waypoints are {gap:.3g} s apart once the stamp {cmd.stamp:.9f} s is added "
                        f"(min_waypoint_spacing {config.min_waypoint_spacing} s)")


def _check_efforts(efforts: np.ndarray | None, names: tuple[str, ...]) -> list[Intervention]:
    """Efforts are never forwarded (torques come from the control node, clipped to URDF limits).

    Non-finite efforts reject the command; finite ones are dropped and reported.
    """
    if efforts is None or np.size(efforts) == 0:
        return []
    efforts = np.asarray(efforts, dtype=float)
    if not np.all(np.isfinite(efforts)):
        return [Intervention(Reason.NON_FINITE, None, "effort contains NaN/Inf")]
    return [Intervention(Reason.EFFORT_DROPPED, None,
                         f"feed-forward effort (max |{np.max(np.abs(efforts)):.3g}| Nm) is not forwarded")]
