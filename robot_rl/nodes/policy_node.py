"""Policy node: a lifecycle node that runs a contract-checked ONNX policy and sends chunks to the safety filter.

* configure: load the policy (and optional residual) and check the contract against the robot from the
  ``robot`` parameter (joint names, limits, rates, golden vectors, inference time); refuse with the reason.
* activate: a timer at the chunk rate (policy_hz / n_action_steps) turns the newest /joint_states (+ goal,
  object pose) into a JointTrajectory on :data:`robot_rl.topics.COMMAND`, stamped with the observation time,
  stale steps dropped; inference latency (ms) on ``/robot_rl/policy/latency``; gripper on ``/robot_rl/gripper``.
* hot swap: a path on ``~/load`` (std_msgs/String) is loaded and checked by the same contract checks; the
  outcome goes to ``~/status`` (latched String). A failed check leaves the old policy running.
* statistics (chunks, dropped steps, action saturation) go to /diagnostics once per second.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Float64MultiArray, Header, String
from trajectory_msgs.msg import JointTrajectory

from robot_rl import topics
from robot_rl.command import JointTrajectoryCommand
from robot_rl.errors import RobotRLError
from robot_rl.nodes.conversions import stamp_to_seconds, trajectory_to_msg
from robot_rl.nodes.main import run_node
from robot_rl.nodes.ros_params import declare_from_yaml
from robot_rl.policy.checks import check_inference_time
from robot_rl.policy.chunking import drop_stale
from robot_rl.policy.contract import load_policy
from robot_rl.policy.observation import ObservationInputs
from robot_rl.policy.perturbation import Perturbation
from robot_rl.policy.runtime import PolicyRuntime, RuntimeConfig
from robot_rl.robot.model import load_robot_model

LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
"""Goal and status: the last message reaches late joiners."""


class PolicyNode(LifecycleNode):
    """Runs the policy; see the module docstring for the interface."""

    def __init__(self):
        super().__init__("policy_node")
        self.params = declare_from_yaml(self, "policy")
        p = self.params
        self.perturb = Perturbation(p["latency_ms"], p["jitter_ms"], p["position_noise"], p["velocity_noise"],
                                    p["seed"])
        self.runtime: PolicyRuntime | None = None
        self.policy_id = ""
        self._state: JointState | None = None
        self._goal: np.ndarray | None = None
        self._object_pose: np.ndarray | None = None
        self._timer = None
        self._stats = {"chunks": 0, "dropped_chunks": 0, "dropped_steps": 0, "action_entries": 0,
                       "saturated_entries": 0, "swaps": 0, "swaps_refused": 0}
        self._status_pub = self.create_publisher(String, "~/status", LATCHED)
        if p["autostart"]:
            if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                raise RobotRLError(f"policy node could not configure with {p['policy_path']!r}")
            self.trigger_activate()

    # ----- loading ---------------------------------------------------------------------------------------
    def _load(self, path: str, residual_path: str = "") -> PolicyRuntime:
        """Load and check a policy (+ residual) against the robot; raises ConfigError naming the mismatch."""
        base = load_policy(path, robot=self.robot)
        residual = load_policy(residual_path, robot=self.robot) if residual_path else None
        config = RuntimeConfig(self.params["intra_op_threads"], self.params["inter_op_threads"], self.params["seed"])
        runtime = PolicyRuntime(base, residual, robot_model=self.robot, config=config,
                                gripper_range=self._gripper_range())
        probe = ObservationInputs(0.0, self.robot.joint_names + self._gripper_joints(),
                                  np.zeros(self.robot.dof + len(self._gripper_joints())),
                                  np.zeros(self.robot.dof + len(self._gripper_joints())),
                                  goal=np.zeros(_goal_size(base.contract)), object_pose=np.r_[np.zeros(3), 1, 0, 0, 0])
        check_inference_time(lambda: runtime.act(probe), base.contract)
        runtime.reset()
        self.policy_id = base.sha256
        return runtime

    def _gripper_joints(self) -> tuple[str, ...]:
        gripper = self.robot.config.gripper
        return gripper.joints if gripper is not None else ()

    def _gripper_range(self) -> tuple[float, float]:
        gripper = self.robot.config.gripper
        return (gripper.open_position, gripper.closed_position) if gripper is not None else (0.0, 0.0)

    def _publish_status(self, text: str) -> None:
        self._status_pub.publish(String(data=text))

    # ----- lifecycle -------------------------------------------------------------------------------------
    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            self.robot = load_robot_model(self.params["robot"])
            self.runtime = self._load(self.params["policy_path"], self.params["residual_path"])
        except RobotRLError as exc:
            self.get_logger().error(f"policy refused: {exc}")
            self._publish_status(f"refused: {exc}")
            return TransitionCallbackReturn.FAILURE
        self._command_pub = self.create_lifecycle_publisher(JointTrajectory, topics.COMMAND, 10)
        self._latency_pub = self.create_lifecycle_publisher(Float64, topics.POLICY_LATENCY, 10)
        self._gripper_pub = self.create_lifecycle_publisher(Float64, topics.GRIPPER, 10)
        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        self.create_subscription(JointState, topics.JOINT_STATES, self._on_state, 10)
        self.create_subscription(Float64MultiArray, topics.GOAL, self._on_goal, LATCHED)
        self.create_subscription(PoseStamped, topics.OBJECT_POSE, self._on_object, 10)
        self.create_subscription(String, "~/load", self._on_load, 10)
        self.create_timer(1.0, self._publish_diagnostics)
        self._publish_status(f"loaded {self.params['policy_path']} sha256={self.policy_id}")
        self.get_logger().info(f"policy {self.params['policy_path']} checked against {self.robot.config.name}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        contract = self.runtime.contract
        period = contract.timing.period * contract.chunking.n_action_steps
        self.runtime.reset()
        self._timer = self.create_timer(period, self._step)
        self.get_logger().info(f"active: one inference every {period * 1000:.1f} ms")
        return super().on_activate(state)

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None
        return super().on_deactivate(state)

    # ----- callbacks -------------------------------------------------------------------------------------
    def _on_state(self, msg: JointState) -> None:
        self._state = msg

    def _on_goal(self, msg: Float64MultiArray) -> None:
        goal = np.asarray(msg.data, dtype=float)
        changed = self._goal is None or goal.shape != self._goal.shape or not np.array_equal(goal, self._goal)
        self._goal = goal
        if changed and self.runtime is not None:
            self.runtime.reset()  # a new goal starts a new episode for the policy's histories

    def _on_object(self, msg: PoseStamped) -> None:
        p, q = msg.pose.position, msg.pose.orientation
        self._object_pose = np.array([p.x, p.y, p.z, q.w, q.x, q.y, q.z])

    def _on_load(self, msg: String) -> None:
        try:
            runtime = self._load(msg.data)
        except RobotRLError as exc:
            self._stats["swaps_refused"] += 1
            self.get_logger().error(f"hot swap to {msg.data} refused, keeping the current policy: {exc}")
            self._publish_status(f"refused: {exc}")
            return
        self.runtime = runtime
        self._stats["swaps"] += 1
        self._publish_status(f"loaded {msg.data} sha256={self.policy_id}")
        self.get_logger().info(f"hot-swapped to {msg.data}")

    def _inputs(self) -> ObservationInputs | None:
        msg = self._state
        if msg is None:
            return None
        stamp = stamp_to_seconds(msg.header.stamp)
        if time.time() - stamp > self.params["state_timeout_s"]:
            self.get_logger().warn("joint states are stale; not commanding", throttle_duration_sec=2.0)
            return None
        velocity = msg.velocity if len(msg.velocity) == len(msg.name) else np.zeros(len(msg.name))
        return self.perturb.observe(ObservationInputs(
            stamp=stamp, joint_names=tuple(msg.name), position=np.asarray(msg.position, float),
            velocity=np.asarray(velocity, float), goal=self._goal, object_pose=self._object_pose))

    def _step(self) -> None:
        inputs = self._inputs()
        if inputs is None:
            return
        try:
            chunk = self.runtime.act(inputs)
        except RobotRLError as exc:
            self.get_logger().warn(f"no action: {exc}", throttle_duration_sec=2.0)
            return
        delay = self.perturb.delay_s()
        if delay > 0:
            time.sleep(delay)
        self._latency_pub.publish(Float64(data=chunk.latency_ms))
        self._stats["chunks"] += 1
        self._stats["action_entries"] += chunk.saturated.size
        self._stats["saturated_entries"] += int(chunk.saturated.sum())
        contract = self.runtime.contract
        fresh = drop_stale(chunk, time.time(), contract.timing.max_latency_ms / 1000.0,
                           self.params["min_lead_ms"] / 1000.0)
        if fresh is None:
            self._stats["dropped_chunks"] += 1
            self._stats["dropped_steps"] += chunk.num_steps
            return
        self._stats["dropped_steps"] += chunk.num_steps - fresh.num_steps
        self._command_pub.publish(trajectory_to_msg(JointTrajectoryCommand(
            joint_names=fresh.joint_names, stamp=fresh.stamp, times=fresh.deadlines, positions=fresh.positions,
            velocities=fresh.velocities, source="policy")))
        if fresh.gripper is not None:
            self._gripper_pub.publish(Float64(data=float(fresh.gripper[0])))

    def _publish_diagnostics(self) -> None:
        values = dict(self._stats, policy_sha256=self.policy_id)
        status = DiagnosticStatus(level=DiagnosticStatus.OK, name="policy_node", message="running",
                                  values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])
        self._diag_pub.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()), status=[status]))


def _goal_size(contract) -> int:
    return next((t.size for t in contract.observations if t.source == "goal"), 0)


def main(args: list[str] | None = None) -> None:
    """Entry point of ``policy_node``."""
    sys.exit(run_node(PolicyNode, args))


if __name__ == "__main__":
    main()
