"""Policy node: a lifecycle node that runs a contract-checked ONNX policy and sends chunks to the safety filter.

* configure: load the policy (and optional residual) and check the contract against the robot from the
  ``robot`` parameter (joint names, limits, rates, golden vectors, inference time); refuse with the reason.
* activate: a timer at policy_hz pushes one observation frame per period (as in training), hands it to the
  inference thread when the chunk's executed part runs out, and sends a heartbeat on command_topic every period:
  the not-yet-due rest of the chunk at its original absolute times (:mod:`robot_rl.policy.scheduler`). New
  chunks go out when ready (observation stamp, stale steps dropped); latency (ms) on POLICY_LATENCY.
* hot swap: a path on ``~/load`` (std_msgs/String) is loaded and checked on a loader thread by the same
  contract checks; the outcome goes to ``~/status`` (latched String). A failed check keeps the old policy.
  A residual on ``~/load_residual`` (std_msgs/String; "" drops the residual) must name the loaded base's
  sha256; it joins the running episode (observation histories kept). It acts per period: each heartbeat's
  due step is recomputed on that period's observation (``PolicyRuntime.restep``). A refused residual keeps the
  current one; a policy hot swap drops the residual (it names the old base). ``~/residual_bytes``
  (std_msgs/UInt8MultiArray, transient local: a late node gets the newest) carries a residual's bytes from a
  learner on another machine (:mod:`robot_rl.hil.transfer`): their sha256 is checked against the sender's before
  they are written to ``residual_dir`` and loaded as above; a mismatch is refused, named on ``~/status``.
* episodes: ``~/reset_episode`` (std_msgs/Empty) starts a new episode: fresh observation histories, the current
  chunk and any running inference dropped (sent by the HIL learner at each episode's end and start).
* statistics (chunks, heartbeats, holds, drops, overruns, saturation, tick timing): /diagnostics, 1 Hz.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import Empty, Float64, Float64MultiArray, Header, String, UInt8MultiArray
from trajectory_msgs.msg import JointTrajectory

from robot_rl import topics
from robot_rl.command import JointTrajectoryCommand
from robot_rl.errors import ConfigError, RobotRLError
from robot_rl.hil.transfer import ResidualPayload
from robot_rl.nodes.conversions import stamp_to_seconds, trajectory_to_msg
from robot_rl.nodes.latest import LatestMessage
from robot_rl.nodes.main import run_node
from robot_rl.nodes.ros_params import declare_from_yaml
from robot_rl.policy.checks import check_inference_time
from robot_rl.policy.chunking import ActionChunk
from robot_rl.policy.contract import LoadedPolicy, load_policy
from robot_rl.policy.freshness import fresh_pose
from robot_rl.policy.noise_policy import is_noise_policy
from robot_rl.policy.observation import ObservationInputs
from robot_rl.policy.perturbation import Perturbation
from robot_rl.policy.runtime import PolicyRuntime, RuntimeConfig
from robot_rl.policy.scheduler import PolicyScheduler, ScheduleConfig
from robot_rl.policy.worker import InferenceWorker
from robot_rl.robot.model import load_robot_model

LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)  # goal, status: late joiners get them


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
        self._joint_states = LatestMessage(self.context, f"{self.get_name()}_joint_states", JointState,
                                           topics.JOINT_STATES)  # read once per period, not per 1 kHz message
        self._goal: np.ndarray | None = None
        self._object_pose: np.ndarray | None = None
        self._object_stamp: float | None = None
        self._timer = None
        self._scheduler: PolicyScheduler | None = None
        self._lock = threading.Lock()  # scheduler and epoch: shared by the timer and the inference thread
        self._epoch = 0  # bumped on (re)activation and deactivation; results of older inferences are dropped
        self._stats = {"action_entries": 0, "saturated_entries": 0, "swaps": 0, "swaps_refused": 0,
                       "residual_swaps": 0, "residual_swaps_refused": 0, "episode_resets": 0}
        self._worker, self._loader = InferenceWorker(), InferenceWorker("policy-loader")
        # from the loader: (path, runtime or None, sha256, error, is a residual swap)
        self._swaps: deque = deque()
        self._swap_ready = self.create_guard_condition(self._apply_swap)
        self._status_pub = self.create_publisher(String, "~/status", LATCHED)
        if p["autostart"]:
            if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                raise RobotRLError(f"policy node could not configure with {p['policy_path']!r}")
            self.trigger_activate()

    def _load(self, path: str, residual_path: str = "", robot=None) -> tuple[PolicyRuntime, str]:
        """Load and check a policy (+ residual) against ``robot`` (a RobotModel owned by the calling thread;
        default ``self.robot``): (runtime, sha256 of the base file); raises ConfigError naming the mismatch."""
        robot = robot or self.robot
        base = load_policy(path, robot=robot)
        residual = load_policy(residual_path, robot=robot) if residual_path else None
        return self._runtime(base, residual, robot), base.sha256

    def _runtime(self, base: LoadedPolicy, residual: LoadedPolicy | None, robot) -> PolicyRuntime:
        """A runtime for loaded ``base`` (+ ``residual``), its inference time checked on ``robot``; ConfigError for a
        noise policy (DSRL) while ``explore_residual`` is on: it would run a sampled latent, while the DSRL learner
        node records the deterministic one its copy of the same export chooses (the stored latent would not be
        the one that ran)."""
        if residual is not None and is_noise_policy(residual.contract) and self.params["explore_residual"]:
            raise ConfigError(f"noise policy {residual.path}: explore_residual is on, so the latent run would be "
                              "sampled, but the DSRL learner records the deterministic latent (eps 0) of the "
                              "same export; set explore_residual false for method dsrl")
        config = RuntimeConfig(self.params["intra_op_threads"], self.params["inter_op_threads"], self.params["seed"],
                               explore_residual=self.params["explore_residual"],
                               explore_scale=self.params["explore_scale"])
        gripper = robot.config.gripper
        grip_range = (gripper.open_position, gripper.closed_position) if gripper is not None else (0.0, 0.0)
        runtime = PolicyRuntime(base, residual, robot_model=robot, config=config, gripper_range=grip_range)
        names = robot.joint_names + (gripper.joints if gripper is not None else ())
        goal = np.zeros(next((t.size for t in base.contract.observations if t.source == "goal"), 0))
        probe = ObservationInputs(0.0, names, np.zeros(len(names)), np.zeros(len(names)), goal=goal,
                                  object_pose=np.r_[np.zeros(3), 1, 0, 0, 0])
        check_inference_time(lambda: runtime.act(probe), base.contract)
        runtime.reset()
        return runtime

    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            self.robot = load_robot_model(self.params["robot"])
            self.runtime, self.policy_id = self._load(self.params["policy_path"], self.params["residual_path"])
        except RobotRLError as exc:
            self.get_logger().error(f"policy refused: {exc}")
            self._status_pub.publish(String(data=f"refused: {exc}"))
            return TransitionCallbackReturn.FAILURE
        self._command_pub = self.create_lifecycle_publisher(JointTrajectory, self.params["command_topic"], 10)
        self._latency_pub = self.create_lifecycle_publisher(Float64, topics.POLICY_LATENCY, 10)
        self._gripper_pub = self.create_lifecycle_publisher(Float64, self.params["gripper_topic"], 10)
        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        self.create_subscription(Float64MultiArray, topics.GOAL, self._on_goal, LATCHED)
        self.create_subscription(PoseStamped, topics.OBJECT_POSE, self._on_object, 10)
        self.create_subscription(String, "~/load", self._on_load, 10)
        self.create_subscription(String, "~/load_residual", self._on_load_residual, 10)
        self.create_subscription(UInt8MultiArray, "~/residual_bytes", self._on_residual_bytes, LATCHED)
        self.create_subscription(Empty, "~/reset_episode", self._on_reset_episode, 10)
        self.create_timer(1.0, self._publish_diagnostics)
        self._status_pub.publish(String(data=f"loaded {self.params['policy_path']} sha256={self.policy_id}"))
        self.get_logger().info(f"policy {self.params['policy_path']} checked against {self.robot.config.name}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        self._start_schedule()
        return super().on_activate(state)

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self._stop_schedule()
        return super().on_deactivate(state)

    def _start_schedule(self) -> None:
        """(Re)start the policy-rate timer with a fresh scheduler and fresh observation histories."""
        self._stop_schedule()
        config = ScheduleConfig.from_contract(self.runtime.contract, self.params["min_lead_ms"] / 1000.0)
        with self._lock:
            previous, self._scheduler = self._scheduler, PolicyScheduler(config)
            if previous is not None:
                self._scheduler.stats = previous.stats  # counters are cumulative over activations
        self.runtime.reset()
        self._timer = self.create_timer(config.period, self._tick)
        steps = self.runtime.contract.chunking.n_action_steps
        self.get_logger().info(f"active: a frame and a heartbeat every {config.period * 1000:.1f} ms, "
                               f"inference every {steps} periods")

    def _stop_schedule(self) -> None:
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None
        with self._lock:
            self._epoch += 1
            if self._scheduler is not None:
                self._scheduler.reset()

    def shutdown(self) -> None:
        """Called by :func:`run_node` before destroy_node: stop the timer and the inference thread."""
        self._stop_schedule()
        self._worker.stop()
        self._loader.stop()
        self._joint_states.destroy()

    def _on_goal(self, msg: Float64MultiArray) -> None:
        goal = np.asarray(msg.data, dtype=float)
        changed = self._goal is None or goal.shape != self._goal.shape or not np.array_equal(goal, self._goal)
        self._goal = goal
        if changed and self.runtime is not None:
            self.runtime.reset()  # a new goal starts a new episode for the policy's histories

    def _on_object(self, msg: PoseStamped) -> None:
        p, q = msg.pose.position, msg.pose.orientation
        self._object_pose = np.array([p.x, p.y, p.z, q.w, q.x, q.y, q.z])
        self._object_stamp = stamp_to_seconds(msg.header.stamp)

    def _on_load(self, msg: String) -> None:
        """Load and check on the loader thread, so ticks (frames, heartbeats) go on meanwhile."""
        if not self._loader.submit(lambda: self._load_for_swap(msg.data)):
            self._status_pub.publish(String(data=f"refused: {msg.data}: another hot swap is still being checked"))

    def _load_for_swap(self, path: str) -> None:
        """Loader thread: load + check ``path``; hand the outcome to the executor via a guard condition."""
        try:
            self._swaps.append((path, *self._load(path, robot=load_robot_model(self.params["robot"])), None, False))
        except RobotRLError as exc:
            self._swaps.append((path, None, "", exc, False))
        self._swap_ready.trigger()

    def _on_load_residual(self, msg: String) -> None:
        """Check the residual against the running base on the loader thread."""
        current = self.runtime
        if not self._loader.submit(lambda: self._load_residual_for_swap(msg.data, current)):
            self._status_pub.publish(String(data=f"refused: {msg.data}: another hot swap is still being checked"))

    def _on_residual_bytes(self, msg: UInt8MultiArray) -> None:
        """A residual's bytes from the learner: hash-checked, written to ``residual_dir`` and checked on the
        loader thread (no shared filesystem needed); a hash mismatch is refused by the file's name."""
        current, header = self.runtime, msg.layout.dim[0].label if msg.layout.dim else ""
        data = bytes(msg.data)

        def local_path() -> str:
            return str(ResidualPayload.parse(header, data).write(self.params["residual_dir"]))

        if not self._loader.submit(lambda: self._load_residual_for_swap(local_path, current)):
            self._status_pub.publish(String(data=f"refused: {header}: another hot swap is still being checked"))

    def _on_reset_episode(self, _msg: Empty) -> None:
        """A new episode (the HIL learner's episode control): fresh observation histories and a fresh chunk."""
        with self._lock:
            self._epoch += 1  # a running inference belongs to the old episode: its chunk is dropped
            if self._scheduler is not None:
                self._scheduler.reset()
        if self.runtime is not None:
            self.runtime.reset()
        self._stats["episode_resets"] += 1

    def _load_residual_for_swap(self, path, current: PolicyRuntime) -> None:
        """Loader thread: ``current``'s base with the residual at ``path`` (none if ""; a callable returning the
        path is called here first), checked and timed."""
        try:
            path = path() if callable(path) else path
            robot = load_robot_model(self.params["robot"])
            residual = load_policy(path, robot=robot) if path else None
            runtime = self._runtime(current.base.policy, residual, robot)
            self._swaps.append((path, runtime, residual.sha256 if residual else "", None, True))
        except RobotRLError as exc:
            self._swaps.append((path, None, "", exc, True))
        self._swap_ready.trigger()

    def _apply_swap(self) -> None:
        """Executor thread: apply each outcome of the loader (a policy or a residual), or report its refusal."""
        while self._swaps:
            path, runtime, sha256, exc, residual = self._swaps.popleft()
            (self._apply_residual if residual else self._apply_policy)(path, runtime, sha256, exc)

    def _apply_residual(self, path: str, runtime, sha256: str, exc) -> None:
        """Take the residual runtime if it was checked with the running base; else report the refusal."""
        if runtime is not None and runtime.base.policy.sha256 != self.policy_id:
            runtime, exc = None, ConfigError("the base policy was swapped while the residual was checked")
        if runtime is None:
            self._stats["residual_swaps_refused"] += 1
            self.get_logger().error(f"residual {path!r} refused, keeping the current one: {exc}")
            self._status_pub.publish(String(data=f"refused: {exc}"))
            return
        self.runtime = runtime.take_over(self.runtime)  # same episode: histories and last action go on
        self._stats["residual_swaps"] += 1
        status = f"loaded residual {path} sha256={sha256}" if path else "dropped the residual"
        self._status_pub.publish(String(data=f"{status}; base sha256={self.policy_id}"))
        self.get_logger().info(status)

    def _apply_policy(self, path: str, runtime, policy_id: str, exc) -> None:
        """Take the new policy (restart the schedule if its rate differs) or report the refusal."""
        if runtime is None:
            self._stats["swaps_refused"] += 1
            self.get_logger().error(f"hot swap to {path} refused, keeping the current policy: {exc}")
            self._status_pub.publish(String(data=f"refused: {exc}"))
            return
        old_period = self.runtime.contract.timing.period
        self.runtime, self.policy_id = runtime, policy_id
        if self._timer is not None and runtime.contract.timing.period != old_period:
            self._start_schedule()
        self._stats["swaps"] += 1
        self._status_pub.publish(String(data=f"loaded {path} sha256={self.policy_id}"))
        self.get_logger().info(f"hot-swapped to {path}")

    def _inputs(self) -> ObservationInputs | None:
        msg = self._joint_states.take()
        if msg is None:
            return None
        stamp = stamp_to_seconds(msg.header.stamp)
        if time.time() - stamp > self.params["state_timeout_s"]:
            self.get_logger().warning("joint states are stale; not commanding", throttle_duration_sec=2.0)
            return None
        velocity = msg.velocity if len(msg.velocity) == len(msg.name) else np.zeros(len(msg.name))
        object_pose, why = fresh_pose(self._object_pose, self._object_stamp, time.time(),
                                      self.params["object_pose_timeout_s"])
        if why and any(t.source == "object_pose" for t in self.runtime.contract.observations):
            self.get_logger().warning(f"{why}: a missing observation, holding", throttle_duration_sec=2.0)
        return self.perturb.observe(ObservationInputs(
            stamp=stamp, joint_names=tuple(msg.name), position=np.asarray(msg.position, float),
            velocity=np.asarray(velocity, float), goal=self._goal, object_pose=object_pose))

    def _tick(self) -> None:
        """One policy period: heartbeat, this period's observation frame, inference when the chunk runs out."""
        self._worker.raise_if_failed()
        inputs = self._inputs()
        if inputs is None:
            return  # no fresh state: no heartbeat, the safety filter brakes after its watchdog
        runtime, start = self.runtime, time.perf_counter()
        with self._lock:
            tick, epoch = self._scheduler.tick(time.time()), self._epoch
        try:
            obs = runtime.observe(inputs)  # one frame per period, as in training
        except RobotRLError as exc:
            self.get_logger().warning(f"no observation: {exc}", throttle_duration_sec=2.0)
            obs = None
        if tick.command is not None:  # a residual acts per step: the due step is recomputed on this frame
            self._publish(tick.command if obs is None else runtime.restep(tick.command, obs))
        if obs is None:
            if tick.infer:
                self._no_inference()
            return
        delay = self.perturb.delay_s() if tick.infer else 0.0
        if tick.infer and not self._worker.submit(lambda: self._infer(runtime, obs, inputs, start, delay, epoch)):
            self._no_inference()

    def _no_inference(self) -> None:
        with self._lock:
            self._scheduler.failed()

    def _infer(self, runtime: PolicyRuntime, obs: np.ndarray, inputs: ObservationInputs, start: float,
               delay: float, epoch: int) -> None:
        """Inference thread: run the policy on ``obs``, accept the chunk and publish its fresh steps."""
        try:
            chunk = runtime.act_on(obs, inputs, start)
        except RobotRLError as exc:
            self.get_logger().warning(f"no action: {exc}", throttle_duration_sec=2.0)
            chunk = None
        if delay > 0:
            time.sleep(delay)
        with self._lock:
            if epoch != self._epoch:
                return
            if chunk is None:
                self._scheduler.failed()
                return
            fresh = self._scheduler.accept(chunk, time.time())
        self._latency_pub.publish(Float64(data=chunk.latency_ms))
        self._stats["action_entries"] += chunk.saturated.size
        self._stats["saturated_entries"] += int(chunk.saturated.sum())
        if fresh is not None:
            self._publish(fresh)

    def _publish(self, chunk: ActionChunk) -> None:
        """Send ``chunk`` as a JointTrajectory (and the gripper target of its first step)."""
        self._command_pub.publish(trajectory_to_msg(JointTrajectoryCommand(
            joint_names=chunk.joint_names, stamp=chunk.stamp, times=chunk.deadlines, positions=chunk.positions,
            velocities=chunk.velocities, source="policy")))
        if chunk.gripper is not None:
            self._gripper_pub.publish(Float64(data=float(chunk.gripper[0])))

    def _publish_diagnostics(self) -> None:
        with self._lock:
            scheduled = dict(self._scheduler.stats) if self._scheduler is not None else {}
        residual = self.runtime.residual if self.runtime is not None else None
        info = self.runtime.base.info if self.runtime is not None else {}  # the graph's other outputs (gains)
        values = dict(scheduled, **self._stats, policy_sha256=self.policy_id,
                      residual_sha256=residual.policy.sha256 if residual is not None else "",
                      **{f"output.{k}": np.asarray(v).reshape(-1).round(4).tolist() for k, v in info.items()})
        status = DiagnosticStatus(level=DiagnosticStatus.OK, name="policy_node", message="running",
                                  values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])
        self._diag_pub.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()), status=[status]))


def main(args: list[str] | None = None) -> None:
    """Entry point of ``policy_node``: exits 0 on SIGINT/SIGTERM with nothing on stderr."""
    sys.exit(run_node(PolicyNode, args))


if __name__ == "__main__":
    main()
