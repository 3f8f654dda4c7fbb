"""Teleop node: the human's side of the human-in-the-loop workflow, for any teleop device.

Reads:       the device of ``kind`` (keyboard | spacemouse | gamepad | leader, robot_rl.teleop.devices) at
             ``device``, /joint_states
Services:    ~/takeover (std_srvs/SetBool; devices without buttons, the leader arm): True takes over from the
             follower's measured pose (the answer's message states the handover's largest joint step), False gives back
Publishes:   /robot_rl/teleop/command (trajectory_msgs/JointTrajectory, while intervening, publish_rate_hz),
             /robot_rl/teleop/intervening (std_msgs/Bool, latched; on every change and every intervening_period_s),
             /robot_rl/hil/episode_outcome (std_msgs/Bool: True = success, False = failure),
             /robot_rl/hil/episode_control (std_msgs/String: "start" / "reset"),
             /robot_rl/teleop/gripper (std_msgs/Float64, 0 open .. 1 closed, on change; devices with a gripper
             control only; the command mux sends it to the robot during a takeover, docs/teleop.md)
Device -> samples: :mod:`robot_rl.teleop.device`; samples -> flag and command: TeleopSession;
twist or joint target -> chunk: :class:`robot_rl.teleop.twist.TwistToJoints`. A device that disconnects
leaves the flag as it was and sends nothing more: while intervening, the mux then forwards nothing and the
safety filter brakes.
"""

from __future__ import annotations

import time

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64, String
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory

from robot_rl import topics
from robot_rl.errors import CommandError, ConfigError, HardwareError
from robot_rl.nodes.conversions import joint_state_from_msg, trajectory_to_msg
from robot_rl.nodes.latest import LatestMessage
from robot_rl.nodes.main import run_node
from robot_rl.nodes.ros_params import declare_from_yaml
from robot_rl.robot import RobotModel, load_robot_config
from robot_rl.teleop.device import SessionStep, TeleopSession
from robot_rl.teleop.devices import open_device
from robot_rl.teleop.twist import TwistConfig, TwistToJoints

LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)  # late joiners get the flag
KEYBOARD_HELP = ("keys: w/s +-x  a/d +-y  r/f +-z  u/o +-roll  i/k +-pitch  j/l +-yaw  x stop | "
                 "space: take over / give back | y: episode success  n: episode failure  e: end episode (reset)  "
                 "g: start next episode | c: close gripper  v: open gripper")


class TeleopNode(Node):
    """Thin rclpy shell: device -> TeleopSession -> TwistToJoints -> topics (wall-clock seconds)."""

    def __init__(self) -> None:
        super().__init__("teleop_node")
        p = declare_from_yaml(self, "teleop")
        self.p = p
        self.mapper = TwistToJoints(RobotModel(load_robot_config(p["robot"])),
                                    TwistConfig(p["damping"], p["velocity_fraction"], p["step_s"], p["steps"]))
        self.session = TeleopSession()
        self._joint_states = LatestMessage(self.context, f"{self.get_name()}_joint_states", JointState,
                                           topics.JOINT_STATES)
        self._command = self.create_publisher(JointTrajectory, topics.TELEOP_COMMAND, 10)
        self._intervening = self.create_publisher(Bool, topics.TELEOP_INTERVENING, LATCHED)
        self._outcome = self.create_publisher(Bool, topics.EPISODE_OUTCOME, 10)
        self._control = self.create_publisher(String, topics.EPISODE_CONTROL, 10)
        self._gripper = self.create_publisher(Float64, topics.TELEOP_GRIPPER, 10)
        self.device = open_device(p["kind"], p["device"], p)  # last: a ConfigError here names the device
        if hasattr(self.device, "takeover"):  # no buttons of its own (a leader arm)
            self.create_service(SetBool, "~/takeover", self._on_takeover)
        self._publish_intervening()
        self.create_timer(1.0 / p["publish_rate_hz"], self._tick)
        self.create_timer(p["intervening_period_s"], self._publish_intervening)
        help_ = f"; {KEYBOARD_HELP}" if p["kind"] == "keyboard" else " (docs/teleop.md)"
        self.get_logger().info(f"{p['kind']} teleop: {self.device.name} for {self.mapper.model.config.name}{help_}")

    def shutdown(self) -> None:
        """Release the device (a terminal gets its settings back); remove the /joint_states reader (called by
        run_node before destroy_node)."""
        self.device.close()
        self._joint_states.destroy()

    def _tick(self) -> None:
        now = time.time()
        sample = self.device.poll(now)
        step = self.session.update(sample)
        if step.disconnected:
            self.get_logger().error(f"teleop device lost ({self.device.error or self.device.name}): "
                                    "no more teleop commands" + (" (the mux forwards nothing: the arm brakes); "
                                    "restart the teleop node" if self.session.intervening else ""))
        if step.intervening_changed:
            self._publish_intervening()
            self.get_logger().info("human takes over" if self.session.intervening else "human gives back")
        for success in sample.outcomes:
            self._outcome.publish(Bool(data=success))
            self.get_logger().info(f"episode marked a {'success' if success else 'failure'}")
        for control in sample.controls:
            self._control.publish(String(data=control))
            self.get_logger().info(f"episode control: {control}")
        if step.gripper is not None:
            self._gripper.publish(Float64(data=step.gripper))
        if step.twist is not None or step.joint_target is not None:
            self._publish_chunk(step, now)

    def _publish_chunk(self, step: SessionStep, now: float) -> None:
        """The chunk for the step's twist or joint target from the measured joint positions; none without a
        fresh state."""
        if self._joint_states.take() is None:
            self.get_logger().warning("no /joint_states yet: no teleop command", throttle_duration_sec=2.0)
            return
        try:
            q = self._measured(now)
            chunk = (self.mapper.chunk(step.twist, q, now) if step.twist is not None
                     else self.mapper.toward(step.joint_target, q, now))
        except CommandError as exc:
            self.get_logger().error(f"no teleop command: {exc}", throttle_duration_sec=2.0)
            return
        self._command.publish(trajectory_to_msg(chunk))

    def _measured(self, now: float):
        """The measured joint positions (n,) rad of the newest /joint_states.

        Raises:
            CommandError: none yet, or older than state_timeout_s at ``now`` (s).
        """
        msg = self._joint_states.take()
        if msg is None:
            raise CommandError("no /joint_states yet")
        stamp, q, _, _ = joint_state_from_msg(msg, self.mapper.model.joint_names)
        if abs(now - stamp) > self.p["state_timeout_s"]:
            raise CommandError(f"newest state is {now - stamp:.3f} s old")
        return q

    def _on_takeover(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        """Take over from the follower's fresh measured pose (``request.data``) or give back; the flag follows at
        the next poll."""
        if not request.data:
            self.device.release()
            response.success, response.message = True, "given back"
            return response
        now = time.time()
        try:
            q = self._measured(now)
            step = self.device.takeover(dict(zip(self.mapper.model.joint_names, q.tolist())), now)
        except (CommandError, ConfigError, HardwareError) as exc:
            response.success, response.message = False, f"no takeover: {exc}"
        else:
            response.success, response.message = True, f"taken over; handover step {step:.6f} rad"
        self.get_logger().info(f"~/takeover: {response.message}")
        return response

    def _publish_intervening(self) -> None:
        self._intervening.publish(Bool(data=self.session.intervening))


def main(args: list[str] | None = None) -> None:
    """Entry point: ``python -m robot_rl.nodes.teleop_node`` / ``ros2 run robot_rl teleop_node``."""
    raise SystemExit(run_node(TeleopNode, args))


if __name__ == "__main__":
    main()
