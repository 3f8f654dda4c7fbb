"""The control core: one tick = read hardware, follow the command, impedance law, last-line limits, write.

Hardware whose ``command_mode`` is ``"position"`` (servos closing their own loop) gets the limited reference
position instead of the impedance torques; the same last-line limits clamp it first.

Pure (no rclpy): the control node calls :meth:`ControlCore.submit` from its
subscription and :meth:`ControlCore.tick` from its fixed-rate loop thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from robot_rl.command import JointTrajectoryCommand
from robot_rl.control import kernels
from robot_rl.control.limits import LastLineLimits
from robot_rl.control.trajectory import TrajectoryFollower
from robot_rl.errors import ConfigError
from robot_rl.hardware.base import HardwareInterface, JointStateSample, check_reset
from robot_rl.robot.friction import FRICTION_SMOOTHING_RAD_S
from robot_rl.robot.model import RobotModel


COMMAND_MODES = ("torque", "position")
"""What a hardware's ``write`` takes: torques from the impedance law, or the reference position (servos)."""
OVERSPEED_DAMPING_GAIN = 5.0
"""Braking damping of an overspeeding joint, as a multiple of its impedance damping kd."""


@dataclass(frozen=True)
class ControlCoreConfig:
    """Fractions of the robot's limits the trajectory reference may use (each in (0, 1]), and the command watchdog.

    ``command_timeout`` (s, >= 0; 0 = off): once a command has been applied, if no new one arrives within this
    time and the command itself does not come to its end (at rest, for the safety filter's plans) within the
    longest full-limit stop (``ControlCore.max_stop_s``), or if the reference chases a plan with velocities (does not
    follow it directly) and that plan's dead-man brake has begun (:func:`_plan_brake_start`), the core brakes the
    reference to rest at the robot's full limits and holds there until the next new command (its own stop,
    independent of the command source or safety filter being scheduled on time). A plan that already brakes is
    followed to its end, so the reference stays on the filter's plan and the next plan continues it. A command is
    new if it extends the horizon (stamp + last waypoint time) of those before it: a re-sent copy of the plan
    (the safety filter's watchdog re-send) neither resets the age nor, once braked, moves the robot again. A plan
    with velocities that arrives more than ``command_timeout`` after its stamp is refused (it was braking already).
    """

    velocity_fraction: float = 0.8
    acceleration_fraction: float = 0.8
    jerk_fraction: float = 0.8
    command_timeout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("velocity_fraction", "acceleration_fraction", "jerk_fraction"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ConfigError(f"{name} must be in (0, 1], got {value}")
        if not (self.command_timeout >= 0.0 and np.isfinite(self.command_timeout)):
            raise ConfigError(f"command_timeout must be a finite number of seconds >= 0, got {self.command_timeout}")


class ControlCore:
    """Trajectory following + joint impedance on one hardware interface.

    Hardware with ``command_mode = "position"`` (a vendor's controller, hardware ``ros2_control``) closes the loop
    itself: each tick it is handed the limited reference and, while the reference is on a plan with velocities,
    that plan clipped by the same last-line limits (``write_reference(now, q, v, a, plan)``), instead of torques.

    Args:
        model: pinocchio model (used only from the loop thread).
        hardware: the robot.
        clock: returns the current time in s on the clock commands are stamped with.
        config: reference limits.
    """

    def __init__(self, model: RobotModel, hardware: HardwareInterface, clock: Callable[[], float],
                 config: ControlCoreConfig | None = None):
        if tuple(hardware.joint_names) != model.joint_names:
            raise ConfigError(f"hardware joints {hardware.joint_names} differ from robot joints {model.joint_names}")
        self.model, self.hardware, self.clock = model, hardware, clock
        self.command_mode = getattr(hardware, "command_mode", "torque")
        if self.command_mode not in COMMAND_MODES:
            raise ConfigError(f"hardware {type(hardware).__name__}: command_mode {self.command_mode!r} is not one of "
                              f"{COMMAND_MODES}")
        self.config = config or ControlCoreConfig()
        self.limits = LastLineLimits(model.limits, hard_velocity=np.array(model.model.velocityLimit),
                                     damping=OVERSPEED_DAMPING_GAIN * model.config.kd)
        lim = model.limits
        # the last-line limits as the torque kernel takes them (5, n): soft lower/upper rad, velocity rad/s,
        # effort Nm, speed cap rad/s
        self._kernel_limits = np.vstack([lim.soft_lower, lim.soft_upper, lim.velocity, lim.effort,
                                         self.limits.speed_cap]).astype(float)
        self._clamped_reference = np.empty(2 * model.dof)  # scratch: the clamped (q_ref, v_ref) of a tick
        self.follower = TrajectoryFollower(
            period=model.config.control_period, max_velocity=lim.velocity * self.config.velocity_fraction,
            max_acceleration=lim.acceleration * self.config.acceleration_fraction,
            max_jerk=lim.jerk * self.config.jerk_fraction, lower=lim.soft_lower, upper=lim.soft_upper,
            initial_position=hardware.read().position, plan_velocity=lim.velocity, plan_acceleration=lim.acceleration,
            plan_jerk=lim.jerk,
        )
        self._lock = threading.Lock()
        self._pending: JointTrajectoryCommand | None = None
        self._pending_reset: np.ndarray | None = None
        self._reset_hardware = False
        self._clear_fault = False
        self.commands_accepted = 0
        self.last_command_time = float("nan")  # s (clock): the tick that applied the newest command
        self.late_plans_refused = 0  # plans with velocities applied more than command_timeout after their stamp
        self.stale_brakes = 0  # times the command watchdog braked the robot (no new command within command_timeout)
        self._watching = False  # a command was applied and its age is being watched
        self._stale = False  # the watchdog fired: only a new command is followed
        self._horizon = float("-inf")  # s: the latest end (stamp + last waypoint time) of the commands so far
        self._end = float("-inf")  # s: the end of the command being followed
        self._plan_brakes = float("inf")  # s: when the newest command's dead-man brake begins (if a filter plan)
        # s: the longest stop at the full limits, from full speed: max_j(v_j / a_j + a_j / j_j)
        self.max_stop_s = float(np.max(lim.velocity / lim.acceleration + lim.acceleration / lim.jerk))
        self.last_state: JointStateSample = hardware.read()
        self.last_torque = np.zeros(model.dof)
        self.last_tick_time = float("nan")  # s: the clock at the start of the last tick (when last_state was read)
        self._plan: tuple[tuple | None, JointTrajectoryCommand | None] = (None, None)  # (followed, as limited)

    def submit(self, command: JointTrajectoryCommand) -> JointTrajectoryCommand:
        """Queue ``command`` for the next tick (thread-safe); a newer command replaces an unapplied one.

        Returns the command reordered to the robot's joints.

        Raises:
            CommandError: naming unknown/missing joints, non-finite values or bad timing; the
                loop keeps its current command.
        """
        ordered = command.in_order(self.model.joint_names)
        with self._lock:
            self._pending = ordered
        return ordered

    def request_reset(self, position: np.ndarray | None = None, move_hardware: bool = False,
                      clear_fault: bool = False) -> None:
        """Ask the loop to hold ``position`` (default: the measured one) from the next tick, dropping commands.

        With ``move_hardware`` (simulated hardware only: it must have ``reset(position)``), the
        robot is also placed at ``position`` at rest. With ``clear_fault`` (hardware with a
        ``clear_fault()``, e.g. the serial firmware), the hardware's latched fault is cleared in that
        tick, just before its holding torque is written, so no torque computed for the plan followed
        during the fault reaches the robot after the clear.
        """
        check_reset(self.hardware, move_hardware, clear_fault)
        with self._lock:
            self._pending = None
            self._pending_reset = self.last_state.position if position is None else np.asarray(position, float)
            self._reset_hardware = move_hardware
            self._clear_fault = clear_fault

    def request_default_reset(self, sample_task: bool = True) -> None:
        """Place the (simulated) robot at its default pose, at rest, from the next tick; with ``sample_task``, at a
        draw of the task's reset distribution around it where the hardware has one (``sample_reset_position``)."""
        position = self.model.config.default_pose
        if sample_task and hasattr(self.hardware, "sample_reset_position"):  # a task's joint noise, held here
            position = self.hardware.sample_reset_position(position)
        self.request_reset(position, move_hardware=True)

    def tick(self) -> JointStateSample:
        """One control period; returns the state read at its start (at ``last_tick_time``)."""
        now = self.clock()
        state = self.hardware.read()
        with self._lock:
            command, self._pending = self._pending, None
            reset, self._pending_reset = self._pending_reset, None
            move_hardware, clear_fault = self._reset_hardware, self._clear_fault
        if reset is not None:
            if move_hardware:
                self.hardware.reset(reset)
                state = self.hardware.read()
            if clear_fault:
                self.hardware.clear_fault()
            self.follower.reset(reset)
            self._watching, self._stale, self._horizon = False, False, float("-inf")
        if command is not None:
            self._apply(command, now)
        elif self._watching and (now - self.last_command_time > self.config.command_timeout
                                 or self.follower.chasing and now > self._plan_brakes):
            self._watching = False
            # nothing new, and the command would keep the robot moving, or is chased (a chase overshoots its brake)
            if self._end > now + self.max_stop_s or self.follower.chasing:
                self.follower.brake()  # stop at the robot's limits, hold until a new command
                self.stale_brakes += 1
                self._stale = True
        q_ref, v_ref, a_ref = self.follower.step(now)
        if self.command_mode == "position":  # a servo or vendor controller closes the loop: send the reference
            q_ref, v_ref = self.limits.reference(q_ref, v_ref)
            q_ref, v_ref = self.limits.overspeed_position(q_ref, v_ref, state.position, state.velocity)
            if hasattr(self.hardware, "write_reference"):  # a vendor controller also takes the plan it is on
                self.hardware.write_reference(now, q_ref, v_ref, a_ref, self._limited_plan())
            else:
                self.hardware.write_position(q_ref, v_ref)
            tau = state.effort
        else:  # the reference clamped by the last-line limits, the impedance law, the torque limits
            tau = self._impedance_torque(state, q_ref, v_ref, a_ref)
            self.hardware.write(tau)
        self.last_state, self.last_torque, self.last_tick_time = state, tau, now
        return state

    def _impedance_torque(self, state: JointStateSample, q_ref: np.ndarray, v_ref: np.ndarray,
                          a_ref: np.ndarray) -> np.ndarray:
        """Torques (n,) Nm of one tick: the reference (n,) clamped by the last-line limits, the impedance law
        (:func:`robot_rl.control.impedance.impedance_torque`) around it, the overspeed brake, the effort limits;
        in one compiled kernel (:func:`robot_rl.control.kernels.limited_impedance`) unless a joint overspeeds."""
        q, v = np.asarray(state.position, float), np.asarray(state.velocity, float)  # q_ref.. are the follower's
        model, tau = self.model, np.empty(len(q))
        damping, friction = model.friction_parameters()
        flags = kernels.limited_impedance(q, v, q_ref, v_ref, model.inverse_dynamics(q, v, a_ref), model.config.kp,
                                          model.config.kd, damping, friction, FRICTION_SMOOTHING_RAD_S,
                                          self._kernel_limits, self._clamped_reference, tau)
        if flags:
            counts = self.limits.counts
            counts.position += flags & 1
            counts.velocity += (flags >> 1) & 1
            counts.effort += (flags >> 3) & 1
        if flags & 4:  # a joint over its speed cap: brake it, then the effort limits (counted there)
            tau = self.limits.torque(self.limits.overspeed(tau, v, lambda: self._holding_torque(state)))
        return tau

    def _apply(self, command: JointTrajectoryCommand, now: float) -> None:
        """Follow ``command`` from ``now`` (s), and restart the command watchdog if it is new (see the config)."""
        end = command.stamp + float(command.times[-1])
        new = end > self._horizon + 0.5 * self.model.config.control_period  # a re-send differs by rounding only
        timeout = self.config.command_timeout
        if command.velocities is not None and timeout > 0 and now - command.stamp > timeout:
            self.late_plans_refused += 1  # braking already when it arrived: never started from another state
            return
        if new or not self._stale:
            if not self.follower.set_command(command, now):
                return  # does not continue the plan being followed (see TrajectoryFollower.set_command)
            self.commands_accepted += 1
            self._end = end
        if new:
            self._horizon, self.last_command_time = end, now
            self._plan_brakes = _plan_brake_start(command, self.config.command_timeout)
            self._watching, self._stale = self.config.command_timeout > 0, False

    def _limited_plan(self) -> JointTrajectoryCommand | None:
        """The plan the reference is on, clipped by the last-line limits (one object per plan), or None."""
        followed = self.follower.followed_plan
        if followed is not self._plan[0]:
            limited = None
            if followed is not None:
                stamp, times, positions, velocities = followed
                positions, velocities = self.limits.reference(positions, velocities)
                limited = JointTrajectoryCommand(self.model.joint_names, stamp, times, positions, velocities, "plan")
            self._plan = (followed, limited)
        return self._plan[1]

    def _holding_torque(self, state: JointStateSample) -> np.ndarray:
        """Torques (n,) Nm that keep the measured velocity: gravity and Coriolis, rnea(q, v, 0)."""
        return self.model.inverse_dynamics(state.position, state.velocity, np.zeros_like(state.velocity))

    def tracking_error(self) -> np.ndarray:
        """|reference - measured position| (n,) rad at the last tick."""
        return np.abs(self.follower.reference[0] - self.last_state.position)


def _plan_brake_start(command: JointTrajectoryCommand, command_timeout: float) -> float:
    """When (s) the dead-man brake of ``command``, if it is a safety-filter plan, has begun: its stamp (the grid
    point at or before the filter's receipt) + the filter's watchdog_timeout, which is command_timeout less the
    plan's grid step (robot_rl.control.stop.control_command_timeout_s). inf for a command without velocities."""
    if command.velocities is None:
        return float("inf")
    step = float(command.times[1] - command.times[0]) if len(command.times) > 1 else 0.0
    return command.stamp + command_timeout - step
