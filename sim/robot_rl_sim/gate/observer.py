"""The gate's rclpy observer: resets the robot, publishes goals, records joint states, object poses, commands,
diagnostics, and switches the policy node off/on (lifecycle) around each reset so every episode starts fresh.

/joint_states (1 kHz) is read on demand every :data:`POLL_S` (:class:`robot_rl.nodes.latest.LatestMessage`),
not with a callback per message: the observer shares the 2-core machine with the graph it measures."""

from __future__ import annotations

import threading
import time

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Float64MultiArray
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from robot_rl import topics
from robot_rl.errors import RobotRLError
from robot_rl.nodes.conversions import joint_state_from_msg, stamp_to_seconds
from robot_rl.nodes.latest import LatestMessage

RESET_SERVICE = "/control_node/reset"
SAFETY_RESET_SERVICE = "/safety_filter/reset"
BRAKE_S = 0.5
"""Seconds allowed, after the safety filter's watchdog, for its plan to brake to rest once the policy stops."""
POLICY_LIFECYCLE_SERVICE = "/policy_node/change_state"
SETTLE_S = 0.2
"""Seconds between the reset answer and the episode start (the loop applies the reset on its next tick)."""
GOAL_QOS = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
POLL_S = 0.01
"""Seconds between two reads of the newest joint state (success checks and tracking-error samples)."""


class GateObserver:
    """Context manager owning rclpy and one node spun on a background thread."""

    def __init__(self, joint_names: tuple[str, ...], watchdog_s: float = 0.2, object_topic: str = topics.OBJECT_POSE):
        self.joint_names, self.object_topic = joint_names, object_topic  # the pose success is judged from
        self.rest_s = watchdog_s + BRAKE_S  # policy off -> the filter's plan is at rest
        self.diagnostics: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()
        self._q: np.ndarray | None = None
        self._targets: list[tuple[float, np.ndarray]] = []  # (deadline s, target (n,))
        self._errors: list[float] = []
        self._object: tuple[float, np.ndarray] | None = None  # (stamp s, pose (7,))
        self.latencies_ms: list[float] = []  # policy inference latency per chunk, ms

    def __enter__(self) -> GateObserver:
        rclpy.init()
        self.node = rclpy.create_node("gate_observer")
        self._joint_states = LatestMessage(self.node.context, "gate_observer_joint_states", JointState,
                                           topics.JOINT_STATES)
        self.node.create_subscription(JointTrajectory, topics.COMMAND, self._on_command, 10)
        self.node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diag, 10)
        self.goal_pub = self.node.create_publisher(Float64MultiArray, topics.GOAL, GOAL_QOS)
        self.node.create_subscription(PoseStamped, self.object_topic, self._on_object, 10)
        self.node.create_subscription(Float64, topics.POLICY_LATENCY, lambda m: self.latencies_ms.append(m.data), 10)
        self.reset_client = self.node.create_client(Trigger, RESET_SERVICE)
        self.safety_reset_client = self.node.create_client(Trigger, SAFETY_RESET_SERVICE)
        self.lifecycle_client = self.node.create_client(ChangeState, POLICY_LIFECYCLE_SERVICE)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.executor.shutdown()
        self._joint_states.destroy()
        self.node.destroy_node()
        rclpy.shutdown()
        self._thread.join(timeout=5)

    def poll_state(self) -> None:
        """Read the newest joint state (main thread); score command steps whose deadline it has passed."""
        msg = self._joint_states.take()
        if msg is None:
            return
        stamp, q, _, _ = joint_state_from_msg(msg, self.joint_names)
        with self._lock:
            self._q = q
            while self._targets and self._targets[0][0] <= stamp:
                _, target = self._targets.pop(0)
                self._errors.append(float(np.mean(np.abs(q - target))))

    def joint_positions(self) -> np.ndarray | None:
        """Newest measured arm positions (n,) rad, read now; None before the first joint state."""
        self.poll_state()
        with self._lock:
            return None if self._q is None else self._q.copy()

    def _on_object(self, msg: PoseStamped) -> None:
        p, o = msg.pose.position, msg.pose.orientation
        with self._lock:
            self._object = (stamp_to_seconds(msg.header.stamp), np.array([p.x, p.y, p.z, o.w, o.x, o.y, o.z]))

    def object_pose(self, since: float) -> np.ndarray | None:
        """Newest object pose (7,) stamped after ``since`` (s, wall clock), else None."""
        with self._lock:
            if self._object is None or self._object[0] <= since:
                return None
            return self._object[1].copy()

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

    def wait_for(self, runner, timeout: float, needs_object: bool = False) -> None:
        """Block until the graph publishes joint states (and the object pose when ``needs_object``) and the
        reset and policy lifecycle services exist and the policy node spins (its diagnostics arrive: it
        has loaded and checked its policy); RobotRLError otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll_state()
            if runner.exited():
                raise RobotRLError(f"nodes exited during startup: {runner.exited()} (logs in {runner.log_dir})")
            if (self._q is not None and self.reset_client.service_is_ready()
                    and self.safety_reset_client.service_is_ready()
                    and "policy_node" in self.diagnostics and self.lifecycle_client.service_is_ready()
                    and (not needs_object or self.object_pose(0.0) is not None)):
                return
            time.sleep(0.1)
        raise RobotRLError(f"graph not up after {timeout} s (logs in {runner.log_dir})")

    def reset(self) -> None:
        """Call the control node's reset service and wait for the answer."""
        result = _call(self.reset_client, Trigger.Request(), RESET_SERVICE)
        if not result.success:
            raise RobotRLError(f"{RESET_SERVICE} failed: {result.message}")

    def reset_safety(self) -> None:
        """Call the safety filter's reset: once its plan is at rest it re-anchors it at the measured position.
        Without it the first plan of an episode started from where the previous episode's plan stopped, and
        the control node was pulled back towards that pose before the policy's commands took over."""
        result = _call(self.safety_reset_client, Trigger.Request(), SAFETY_RESET_SERVICE)
        if not result.success:
            raise RobotRLError(f"{SAFETY_RESET_SERVICE} failed: {result.message}")

    def policy_transition(self, transition_id: int) -> None:
        """Lifecycle transition of the policy node (Transition.TRANSITION_ACTIVATE / _DEACTIVATE)."""
        result = _call(self.lifecycle_client, ChangeState.Request(transition=Transition(id=transition_id)),
                       POLICY_LIFECYCLE_SERVICE)
        if not result.success:
            raise RobotRLError(f"{POLICY_LIFECYCLE_SERVICE} refused transition {transition_id}")

    def start_episode(self, goal: np.ndarray | None) -> float:
        """Policy off, the filter's plan comes to rest, robot (and task scene) reset, the filter re-anchored at
        the reset pose, goal out, policy on; returns the start time (s, wall)."""
        self.policy_transition(Transition.TRANSITION_DEACTIVATE)
        time.sleep(self.rest_s)
        self.reset()
        time.sleep(SETTLE_S)
        self.reset_safety()
        time.sleep(SETTLE_S)
        start = time.time()
        with self._lock:
            self._errors, self._targets = [], []
        if goal is not None:
            self.goal_pub.publish(Float64MultiArray(data=np.asarray(goal, float).tolist()))
        self.policy_transition(Transition.TRANSITION_ACTIVATE)
        return start

    def run_episode(self, runner, goal, task, model, episode_s: float) -> dict:
        """One episode: judge the task's success every ``task.policy_dt`` s of measured state. ``trace`` holds
        [s since start, distance still to go (task.measure's ``error``)] per check, for failure analysis."""
        start = self.start_episode(goal)
        end, next_check = time.monotonic() + episode_s, time.monotonic()
        success_s, last, trace = None, {}, []
        while time.monotonic() < end:
            self.poll_state()
            if runner.exited():
                raise RobotRLError(f"nodes exited during the gate: {runner.exited()} (logs in {runner.log_dir})")
            if time.monotonic() >= next_check:
                next_check += task.policy_dt
                with self._lock:
                    q = self._q.copy()
                last = task.measure(model, q, goal, self.object_pose(start))
                trace.append([round(time.time() - start, 3), round(float(last["error"]), 4)])
                if task.any_step and last["success"] and success_s is None:
                    success_s = time.time() - start
            time.sleep(POLL_S)
        self.poll_state()
        with self._lock:
            q, errors = self._q.copy(), list(self._errors)
        final = task.measure(model, q, goal, self.object_pose(start))
        success = success_s is not None if task.any_step else bool(final["success"])
        return {"goal": None if goal is None else np.asarray(goal).tolist(), "success": success,
                "success_time_s": success_s, "final_error": final["error"],
                "final": {k: v for k, v in final.items() if k != "success"},
                "tracking_error_rad": float(np.mean(errors)) if errors else None, "trace": trace}

    def run_episodes(self, runner, goals, task, model, config, episode_s: float) -> list[dict]:
        """One episode per goal (None: the task has no goal) of ``episode_s`` seconds each."""
        self.wait_for(runner, config.startup_timeout_s, task.needs_object)
        results = [self.run_episode(runner, goal, task, model, episode_s) for goal in goals]
        time.sleep(1.1)  # one more diagnostics period so the counters cover the last episode
        return results


def _call(client, request, name: str, timeout: float = 30.0):
    """Call a service from the main thread while the executor thread spins; RobotRLError on timeout."""
    future = client.call_async(request)
    deadline = time.monotonic() + timeout
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not future.done() or future.result() is None:
        raise RobotRLError(f"{name}: no answer within {timeout} s")
    return future.result()
