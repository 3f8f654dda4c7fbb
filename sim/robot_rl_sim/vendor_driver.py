"""STAND-IN vendor driver: what a vendor's ros2_control stack serves, from MuJoCo, over real ROS 2.

Not a vendor's code and not ros2_control: it exists so that hardware ``ros2_control`` (the bridge) can be run and
tested on a machine without a robot or a ROS install. It serves the topics the bridge uses, as a vendor's
controller manager, joint_state_broadcaster and robot_state_publisher do:

- /robot_description (std_msgs/String, transient local): the robot's URDF, or ``--urdf`` (a mismatched one).
- /joint_states (sensor_msgs/JointState): the arm's joints and the gripper's fingers, every update.
- the active controller (``--controller``, see vendor_controllers.py): ``/joint_trajectory_controller/
  joint_trajectory``, ``/forward_position_controller/commands`` or ``/forward_velocity_controller/commands``.

The "vendor's" joint servo: MuJoCo torques tau = rnea(q, v, a_d) + kp (q_d - q) + kd (v_d - v) (computed torque:
inertia, gravity and Coriolis from pinocchio, the robot YAML's gains) at ``--rate`` Hz. Stand-in extras for tests: ``~/stall_joint_states``
(std_srvs/SetBool: true stops /joint_states, as a hung driver would, while the arm keeps being servoed),
``/vendor_driver/true_joint_states`` (the simulated arm's state, every 5 updates, stalled or not) and a 1 Hz
/diagnostics status "vendor_driver (stand-in)" with the controller's accepted and refused command counts.

Run: ``python -m robot_rl_sim.vendor_driver --robot panda --controller joint_trajectory``.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

import mujoco
import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory

from robot_rl import topics
from robot_rl.control import FixedRateLoop
from robot_rl.hardware import loop_catch_up
from robot_rl.nodes.command_intake import PolledCommands
from robot_rl.nodes.conversions import joint_state_to_msg, stamp_to_seconds
from robot_rl.nodes.main import run_node
from robot_rl.robot import RobotModel, load_robot_config
from robot_rl_sim.hardware import MujocoHardware
from robot_rl_sim.vendor_controllers import StandInForwardController, StandInTrajectoryController

CONTROLLERS = {"joint_trajectory": "/joint_trajectory_controller",
               "forward_position": "/forward_position_controller",
               "forward_velocity": "/forward_velocity_controller"}
TRUTH_TOPIC = "/vendor_driver/true_joint_states"
TRUTH_EVERY = 5
STATUS_NAME = "vendor_driver (stand-in)"


class VendorDriver(Node):
    """The stand-in driver node (module docstring); the servo loop runs in its own thread."""

    def __init__(self, options: argparse.Namespace):
        super().__init__("vendor_driver")
        robot = load_robot_config(options.robot)
        self.robot, self.options = robot, options
        self.period = 1.0 / options.rate
        self.sim = MujocoHardware(robot, model=_scene(robot, self.period), control_period=self.period)
        self.dynamics = RobotModel(robot)  # the servo's computed-torque feedforward, rnea(q, v, a_d)
        self.controller = _controller(options.controller, robot.joints, robot.default_pose)
        urdf = open(options.urdf).read() if options.urdf else robot.urdf_path.read_text()
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                             reliability=ReliabilityPolicy.RELIABLE)
        self.create_publisher(String, "/robot_description", latched).publish(String(data=urdf))
        self._states = self.create_publisher(JointState, topics.JOINT_STATES, 10)
        self._truth = self.create_publisher(JointState, TRUTH_TOPIC, 10)
        self._diagnostics = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        name = CONTROLLERS[options.controller]
        topic, msg_type = ((f"{name}/joint_trajectory", JointTrajectory) if options.controller == "joint_trajectory"
                           else (f"{name}/commands", Float64MultiArray))
        self._commands = PolledCommands(self.context, "vendor_driver_commands", msg_type, topic)
        self.stalled = threading.Event()
        self.create_service(SetBool, "~/stall_joint_states", self._on_stall)
        self.create_timer(1.0, self._publish_status)
        self._ticks = 0
        self.loop = FixedRateLoop(self.period, self._update, catch_up=loop_catch_up(self.sim),
                                  rt_priority=options.rt_priority).start()
        self.get_logger().info(f"stand-in vendor driver: {robot.name} in MuJoCo, {name} active, "
                               f"{options.rate:g} Hz")

    def _update(self) -> None:
        now = time.time()
        for msg in self._commands.take_all():
            self._receive(msg, now)
        state = self.sim.read()
        q_d, v_d, a_d = self.controller.desired(now, self.period)
        feedforward = self.dynamics.inverse_dynamics(state.position, state.velocity, a_d)
        self.sim.write(feedforward + self.robot.kp * (q_d - state.position) + self.robot.kd * (v_d - state.velocity))
        self._ticks += 1
        fingers = self.sim.gripper_state()
        if not self.stalled.is_set():
            self._states.publish(joint_state_to_msg(self.robot.joints, state, now, fingers))
        if self._ticks % TRUTH_EVERY == 0:
            self._truth.publish(joint_state_to_msg(self.robot.joints, state, now))

    def _receive(self, msg, now: float) -> None:
        if isinstance(msg, Float64MultiArray):
            ok = self.controller.receive(list(msg.data))
        else:
            k, m = len(msg.points), len(msg.joint_names)
            times = np.array([p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in msg.points])
            positions = np.array([list(p.positions) for p in msg.points], float).reshape(k, m)
            has_velocity = k > 0 and all(len(p.velocities) == m for p in msg.points)
            velocities = np.array([list(p.velocities) for p in msg.points]).reshape(k, m) if has_velocity else None
            ok = self.controller.receive(list(msg.joint_names), stamp_to_seconds(msg.header.stamp), times,
                                         positions, velocities, now)
        if not ok:
            self.get_logger().error(f"command refused: {self.controller.rejections[-1]}", throttle_duration_sec=1.0)

    def _on_stall(self, request, response):
        (self.stalled.set if request.data else self.stalled.clear)()
        response.success, response.message = True, f"/joint_states {'stalled' if request.data else 'resumed'}"
        return response

    def _publish_status(self) -> None:
        values = {"controller": CONTROLLERS[self.options.controller], "accepted": self.controller.accepted,
                  "refused": len(self.controller.rejections), "joint_states_stalled": self.stalled.is_set(),
                  "last_refusal": self.controller.rejections[-1] if self.controller.rejections else ""}
        status = DiagnosticStatus(level=DiagnosticStatus.OK, name=STATUS_NAME, message="stand-in, MuJoCo",
                                  values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics.publish(msg)

    def shutdown(self) -> None:
        """Stop the servo loop (called by run_node)."""
        self.loop.stop()
        self.loop.join()
        self._commands.destroy()


def _scene(robot, period: float) -> mujoco.MjModel:
    """The robot's MuJoCo scene with physics steps of at most 1 ms that divide ``period`` (s)."""
    from robot_rl_sim.scene import build_model

    substeps = max(1, round(period / 1e-3))
    return build_model(robot, timestep=period / substeps)


def _controller(kind: str, joints: tuple[str, ...], hold: np.ndarray):
    if kind == "joint_trajectory":
        return StandInTrajectoryController(joints, hold)
    return StandInForwardController(joints, kind.split("_")[1], hold)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--robot", default="panda", help="shipped robot name or robot YAML path")
    parser.add_argument("--controller", choices=sorted(CONTROLLERS), default="joint_trajectory",
                        help="the active controller")
    parser.add_argument("--rate", type=float, default=500.0, help="update rate, Hz (the controller manager's)")
    parser.add_argument("--rt-priority", type=int, default=50,
                        help="SCHED_FIFO priority of the update loop when allowed (ros2_control_node's default: 50)")
    parser.add_argument("--urdf", default="", help="serve this URDF on /robot_description instead of the robot's")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``python -m robot_rl_sim.vendor_driver [--robot R] [--controller C] [--rate HZ] [--urdf F]``."""
    options = parse_args(sys.argv[1:] if argv is None else argv)
    sys.exit(run_node(lambda: VendorDriver(options), args=[]))


if __name__ == "__main__":
    main()
