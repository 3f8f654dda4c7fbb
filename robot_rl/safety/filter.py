"""SafetyFilter: the pure core between every command source and the control node (no rclpy).

Order of checks for a command: reject malformed/stale/future commands; sample it on the output
grid and clamp targets to the soft position limits; rate-limit (velocity, acceleration, jerk);
end the plan with a brake to rest at ``now + watchdog_timeout`` (a dead-man: if no fresh valid
command extends it, the robot stops by itself); verify position limits, workspace box and
self-collision on the result and, if a point fails, brake earlier (backtracking) or reject.
Every public method runs inside :func:`robot_rl.safety.guard.fail_safe`: no exception escapes (a bug latches a
safe stop, ``fault``), and ``now`` never goes backwards.
"""

from __future__ import annotations

import numpy as np

from robot_rl.command import JointTrajectoryCommand
from robot_rl.robot.model import RobotModel
from robot_rl.safety import kernels
from robot_rl.safety.anchoring import RECOVERY_SPEED, RecoveryCheck
from robot_rl.safety.checks import check_command
from robot_rl.safety.config import SafetyConfig
from robot_rl.safety.geometry import PathChecker
from robot_rl.safety.guard import fail_safe
from robot_rl.safety.plan import OutputPlan
from robot_rl.safety.dynamics import ACCELERATION_SCALES, BrakePlanner, TorqueCheck, scaled_limits
from robot_rl.safety.rate_limiter import GridLimits, GridState, brake, track
from robot_rl.safety.result import FilterResult, Intervention, Reason, Status
from robot_rl.safety.targets import clamp_targets, sample_targets


class SafetyFilter:
    """Turns any command into one the robot can follow within its limits, and says what it changed.

    Args:
        model: the robot (limits from URDF + YAML, FK, self-collision).
        config: filter settings.
    """

    def __init__(self, model: RobotModel, config: SafetyConfig | None = None):
        self.model, self.config = model, config or SafetyConfig()
        lim = model.limits
        self.limits = GridLimits(lim.soft_lower, lim.soft_upper, lim.velocity, lim.acceleration, lim.jerk,
                                 self.config.output_dt)
        self.tracking_accel = lim.acceleration * self.config.tracking_accel_fraction
        self.torque = TorqueCheck(model, self.config.output_dt)
        self.brake = BrakePlanner(self.torque, self.limits)
        margin = model.config.collision.margin if self.config.collision_margin is None \
            else self.config.collision_margin
        self.checker = PathChecker(model, self.config.check_workspace, self.config.check_collision, margin)
        self.recovery = RecoveryCheck(self.checker, lim.soft_lower, lim.soft_upper, model.joint_names,
                                      self._usual_violation)
        self.recovery_limits = GridLimits(lim.soft_lower, lim.soft_upper, lim.velocity * RECOVERY_SPEED,
                                          lim.acceleration * RECOVERY_SPEED, lim.jerk, self.config.output_dt)
        self._recovery_scaled = scaled_limits(self.recovery_limits)
        self.recovering = False  # the plan started outside the allowed set (anchoring.py)
        kernels.warm_up()
        self.joint_names = model.joint_names
        self.plan: OutputPlan | None = None
        self.estopped = False
        self.last_valid_time = -np.inf
        self.latest_time = -np.inf  # latest ``now`` seen, s (monotonic clock)
        self.fault: str | None = None  # internal error that latched the stop, until reset
        self.fault_trace = ""
        self._watchdog_reported = True

    @property
    def status(self) -> str:
        """``fault`` after an internal error, ``estopped`` while latched, ``holding`` once the plan has stopped,
        else ``ok``."""
        if self.fault is not None:
            return Status.FAULT
        if self.estopped:
            return Status.ESTOPPED
        if self.plan is None or self._watchdog_reported:
            return Status.HOLDING
        return Status.OK

    @fail_safe
    def filter(self, command: JointTrajectoryCommand, state: np.ndarray | None, now: float,
               efforts: np.ndarray | None = None) -> FilterResult:
        """Filter one command received at ``now`` (s).

        Args:
            command: the stamped chunk, any joint order.
            state: measured joint positions (n,) rad in robot order (used to anchor the first plan),
                or None if none has been received yet.
            efforts: the message's effort fields (k, m) if any; never forwarded.
        """
        if self.estopped:
            latched = "e-stop latched" if self.fault is None else f"stop latched by internal error ({self.fault})"
            return FilterResult(None, [Intervention(Reason.ESTOPPED, None, f"{latched}; call reset")], self.status)
        anchored = []
        if self.plan is None:
            if state is None:
                return FilterResult(None, [Intervention(Reason.NO_STATE, None, "no joint state received yet")],
                                    self.status)
            self.plan = OutputPlan(state, now, self.config.output_dt)
            excess = self.recovery.excess(self.plan.position(0))
            self.recovering = not excess.inside
            anchored = self.recovery.describe(excess, f"recovering at {RECOVERY_SPEED:.0%} speed, never further out")
        positions, notes = check_command(command, self.joint_names, now, self.config, efforts)
        if positions is None:
            return FilterResult(None, anchored + notes, self.status)
        return self._plan_command(command, positions, now, anchored + notes)

    def _plan_command(self, command: JointTrajectoryCommand, positions: np.ndarray, now: float,
                      notes: list[Intervention]) -> FilterResult:
        plan, dt = self.plan, self.config.output_dt
        k0 = plan.index_at(now + self.config.output_latency)  # earlier points may be executing on arrival
        start = plan.state_at(k0)
        if self.recovering:
            self.recovering = not self.recovery.excess(start.q).inside
        horizon = max(plan.index_at(now + self.config.watchdog_timeout), k0 + 1)
        grid = plan.time_of(k0) + dt * np.arange(1, horizon - k0 + 1)
        targets = sample_targets(command.stamp + command.times, positions, plan.time_of(k0), start.q, grid)
        targets, clamps = clamp_targets(targets, self.limits, self.joint_names)
        tracked, points, scale = self._torque_feasible(start, targets)
        notes = notes + clamps + _limit_notes(tracked, self.joint_names)
        if points is None:
            notes.append(Intervention(Reason.NO_SAFE_PATH, None, "no plan keeps the torque bound within the effort "
                                                                 "limits, even at 10 % of the accelerations; previous "
                                                                 "plan kept"))
            return FilterResult(None, notes, self.status)
        if scale < 1.0:
            notes.append(Intervention(Reason.TORQUE_LIMIT, None, f"accelerations scaled to {scale:.0%} of the limits "
                                                                 "so that the plan's torque fits the effort limits"))
        points, problems = self._make_safe(start, points)
        notes += problems
        if points is None:
            notes.append(Intervention(Reason.NO_SAFE_PATH, None,
                                      "no braking point keeps the robot safe; previous plan kept"))
            return FilterResult(None, notes, self.status)
        k_now = plan.index_at(now)
        plan.splice(k0, points, keep_from=k_now - 2)
        self.last_valid_time, self._watchdog_reported = now, False
        return FilterResult(self._allowed(k_now, command.source), notes, self.status)

    def _torque_feasible(self, start: GridState, targets: np.ndarray):
        """(tracked, its positions followed by a brake (m, n) rad, acceleration scale): the plan towards ``targets``
        at the largest of ACCELERATION_SCALES whose torque bound fits; positions None if none does. While
        recovering, at RECOVERY_SPEED of the limits."""
        scaled, speed = (self._recovery_scaled, RECOVERY_SPEED) if self.recovering else (self.brake.scaled, 1.0)
        for scale, limits in zip(ACCELERATION_SCALES, scaled):
            tracked = track(start, targets, limits, self.tracking_accel * scale * speed)
            points = np.vstack([tracked.positions, brake(tracked.end, limits)])
            if self.torque.fits(start, points):
                return tracked, points, scale
        return tracked, None, scale

    def _make_safe(self, start: GridState, points: np.ndarray) -> tuple[np.ndarray | None, list[Intervention]]:
        """``points`` (m, n) if all are safe, else a prefix followed by a safe brake, else None."""
        bad, problem = self._first_violation(start.q, points)
        if bad is None:
            return points, []
        full = np.vstack([start.q[None, :] - start.v * self.config.output_dt, start.q[None, :], points])
        for back in [1 << i for i in range(self.config.max_backtrack)] + [bad + 1]:
            stop = bad - back  # brake from point index ``stop`` (-1 = the start)
            if stop < -1:
                continue
            prefix = points[:stop + 1]
            state = _state_from(full, stop + 2, start, self.config.output_dt)
            tail = self.brake(state)
            check_from = prefix[-1] if len(prefix) else start.q
            if tail is not None and self._first_violation(check_from, tail)[0] is None:
                return np.vstack([prefix, tail]), [problem]
            if stop == -1:
                break
        return None, [problem]

    def _first_violation(self, start_q: np.ndarray, points: np.ndarray) -> tuple[int | None, Intervention | None]:
        """Index of the first point (m, n) that fails, and why: the usual checks, or while recovering the
        recovery rule (no excess grows, anchoring.py)."""
        if self.recovering:
            return self.recovery.first_worsening(start_q, points)
        return self._usual_violation(start_q, points)

    def _usual_violation(self, start_q: np.ndarray, points: np.ndarray) -> tuple[int | None, Intervention | None]:
        outside = (points < self.limits.lower) | (points > self.limits.upper)
        if outside.any():
            row, col = (int(x[0]) for x in np.nonzero(outside))
            first_geo, problem = self.checker.first_violation(start_q, points[:row])
            if first_geo is not None:
                return first_geo, problem
            return row, Intervention(Reason.POSITION_LIMIT, self.joint_names[col],
                                     f"plan would reach {points[row, col]:.4f} rad, outside the soft limits "
                                     f"[{self.limits.lower[col]:.4f}, {self.limits.upper[col]:.4f}]")
        return self.checker.first_violation(start_q, points)

    def _allowed(self, k: int, source: str) -> JointTrajectoryCommand:
        plan = self.plan
        seg = plan.segment(k)
        return JointTrajectoryCommand(
            joint_names=self.joint_names, stamp=plan.time_of(k), times=self.config.output_dt * np.arange(len(seg)),
            positions=seg, velocities=plan.velocities(k), source=source)

    @fail_safe
    def tick(self, now: float) -> FilterResult | None:
        """Watchdog, called periodically: reports (once) that the plan is braking for lack of commands.

        The braking itself is already in the plan (every plan brakes at ``command time +
        watchdog_timeout``); the returned result re-sends the remaining plan from ``now``.
        """
        if self.plan is None or self.estopped or self._watchdog_reported:
            return None
        if now - self.last_valid_time <= self.config.watchdog_timeout:
            return None
        self._watchdog_reported = True
        age = now - self.last_valid_time
        note = Intervention(Reason.WATCHDOG, None, f"no valid command for {age:.3f} s; braking to a stop")
        return FilterResult(self._allowed(self.plan.index_at(now), "watchdog"), [note], self.status)

    @fail_safe
    def estop(self, now: float) -> FilterResult:
        """Latch the e-stop: brake to rest from ``now`` (the fastest torque-feasible brake, see dynamics.py) and hold."""
        self.estopped = True
        note = Intervention(Reason.ESTOP, None, "e-stop latched")
        if self.plan is None:
            return FilterResult(None, [note], self.status)
        k_now = self.plan.index_at(now)
        k0 = self.plan.index_at(now + self.config.output_latency)
        start = self.plan.state_at(k0)
        tail = self.brake(start)
        if tail is not None and self._first_violation(start.q, tail)[0] is None:
            self.plan.splice(k0, tail, keep_from=k_now - 2)
        else:
            note = Intervention(Reason.ESTOP, None, "e-stop latched; no brake within the torque bound and the "
                                                    "checks, current plan (ends at rest) kept")
        return FilterResult(self._allowed(k_now, "estop"), [note], self.status)

    @fail_safe
    def resend(self, now: float, source: str = "resend") -> FilterResult:
        """The remaining plan from ``now`` (to re-stamp it after the ROS clock stepped); nothing before a plan."""
        allowed = None if self.plan is None else self._allowed(self.plan.index_at(now), source)
        return FilterResult(allowed, [], self.status)

    @fail_safe
    def reset(self, now: float, state: np.ndarray | None, simulator_moved_robot: bool = False) -> FilterResult:
        """Release the e-stop (and a latched internal error). Never resumes motion: once the plan is at rest it
        re-anchors on the measured position ``state`` (n,) rad without a jump: a move from the held point to it
        (clamped to the soft limits) through the rate limiter at RECOVERY_SPEED, checked like any plan; else it
        holds.

        ``simulator_moved_robot`` (simulated hardware only: a simulator's episode reset teleported the robot, so
        the held point is void): once the plan is at rest it is dropped instead, and the next command anchors on
        the measured state at rest, checked, exactly as the first command does. Nothing is sent meanwhile; the
        simulator holds its reset pose."""
        self.estopped, self.fault = False, None
        self._watchdog_reported = True
        note = Intervention(Reason.RESET, None, "e-stop released; holding until a new command arrives")
        if self.plan is None or state is None:
            return FilterResult(None, [note], self.status)
        k0 = self.plan.index_at(now)
        if simulator_moved_robot and self.plan.at_rest_from(k0):
            self.plan, self.recovering = None, False
            return FilterResult(None, [Intervention(Reason.RESET, None, "e-stop released after a simulator reset; "
                                                    "the next command anchors on the measured state")], self.status)
        if self.plan.at_rest_from(k0):
            notes = self._reanchor(k0, state)  # one RESET per call: a re-anchoring move says so in its detail
            moving = [n for n in notes if n.reason == Reason.RESET]
            notes = [n for n in notes if n.reason != Reason.RESET] + (moving or [note])
            return FilterResult(self._allowed(k0, "reset"), notes, self.status)
        return FilterResult(self._allowed(k0, "reset"), [note], self.status)

    def _reanchor(self, k0: int, state: np.ndarray) -> list[Intervention]:
        """Splice into the plan (at rest from k0) a recovery-speed move to ``state``; the interventions say how."""
        start = self.plan.state_at(k0)
        target = np.clip(np.asarray(state, dtype=float), self.limits.lower, self.limits.upper)
        excess = self.recovery.excess(start.q)
        self.recovering = not excess.inside
        if np.array_equal(target, start.q):
            return []
        targets = np.repeat(target[None, :], convergence_steps(start.q, target, self.recovery_limits), axis=0)
        saved, self.recovering = self.recovering, True  # plan at recovery speed
        _, points, _ = self._torque_feasible(start, targets)
        self.recovering = saved
        problems = []
        if points is not None:
            points, problems = self._make_safe(start, points)
        if points is None:
            return problems + [Intervention(Reason.NO_SAFE_PATH, None, "no safe move to the measured state; holding")]
        self.plan.splice(k0, points, keep_from=k0 - 2)
        return problems + [Intervention(Reason.RESET, None, f"e-stop released; re-anchoring: moving "
                                        f"{np.abs(target - start.q).max() * 1000:.1f} mrad to the measured state at "
                                        f"{RECOVERY_SPEED:.0%} speed")]


def convergence_steps(q: np.ndarray, target: np.ndarray, limits: GridLimits) -> int:
    """Grid steps that rate-limited tracking needs from rest at q to rest at target (n,) rad: per joint
    distance / velocity + 4 velocity / acceleration (the braking-curve approach), plus 0.2 s."""
    time = np.max(np.abs(target - q) / limits.velocity + 4 * limits.velocity / limits.acceleration) + 0.2
    return int(np.ceil(time / limits.dt))


def _state_from(full: np.ndarray, row: int, start: GridState, dt: float) -> GridState:
    """Grid state at ``full[row]`` where ``full`` = [q_{-1}, q_0 (start), points...]."""
    if row == 1:
        return start.copy()
    q0, q1, q2 = full[row - 2], full[row - 1], full[row]
    v1, v2 = (q1 - q0) / dt, (q2 - q1) / dt
    return GridState(q2.copy(), v2, (v2 - v1) / dt)


def _limit_notes(tracked, names: tuple[str, ...]) -> list[Intervention]:
    if not (tracked.velocity_limited.any() or tracked.acceleration_limited.any() or tracked.jerk_limited.any()):
        return []
    notes = []
    for reason, flags in ((Reason.VELOCITY_LIMIT, tracked.velocity_limited),
                          (Reason.ACCELERATION_LIMIT, tracked.acceleration_limited),
                          (Reason.JERK_LIMIT, tracked.jerk_limited)):
        notes += [Intervention(reason, names[j], f"{reason.replace('_', ' ')} reached while tracking")
                  for j in np.flatnonzero(flags)]
    return notes
