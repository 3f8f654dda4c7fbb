"""Command mux node: the policy drives unless the human intervenes (see :mod:`robot_rl.teleop.mux`).

Subscribes:  policy_topic (trajectory_msgs/JointTrajectory, default /robot_rl/policy/command),
             teleop_topic (trajectory_msgs/JointTrajectory, default /robot_rl/teleop/command),
             /robot_rl/teleop/intervening (std_msgs/Bool, latched),
             policy_gripper_topic (std_msgs/Float64, robot units, default /robot_rl/policy/gripper),
             /robot_rl/teleop/gripper (std_msgs/Float64, 0 open .. 1 closed)
Publishes:   output_topic (trajectory_msgs/JointTrajectory, default /robot_rl/command: the safety filter's input;
             the chosen messages unchanged), /robot_rl/hil/intervention (std_msgs/Bool, latched: the mux's
             own intervention state, on every change), /robot_rl/gripper (std_msgs/Float64, robot units: the
             policy's gripper, or during a takeover the human's, range-checked against ``robot``'s YAML
             (:mod:`robot_rl.teleop.gripper_mux`); on each forwarded command and every gripper_period_s while one
             is held), /diagnostics (state and counts)
"""

from __future__ import annotations

import dataclasses
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile
from std_msgs.msg import Bool, Float64, Header
from trajectory_msgs.msg import JointTrajectory

from robot_rl import topics
from robot_rl.errors import CommandError
from robot_rl.nodes.conversions import stamp_to_seconds
from robot_rl.nodes.main import run_node
from robot_rl.nodes.ros_params import declare_from_yaml
from robot_rl.robot import load_robot_config
from robot_rl.teleop.gripper_mux import GripperMux
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
        robot = load_robot_config(p["robot"])
        self.gripper = GripperMux(robot.gripper, robot.name)
        self._state = self.mux.state(time.time())
        self._out = self.create_publisher(JointTrajectory, p["output_topic"], 10)
        self._intervention = self.create_publisher(Bool, topics.INTERVENTION, LATCHED)
        self._diag = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        self._intervention.publish(Bool(data=False))
        self.create_subscription(JointTrajectory, p["policy_topic"], self._on_policy, 10)
        self.create_subscription(JointTrajectory, p["teleop_topic"], self._on_teleop, 10)
        self.create_subscription(Bool, topics.TELEOP_INTERVENING, self._on_intervening, LATCHED)
        self._gripper_out = self.create_publisher(Float64, topics.GRIPPER, 10)
        self.create_subscription(Float64, p["policy_gripper_topic"],
                                 lambda m: self._route_gripper("policy", self.gripper.policy, m.data), 10)
        self.create_subscription(Float64, topics.TELEOP_GRIPPER,
                                 lambda m: self._route_gripper("teleop", self.gripper.teleop, m.data), 10)
        self.create_timer(p["state_period_s"], self._check_state)
        self.create_timer(p["gripper_period_s"], self._republish_gripper)
        self.create_timer(p["diagnostics_period"], self._publish_diagnostics)
        self.get_logger().info(f"command mux: {p['policy_topic']} | {p['teleop_topic']} (while intervening) -> "
                               f"{p['output_topic']}")

    def _on_policy(self, msg: JointTrajectory) -> None:
        if self.mux.policy(time.time()):
            self._out.publish(msg)

    def _on_teleop(self, msg: JointTrajectory) -> None:
        if self.mux.teleop(stamp_to_seconds(msg.header.stamp), time.time()):
            self._out.publish(msg)

    def _route_gripper(self, source: str, route, value: float) -> None:
        """Forward ``source``'s gripper ``value`` if it drives now (``route``: a GripperMux method); a bad value
        is logged with its reason and not forwarded."""
        try:
            position = route(value, self.mux.intervening)
        except CommandError as exc:
            self.get_logger().error(f"{source} gripper command rejected: {exc}", throttle_duration_sec=2.0)
            return
        if position is not None:
            self._gripper_out.publish(Float64(data=position))

    def _republish_gripper(self) -> None:
        if self.gripper.held is not None:
            self._gripper_out.publish(Float64(data=self.gripper.held))

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
        gripper = dataclasses.asdict(self.gripper.counts)
        values += [KeyValue(key=f"gripper_{k}", value=str(v)) for k, v in gripper.items()]
        values.append(KeyValue(key="gripper_held", value=str(self.gripper.held)))
        diag = DiagnosticStatus(level=_LEVELS[state], name="command_mux", message=state.value, values=values)
        self._diag.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()), status=[diag]))


def main(args: list[str] | None = None) -> None:
    """Entry point: ``python -m robot_rl.nodes.command_mux_node`` / ``ros2 run robot_rl command_mux_node``."""
    raise SystemExit(run_node(CommandMuxNode, args))


if __name__ == "__main__":
    main()
