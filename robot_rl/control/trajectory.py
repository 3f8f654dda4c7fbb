"""Joint trajectory following with jerk-limited interpolation (ruckig).

The commanded waypoints define a desired path q_d(t): piecewise-linear when the
command carries positions only, a cubic Hermite spline through the waypoints'
positions and velocities when it carries both (as the safety filter's dense,
limit-respecting plans do: then q_d, dq_d/dt and d2q_d/dt2 follow the plan without
the lag of chasing a polyline). Each control tick, ruckig moves a reference state
(position, velocity, acceleration) one period towards (q_d(t), dq_d/dt, d2q_d/dt2)
without exceeding the velocity, acceleration and jerk limits. The reference is
what the impedance law tracks.
"""

from __future__ import annotations

import math

import numpy as np
from ruckig import ControlInterface, InputParameter, OutputParameter, Result, Ruckig, RuckigError

from robot_rl.command import JointTrajectoryCommand
from robot_rl.control import kernels


MAX_PLAN_LAG = 0.05
"""s: how far behind the wall clock the reference may run on a followed plan after loop overruns."""

LATE_PLAN = 0.01
"""s: a plan that reaches the follower more than this after its first waypoint was due is late (see
TrajectoryFollower.set_command). In-process (the sim's env) plans arrive within a control period."""


class TrajectoryFollower:
    """Jerk-limited reference generator for joint trajectories (arrays (n,) in robot joint order).

    Args:
        period: control period, s.
        max_velocity, max_acceleration, max_jerk: (n,) limits in rad/s, rad/s^2, rad/s^3.
        lower, upper: (n,) position bounds for the reference, rad.
        initial_position: (n,) rad; the follower starts holding it.
        plan_velocity, plan_acceleration, plan_jerk: (n,) rad/s, rad/s^2, rad/s^3: the limits a dense
            plan with velocities may use and still be followed exactly (default: the max_* limits); the
            control core passes the robot's full limits, which the safety filter's plans respect. When
            such a plan cannot be followed directly (the reference fell behind it), ruckig chases it
            within these limits too, so it can catch up and rejoin.
    """

    def __init__(self, period: float, max_velocity: np.ndarray, max_acceleration: np.ndarray,
                 max_jerk: np.ndarray, lower: np.ndarray, upper: np.ndarray, initial_position: np.ndarray,
                 plan_velocity: np.ndarray | None = None, plan_acceleration: np.ndarray | None = None,
                 plan_jerk: np.ndarray | None = None):
        n = len(initial_position)
        self._otg = Ruckig(n, period)
        self._inp = InputParameter(n)
        self._out = OutputParameter(n)
        self._max_velocity = np.asarray(max_velocity, float)
        self._max_acceleration = np.asarray(max_acceleration, float)
        self._lower, self._upper = np.asarray(lower, float), np.asarray(upper, float)
        self._plan_velocity = self._max_velocity if plan_velocity is None else np.asarray(plan_velocity, float)
        self._plan_acceleration = self._max_acceleration if plan_acceleration is None \
            else np.asarray(plan_acceleration, float)
        max_jerk = np.asarray(max_jerk, float)
        plan_jerk = max_jerk if plan_jerk is None else np.asarray(plan_jerk, float)
        self._ruckig_limits = {  # chasing a velocity-carrying plan? -> (velocity, acceleration, jerk) lists
            False: (self._max_velocity.tolist(), self._max_acceleration.tolist(), max_jerk.tolist()),
            True: (self._plan_velocity.tolist(), self._plan_acceleration.tolist(), plan_jerk.tolist()),
        }
        self._ruckig_plan_limits: bool | None = None  # which limits ruckig's input holds
        self._use_ruckig_limits(False)
        # the reference (position, velocity, acceleration) rows (3, n); ruckig's input holds a copy while it plans
        self._ref = np.zeros((3, n))
        self._in_ruckig = False  # ruckig's input holds the reference (ruckig stepped it last)
        self._path = np.zeros((3, n))  # scratch: the path state at this tick (3, n)
        # (stamp s, times (k,), positions (k, n), velocities (k, n) or None)
        self._command: tuple[float, np.ndarray, np.ndarray, np.ndarray | None] | None = None
        self.failures = 0  # ticks on which ruckig found no trajectory and the reference was held
        self.chase_ticks = 0  # ticks on which a plan with velocities could not be followed directly (ruckig chased it)
        self.plans_refused = 0  # plans that did not continue the plan the reference is on (see set_command)
        self.max_plan_lag = 0.0  # s: largest lag of the path time behind the clock on a followed plan
        self.reset(initial_position)

    def reset(self, position: np.ndarray) -> None:
        """Hold ``position`` (n,) rad at rest, dropping any command."""
        q = np.clip(np.asarray(position, float), self._lower, self._upper)
        self._set_reference(q, np.zeros_like(q), np.zeros_like(q))
        self._command = None
        self._received: JointTrajectoryCommand | None = None  # the command followed, as received
        self._segment = None
        self._path_time: float | None = None  # s: where on a followed plan the reference is (see _follow_plan)
        self._hold = q
        self.braking = False  # True from brake() until the reference is at rest

    def brake(self) -> None:
        """Drop the command and bring the reference to rest as fast as the robot's full limits allow.

        Each following ``step`` moves the reference one period along ruckig's time-optimal, jerk-limited stop
        (velocity interface, target v = a = 0, within plan_velocity/acceleration/jerk); once at rest it holds
        where it stopped. Stopping from speeds v0 (n,) takes at most max_j(v0_j / a_j + a_j / j_j) (+ the
        time to ramp out an acceleration pointing the wrong way).
        """
        self._command, self._segment, self._path_time = None, None, None
        self.braking = True

    def set_command(self, command: JointTrajectoryCommand, now: float) -> bool:
        """Follow ``command`` (validated, in robot joint order) from ``now`` (s); False if it is refused.

        The current reference position (and velocity, for commands with velocities) becomes the
        path's first waypoint at ``now``; waypoints already due by then are skipped, except the
        one just due (the path continues from it) and the last one.

        Refused (the reference stays on the plan it follows, counted in ``plans_refused``), while the reference is
        on a plan with velocities that has not yet come to its end: a plan with velocities that does not continue
        the reference and either is late (arrives more than LATE_PLAN after its first waypoint was due) or starts
        off the plan followed (its first waypoint is not on it: the filter spliced it onto a plan this node did
        not follow, one it refused, or that arrived with another in one tick, or was lost). A late plan reached the
        node after output_latency, when the filter's plans diverge from the ones before them; an off-plan one
        continues such a plan. Chased at the plan's own limits, ruckig cannot catch either, lags, and overshoots
        its brake (speed rises of 0.25-1.0 rad/s after the deadline in-process; 300 chase ticks and 24-40 ms past
        the stop budget through ROS, docs/safety.md). A plan spliced onto the one followed that does not continue
        it (a jump of the source with ``output_latency`` 0, as in the sim's env, where plans are never late) is
        chased as before. Every safety-filter plan ends at rest, so the robot stops on the plan it follows; once
        that plan has ended, the next plan is taken from rest (chased, as any plan that does not continue a
        reference at rest).
        """
        late = now - command.stamp - command.times[0] > LATE_PLAN
        following = command.velocities is not None and self._path_time is not None and not self._at_end()
        if following and (late or not self._starts_on_followed(command)):
            if not self._continues(command, min(self._path_time + self._otg.delta_time, now)):
                self.plans_refused += 1
                return False
        if command.velocities is not None and self._path_time is not None:
            now = min(now, self._path_time)  # continue from where the reference is on the followed plan
        t_now = now - command.stamp
        keep = command.times > t_now
        keep[-1] = True
        velocities = command.velocities
        due = np.flatnonzero(~keep)
        if velocities is not None and len(due):  # keep the segment containing now: the spline continues
            keep[due[-1]] = True
        times, positions = command.times[keep], command.positions[keep]
        velocities = None if velocities is None else velocities[keep]
        if times[0] > t_now:
            q_ref, v_ref, _ = self.reference
            times = np.concatenate([[t_now], times])
            positions = np.vstack([q_ref, positions])
            velocities = None if velocities is None else np.vstack([v_ref, velocities])
        self._command = (command.stamp, times, positions, velocities)
        self._received = command
        self._segment = None  # cached spline segment of this command: ((command id, index), HermiteSegment)
        return True

    def _continues(self, command: JointTrajectoryCommand, t: float) -> bool:
        """True if the plan ``command`` (with velocities) continues the reference at time ``t`` (s), judged on its
        own waypoints. A plan that starts after ``t`` is judged at its start against the state the reference will
        have there on the plan it follows."""
        reference, start = self._ref.copy(), command.stamp + float(command.times[0])  # a copy: nothing changes
        if t < start:
            stamp, times, positions, velocities = self._command
            kernels.path_state(times, positions, velocities, start - stamp, reference)
            t = start
        return kernels.follow_plan(command.times, command.positions, command.velocities, t - command.stamp,
                                   reference, self._path, self._lower, self._upper, self._plan_velocity,
                                   self._plan_acceleration, self._otg.delta_time)

    def _starts_on_followed(self, command: JointTrajectoryCommand) -> bool:
        """True if the first waypoint of ``command`` lies on the plan the reference follows (as received), within
        one period's travel at the plan velocity limit (the filter's stamps carry its clock-offset jitter, < 0.1 ms):
        the plan was spliced onto it. A plan that starts before it cannot be judged and is taken as spliced."""
        followed, start = self._received, command.stamp + float(command.times[0])
        if followed.velocities is None or start < followed.stamp + float(followed.times[0]):
            return True
        kernels.path_state(followed.times, followed.positions, followed.velocities, start - followed.stamp,
                           self._path)
        return bool(np.all(np.abs(command.positions[0] - self._path[0]) <= self._plan_velocity * self._otg.delta_time))

    def _at_end(self) -> bool:
        """True if the reference is at the end (at rest) of the plan it follows directly."""
        stamp, times = self._command[0], self._command[1]
        return self._path_time - stamp >= times[-1]

    @property
    def chasing(self) -> bool:
        """True while ruckig chases a plan with velocities (the reference is not on it directly)."""
        return self._command is not None and self._command[3] is not None and self._path_time is None

    @property
    def followed_plan(self) -> tuple[float, np.ndarray, np.ndarray, np.ndarray] | None:
        """(stamp s, times (k,) s, positions (k, n), velocities (k, n)) of the plan with velocities the reference is
        on (from the reference at the command's arrival), or None while it holds, brakes or chases; the same tuple
        object for as long as it follows one command."""
        return self._command if self._path_time is not None else None

    @property
    def reference(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Current reference (position rad, velocity rad/s, acceleration rad/s^2), each (n,)."""
        q, v, a = self._ref.copy()
        return q, v, a

    def desired(self, now: float) -> tuple[np.ndarray, np.ndarray]:
        """Desired (position rad, velocity rad/s) on the commanded path at ``now`` (s)."""
        target, vel, _ = self.desired_state(now)
        return target, vel

    def desired_state(self, now: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Desired (position rad, velocity rad/s, acceleration rad/s^2), each (n,), at ``now`` (s), within the
        bounds of the reference in its current mode (chasing a plan with velocities: the plan's limits)."""
        target, vel, acc = self._path_state(now)
        v_max, a_max = self._chase_velocity, self._chase_acceleration
        return (np.clip(target, self._lower, self._upper), np.clip(vel, -v_max, v_max), np.clip(acc, -a_max, a_max))

    def _path_state(self, now: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(position, velocity, acceleration) (n,) of the commanded path at ``now`` (s), unclipped."""
        if self._command is None:
            return self._hold, np.zeros_like(self._hold), np.zeros_like(self._hold)
        stamp, times, pos, vels = self._command
        t = now - stamp
        zero = np.zeros(pos.shape[1])
        if t >= times[-1] or len(times) == 1:
            return pos[-1], zero, zero
        i = max(int(np.searchsorted(times, t, side="right")), 1)
        if vels is None:
            vel = (pos[i] - pos[i - 1]) / (times[i] - times[i - 1])
            return pos[i - 1] + vel * (t - times[i - 1]), vel, zero
        if self._segment is None or self._segment[0] != (id(self._command), i):
            self._segment = ((id(self._command), i), HermiteSegment(times[i - 1], times[i], pos[i - 1], pos[i],
                                                                     vels[i - 1], vels[i]))
        return self._segment[1](t)

    def step(self, now: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance the reference one period towards the desired state at ``now``; return it."""
        if self.braking:
            return self._brake_step()
        plan = self._command is not None and self._command[3] is not None
        if plan and self._follow_plan(now):
            self.max_plan_lag = max(self.max_plan_lag, now - self._path_time)
            return self.reference
        self.chase_ticks += plan
        self._path_time = None
        self._use_ruckig_limits(plan)
        target, vel, acc = self._chase_target(now)
        self._to_ruckig()
        if not (self._update(target, vel, acc) or self._update(target, vel)
                or self._update(target, np.zeros_like(vel))):
            # Ruckig has numerically degenerate cases (e.g. micro-radian distances with large
            # acceleration). Retry from zero acceleration; if that fails too, stop the
            # reference where it is. The command itself is kept.
            self.failures += 1
            self._inp.current_acceleration = [0.0] * len(target)
            if not self._update(target, np.zeros_like(vel)):
                self._inp.current_velocity = [0.0] * len(target)
        self._from_ruckig()
        return self.reference

    def _chase_target(self, now: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(position, velocity, acceleration) (n,) ruckig is to reach: :meth:`desired_state` with a velocity that
        can be reached by moving towards the target (never away from it) and no acceleration where that velocity
        is 0 (compiled: :func:`robot_rl.control.kernels.chase_target`).

        A state-to-state planner asked to pass a near target at a high velocity backs up to gain run-up. Per
        joint, the target velocity is zeroed if it points away from the target, and capped at
        sqrt(v0^2 + a_max * |distance|) (half the ideal run-up)."""
        path = self._path
        if self._command is not None and self._command[3] is not None:
            stamp, times, positions, velocities = self._command
            kernels.path_state(times, positions, velocities, now - stamp, path)
        else:
            path[0], path[1], path[2] = self._path_state(now)
        out = np.empty_like(path)
        kernels.chase_target(path, self._lower, self._upper, self._chase_velocity, self._chase_acceleration,
                             self._ref, out)
        return out[0], out[1], out[2]

    def _brake_step(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One period of the stop started by :meth:`brake`; holds the reached position once at rest."""
        inp, n = self._inp, len(self._hold)
        self._use_ruckig_limits(True)
        self._to_ruckig()
        inp.control_interface = ControlInterface.Velocity
        inp.target_velocity, inp.target_acceleration = [0.0] * n, [0.0] * n
        try:
            result = self._otg.update(inp, self._out)
        except RuckigError:
            result = Result.Error
        finally:
            inp.control_interface = ControlInterface.Position
        if result in (Result.Working, Result.Finished) and np.all(np.isfinite(self._out.new_position)):
            self._out.pass_to_input(inp)
        else:  # no stop within the limits from this state (degenerate): stop the reference where it is
            self.failures += 1
            result = Result.Finished
        self._from_ruckig()
        if result == Result.Finished:
            self.reset(np.array(inp.current_position))
        return self.reference

    def _follow_plan(self, now: float) -> bool:
        """Set the reference on a dense plan with velocities (the safety filter's, within the robot
        YAML's limits) if it continues the reference; False (nothing changed) otherwise.

        The path time advances by at most one period per tick: a late tick (loop overrun) does
        not make the reference jump ahead along the path, which a simulator that advances one
        period per tick would see as a faster motion. The lag this leaves is dropped once the
        path has reached its end (it holds there); beyond MAX_PLAN_LAG the plan is approached by
        ruckig instead, so a real robot never runs a plan more than MAX_PLAN_LAG late.
        """
        period = self._otg.delta_time
        t = now if self._path_time is None else min(now, self._path_time + period)
        stamp, times, positions, velocities = self._command
        if t - stamp >= times[-1]:
            t = now  # at rest at the path's end: catching up moves nothing
        if now - t > MAX_PLAN_LAG:
            return False  # the loop overran for too long: ruckig (one period per tick, fractions of the limits)
        # Between grid points the cubic's velocity may exceed the grid velocities (<= v_max) by up to
        # about a_max * h / 4; its acceleration peaks at <= 3 a_grid. The last-line limits clip the rest.
        # A velocity change of at most a_max * h (h: the current waypoint interval) and a position within one
        # period's travel of that are what a limit-respecting plan sampled every h can ask; such a path is
        # followed directly (no chase lag). A path that jumps (a sparse command, a new plan that does not
        # continue the old one) is approached by ruckig instead. One compiled kernel tests and steps.
        if not kernels.follow_plan(times, positions, velocities, t - stamp, self._ref, self._path, self._lower,
                                   self._upper, self._plan_velocity, self._plan_acceleration, period):
            return False
        self._in_ruckig = False
        self._path_time = t
        return True

    def _use_ruckig_limits(self, plan: bool) -> None:
        if plan != self._ruckig_plan_limits:  # ruckig's input keeps what it was given: set it on a change only
            velocity, acceleration, jerk = self._ruckig_limits[plan]
            self._inp.max_velocity, self._inp.max_acceleration, self._inp.max_jerk = velocity, acceleration, jerk
            self._ruckig_plan_limits = plan
        self._chase_velocity = self._plan_velocity if plan else self._max_velocity
        self._chase_acceleration = self._plan_acceleration if plan else self._max_acceleration

    def _set_reference(self, position: np.ndarray, velocity: np.ndarray, acceleration: np.ndarray) -> None:
        self._ref[0], self._ref[1], self._ref[2] = position, velocity, acceleration
        self._in_ruckig = False

    def _to_ruckig(self) -> None:
        """Give ruckig's input the current reference (it plans from there), unless it holds it already."""
        if self._in_ruckig:  # ruckig stepped last (chasing for several ticks): its input is the reference
            return
        inp, (q, v, a) = self._inp, self._ref.tolist()
        inp.current_position, inp.current_velocity, inp.current_acceleration = q, v, a

    def _from_ruckig(self) -> None:
        """Take the reference from ruckig's input (after it stepped, or a fallback changed it)."""
        inp = self._inp
        self._ref[:] = (inp.current_position, inp.current_velocity, inp.current_acceleration)
        self._in_ruckig = True

    def _update(self, target: np.ndarray, velocity: np.ndarray, acceleration: np.ndarray | None = None) -> bool:
        inp = self._inp
        inp.target_position = target.tolist()
        inp.target_velocity = velocity.tolist()
        inp.target_acceleration = [0.0] * len(target) if acceleration is None else acceleration.tolist()
        try:
            result = self._otg.update(inp, self._out)
        except RuckigError:
            return False
        if result not in (Result.Working, Result.Finished) or not all(map(math.isfinite, self._out.new_position)):
            return False
        self._out.pass_to_input(inp)
        return True


class HermiteSegment:
    """Cubic Hermite segment from (t0 s, p0 rad, v0 rad/s) to (t1, p1, v1), each (n,); coefficients computed once.

    Calling it at t returns (position rad, velocity rad/s, acceleration rad/s^2), each (n,).
    """

    def __init__(self, t0: float, t1: float, p0: np.ndarray, p1: np.ndarray, v0: np.ndarray, v1: np.ndarray):
        self.t0, self.h = t0, t1 - t0
        m0, m1 = v0 * self.h, v1 * self.h
        self.c0, self.c1 = p0, m0  # p(s) = c0 + c1 s + c2 s^2 + c3 s^3, s = (t - t0) / h
        self.c2 = 3.0 * (p1 - p0) - 2.0 * m0 - m1
        self.c3 = 2.0 * (p0 - p1) + m0 + m1

    def __call__(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s, h = (t - self.t0) / self.h, self.h
        position = self.c0 + s * (self.c1 + s * (self.c2 + s * self.c3))
        velocity = (self.c1 + s * (2.0 * self.c2 + 3.0 * s * self.c3)) / h
        acceleration = (2.0 * self.c2 + 6.0 * s * self.c3) / (h * h)
        return position, velocity, acceleration


def hermite(t0: float, t1: float, p0: np.ndarray, p1: np.ndarray, v0: np.ndarray, v1: np.ndarray, t: float
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cubic Hermite segment from (t0 s, p0 rad, v0 rad/s) to (t1, p1, v1), each (n,), evaluated at t.

    Returns (position rad, velocity rad/s, acceleration rad/s^2), each (n,).
    """
    return HermiteSegment(t0, t1, p0, p1, v0, v1)(t)
