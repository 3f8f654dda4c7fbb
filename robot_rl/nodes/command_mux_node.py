"""Command mux node: the policy drives unless the human intervenes (see :mod:`robot_rl.teleop.mux`).

Subscribes:  policy_topic (trajectory_msgs/JointTrajectory, default /robot_rl/policy/command),
             teleop_topic (trajectory_msgs/JointTrajectory, default /robot_rl/teleop/command),
             /robot_rl/teleop/intervening (std_msgs/Bool, latched)
Publishes:   output_topic (trajectory_msgs/JointTrajectory, default /robot_rl/command: the safety filter's input;
             the chosen messages unchanged), /robot_rl/hil/intervention (std_msgs/Bool, latched: the mux's
             own intervention state, on every change), /diagnostics (state and counts)
"""

from __future__ import annotations

import dataclasses
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile
from std_msgs.msg import Bool, Header
from trajectory_msgs.msg import JointTrajectory

from robot_rl import topics
from robot_rl.nodes.conversions import stamp_to_seconds
from robot_rl.nodes.main import run_node
from robot_rl.nodes.ros_params import declare_from_yaml
from robot_rl.teleop.mux import CommandMux, MuxConfig, MuxState

LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
_LEVELS = {MuxState.POLICY: DiagnosticStatus.OK, MuxState.TELEOP: DiagnosticStatus.OK,
           MuxState.TELEOP_STALE: DiagnosticStatus.WARN}


class CommandMuxNode(Node):
    """Thin rclpy shell around :class:`CommandMux` (wall-clock seconds, like the safety filter)."""

    def __init__(self) -> None:
        super().__init__("command_mux")
        p = declare_from_yaml(self, "command_mux")
        self.mux = CommandMux(MuxConfig(p["teleop_timeout_s"]))
        self._state = self.mux.state(time.time())
        self._out = self.create_publisher(JointTrajectory, p["output_topic"], 10)
        self._intervention = self.create_publisher(Bool, topics.INTERVENTION, LATCHED)
        self._diag = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        self._intervention.publish(Bool(data=False))
        self.create_subscription(JointTrajectory, p["policy_topic"], self._on_policy, 10)
        self.create_subscription(JointTrajectory, p["teleop_topic"], self._on_teleop, 10)
        self.create_subscription(Bool, topics.TELEOP_INTERVENING, self._on_intervening, LATCHED)
        self.create_timer(p["state_period_s"], self._check_state)
        self.create_timer(p["diagnostics_period"], self._publish_diagnostics)
        self.get_logger().info(f"command mux: {p['policy_topic']} | {p['teleop_topic']} (while intervening) -> "
                               f"{p['output_topic']}")

    def _on_policy(self, msg: JointTrajectory) -> None:
        if self.mux.policy(time.time()):
            self._out.publish(msg)

    def _on_teleop(self, msg: JointTrajectory) -> None:
        if self.mux.teleop(stamp_to_seconds(msg.header.stamp), time.time()):
            self._out.publish(msg)

    def _on_intervening(self, msg: Bool) -> None:
        if self.mux.set_intervening(msg.data, time.time()):
            self._intervention.publish(Bool(data=msg.data))
            self.get_logger().info("intervention: human commands, policy dropped" if msg.data
                                   else "intervention over: the policy resumes with its next chunk")
        self._check_state()

    def _check_state(self) -> None:
        state = self.mux.state(time.time())
        if state != self._state and state == MuxState.TELEOP_STALE:
            self.get_logger().warning(f"teleop commands stale (> {self.mux.config.teleop_timeout_s} s): "
                                      "forwarding nothing, the safety filter brakes")
        self._state = state

    def _publish_diagnostics(self) -> None:
        state = self.mux.state(time.time())
        values = [KeyValue(key="state", value=state.value),
                  KeyValue(key="intervening", value=str(self.mux.intervening))]
        values += [KeyValue(key=k, value=str(v)) for k, v in dataclasses.asdict(self.mux.counts).items()]
        diag = DiagnosticStatus(level=_LEVELS[state], name="command_mux", message=state.value, values=values)
        self._diag.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()), status=[diag]))


def main(args: list[str] | None = None) -> None:
    """Entry point: ``python -m robot_rl.nodes.command_mux_node`` / ``ros2 run robot_rl command_mux_node``."""
    raise SystemExit(run_node(CommandMuxNode, args))


if __name__ == "__main__":
    main()
