"""STAND-IN ros2_control controllers for the stand-in vendor driver (vendor_driver.py): not ros2_controllers' C++.

What they copy from ros2_controllers (kilted) is what the ros2_control bridge relies on:

- :class:`StandInTrajectoryController`, like joint_trajectory_controller's topic interface: a message is refused
  (and logged) unless it names every controller joint, has points, strictly increasing times, a last point at rest
  (``allow_nonzero_velocity_at_trajectory_end`` false) and, with a non-zero stamp, an end not in the past
  (``validate_trajectory_msg``); a stamp of 0 starts it on receipt. An accepted trajectory replaces the old one
  from the desired state at its receipt (``interpolate_from_desired_state``), cubic between points with
  velocities, linear without. After the last point it holds that point.
- :class:`StandInForwardController`, like forward_command_controller: Float64MultiArray data in the controller's
  ``joints`` order, refused when the size differs; position (hold the last command) or velocity (integrated into
  the desired position the vendor's joint servo tracks).

Arrays are (m,) in the controller's joint order, times in s, positions rad, velocities rad/s.
"""

from __future__ import annotations

import numpy as np

from robot_rl.control.trajectory import hermite


class StandInTrajectoryController:
    """JointTrajectoryController stand-in. ``rejections`` keeps the reason of each refused message."""

    def __init__(self, joints: tuple[str, ...], hold: np.ndarray):
        self.joints = tuple(joints)
        zero = np.zeros(len(joints))
        self._desired = (np.asarray(hold, float).copy(), zero, zero)
        self._trajectory: tuple[float, np.ndarray, np.ndarray, np.ndarray | None] | None = None
        self.accepted = 0
        self.rejections: list[str] = []

    def receive(self, names: list[str], stamp: float, times: np.ndarray, positions: np.ndarray,
                velocities: np.ndarray | None, now: float) -> bool:
        """Take a trajectory message received at ``now`` (s); False (reason in ``rejections``) if refused."""
        reason = self._invalid(names, stamp, times, velocities, now)
        if reason:
            self.rejections.append(reason)
            return False
        order = [list(names).index(j) for j in self.joints]
        positions = positions[:, order]
        velocities = None if velocities is None else velocities[:, order]
        start = stamp if stamp != 0.0 else now
        keep = times > now - start
        keep[-1] = True
        times, positions = times[keep], positions[keep]
        velocities = None if velocities is None else velocities[keep]
        if times[0] > now - start:  # from the desired state at receipt
            q, v, _ = self._desired
            times = np.concatenate([[now - start], times])
            positions = np.vstack([q, positions])
            velocities = None if velocities is None else np.vstack([v, velocities])
        self._trajectory = (start, times, positions, velocities)
        self.accepted += 1
        return True

    def _invalid(self, names: list[str], stamp: float, times: np.ndarray, velocities: np.ndarray | None,
                 now: float) -> str:
        if sorted(names) != sorted(self.joints):
            return f"joints {list(names)} do not match the controller's {list(self.joints)}"
        if len(times) == 0:
            return "Empty trajectory received."
        if np.any(np.diff(times) <= 0):
            return f"time_from_start not strictly increasing: {times.tolist()}"
        if velocities is not None and np.any(np.abs(velocities[-1]) > np.finfo(np.float32).eps):
            return f"velocity of the last point is not zero: {velocities[-1].tolist()}"
        if stamp != 0.0 and stamp + times[-1] < now:
            return f"trajectory with non-zero start time ({stamp:.3f}) ends in the past ({stamp + times[-1]:.3f})"
        return ""

    def desired(self, now: float, dt: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Desired (position, velocity, acceleration) at ``now`` (s); ``dt`` (s, the update period) unused."""
        if self._trajectory is not None:
            start, times, positions, velocities = self._trajectory
            t = now - start
            zero = np.zeros(len(self.joints))
            if t >= times[-1] or len(times) == 1:
                self._desired = (positions[-1].copy(), zero, zero)
            elif t >= times[0]:
                i = int(np.searchsorted(times, t, side="right"))
                if velocities is None:
                    v = (positions[i] - positions[i - 1]) / (times[i] - times[i - 1])
                    self._desired = (positions[i - 1] + v * (t - times[i - 1]), v, zero)
                else:
                    self._desired = hermite(times[i - 1], times[i], positions[i - 1], positions[i], velocities[i - 1],
                                            velocities[i], t)
        return self._desired


class StandInForwardController:
    """Forward position or velocity command controller stand-in (``interface`` "position" or "velocity")."""

    def __init__(self, joints: tuple[str, ...], interface: str, hold: np.ndarray):
        self.joints, self.interface = tuple(joints), interface
        self._position = np.asarray(hold, float).copy()
        self._command = self._position.copy() if interface == "position" else np.zeros(len(joints))
        self.accepted = 0
        self.rejections: list[str] = []

    def receive(self, data: list[float]) -> bool:
        """Take a Float64MultiArray's data; False (reason in ``rejections``) if its size is wrong or not finite."""
        values = np.asarray(data, float)
        if values.shape != (len(self.joints),) or not np.all(np.isfinite(values)):
            self.rejections.append(f"command size {values.size} (or non-finite) for {len(self.joints)} joints")
            return False
        self._command = values
        self.accepted += 1
        return True

    def desired(self, now: float, dt: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Desired (position, velocity, acceleration 0); a velocity command is integrated over ``dt`` (s) each
        call."""
        zero = np.zeros(len(self.joints))
        if self.interface == "position":
            return self._command, zero, zero
        self._position = self._position + self._command * dt
        return self._position, self._command, zero
