"""Hardware ``ros2_control``: the bridge from robot_rl's control loop to a vendor's ros2_control controller.

A position-mode hardware interface (``command_mode = "position"``): the control core hands it, every tick, the
reference its trajectory follower computed after the last-line limits (see ``ControlCore.tick``), and, while the
reference is on the safety filter's dense plan, that plan (clipped by the same limits). What goes to the vendor:

- ``joint_trajectory``: the plan itself, once per plan, as trajectory_msgs/JointTrajectory (positions and
  velocities; it starts at the reference and ends at rest). Off the plan (the core braking on a stale command,
  holding after a reset, chasing a plan it cannot follow), the reference extended by its fastest stop within the
  robot's limits, at ``stream_rate_hz``: every trajectory the JTC holds ends at rest, as a kilted JTC requires
  (``validate_trajectory_msg`` refuses a last point with velocity).
- ``forward_position`` / ``forward_velocity``: the reference position, or velocity
  (+ ``velocity_feedback_gain`` x the position error), at ``stream_rate_hz``, as std_msgs/Float64MultiArray.

Joint states come from the vendor's JointState topic, matched by name (the vendor's extra joints are ignored; a
message missing a robot joint is refused, naming it). A state older than ``state_timeout`` latches a fault: the
bridge sends the stop from the last reference (a trajectory to rest; forward controllers: the stop streamed), says
so in ``diagnostics()`` and ignores references until ``clear_fault`` (the control node's ~/clear_fault) with fresh
states again. Pure: the ROS side is an injected :class:`Ros2ControlTransport`
(robot_rl/nodes/ros2_control_link.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from ruckig import ControlInterface, InputParameter, Result, Ruckig, Trajectory

from robot_rl.command import JointTrajectoryCommand
from robot_rl.errors import CommandError, HardwareError
from robot_rl.hardware.base import JointStateSample
from robot_rl.hardware.ros2_control_config import Ros2ControlConfig
from robot_rl.robot.model import JointLimits
from robot_rl.topics import JOINT_STATES


STOP_SAMPLE_S = 0.01
"""s: spacing of the points of a stop trajectory sent to a JTC."""
ON_RECEIPT = 0.0
"""Header stamp of the stop and hold trajectories: a JTC starts a zero-stamped trajectory when it receives it (one
stamped "now" and lasting one sample would end before it arrives on a loaded machine, and be refused)."""
MIN_REMAINING_S = 0.5
"""s: a plan sent to a JTC ends at least this long after it is sent (held at its rest point to then)."""
REST_SPEED = 1e-6
"""rad/s: a reference slower than this on every joint is at rest (the JTC is sent one hold point)."""


@dataclass(frozen=True)
class VendorJointState:
    """One vendor JointState message: names (m,), position, velocity, effort (m,) (zeros where absent), stamp s."""

    stamp: float
    names: tuple[str, ...]
    position: np.ndarray
    velocity: np.ndarray
    effort: np.ndarray


class Ros2ControlTransport(Protocol):
    """The ROS side of the bridge."""

    def take_states(self) -> list[VendorJointState]:
        """Joint states received since the last call, oldest first; never blocks."""

    def publish_trajectory(self, command: JointTrajectoryCommand) -> None:
        """Send ``command`` (vendor joint names, absolute stamp) to the JTC."""

    def publish_array(self, values: np.ndarray) -> None:
        """Send ``values`` (forward controller's joint order) to the forward controller."""

    def close(self) -> None:
        """Release the ROS entities."""


def stop_trajectory(position: np.ndarray, velocity: np.ndarray, acceleration: np.ndarray, limits: JointLimits,
                    spacing: float = STOP_SAMPLE_S) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fastest stop from (position rad, velocity rad/s, acceleration rad/s^2) (n,) within the robot's
    velocity, acceleration and jerk limits (ruckig, velocity interface), sampled every ``spacing`` s.

    Returns (times (k,) s from the start, the first > 0, positions (k, n), velocities (k, n)); the last point is at
    rest (velocity exactly 0).
    """
    n = len(position)
    inp = InputParameter(n)
    inp.control_interface = ControlInterface.Velocity
    inp.current_position, inp.current_velocity = position.tolist(), velocity.tolist()
    inp.current_acceleration = np.clip(acceleration, -limits.acceleration, limits.acceleration).tolist()
    inp.target_velocity, inp.target_acceleration = [0.0] * n, [0.0] * n
    inp.max_velocity = np.maximum(limits.velocity, np.abs(velocity)).tolist()
    inp.max_acceleration, inp.max_jerk = limits.acceleration.tolist(), limits.jerk.tolist()
    trajectory = Trajectory(n)
    if Ruckig(n).calculate(inp, trajectory) not in (Result.Working, Result.Finished):
        raise HardwareError(f"ros2_control: no stop within the limits from velocity {velocity.tolist()} rad/s")
    duration = trajectory.duration
    times = np.append(np.arange(spacing, duration - 0.5 * spacing, spacing), max(duration, spacing))  # gaps >= h/2
    samples = [trajectory.at_time(min(t, duration)) for t in times]
    positions = np.array([s[0] for s in samples])
    velocities = np.array([s[1] for s in samples])
    velocities[-1] = 0.0
    return times, positions, velocities


class Ros2ControlHardware:
    """The bridge (arrays (n,) in the robot's joint order ``joint_names``).

    Args:
        joint_names: robot_rl's joints.
        limits: the robot's limits (the stop trajectories stay within velocity, acceleration, jerk).
        config: the bridge's settings.
        transport: the ROS side.
        clock: s, the clock of the control loop and of the vendor's trajectory stamps (ROS time).
        sleep: s -> None, used while waiting for the first joint state.

    Raises:
        HardwareError: no joint state within ``config.startup_timeout``, or states that lack robot joints (named).
    """

    command_mode = "position"  # the core sends write_reference(), not torques
    lockstep = False

    def __init__(self, joint_names: tuple[str, ...], limits: JointLimits, config: Ros2ControlConfig,
                 transport: Ros2ControlTransport, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep):
        config.check_joint_map(joint_names)
        self.joint_names, self.limits, self.config = tuple(joint_names), limits, config
        self._vendor = config.vendor_names(self.joint_names)
        self._slots = config.controller_order(self.joint_names)
        self._transport, self._clock = transport, clock
        self._state: JointStateSample | None = None
        self._received = float("-inf")  # s (clock): when the newest state arrived
        self._rejection = ""
        self.max_state_gap = 0.0  # s: the longest time between two vendor states taken (polled every tick)
        self.counts = {"plans_sent": 0, "stream_messages": 0, "stale_stops": 0, "states_rejected": 0}
        self._fault = ""
        self._sent_plan: JointTrajectoryCommand | None = None
        self._next_stream = float("-inf")
        self._held: np.ndarray | None = None  # the hold point last sent to a JTC (at rest)
        self._stop: list | None = None  # forward controllers, while latched: [next sample, positions, velocities]
        self._reference = None
        # The vendor's states on /joint_states are robot_rl's too: the control node does not publish its own.
        self.publishes_joint_states = config.state_topic == JOINT_STATES
        self._wait_for_state(sleep)
        q = self._state.position
        self._reference = (q, np.zeros_like(q), np.zeros_like(q))

    # ----- state -------------------------------------------------------------------------------------------
    def _wait_for_state(self, sleep: Callable[[float], None]) -> None:
        deadline = self._clock() + self.config.startup_timeout
        while self._state is None:
            self._take_states()
            if self._state is not None:
                return
            if self._clock() > deadline:
                detail = f"; states received were refused: {self._rejection}" if self._rejection else ""
                raise HardwareError(f"ros2_control: no joint state for joints {list(self._vendor)} on "
                                    f"{self.config.state_topic} within {self.config.startup_timeout:g} s{detail}")
            sleep(0.01)

    def _take_states(self) -> None:
        for message in self._transport.take_states():
            index = {name: i for i, name in enumerate(message.names)}
            missing = [name for name in self._vendor if name not in index]
            if missing:
                self.counts["states_rejected"] += 1
                self._rejection = f"{self.config.state_topic} lacks joints {missing}"
                continue
            order = [index[name] for name in self._vendor]
            self._state = JointStateSample(message.stamp, message.position[order], message.velocity[order],
                                           message.effort[order])
            now = self._clock()
            if self._received > float("-inf"):
                self.max_state_gap = max(self.max_state_gap, now - self._received)
            self._received = now

    def read(self) -> JointStateSample:
        """The newest vendor state; a state older than ``state_timeout`` latches a fault and stops the arm."""
        self._take_states()
        now = self._clock()
        age = now - self._received
        if age > self.config.state_timeout and not self._fault:
            self._latch(f"vendor joint states stale: none on {self.config.state_topic} for {age * 1e3:.0f} ms "
                             f"(state_timeout {self.config.state_timeout * 1e3:.0f} ms); stopped the arm")
        if self._stop is not None and self.config.controller_type != "joint_trajectory":
            self._stream_stop(now)
        return self._state

    # ----- commands ------------------------------------------------------------------------------------------
    def write(self, effort: np.ndarray) -> None:
        """Refused with CommandError (as every position-mode hardware): this hardware takes position references
        (``command_mode``), never torques."""
        raise CommandError("hardware ros2_control takes position references (write_reference), not torques")

    def write_reference(self, now: float, position: np.ndarray, velocity: np.ndarray, acceleration: np.ndarray,
                        plan: JointTrajectoryCommand | None) -> None:
        """The core's reference (rad, rad/s, rad/s^2, each (n,)) at ``now`` (s), after the last-line limits, and the
        plan (robot joint order, limited) when the reference is on it; ignored while a fault is latched."""
        self._reference = (position, velocity, acceleration)
        if self._fault:
            return
        if self.config.controller_type == "joint_trajectory":
            self._send_to_jtc(now, position, velocity, acceleration, plan)
        elif self._due(now):
            self._publish_forward(position, velocity)

    def _send_to_jtc(self, now: float, position: np.ndarray, velocity: np.ndarray, acceleration: np.ndarray,
                     plan: JointTrajectoryCommand | None) -> None:
        if plan is not None:
            if plan is not self._sent_plan:
                self._sent_plan, self._held = plan, None
                self._publish_trajectory(*self._ending_at_rest(plan, now))
                self.counts["plans_sent"] += 1
            return
        self._sent_plan = None
        at_rest = np.abs(velocity).max() < REST_SPEED and np.abs(acceleration).max() < REST_SPEED
        if at_rest and self._held is not None and np.array_equal(self._held, position):
            return
        if not at_rest and not self._due(now):
            return
        self._held = position if at_rest else None
        self._publish_trajectory(ON_RECEIPT, *stop_trajectory(position, velocity, acceleration, self.limits))
        self.counts["stream_messages"] += 1

    def _ending_at_rest(self, plan: JointTrajectoryCommand, now: float
                        ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """(stamp, times, positions, velocities) of ``plan`` with times >= 0, extended by a stop if it ends moving,
        and by a rest point at ``now`` + MIN_REMAINING_S if it ends before (a JTC refuses a trajectory whose end
        is in the past when it arrives: measured here, delivery under load took longer than a braking plan's
        last 100 ms)."""
        stamp, times, positions = plan.stamp, plan.times, plan.positions
        velocities = plan.velocities if plan.velocities is not None else np.zeros_like(positions)
        if times[0] < 0:  # the reference point prepended at now, before a plan stamped in the future
            stamp, times = stamp + times[0], times - times[0]
        if np.any(velocities[-1] != 0.0):
            t, q, v = stop_trajectory(positions[-1], velocities[-1], np.zeros_like(positions[-1]), self.limits)
            times, positions, velocities = (np.concatenate([times, times[-1] + t]), np.vstack([positions, q]),
                                            np.vstack([velocities, v]))
        if stamp + times[-1] < now + MIN_REMAINING_S:
            times = np.append(times, now + MIN_REMAINING_S - stamp)
            positions, velocities = np.vstack([positions, positions[-1]]), np.vstack([velocities, velocities[-1]])
        return stamp, times, positions, velocities

    def _publish_trajectory(self, stamp: float, times: np.ndarray, positions: np.ndarray,
                            velocities: np.ndarray) -> None:
        self._transport.publish_trajectory(JointTrajectoryCommand(self._vendor, stamp, times, positions, velocities,
                                                                  source="robot_rl"))

    def _due(self, now: float) -> bool:
        """True once per stream period (s, ``now``); the schedule keeps the rate, and restarts after a gap."""
        if now < self._next_stream:
            return False
        period = 1.0 / self.config.stream_rate_hz
        self._next_stream = max(self._next_stream + period, now + 0.5 * period)
        return True

    def _publish_forward(self, position: np.ndarray, velocity: np.ndarray, feedback: bool = True) -> None:
        """Send the position (forward_position) or the velocity, with the position feedback unless the state is
        not to be trusted (``feedback=False``: stopping), (n,) robot order, to the forward controller."""
        if self.config.controller_type == "forward_position":
            values = position
        elif not feedback:
            values = velocity
        else:
            values = velocity + self.config.velocity_feedback_gain * (position - self._state.position)
            values = np.clip(values, -self.limits.velocity, self.limits.velocity)
        self._transport.publish_array(np.asarray(values, float)[self._slots])
        self.counts["stream_messages"] += 1

    # ----- faults --------------------------------------------------------------------------------------------
    def _latch(self, reason: str) -> None:
        """Latch ``reason`` and stop from the last reference: a JTC gets the stop trajectory, a forward controller
        the stop streamed (from :meth:`read`), one sample per stream period."""
        self._fault = reason
        self.counts["stale_stops"] += 1
        q, v, a = self._reference
        self._sent_plan, self._held = None, None
        if self.config.controller_type == "joint_trajectory":
            self._publish_trajectory(ON_RECEIPT, *stop_trajectory(q, v, a, self.limits))
        else:
            _, positions, velocities = stop_trajectory(q, v, a, self.limits, 1.0 / self.config.stream_rate_hz)
            self._stop = [0, positions, velocities]
            self._next_stream = float("-inf")

    def _stream_stop(self, now: float) -> None:
        """While latched, a forward controller is sent the stop's next sample each stream period, then its end."""
        if not self._due(now):
            return
        i, positions, velocities = self._stop
        self._stop[0] = min(i + 1, len(positions) - 1)
        self._publish_forward(positions[i], velocities[i], feedback=False)

    def clear_fault(self) -> None:
        """Unlatch (called by the core in the tick that resets the reference to the measured position); a state
        still stale latches again at the next read."""
        self._fault, self._stop = "", None
        self._sent_plan, self._held, self._next_stream = None, None, float("-inf")

    def diagnostics(self) -> dict:
        """Health for /diagnostics: the latched fault ("" when none), the vendor state's age and the counters."""
        return {"fault": self._fault, "controller": self.config.controller,
                "controller_type": self.config.controller_type,
                "state_age_ms": (self._clock() - self._received) * 1e3, "max_state_gap_ms": self.max_state_gap * 1e3,
                **self.counts,
                "last_state_rejection": self._rejection}

    def close(self) -> None:
        """Stop the arm, then release the ROS side: a JTC is sent the stop from the last reference (unless a
        fault already sent one); a forward controller the last reference position, or zero velocity (nothing
        streams after close: a moving arm stops at the vendor's limits)."""
        try:
            q, v, a = self._reference
            if self.config.controller_type != "joint_trajectory":
                self._publish_forward(q, np.zeros_like(v), feedback=False)
            elif not self._fault:
                self._publish_trajectory(ON_RECEIPT, *stop_trajectory(q, v, a, self.limits))
        finally:
            self._transport.close()
