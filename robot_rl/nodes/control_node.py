"""Control node: the fixed-rate loop that drives the hardware, and the ROS shell that publishes /joint_states.

Parameter ``loop_mode``: ``process`` runs the loop in its own process (robot_rl/control/loop_process.py; the
node relays commands to it and publishes its states from shared memory in a thread of its own), ``thread`` in a
thread of this process; ``auto`` (default): process for MuJoCo (realtime), thread otherwise; ``process`` also
runs ``serial`` and ``feetech`` (the loop process opens their port; their diagnostics are asked of it).
The node sees either through one interface (robot_rl/control/loop_backend.py).

Subscribes:  command_topic (trajectory_msgs/JointTrajectory; thread mode: taken each tick by the loop thread, see
             command_intake.py; process mode: forwarded to the loop process as it arrives),
             /robot_rl/gripper (std_msgs/Float64, robot units; refused, logged, unless finite and within the robot
             YAML's gripper range)
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

import os
import sys
from pathlib import Path

import yaml
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point, Pose, PoseStamped, Quaternion
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Header
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from robot_rl import topics
from robot_rl.control.loop import request_fifo
from robot_rl.control.loop_backend import LoopOutputs, open_loop
from robot_rl.control.loop_process import LoopProcess, resolve_loop_mode
from robot_rl.control.report import write_json_atomic
from robot_rl.errors import CommandError, ConfigError, HardwareError
from robot_rl.hardware import JointStateSample, hardware_options
from robot_rl.nodes.conversions import (hardware_diagnostic_status, joint_state_to_msg, seconds_to_stamp,
                                        trajectory_from_msg)
from robot_rl.nodes.command_intake import PolledCommands
from robot_rl.nodes.main import run_node
from robot_rl.nodes.ros_params import declare_from_yaml
from robot_rl.params import load_param_specs
from robot_rl.robot import load_robot_config
from robot_rl.robot.gripper import check_gripper_position


CORE_PARAMETERS = ("velocity_fraction", "acceleration_fraction", "jerk_fraction", "command_timeout")
"""Node parameters that are ``ControlCoreConfig``'s fields."""
JOINT_STATES_HISTORY = 1000
"""/joint_states samples (1 s at 1 kHz) the publisher keeps for reliable delivery to a subscriber that is not
scheduled for a while (a busy machine). Measured: a subscriber process stopped for 60 ms ten times lost 69 of 8000
samples with a history of 10, none with 1000. Publishing costs the same; only the kept history grows."""
DIAGNOSTICS_WINDOW_S = 2.0
"""Seconds of the most recent ticks the 1 Hz diagnostics summarise (the executor thread holds the GIL while it
does: summarising the whole 600 s history, once full, took 1.6 s at load 25 and would stall the loop)."""


class ControlNode(Node):
    """Thin ROS shell around the control loop (robot_rl/control/loop_backend.py: a thread of this process, or
    the loop process), which it feeds with commands and whose states it publishes."""

    def __init__(self, loop_process: LoopProcess | None = None) -> None:
        """``loop_process``: one spawned before the node (see :func:`main`), used in process mode."""
        super().__init__("control_node")
        p = declare_from_yaml(self, "control_node")
        sys.setswitchinterval(p["switch_interval_ms"] * 1e-3)
        robot = load_robot_config(p["robot"])
        mode = resolve_loop_mode(p["loop_mode"], p["hardware"], p["realtime"])
        options = hardware_options(p["hardware"], p["hardware_port"], p["task"], p["seed"], p["rt_priority"],
                                   p["hardware_key_file"], calibration=p["hardware_calibration"],
                                   config=p["hardware_config"])
        self.params, self.joint_names, self.period, self.rejected = p, robot.joints, robot.control_period, 0
        self.loop = open_loop(mode, p["robot"], robot, p["hardware"], options, realtime=p["realtime"],
                              rt_priority=p["rt_priority"], core_config={name: p[name] for name in CORE_PARAMETERS},
                              cpu=p["loop_cpu"], loop_process=loop_process)
        self._state_pub = None if self.loop.publishes_joint_states else self.create_publisher(
            JointState, topics.JOINT_STATES, JOINT_STATES_HISTORY)
        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        self._object_pub = self.create_publisher(PoseStamped, topics.OBJECT_POSE, 10) if self.loop.has_object else None
        self._commands = None
        if self.loop.commands_in_loop:  # taken by the loop thread (command_intake.py)
            self._commands = PolledCommands(self.context, f"{self.get_name()}_commands", JointTrajectory,
                                            self.resolve_topic_name(p["command_topic"]))
        else:  # forwarded from the executor: its GIL is not the loop's
            self.create_subscription(JointTrajectory, p["command_topic"], self._accept, 10)
        self._gripper = robot.gripper  # the range every gripper command is checked against
        self.create_subscription(Float64, topics.GRIPPER, self._on_gripper, 10)
        self.create_service(Trigger, "~/reset", self._on_reset)
        self.create_service(Trigger, "~/clear_fault", self._on_clear_fault)
        self.create_timer(1.0, self._publish_diagnostics)
        self.loop.start(LoopOutputs(self._publish_state, self._publish_object_pose, self._take_commands,
                                    self.get_logger().error, p["publish_every"]))
        # The loop (or relay) thread needs the GIL that this (executor) thread holds during callbacks: at normal
        # priority another process could preempt it mid-callback and stall the loop (priority inversion).
        self.executor_rt = p["realtime"] and request_fifo(p["rt_priority"] // 2)
        self.get_logger().info(f"control loop started: {robot.name} on {p['hardware']} at {robot.control_rate_hz} Hz"
                               f" (loop_mode {self.loop.mode})")

    def _take_commands(self) -> None:
        """Thread mode, in the loop thread: submit the commands received since the last tick (none once shutting
        down: the loop keeps the robot held)."""
        if not self.context.ok():
            return
        try:
            messages = self._commands.take_all()
        except Exception:  # noqa: BLE001 - the context can be shut down between the check and the call
            if self.context.ok():
                raise
            return
        for msg in messages:
            self._accept(msg)

    def _publish_state(self, state: JointStateSample, stamp: float, gripper) -> None:
        """/joint_states of ``state`` measured at ``stamp`` (s), gripper = (names, positions, velocities)."""
        if self._state_pub is None or not self.context.ok():  # none (vendor's), or shutting down: the loop holds on
            return
        try:
            self._state_pub.publish(joint_state_to_msg(self.joint_names, state, stamp, gripper))
        except Exception:  # noqa: BLE001 - the context can be shut down between the check and the call
            if self.context.ok():
                raise

    def _publish_object_pose(self, stamp: float, pose, frame: str) -> None:
        """Object pose (7,) (base frame ``frame``) measured at ``stamp`` s."""
        x, y, z, qw, qx, qy, qz = (float(v) for v in pose)
        msg = PoseStamped(pose=Pose(position=Point(x=x, y=y, z=z), orientation=Quaternion(w=qw, x=qx, y=qy, z=qz)))
        msg.header.stamp, msg.header.frame_id = seconds_to_stamp(stamp), frame
        if self.context.ok():
            try:
                self._object_pub.publish(msg)
            except Exception:  # noqa: BLE001 - the context can be shut down between the check and the call
                if self.context.ok():
                    raise

    def _accept(self, msg: JointTrajectory) -> None:
        """A command taken by the loop thread (thread mode) or received by the executor (process mode): queued for
        the next tick (a zero stamp means the loop's now)."""
        try:
            self.loop.submit(trajectory_from_msg(msg, self.loop.now(), source="command"))
        except CommandError as exc:
            self.rejected += 1
            self.get_logger().warning(f"command rejected: {exc}", throttle_duration_sec=1.0)
        except HardwareError as exc:  # the loop process died: the diagnostics timer stops the node
            self.get_logger().error(f"command dropped: {exc}", throttle_duration_sec=1.0)

    def _on_gripper(self, msg: Float64) -> None:
        """A gripper target (robot units) within the robot YAML's [closed, open] goes to the hardware; anything
        else (not finite, out of range, a robot without a gripper) is refused with its reason logged."""
        if not self.loop.has_gripper:
            self.get_logger().warning("gripper command ignored: this hardware has no gripper", throttle_duration_sec=5.0)
            return
        try:
            position = check_gripper_position(self._gripper, msg.data, self.params["robot"])
        except CommandError as exc:
            self.get_logger().error(f"gripper command rejected: {exc}", throttle_duration_sec=1.0)
            return
        self.loop.set_gripper(position)

    def _on_reset(self, _request, response):
        try:
            self.loop.request_reset(sample_task=True)
            response.success, response.message = True, "robot reset to the default pose" + (
                f" (task {self.params['task']!r}: reset distribution re-sampled)" if self.params["task"] else "")
        except ConfigError as exc:
            response.success, response.message = False, str(exc)
        return response

    def _on_clear_fault(self, _request, response):
        try:
            self.loop.clear_fault()
            response.success, response.message = True, ("latched fault cleared at the next control tick; "
                                                         "holding the measured position until the next command")
        except ConfigError as exc:
            response.success, response.message = False, str(exc)
        return response

    def _publish_diagnostics(self) -> None:
        failure = self.loop.failure()
        if failure is not None:
            self.get_logger().fatal(f"{failure}; shutting down")
            raise SystemExit(1)
        stats, counters = self.loop.figures(recent=int(DIAGNOSTICS_WINDOW_S / self.period))
        values = {"rate_hz": stats.rate_hz, "period_error_p99_ms": stats.period_error_ms["p99"],
                  "overrun_fraction": stats.overrun_fraction, "commands_rejected": self.rejected,
                  **{k: v for k, v in counters.items() if k not in ("ticks", "last_command_time", "shell_lost_time")},
                  "executor_rt_scheduling": float(self.executor_rt), "loop_process": float(self.loop.mode == "process")}
        status = [DiagnosticStatus(level=DiagnosticStatus.OK, name="control_node", message="running",
                                   values=[KeyValue(key=k, value=f"{v:.6g}") for k, v in values.items()]
                                   + [KeyValue(key="last_command_time", value=f"{counters['last_command_time']:.6f}")])]
        if self.loop.hardware_diagnostics is not None:
            status.append(self._hardware_status())
        self._diag_pub.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()), status=status))

    def _hardware_status(self) -> DiagnosticStatus:
        name = f"control_node: hardware {self.params['hardware']}"
        try:
            return hardware_diagnostic_status(name, self.loop.hardware_diagnostics())
        except HardwareError as exc:  # the loop stops on the same error at its next read
            return DiagnosticStatus(level=DiagnosticStatus.ERROR, name=name, message=str(exc))

    def shutdown(self) -> None:
        """Stop the loop (thread or process), release the hardware, write the stats file."""
        report = self.loop.stop()
        if self._commands is not None:
            self._commands.destroy()
        if self.params["stats_path"] and report is not None:
            report["commands_rejected"] = self.rejected
            write_json_atomic(self.params["stats_path"], report)


def _expects_process_mode(args: list[str]) -> bool:
    """Whether the parameters in ``args`` (``--params-file`` files, ``-p name:=value``) make loop_mode resolve to
    process: a guess made before ROS starts, so the loop process loads while the node does."""
    specs = load_param_specs("control_node")
    values = {name: str(specs[name].default) for name in ("hardware", "loop_mode", "realtime")}
    for flag, value in zip(args, args[1:]):
        if flag == "--params-file" and os.path.isfile(value):
            for section in (yaml.safe_load(Path(value).read_text()) or {}).values():
                params = section.get("ros__parameters", {}) if isinstance(section, dict) else {}
                values.update({k: str(params[k]) for k in values if k in params})
        elif flag == "-p" and value.split(":=")[0] in values:
            values[value.split(":=")[0]] = value.split(":=", 1)[1]
    try:
        realtime = values["realtime"].lower() not in ("false", "0")
        return resolve_loop_mode(values["loop_mode"], values["hardware"], realtime) == "process"
    except ConfigError:  # the node names the problem
        return False


def main(args: list[str] | None = None) -> None:
    """Entry point of ``control_node``."""
    argv = args if args is not None else sys.argv
    loop_process = LoopProcess() if _expects_process_mode(argv) else None
    sys.exit(run_node(lambda: ControlNode(loop_process), args))


if __name__ == "__main__":
    main()
