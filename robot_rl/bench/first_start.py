"""``robot-rl bench first-start --install PREFIX``: how long an installed safety filter takes to be ready and to
forward its first command.

Starts ``PREFIX/lib/robot_rl/safety_filter_node`` (a colcon install: ``install/robot_rl``) with that install on
PYTHONPATH and AMENT_PREFIX_PATH. From the moment the process is started, a probe node plays the rest of a
running graph: it publishes the robot's default pose on /joint_states and a command holding that pose on
/robot_rl/command every :data:`PERIOD_S` (a policy already running; messages sent before the filter exists are
lost, as they would be). Measured, in wall seconds from the process start:

* ``ready_s``: the filter's first state other than ``starting`` on /diagnostics;
* ``first_command_forwarded_s``: its first message on /robot_rl/safe_command (what the control node would get);
* ``node_cpu_s_at_first_forward``: the CPU time (user + system, s) the node had used by then, which a loaded
  machine stretches into wall time but does not change.

``--cold`` points NUMBA_CACHE_DIR at an empty directory, so the node compiles its kernels as it would without
the install-time compilation.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from robot_rl.bench.output import emit

PERIOD_S = 0.02
"""Seconds between two joint states (and two commands) the probe sends."""


def register(subparsers) -> None:
    """Add ``bench first-start``."""
    p = subparsers.add_parser("first-start", help="time until an installed safety filter is ready and forwards")
    p.add_argument("--install", required=True, type=Path, help="the package's install prefix (install/robot_rl)")
    p.add_argument("--cold", action="store_true", help="empty numba cache: measure a start that compiles")
    p.add_argument("--robot", default="panda", help="the filter's robot (its default parameter is panda)")
    p.add_argument("--timeout", type=float, default=300.0, help="s")
    p.add_argument("--json", default=None, help="write the result here")
    p.set_defaults(func=run)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time (s) process ``pid`` has used so far (Linux /proc), None where unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)


def node_env(install: Path, cache: str | None) -> dict[str, str]:
    """Environment of a node run from the colcon install ``install`` (``cache``: its NUMBA_CACHE_DIR, if given)."""
    site = next((install / "lib").glob("python3*/site-packages"))
    env = {**os.environ, "PYTHONPATH": str(site), "AMENT_PREFIX_PATH": str(install)}
    if cache is not None:
        env["NUMBA_CACHE_DIR"] = cache
    return env


class _Probe:
    """rclpy node standing in for the control node (joint states) and a policy (hold commands); records when the
    filter is first ready and first forwards, s after ``start`` (monotonic)."""

    def __init__(self, robot: str, start: float, pid: int):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import JointState
        from trajectory_msgs.msg import JointTrajectory

        from robot_rl import topics
        from robot_rl.robot.config import load_robot_config

        config = load_robot_config(robot)
        self.names, self.pose = config.joints, np.asarray(config.default_pose, float)
        self.start, self.pid = start, pid
        self.node = rclpy.create_node("first_start_probe")
        self.reported: set[str] = set()
        self.ready_s: float | None = None
        self.forwarded_s: float | None = None
        self.cpu_at_forward_s: float | None = None
        self.sent = 0
        self._states = self.node.create_publisher(JointState, topics.JOINT_STATES, 10)
        self._commands = self.node.create_publisher(JointTrajectory, topics.COMMAND, 10)
        self.node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diagnostics, 10)
        self.node.create_subscription(JointTrajectory, topics.SAFE_COMMAND, self._on_forwarded, 10)

    def _elapsed(self) -> float:
        return time.monotonic() - self.start

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            if status.name == "safety_filter":
                self.reported.add(status.message)
                if status.message != "starting" and self.ready_s is None:
                    self.ready_s = self._elapsed()

    def _on_forwarded(self, _msg) -> None:
        if self.forwarded_s is None:
            self.forwarded_s, self.cpu_at_forward_s = self._elapsed(), cpu_seconds(self.pid)

    def send(self) -> None:
        """One joint state at the default pose (stamped now) and one command holding it (stamp 0: now)."""
        from robot_rl.command import JointTrajectoryCommand
        from robot_rl.hardware.base import JointStateSample
        from robot_rl.nodes.conversions import joint_state_to_msg, trajectory_to_msg

        now = self.node.get_clock().now().nanoseconds * 1e-9
        zeros = np.zeros_like(self.pose)
        self._states.publish(joint_state_to_msg(self.names, JointStateSample(now, self.pose, zeros, zeros), now))
        self._commands.publish(trajectory_to_msg(JointTrajectoryCommand(
            self.names, 0.0, np.array([0.1]), self.pose[None], zeros[None], source="bench")))
        self.sent += 1


def run(args: argparse.Namespace) -> int:
    import rclpy

    from robot_rl.bringup.session import isolated_ros_env

    os.environ.update(isolated_ros_env())
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryFile("w+") as log, rclpy.init():
        start = time.monotonic()
        node = subprocess.Popen([str(args.install / "lib" / "robot_rl" / "safety_filter_node"),
                                 "--ros-args", "-p", f"robot:={args.robot}"],
                                env=node_env(args.install, cache if args.cold else None),
                                stdout=log, stderr=subprocess.STDOUT)
        probe, next_send = _Probe(args.robot, start, node.pid), start
        while time.monotonic() - start < args.timeout and (probe.ready_s is None or probe.forwarded_s is None):
            if time.monotonic() >= next_send:
                probe.send()
                next_send = max(next_send + PERIOD_S, time.monotonic())  # late on a loaded machine: no burst
            rclpy.spin_once(probe.node, timeout_sec=max(0.0, next_send - time.monotonic()))
        node.terminate()
        try:
            node.wait(timeout=30)
        except subprocess.TimeoutExpired:  # e.g. inside a kernel compilation that does not see the signal
            node.kill()
            node.wait()
        log.seek(0)
        node_log = log.read().splitlines()[-10:]
    emit("first-start", {"install": str(args.install), "robot": args.robot, "cold_numba_cache": args.cold,
                         "ready_s": probe.ready_s, "first_command_forwarded_s": probe.forwarded_s,
                         "node_cpu_s_at_first_forward": probe.cpu_at_forward_s,
                         "commands_sent": probe.sent, "reported": sorted(probe.reported),
                         "load_average_1min": os.getloadavg()[0], "node_log_tail": node_log}, args.json)
    return 0 if probe.ready_s is not None and probe.forwarded_s is not None else 1
