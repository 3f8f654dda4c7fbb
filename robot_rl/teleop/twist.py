"""End-effector twist -> joint trajectory chunk, by damped least squares on the robot's Jacobian.

A twist (6,) = [vx, vy, vz (m/s), wx, wy, wz (rad/s)] is the velocity of the end-effector frame's origin
and its angular velocity, both in base-frame axes (pinocchio LOCAL_WORLD_ALIGNED, as
:meth:`RobotModel.jacobian`). Each step of the chunk solves

    qdot = J(q)^T (J(q) J(q)^T + damping^2 I)^-1 twist

at the step's start, scales qdot down uniformly (direction kept) so no joint exceeds
``velocity_fraction`` of its velocity limit, and integrates it over ``step_s``; positions stay inside
the soft limits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from robot_rl.command import JointTrajectoryCommand
from robot_rl.errors import CommandError, ConfigError
from robot_rl.robot.model import RobotModel


@dataclass(frozen=True)
class TwistConfig:
    """How a twist becomes a chunk.

    Attributes:
        damping: damped-least-squares damping (in the Jacobian's units, m or rad per rad); larger is
            slower but better behaved near singularities.
        velocity_fraction: no joint's velocity exceeds this fraction of ``RobotModel.limits.velocity``
            (the URDF limit times the robot YAML's velocity_scale).
        step_s: time between waypoints, s.
        steps: waypoints per chunk (the chunk covers ``steps * step_s`` s).
    """

    damping: float = 0.05
    velocity_fraction: float = 0.5
    step_s: float = 0.02
    steps: int = 5

    def __post_init__(self) -> None:
        _require("damping", self.damping, 1e-6, 10.0)
        _require("velocity_fraction", self.velocity_fraction, 1e-3, 1.0)
        _require("step_s", self.step_s, 1e-4, 1.0)
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or not 1 <= self.steps <= 1000:
            raise ConfigError(f"twist config: steps must be an int in [1, 1000], got {self.steps!r}")


def _require(name: str, value: float, low: float, high: float) -> None:
    """ConfigError naming ``name`` unless ``value`` is a finite number in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ConfigError(f"twist config: {name} must be a number in [{low}, {high}], got {value!r}")


def damped_least_squares(jacobian: np.ndarray, twist: np.ndarray, damping: float) -> np.ndarray:
    """Joint velocities (n,) that best produce ``twist`` (6,) with Jacobian (6, n), damped by ``damping``."""
    jjt = jacobian @ jacobian.T + damping ** 2 * np.eye(jacobian.shape[0])
    return jacobian.T @ np.linalg.solve(jjt, twist)


def capped(direction: np.ndarray, magnitude: float, limit: np.ndarray) -> np.ndarray:
    """``direction * magnitude`` (n,), scaled down uniformly so that |qdot_j| <= limit_j (n,); never up.

    Split in a direction and a magnitude so that a huge twist (up to the largest float) cannot overflow.
    """
    peak = float(np.max(np.abs(direction) / limit))
    return direction * (min(magnitude, 1.0 / peak) if peak > 0.0 else 0.0)


class TwistToJoints:
    """Maps a twist at the measured joint positions to a JointTrajectoryCommand chunk.

    Args:
        model: the robot (Jacobian of its ``ee_frame``, limits). Not thread-safe, like RobotModel.
        config: damping, speed cap and chunk timing.
    """

    def __init__(self, model: RobotModel, config: TwistConfig | None = None):
        self.model = model
        self.config = config or TwistConfig()
        self.max_velocity = model.limits.velocity * self.config.velocity_fraction  # (n,) rad/s

    def chunk(self, twist: np.ndarray, q: np.ndarray, stamp: float, source: str = "teleop") -> JointTrajectoryCommand:
        """The chunk (``steps`` waypoints ``step_s`` apart, from ``stamp`` s) that moves the end effector at ``twist``.

        Args:
            twist: (6,) [m/s, m/s, m/s, rad/s, rad/s, rad/s] in base-frame axes.
            q: measured joint positions (n,) rad, ``model.joint_names`` order.
            stamp: start time of the chunk, s.

        Velocities are the waypoints' finite differences (q first), so they obey the speed cap after
        clipping too. A joint already outside its soft limits is never pushed further out (nor pulled in
        faster than the cap): its bound is widened to where it is.

        Raises:
            CommandError: on a wrong shape or a non-finite twist, q or stamp.
        """
        twist, q = self._checked(twist, q, stamp)
        return self._command(q, self._integrate(twist, q), stamp, source)

    def toward(self, target: np.ndarray | Mapping[str, float], q: np.ndarray, stamp: float,
               source: str = "teleop") -> JointTrajectoryCommand:
        """The chunk from ``q`` straight toward joint ``target`` (a leader arm's joints): the same speed cap
        (uniform scaling, direction kept), waypoints and soft-limit clipping as :meth:`chunk`; it stops at the
        target.

        Args:
            target: (n,) rad in ``model.joint_names`` order, or joint name -> rad (extra names are ignored).

        Raises:
            CommandError: on a missing joint, a wrong shape or a non-finite target, q or stamp.
        """
        if isinstance(target, Mapping):
            missing = [n for n in self.model.joint_names if n not in target]
            if missing:
                raise CommandError(f"joint target lacks joints {missing}")
            target = [target[n] for n in self.model.joint_names]
        target = np.asarray(target, dtype=float)
        if target.shape != (self.model.dof,) or not np.all(np.isfinite(target)):
            raise CommandError(f"joint target {target.tolist()} is not {self.model.dof} finite positions")
        _, q = self._checked(np.zeros(6), q, stamp)
        dt, positions, current = self.config.step_s, [], q
        lower = np.minimum(self.model.limits.soft_lower, q)
        upper = np.maximum(self.model.limits.soft_upper, q)
        for _ in range(self.config.steps):
            step = capped(target - current, 1.0 / dt, self.max_velocity) * dt  # at most the whole way
            current = np.clip(current + step, lower, upper)
            positions.append(current)
        return self._command(q, np.array(positions), stamp, source)

    def _command(self, q: np.ndarray, positions: np.ndarray, stamp: float, source: str) -> JointTrajectoryCommand:
        """The chunk through ``positions`` (steps, n) from ``q``; velocities are the finite differences."""
        dt = self.config.step_s
        velocities = np.diff(np.vstack([q, positions]), axis=0) / dt
        times = dt * np.arange(1, self.config.steps + 1)
        return JointTrajectoryCommand(self.model.joint_names, float(stamp), times, positions, velocities, source=source)

    def _integrate(self, twist: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Waypoints (steps, n) rad: capped DLS velocity, re-linearised at each step, clipped to the bounds."""
        lower = np.minimum(self.model.limits.soft_lower, q)
        upper = np.maximum(self.model.limits.soft_upper, q)
        magnitude = float(np.max(np.abs(twist)))  # the map is linear: solve for twist / magnitude
        unit = twist / magnitude if magnitude > 0.0 else twist
        positions, current = [], q
        for _ in range(self.config.steps):
            direction = damped_least_squares(self.model.jacobian(current), unit, self.config.damping)
            current = np.clip(current + capped(direction, magnitude, self.max_velocity) * self.config.step_s,
                              lower, upper)
            positions.append(current)
        return np.array(positions)

    def _checked(self, twist, q, stamp) -> tuple[np.ndarray, np.ndarray]:
        twist, q = np.asarray(twist, dtype=float), np.asarray(q, dtype=float)
        if twist.shape != (6,):
            raise CommandError(f"twist has shape {twist.shape}, expected (6,) [vx, vy, vz, wx, wy, wz]")
        if q.shape != (self.model.dof,):
            raise CommandError(f"q has shape {q.shape}, expected ({self.model.dof},) for {self.model.joint_names}")
        if not np.all(np.isfinite(twist)):
            raise CommandError(f"twist {twist.tolist()} is not finite")
        if not np.all(np.isfinite(q)):
            bad = [n for n, x in zip(self.model.joint_names, q) if not np.isfinite(x)]
            raise CommandError(f"joint positions of {bad} are not finite")
        if not math.isfinite(stamp):
            raise CommandError(f"stamp {stamp} is not finite")
        return twist, q
