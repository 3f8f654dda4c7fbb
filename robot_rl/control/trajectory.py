"""Joint trajectory following with jerk-limited interpolation (ruckig).

The commanded waypoints define a piecewise-linear desired path q_d(t). Each
control tick, ruckig moves a reference state (position, velocity, acceleration)
one period towards (q_d(t), dq_d/dt) without exceeding the velocity,
acceleration and jerk limits. The reference is what the impedance law tracks.
"""

from __future__ import annotations

import numpy as np
from ruckig import InputParameter, OutputParameter, Result, Ruckig, RuckigError

from robot_rl.command import JointTrajectoryCommand


class TrajectoryFollower:
    """Jerk-limited reference generator for joint trajectories (arrays (n,) in robot joint order).

    Args:
        period: control period, s.
        max_velocity, max_acceleration, max_jerk: (n,) limits in rad/s, rad/s^2, rad/s^3.
        lower, upper: (n,) position bounds for the reference, rad.
        initial_position: (n,) rad; the follower starts holding it.
    """

    def __init__(self, period: float, max_velocity: np.ndarray, max_acceleration: np.ndarray,
                 max_jerk: np.ndarray, lower: np.ndarray, upper: np.ndarray, initial_position: np.ndarray):
        n = len(initial_position)
        self._otg = Ruckig(n, period)
        self._inp = InputParameter(n)
        self._out = OutputParameter(n)
        self._inp.max_velocity = np.asarray(max_velocity, float).tolist()
        self._inp.max_acceleration = np.asarray(max_acceleration, float).tolist()
        self._inp.max_jerk = np.asarray(max_jerk, float).tolist()
        self._max_velocity = np.asarray(max_velocity, float)
        self._max_acceleration = np.asarray(max_acceleration, float)
        self._lower, self._upper = np.asarray(lower, float), np.asarray(upper, float)
        self._command: tuple[float, np.ndarray, np.ndarray] | None = None  # (stamp s, times (k,), positions (k, n))
        self.failures = 0  # ticks on which ruckig found no trajectory and the reference was held
        self.reset(initial_position)

    def reset(self, position: np.ndarray) -> None:
        """Hold ``position`` (n,) rad at rest, dropping any command."""
        q = np.clip(np.asarray(position, float), self._lower, self._upper)
        self._inp.current_position = q.tolist()
        self._inp.current_velocity = [0.0] * len(q)
        self._inp.current_acceleration = [0.0] * len(q)
        self._command = None
        self._hold = q

    def set_command(self, command: JointTrajectoryCommand, now: float) -> None:
        """Follow ``command`` (validated, in robot joint order) from ``now`` (s).

        The current reference position becomes the path's first waypoint at ``now``;
        waypoints already due by then are skipped, except the last one.
        """
        t_now = now - command.stamp
        due = command.times <= t_now
        keep = ~due
        keep[-1] = True
        times = command.times[keep]
        positions = command.positions[keep]
        if times[0] > t_now:
            times = np.concatenate([[t_now], times])
            positions = np.vstack([self.reference[0], positions])
        self._command = (command.stamp, times, positions)

    @property
    def reference(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Current reference (position rad, velocity rad/s, acceleration rad/s^2), each (n,)."""
        inp = self._inp
        return (np.array(inp.current_position), np.array(inp.current_velocity),
                np.array(inp.current_acceleration))

    def desired(self, now: float) -> tuple[np.ndarray, np.ndarray]:
        """Desired (position rad, velocity rad/s) on the piecewise-linear commanded path at ``now`` (s)."""
        if self._command is None:
            return self._hold, np.zeros_like(self._hold)
        stamp, times, pos = self._command
        t = now - stamp
        if t >= times[-1] or len(times) == 1:
            target, vel = pos[-1], np.zeros(pos.shape[1])
        else:
            i = max(int(np.searchsorted(times, t, side="right")), 1)
            vel = (pos[i] - pos[i - 1]) / (times[i] - times[i - 1])
            target = pos[i - 1] + vel * (t - times[i - 1])
        target = np.clip(target, self._lower, self._upper)
        return target, np.clip(vel, -self._max_velocity, self._max_velocity)

    def step(self, now: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance the reference one period towards the desired state at ``now``; return it."""
        target, vel = self.desired(now)
        vel = self._reachable_velocity(target, vel)
        if not (self._update(target, vel) or self._update(target, np.zeros_like(vel))):
            # Ruckig has numerically degenerate cases (e.g. micro-radian distances with large
            # acceleration). Retry from zero acceleration; if that fails too, stop the
            # reference where it is. The command itself is kept.
            self.failures += 1
            self._inp.current_acceleration = [0.0] * len(target)
            if not self._update(target, np.zeros_like(vel)):
                self._inp.current_velocity = [0.0] * len(target)
        return self.reference

    def _reachable_velocity(self, target: np.ndarray, velocity: np.ndarray) -> np.ndarray:
        """Target velocity (n,) that can be reached by moving towards the target (never away from it).

        A state-to-state planner asked to pass a near target at a high velocity backs up
        to gain run-up. Per joint, the target velocity is zeroed if it points away from the
        target, and capped at sqrt(v0^2 + a_max * |distance|) (half the ideal run-up).
        """
        distance = target - np.array(self._inp.current_position)
        v0 = np.array(self._inp.current_velocity)
        toward = np.sign(velocity) == np.sign(distance)
        along = np.where(np.sign(v0) == np.sign(distance), np.abs(v0), 0.0)
        cap = np.sqrt(along ** 2 + self._max_acceleration * np.abs(distance))
        return np.where(toward, np.sign(velocity) * np.minimum(np.abs(velocity), cap), 0.0)

    def _update(self, target: np.ndarray, velocity: np.ndarray) -> bool:
        inp = self._inp
        inp.target_position = target.tolist()
        inp.target_velocity = velocity.tolist()
        inp.target_acceleration = [0.0] * len(target)
        try:
            result = self._otg.update(inp, self._out)
        except RuckigError:
            return False
        if result not in (Result.Working, Result.Finished) or not np.all(np.isfinite(self._out.new_position)):
            return False
        self._out.pass_to_input(inp)
        return True
