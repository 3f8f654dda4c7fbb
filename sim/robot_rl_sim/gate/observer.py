"""The gate's rclpy observer: resets the robot, publishes goals, records joint states, commands, diagnostics."""

from __future__ import annotations

import threading
import time

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from robot_rl import topics
from robot_rl.errors import RobotRLError
from robot_rl.nodes.conversions import joint_state_from_msg, stamp_to_seconds

RESET_SERVICE = "/control_node/reset"
GOAL_QOS = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)


class GateObserver:
    """Context manager owning rclpy and one node spun on a background thread."""

    def __init__(self, joint_names: tuple[str, ...]):
        self.joint_names = joint_names
        self.diagnostics: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()
        self._q: np.ndarray | None = None
        self._targets: list[tuple[float, np.ndarray]] = []  # (deadline s, target (n,))
        self._errors: list[float] = []

    def __enter__(self) -> GateObserver:
        rclpy.init()
        self.node = rclpy.create_node("gate_observer")
        self.node.create_subscription(JointState, topics.JOINT_STATES, self._on_state, 10)
        self.node.create_subscription(JointTrajectory, topics.COMMAND, self._on_command, 10)
        self.node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diag, 10)
        self.goal_pub = self.node.create_publisher(Float64MultiArray, topics.GOAL, GOAL_QOS)
        self.reset_client = self.node.create_client(Trigger, RESET_SERVICE)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown()
        self._thread.join(timeout=5)

    def _on_state(self, msg: JointState) -> None:
        stamp, q, _, _ = joint_state_from_msg(msg, self.joint_names)
        with self._lock:
            self._q = q
            while self._targets and self._targets[0][0] <= stamp:
                _, target = self._targets.pop(0)
                self._errors.append(float(np.mean(np.abs(q - target))))

    def _on_command(self, msg: JointTrajectory) -> None:
        index = [list(msg.joint_names).index(n) for n in self.joint_names if n in msg.joint_names]
        if len(index) != len(self.joint_names):
            return
        stamp = stamp_to_seconds(msg.header.stamp)
        with self._lock:
            self._targets = [t for t in self._targets if t[0] < stamp]  # the new chunk replaces the rest
            for p in msg.points:
                deadline = stamp + p.time_from_start.sec + p.time_from_start.nanosec * 1e-9
                self._targets.append((deadline, np.asarray(p.positions, float)[index]))

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            self.diagnostics[status.name] = {kv.key: kv.value for kv in status.values}

    def wait_for(self, runner, timeout: float) -> None:
        """Block until the graph publishes joint states and the reset service exists; RobotRLError otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if runner.exited():
                raise RobotRLError(f"nodes exited during startup: {runner.exited()} (logs in {runner.log_dir})")
            if self._q is not None and self.reset_client.service_is_ready():
                return
            time.sleep(0.1)
        raise RobotRLError(f"graph not up after {timeout} s (logs in {runner.log_dir})")

    def reset(self) -> None:
        """Call the control node's reset service and wait for the answer."""
        future = self.reset_client.call_async(Trigger.Request())
        deadline = time.monotonic() + 10.0
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not future.done() or not future.result().success:
            raise RobotRLError(f"{RESET_SERVICE} failed: {future.result() if future.done() else 'timeout'}")

    def run_episodes(self, runner, goals, task, model, config) -> list[dict]:
        """One episode per goal: reset, publish the goal, run ``config.episode_s``, score the final state."""
        self.wait_for(runner, config.startup_timeout_s)
        results = []
        for goal in goals:
            self.reset()
            time.sleep(0.2)
            with self._lock:
                self._errors, self._targets = [], []
            self.goal_pub.publish(Float64MultiArray(data=np.asarray(goal, float).tolist()))
            end = time.monotonic() + config.episode_s
            while time.monotonic() < end:
                if runner.exited():
                    raise RobotRLError(f"nodes exited during the gate: {runner.exited()}")
                time.sleep(0.05)
            with self._lock:
                q, errors = self._q.copy(), list(self._errors)
            error = task.error(model, q, goal)
            results.append({"goal": np.asarray(goal).tolist(), "final_error": error, "success": task.success(error),
                            "tracking_error_rad": float(np.mean(errors)) if errors else None})
        time.sleep(1.1)  # one more diagnostics period so the counters cover the last episode
        return results
