"""Control node: the fixed-rate loop (dedicated thread) that drives the hardware and publishes /joint_states.

Subscribes:  command_topic (trajectory_msgs/JointTrajectory; taken by the loop thread each tick, see
             command_intake.py), /robot_rl/gripper (std_msgs/Float64)
Publishes:   /joint_states (sensor_msgs/JointState; not when the hardware's vendor driver publishes it: hardware
             ros2_control on the vendor's /joint_states), /diagnostics (diagnostic_msgs/DiagnosticArray, 1 Hz),
             /robot_rl/object_pose (geometry_msgs/PoseStamped, every 10 ticks) when the hardware simulates a
             task with an object (parameter ``task``)
             Hardware with a ``diagnostics()`` (hardware ``serial``: firmware status flags, applied command
             sequence, both parsers' rejection counts) adds a status "control_node: hardware <name>" to
             /diagnostics, ERROR while a fault is latched.
Services:    ~/reset (std_srvs/Trigger): simulated hardware only, back to the default pose at rest.
             ~/clear_fault (std_srvs/Trigger): hardware with latched faults only (``serial``): clear the
             latch (watchdog, non-finite torque) and hold the measured position until the next command.
"""

from __future__ import annotations

import sys
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point, Pose, PoseStamped, Quaternion
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Header
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from robot_rl import topics
from robot_rl.control import ControlCore, ControlCoreConfig, FixedRateLoop
from robot_rl.control.loop import request_fifo
from robot_rl.control.report import control_report, write_json_atomic
from robot_rl.errors import CommandError, ConfigError, HardwareError
from robot_rl.hardware import create_hardware, hardware_options, loop_catch_up
from robot_rl.nodes.conversions import (hardware_diagnostic_status, joint_state_to_msg, seconds_to_stamp,
                                        trajectory_from_msg)
from robot_rl.nodes.command_intake import PolledCommands
from robot_rl.nodes.main import run_node
from robot_rl.nodes.ros_params import declare_from_yaml
from robot_rl.robot import RobotModel, load_robot_config


WARMUP_S = 1.0
"""Seconds of loop start-up left out of the timing statistics (imports, first messages, discovery)."""
OBJECT_POSE_EVERY = 10
"""Control ticks between two object pose messages (100 Hz at a 1 kHz loop)."""
JOINT_STATES_HISTORY = 1000
"""/joint_states samples (1 s at 1 kHz) the publisher keeps for reliable delivery to a subscriber that is not
scheduled for a while (a busy machine). Measured: a subscriber process stopped for 60 ms ten times lost 69 of 8000
samples with a history of 10, none with 1000. Publishing costs the same; only the kept history grows."""
DIAGNOSTICS_WINDOW_S = 2.0
"""Seconds of the most recent ticks the 1 Hz diagnostics summarise (the executor thread holds the GIL while it
does: summarising the whole 600 s history, once full, took 1.6 s at load 25 and would stall the loop)."""


class ControlNode(Node):
    """Thin shell around :class:`robot_rl.control.ControlCore` and :class:`FixedRateLoop`."""

    def __init__(self) -> None:
        super().__init__("control_node")
        p = declare_from_yaml(self, "control_node")
        sys.setswitchinterval(p["switch_interval_ms"] * 1e-3)
        robot = load_robot_config(p["robot"])
        options = hardware_options(p["hardware"], p["hardware_port"], p["task"], p["seed"], p["rt_priority"],
                                   p["hardware_key_file"], calibration=p["hardware_calibration"],
                                   config=p["hardware_config"])
        self.hardware = create_hardware(p["hardware"], robot, **options)
        self._hardware_diagnostics = getattr(self.hardware, "diagnostics", None)
        # A lockstep simulator runs on the loop's schedule (a late or catch-up tick keeps its own slot), so the
        # plan is sampled, and /joint_states stamped, on the simulated robot's timeline; real hardware: now.
        lockstep = p["realtime"] and getattr(self.hardware, "lockstep", False)
        self.core = ControlCore(RobotModel(robot), self.hardware,
                                clock=self._scheduled_time if lockstep else time.time,
                                config=ControlCoreConfig(p["velocity_fraction"], p["acceleration_fraction"],
                                                         p["jerk_fraction"], p["command_timeout"]))
        self.params = p
        self.rejected = 0
        self._tick = 0
        # A vendor driver that publishes /joint_states itself is their one source (ros2_control bridge).
        own_states = getattr(self.hardware, "publishes_joint_states", False)
        self._state_pub = None if own_states else self.create_publisher(JointState, topics.JOINT_STATES,
                                                                         JOINT_STATES_HISTORY)
        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        self._object_pub = (self.create_publisher(PoseStamped, topics.OBJECT_POSE, 10)
                            if getattr(self.hardware, "has_object", lambda: False)() else None)
        self._commands = PolledCommands(self.context, f"{self.get_name()}_commands", JointTrajectory,
                                        self.resolve_topic_name(p["command_topic"]))
        self.create_subscription(Float64, topics.GRIPPER, self._on_gripper, 10)
        self.create_service(Trigger, "~/reset", self._on_reset)
        self.create_service(Trigger, "~/clear_fault", self._on_clear_fault)
        self.create_timer(1.0, self._publish_diagnostics)
        self.loop = FixedRateLoop(robot.control_period, self._step, realtime=p["realtime"],
                                  rt_priority=p["rt_priority"], catch_up=loop_catch_up(self.hardware))
        self.loop.start()
        # The loop thread needs the GIL that this (executor) thread holds during callbacks: at normal
        # priority another process could preempt it mid-callback and stall the loop (priority inversion).
        self.executor_rt = p["realtime"] and request_fifo(p["rt_priority"] // 2)
        self.get_logger().info(f"control loop started: {robot.name} on {p['hardware']} at {robot.control_rate_hz} Hz")

    def _scheduled_time(self) -> float:
        return self.loop.tick_time()

    def _step(self) -> None:
        for msg in self._take_commands():
            self._accept(msg)
        state = self.core.tick()
        self._tick += 1
        if self._tick % self.params["publish_every"] == 0:
            self._publish_state(state)
        if self._object_pub is not None and self._tick % OBJECT_POSE_EVERY == 0:
            self._publish_object_pose()

    def _take_commands(self) -> list[JointTrajectory]:
        """Commands received since the last tick (none once shutting down: the loop keeps the robot held)."""
        if not self.context.ok():
            return []
        try:
            return self._commands.take_all()
        except Exception:  # noqa: BLE001 - the context can be shut down between the check and the call
            if self.context.ok():
                raise
            return []

    def _publish_state(self, state) -> None:
        if self._state_pub is None or not self.context.ok():  # none (vendor's), or shutting down: the loop holds on
            return
        try:
            gripper = self.hardware.gripper_state() if hasattr(self.hardware, "gripper_state") else None
            self._state_pub.publish(joint_state_to_msg(self.core.model.joint_names, state, self.core.last_tick_time,
                                                       gripper))
        except Exception:  # noqa: BLE001 - the context can be shut down between the check and the call
            if self.context.ok():
                raise

    def _publish_object_pose(self) -> None:
        """Object pose (base frame) from the loop thread, right after the physics step that produced it."""
        x, y, z, qw, qx, qy, qz = (float(v) for v in self.hardware.object_pose())
        msg = PoseStamped(pose=Pose(position=Point(x=x, y=y, z=z), orientation=Quaternion(w=qw, x=qx, y=qy, z=qz)))
        msg.header.stamp, msg.header.frame_id = seconds_to_stamp(self.core.last_tick_time), self.hardware.base_frame
        if self.context.ok():
            try:
                self._object_pub.publish(msg)
            except Exception:  # noqa: BLE001 - the context can be shut down between the check and the call
                if self.context.ok():
                    raise

    def _accept(self, msg: JointTrajectory) -> None:
        """A command taken by the loop thread: queued for this tick (a zero stamp means this tick's time)."""
        try:
            self.core.submit(trajectory_from_msg(msg, self.core.clock(), source="command"))
        except CommandError as exc:
            self.rejected += 1
            self.get_logger().warning(f"command rejected: {exc}", throttle_duration_sec=1.0)

    def _on_gripper(self, msg: Float64) -> None:
        if not hasattr(self.hardware, "set_gripper"):
            self.get_logger().warning("gripper command ignored: this hardware has no gripper", throttle_duration_sec=5.0)
            return
        self.hardware.set_gripper(msg.data)

    def _on_reset(self, _request, response):
        try:
            position = self.core.model.config.default_pose
            if hasattr(self.hardware, "sample_reset_position"):  # a task's joint noise, held by the controller
                position = self.hardware.sample_reset_position(position)
            self.core.request_reset(position, move_hardware=True)
            response.success, response.message = True, "robot reset to the default pose" + (
                f" (task {self.params['task']!r}: reset distribution re-sampled)" if self.params["task"] else "")
        except ConfigError as exc:
            response.success, response.message = False, str(exc)
        return response

    def _on_clear_fault(self, _request, response):
        try:
            self.core.request_reset(clear_fault=True)
            response.success, response.message = True, ("latched fault cleared at the next control tick; "
                                                         "holding the measured position until the next command")
        except ConfigError as exc:
            response.success, response.message = False, str(exc)
        return response

    def _publish_diagnostics(self) -> None:
        stats = self.loop.stats(recent=int(DIAGNOSTICS_WINDOW_S / self.loop.period))
        if not self.loop.running:
            self.get_logger().fatal("control loop thread stopped; shutting down")
            raise SystemExit(1)
        values = {"rate_hz": stats.rate_hz, "period_error_p99_ms": stats.period_error_ms["p99"],
                  "overrun_fraction": stats.overrun_fraction, "loop_reanchors": self.loop.reanchors,
                  "commands_rejected": self.rejected,
                  "max_tracking_error_rad": float(self.core.tracking_error().max()),
                  "plan_chase_ticks": self.core.follower.chase_ticks,
                  "max_plan_lag_ms": self.core.follower.max_plan_lag * 1e3,
                  "stale_command_brakes": self.core.stale_brakes,
                  "plans_refused": self.core.follower.plans_refused, "late_plans_refused": self.core.late_plans_refused,
                  "rt_scheduling": float(bool(self.loop.rt_scheduling)), "executor_rt_scheduling": float(self.executor_rt)}
        status = [DiagnosticStatus(level=DiagnosticStatus.OK, name="control_node", message="running",
                                   values=[KeyValue(key=k, value=f"{v:.6g}") for k, v in values.items()]
                                   + [KeyValue(key="last_command_time", value=f"{self.core.last_command_time:.6f}")])]
        if self._hardware_diagnostics is not None:
            status.append(self._hardware_status())
        self._diag_pub.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()), status=status))

    def _hardware_status(self) -> DiagnosticStatus:
        name = f"control_node: hardware {self.params['hardware']}"
        try:
            return hardware_diagnostic_status(name, self._hardware_diagnostics())
        except HardwareError as exc:  # the loop stops on the same error at its next read
            return DiagnosticStatus(level=DiagnosticStatus.ERROR, name=name, message=str(exc))

    def shutdown(self) -> None:
        """Stop the loop thread, release the hardware, write the stats file."""
        self.loop.stop()
        self.loop.join()
        self._commands.destroy()
        self.hardware.close()
        if self.params["stats_path"]:
            report = control_report(self.loop.stats(skip_s=WARMUP_S), self.core)
            report["commands_rejected"] = self.rejected
            report["rt_scheduling"] = self.loop.rt_scheduling
            write_json_atomic(self.params["stats_path"], report)


def main(args: list[str] | None = None) -> None:
    """Entry point of ``control_node``."""
    sys.exit(run_node(ControlNode, args))


if __name__ == "__main__":
    main()
