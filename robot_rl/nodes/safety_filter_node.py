"""Safety filter node: the only path from command sources to the control node.

Subscribes:  command_topic (trajectory_msgs/JointTrajectory, default /robot_rl/command),
             /joint_states (sensor_msgs/JointState), /robot_rl/estop (std_msgs/Bool, True latches)
Publishes:   output_topic (trajectory_msgs/JointTrajectory, default /robot_rl/safe_command),
             /diagnostics (diagnostic_msgs/DiagnosticArray: state + counts per reason)
Services:    ~/estop, ~/reset (std_srvs/Trigger)
All decisions are made by :class:`robot_rl.safety.SafetyFilter`; this shell converts and reports. The filter runs
on the monotonic clock: stamps are converted at reception and output stamps at publication
(:class:`robot_rl.safety.clock.ClockBridge`). No exception leaves a callback (:func:`_never_raises`).
"""

from __future__ import annotations

import dataclasses
import functools
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Header
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from robot_rl import topics
from robot_rl.control.loop import request_fifo
from robot_rl.errors import CommandError
from robot_rl.nodes.conversions import joint_state_from_msg, trajectory_from_msg, trajectory_to_msg
from robot_rl.nodes.latest import LatestMessage
from robot_rl.nodes.main import run_node
from robot_rl.nodes.ros_params import declare_from_yaml
from robot_rl.nodes.starting import reporting_starting
from robot_rl.robot import RobotModel, load_robot_config
from robot_rl.safety import FilterResult, Intervention, Reason, SafetyConfig, SafetyFilter, Status, kernels
from robot_rl.safety.clock import ClockBridge
from robot_rl.safety.guard import latch_fault
from robot_rl.safety.monitor import InterventionMonitor

_LEVELS = {Status.OK: DiagnosticStatus.OK, Status.HOLDING: DiagnosticStatus.WARN, Status.ESTOPPED: DiagnosticStatus.ERROR,
           Status.FAULT: DiagnosticStatus.ERROR}
_CONVERSION_ERRORS = (CommandError, ValueError, TypeError, OverflowError)


def _never_raises(callback):
    """A node callback that cannot kill the node: an exception latches the filter's safe stop, reported on
    /diagnostics (a service answers success=False)."""
    @functools.wraps(callback)
    def guarded(self, *args):
        try:
            return callback(self, *args)
        except Exception as exc:  # noqa: BLE001 - a dead safety node is worse than a latched stop
            self._callback_failed(callback.__name__, exc)
            if len(args) == 2:  # a service callback: (request, response)
                args[1].success, args[1].message = False, f"internal error: {type(exc).__name__}: {exc}"
                return args[1]
            return None
    return guarded


class SafetyFilterNode(Node):
    """Thin rclpy shell around :class:`SafetyFilter` (monotonic seconds inside, ROS time on the messages)."""

    def __init__(self) -> None:
        super().__init__("safety_filter")
        p = declare_from_yaml(self, "safety_filter")
        self.params = p
        config = SafetyConfig.from_params(p)
        self._diag = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        with reporting_starting(self, self._diag, "safety_filter"):  # model load, kernel compilation (first start)
            self.filter = SafetyFilter(RobotModel(load_robot_config(p["robot"])), config)
        self.clock = ClockBridge(p["clock_step_threshold"])
        self._compiled = kernels.signature_count()  # after warm-up: a runtime compilation would add one
        self.filter_cpu_ms = {"first": -1.0, "max": 0.0}  # thread CPU time of filter() calls
        self.monitor = InterventionMonitor(p["log_throttle"])
        # /joint_states (1 kHz) is needed rarely (first plan, reset): read on demand, not per message.
        self._joint_states = LatestMessage(self.context, f"{self.get_name()}_joint_states", JointState,
                                           topics.JOINT_STATES)
        self._out = self.create_publisher(JointTrajectory, p["output_topic"], 10)
        self.create_subscription(JointTrajectory, p["command_topic"], self._on_command, 10)
        self.create_subscription(Bool, topics.ESTOP, self._on_estop_topic, 10)
        self.create_service(Trigger, "~/estop", self._on_estop_service)
        self.create_service(Trigger, "~/reset", self._on_reset_service)
        self.create_timer(p["watchdog_period"], self._on_watchdog)
        self.create_timer(p["diagnostics_period"], self._publish_diagnostics)
        self.rt_scheduling = request_fifo(p["rt_priority"])  # this thread spins the executor
        self.get_logger().info(f"safety filter for {self.filter.model.config.name}: {p['command_topic']} -> "
                               f"{p['output_topic']}, watchdog {p['watchdog_timeout']} s")

    def _now(self) -> float:
        """Monotonic now, s; on a ROS clock step, counts it and re-sends the plan stamped on the new clock."""
        now, step = self.clock.now()
        if step is not None:
            note = Intervention(Reason.CLOCK_STEP, None, f"ROS clock stepped by {step:+.6f} s; plan re-stamped")
            result = self.filter.resend(now, "clock_step")
            result.interventions.insert(0, note)
            self._report(result, now)
        return now

    def _measured(self, now: float) -> np.ndarray | None:
        """Latest measured positions (n,) rad, or None if none is fresh (stamped within state_timeout) and valid."""
        msg = self._joint_states.take()
        if msg is None:
            return None
        try:
            stamp, q, _, _ = joint_state_from_msg(msg, self.filter.joint_names)
        except _CONVERSION_ERRORS as exc:
            self.get_logger().error(f"/joint_states ignored: {exc}", throttle_duration_sec=5.0)
            return None
        if abs(now - self.clock.to_monotonic(stamp)) > self.params["state_timeout"]:
            return None
        return q if np.all(np.isfinite(q)) else None

    def shutdown(self) -> None:
        """Remove the on-demand /joint_states reader (called by run_node before destroy_node)."""
        self._joint_states.destroy()

    @_never_raises
    def _on_command(self, msg: JointTrajectory) -> None:
        now = self._now()
        self.monitor.commands += 1
        try:  # a zero stamp means "now"; every stamp goes onto the monotonic clock here
            received = trajectory_from_msg(msg, self.clock.to_ros(now), source="command")
            command = dataclasses.replace(received, stamp=self.clock.to_monotonic(received.stamp))
            efforts = [e for point in msg.points for e in point.effort]
            efforts = np.array(efforts, dtype=float) if efforts else None
        except _CONVERSION_ERRORS as exc:
            self._report(FilterResult(None, [Intervention(Reason.BAD_SHAPE, None, str(exc))], self.filter.status), now)
            return
        state = self._measured(now)
        started = time.thread_time()
        result = self.filter.filter(command, state, now, efforts)
        self._count_cpu(1e3 * (time.thread_time() - started))
        self._report(result, now)

    def _count_cpu(self, ms: float) -> None:
        if self.filter_cpu_ms["first"] < 0:
            self.filter_cpu_ms["first"] = ms
        self.filter_cpu_ms["max"] = max(self.filter_cpu_ms["max"], ms)

    @_never_raises
    def _on_estop_topic(self, msg: Bool) -> None:
        if msg.data:
            now = self._now()
            self._report(self.filter.estop(now), now)

    @_never_raises
    def _on_estop_service(self, _request, response):
        now = self._now()
        self._report(self.filter.estop(now), now)
        response.success, response.message = True, "e-stop latched: braking to rest, then holding"
        return response

    @_never_raises
    def _on_reset_service(self, _request, response):
        now = self._now()
        self._report(self.filter.reset(now, self._measured(now), self.params["simulator_resets"]), now)
        response.success, response.message = True, "e-stop released; holding until a new command arrives"
        return response

    @_never_raises
    def _on_watchdog(self) -> None:
        now = self._now()
        result = self.filter.tick(now)
        if result is not None:
            self._report(result, now)

    def _callback_failed(self, name: str, exc: Exception) -> None:
        """An exception in the node's own code: latch the filter's safe stop and report it (never raises)."""
        try:
            self.get_logger().error(f"{name} failed, safe stop latched: {type(exc).__name__}: {exc}")
            result = latch_fault(self.filter, self.filter.latest_time, f"node {name}", exc)
            self._report(result, self.filter.latest_time)
        except Exception:  # noqa: BLE001 - even reporting failed; the filter's latch (if set) stands
            pass

    def _report(self, result: FilterResult, now: float) -> None:
        """Publish what was allowed (stamped in ROS time); count and (rate-limited) log every intervention."""
        if result.allowed is not None:
            stamp = self.clock.to_ros(result.allowed.stamp)
            self._out.publish(trajectory_to_msg(dataclasses.replace(result.allowed, stamp=stamp)))
        for item, count in self.monitor.record(result.interventions, now):
            text = f"{'rejected' if item.reason in Reason.REJECTIONS else 'changed'}: {item} (total {count})"
            if item.reason in (Reason.ESTOP, Reason.RESET, Reason.WATCHDOG):
                self.get_logger().info(text)
            else:
                self.get_logger().warning(text)

    @_never_raises
    def _publish_diagnostics(self) -> None:
        status = self.filter.status
        values = [KeyValue(key="state", value=status),
                  KeyValue(key="last_valid_command_time", value=f"{self.clock.to_ros(self.filter.last_valid_time):.6f}"),
                  KeyValue(key="rt_scheduling", value=str(self.rt_scheduling)),
                  KeyValue(key="fault", value=self.filter.fault or ""),
                  KeyValue(key="clock_steps", value=str(self.clock.steps)),
                  KeyValue(key="last_clock_step_s", value=f"{self.clock.last_step:.6f}"),
                  KeyValue(key="runtime_compilations", value=str(kernels.signature_count() - self._compiled)),
                  KeyValue(key="first_filter_cpu_ms", value=f"{self.filter_cpu_ms['first']:.3f}"),
                  KeyValue(key="max_filter_cpu_ms", value=f"{self.filter_cpu_ms['max']:.3f}")]
        values += [KeyValue(key=k, value=str(v)) for k, v in self.monitor.summary().items()]
        message = status if self.filter.fault is None else f"{status}: {self.filter.fault}"
        diag = DiagnosticStatus(level=_LEVELS[status], name="safety_filter", hardware_id=self.filter.model.config.name,
                                message=message, values=values)
        self._diag.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()), status=[diag]))


def main(args: list[str] | None = None) -> None:
    """Entry point: ``python -m robot_rl.nodes.safety_filter_node`` / ``ros2 run robot_rl safety_filter_node``."""
    raise SystemExit(run_node(SafetyFilterNode, args))


if __name__ == "__main__":
    main()
