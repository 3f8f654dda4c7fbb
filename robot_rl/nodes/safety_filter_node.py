"""Safety filter node: the only path from command sources to the control node.

Subscribes:  command_topic (trajectory_msgs/JointTrajectory, default /robot_rl/command),
             /joint_states (sensor_msgs/JointState), /robot_rl/estop (std_msgs/Bool, True latches)
Publishes:   output_topic (trajectory_msgs/JointTrajectory, default /robot_rl/safe_command),
             /diagnostics (diagnostic_msgs/DiagnosticArray: state + counts per reason)
Services:    ~/estop, ~/reset (std_srvs/Trigger)
All decisions are made by :class:`robot_rl.safety.SafetyFilter`; this shell converts and reports.
"""

from __future__ import annotations

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
from robot_rl.safety import FilterResult, Intervention, Reason, SafetyConfig, SafetyFilter, Status
from robot_rl.safety.monitor import InterventionMonitor

_LEVELS = {Status.OK: DiagnosticStatus.OK, Status.HOLDING: DiagnosticStatus.WARN, Status.ESTOPPED: DiagnosticStatus.ERROR}


class SafetyFilterNode(Node):
    """Thin rclpy shell around :class:`SafetyFilter` (times are wall-clock seconds, like the control node)."""

    def __init__(self) -> None:
        super().__init__("safety_filter")
        p = declare_from_yaml(self, "safety_filter")
        self.params = p
        config = SafetyConfig.from_params(p)
        self._diag = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        with reporting_starting(self, self._diag, "safety_filter"):  # model load, kernel compilation (first start)
            self.filter = SafetyFilter(RobotModel(load_robot_config(p["robot"])), config)
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

    def _measured(self, now: float) -> np.ndarray | None:
        """Latest measured positions (n,) rad, or None if none is fresh (stamped within state_timeout) and valid."""
        msg = self._joint_states.take()
        if msg is None:
            return None
        try:
            stamp, q, _, _ = joint_state_from_msg(msg, self.filter.joint_names)
        except CommandError as exc:
            self.get_logger().error(f"/joint_states ignored: {exc}", throttle_duration_sec=5.0)
            return None
        if abs(now - stamp) > self.params["state_timeout"]:
            return None
        return q if np.all(np.isfinite(q)) else None

    def shutdown(self) -> None:
        """Remove the on-demand /joint_states reader (called by run_node before destroy_node)."""
        self._joint_states.destroy()

    def _on_command(self, msg: JointTrajectory) -> None:
        now = time.time()
        self.monitor.commands += 1
        try:
            command = trajectory_from_msg(msg, now, source="command")
        except (CommandError, ValueError) as exc:
            self._report(FilterResult(None, [Intervention(Reason.BAD_SHAPE, None, str(exc))], self.filter.status), now)
            return
        efforts = [e for point in msg.points for e in point.effort]
        result = self.filter.filter(command, self._measured(now), now, np.array(efforts) if efforts else None)
        self._report(result, now)

    def _on_estop_topic(self, msg: Bool) -> None:
        if msg.data:
            self._report(self.filter.estop(time.time()), time.time())

    def _on_estop_service(self, _request, response):
        self._report(self.filter.estop(time.time()), time.time())
        response.success, response.message = True, "e-stop latched: braking to rest, then holding"
        return response

    def _on_reset_service(self, _request, response):
        now = time.time()
        self._report(self.filter.reset(now, self._measured(now)), now)
        response.success, response.message = True, "e-stop released; holding until a new command arrives"
        return response

    def _on_watchdog(self) -> None:
        now = time.time()
        result = self.filter.tick(now)
        if result is not None:
            self._report(result, now)

    def _report(self, result: FilterResult, now: float) -> None:
        """Publish what was allowed; count and (rate-limited) log every intervention."""
        if result.allowed is not None:
            self._out.publish(trajectory_to_msg(result.allowed))
        for item, count in self.monitor.record(result.interventions, now):
            text = f"{'rejected' if item.reason in Reason.REJECTIONS else 'changed'}: {item} (total {count})"
            if item.reason in (Reason.ESTOP, Reason.RESET, Reason.WATCHDOG):
                self.get_logger().info(text)
            else:
                self.get_logger().warning(text)

    def _publish_diagnostics(self) -> None:
        status = self.filter.status
        values = [KeyValue(key="state", value=status),
                  KeyValue(key="last_valid_command_time", value=f"{self.filter.last_valid_time:.6f}"),
                  KeyValue(key="rt_scheduling", value=str(self.rt_scheduling))]
        values += [KeyValue(key=k, value=str(v)) for k, v in self.monitor.summary().items()]
        diag = DiagnosticStatus(level=_LEVELS[status], name="safety_filter", hardware_id=self.filter.model.config.name,
                                message=status, values=values)
        self._diag.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()), status=[diag]))


def main(args: list[str] | None = None) -> None:
    """Entry point: ``python -m robot_rl.nodes.safety_filter_node`` / ``ros2 run robot_rl safety_filter_node``."""
    raise SystemExit(run_node(SafetyFilterNode, args))


if __name__ == "__main__":
    main()
