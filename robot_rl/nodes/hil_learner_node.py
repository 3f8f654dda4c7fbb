"""HIL learner node: learns the residual from what was observed, commanded and corrected; the policy node
hot-swaps each exported residual.

Subscribes:  /joint_states (read once per period), /robot_rl/goal (latched), /robot_rl/object_pose,
             /robot_rl/command (trajectory_msgs/JointTrajectory: what reached the safety filter, after the
             command mux), /robot_rl/hil/intervention (std_msgs/Bool, latched: a human drives),
             /robot_rl/hil/episode_outcome (std_msgs/Bool: True success, False failure),
             /<policy_node>/status (latched String, reported in the diagnostics)
Publishes:   /<policy_node>/load_residual (std_msgs/String: path of each exported residual ONNX),
             /diagnostics (transitions, intervened steps, updates, exports, losses; 1 Hz)

A timer at the base policy's rate takes one step of :class:`robot_rl.hil.online.OnlineLearner`: the
executed target of the step is the newest command evaluated one policy period after the joint state's
stamp (the step's deadline), joints matched by name. Learning and export run on a separate thread.
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray, Header, String
from trajectory_msgs.msg import JointTrajectory

from robot_rl import topics
from robot_rl.errors import RobotRLError
from robot_rl.hil.labels import command_target
from robot_rl.hil.online import OnlineConfig, OnlineLearner
from robot_rl.nodes.conversions import key_values, stamp_to_seconds, trajectory_from_msg
from robot_rl.nodes.latest import LatestMessage
from robot_rl.nodes.main import run_node
from robot_rl.nodes.ros_params import declare_from_yaml
from robot_rl.policy.contract import load_policy
from robot_rl.policy.observation import ObservationInputs
from robot_rl.robot.model import load_robot_model

LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
UPDATES_PER_ROUND = 10  # learning-thread updates between checks for an export and for shutdown


class HilLearnerNode(Node):
    """Thin shell around :class:`OnlineLearner`; see the module docstring for the interface."""

    def __init__(self):
        super().__init__("hil_learner")
        p = self.params = declare_from_yaml(self, "hil_learner")
        import torch

        torch.set_num_threads(p["torch_threads"])
        robot = load_robot_model(p["robot"])
        base = load_policy(p["base_policy_path"], robot=robot)
        self.core = OnlineLearner(base, OnlineConfig(
            out_dir=p["out_dir"], residual_scale=p["residual_scale"], updates_per_step=p["updates_per_step"],
            min_transitions=p["min_transitions"], export_every_updates=p["export_every_updates"],
            batch_size=p["batch_size"], flush_every=p["flush_every"], capacity=p["capacity"],
            hidden=p["hidden_units"], critics=p["critics"], method=p["method"], seed=p["seed"],
            bc_weight=p["bc_weight"] if p["bc_weight"] >= 0 else None,  # -1: the method's
            q_weight=p["q_weight"] if p["q_weight"] >= 0 else None),
            robot_model=robot)
        self.period = base.contract.timing.period
        self._joint_states = LatestMessage(self.context, f"{self.get_name()}_joint_states", JointState,
                                           topics.JOINT_STATES)
        self._goal = self._object_pose = self._command = None
        self._intervening, self._outcome, self._policy_status, self._unsent = False, None, "", None
        self._subscribe()
        self._swap_pub = self.create_publisher(String, f"/{p['policy_node']}/load_residual", 10)
        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        self.create_timer(self.period, self._tick)
        self.create_timer(1.0, self._publish_diagnostics)
        self._stop, self._error = threading.Event(), None
        self._thread = threading.Thread(target=self._learn_loop, name="hil-learner", daemon=True)
        self._thread.start()
        self.get_logger().info(f"learning a residual for {p['base_policy_path']} (sha256={base.sha256[:12]}...) "
                               f"at {1 / self.period:g} Hz into {p['out_dir']}; {len(self.core.sampler)} stored")

    def _subscribe(self) -> None:
        self.create_subscription(Float64MultiArray, topics.GOAL,
                                 lambda m: setattr(self, "_goal", np.asarray(m.data, float)), LATCHED)
        self.create_subscription(PoseStamped, topics.OBJECT_POSE, self._on_object, 10)
        self.create_subscription(JointTrajectory, topics.COMMAND, self._on_command, 10)
        self.create_subscription(Bool, topics.INTERVENTION, lambda m: setattr(self, "_intervening", m.data), LATCHED)
        self.create_subscription(Bool, topics.EPISODE_OUTCOME, lambda m: setattr(self, "_outcome", m.data), 10)
        self.create_subscription(String, f"/{self.params['policy_node']}/status",
                                 lambda m: setattr(self, "_policy_status", m.data), LATCHED)

    def _on_object(self, msg: PoseStamped) -> None:
        p, q = msg.pose.position, msg.pose.orientation
        self._object_pose = np.array([p.x, p.y, p.z, q.w, q.x, q.y, q.z])

    def _on_command(self, msg: JointTrajectory) -> None:
        now = time.time()
        try:
            self._command = (trajectory_from_msg(msg, now), now)
        except RobotRLError as exc:
            self.get_logger().warning(f"command ignored: {exc}", throttle_duration_sec=2.0)

    def _inputs(self) -> ObservationInputs | None:
        msg = self._joint_states.take()
        if msg is None or time.time() - stamp_to_seconds(msg.header.stamp) > self.params["state_timeout_s"]:
            return None
        velocity = msg.velocity if len(msg.velocity) == len(msg.name) else np.zeros(len(msg.name))
        return ObservationInputs(stamp=stamp_to_seconds(msg.header.stamp), joint_names=tuple(msg.name),
                                 position=np.asarray(msg.position, float), velocity=np.asarray(velocity, float),
                                 goal=self._goal, object_pose=self._object_pose)

    def _executed(self, deadline: float) -> np.ndarray | None:
        """Targets (n,) rad of the newest command at ``deadline`` s; None without a fresh, complete one."""
        if self._command is None or time.time() - self._command[1] > self.params["command_timeout_s"]:
            return None
        try:
            return command_target(self._command[0], self.core.base.contract.action_joint_names, deadline)
        except RobotRLError as exc:
            self.get_logger().warning(f"step not recorded: {exc}", throttle_duration_sec=2.0)
            return None

    def _tick(self) -> None:
        """One policy period: a step of the core with this period's observation, command and flags."""
        if self._error is not None:
            raise RuntimeError(f"HIL learning thread died: {self._error!r}") from self._error
        inputs = self._inputs()
        if inputs is None:
            return
        outcome, self._outcome = self._outcome, None
        try:
            self.core.step(inputs, self._executed(inputs.stamp + self.period), self._intervening,
                           reward=1.0 if outcome else 0.0, done=outcome is not None)
        except RobotRLError as exc:
            self.get_logger().warning(f"no step: {exc}", throttle_duration_sec=2.0)

    def _learn_loop(self) -> None:
        """Learning thread: updates as the data allows; each export goes to the policy node."""
        try:
            while not self._stop.is_set():
                ran = self.core.learn(UPDATES_PER_ROUND)
                path = self.core.maybe_export()
                if path is not None:
                    self._announce(str(path))
                if not ran:
                    self._stop.wait(0.05)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the executor thread by _tick
            self._error = exc

    def _announce(self, path: str) -> None:
        """Send ``path`` to the policy node; kept for the diagnostics timer while no subscriber is matched."""
        if self._swap_pub.get_subscription_count() == 0:
            self._unsent = path
            return
        self._unsent = None
        self._swap_pub.publish(String(data=path))
        self.get_logger().info(f"residual {path} sent to {self.params['policy_node']}")

    def _publish_diagnostics(self) -> None:
        if self._unsent is not None:
            self._announce(self._unsent)
        values = dict(self.core.stats, buffered=self.core.store.buffered, held=len(self.core.sampler),
                      intervening=self._intervening, policy_status=self._policy_status,
                      losses={k: round(v, 5) for k, v in self.core.losses.items()})
        level, message = DiagnosticStatus.OK, "learning" if self.core.stats["updates"] else "collecting"
        if self._policy_status.startswith("refused"):
            level, message = DiagnosticStatus.WARN, f"policy node: {self._policy_status}"
        status = DiagnosticStatus(level=level, name=self.get_name(), message=message, values=key_values(values))
        self._diag_pub.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()), status=[status]))

    def shutdown(self) -> None:
        """Called by :func:`run_node` before destroy_node: stop learning, write the buffered transitions."""
        self._stop.set()
        self._thread.join(timeout=30.0)
        self.core.close()
        self._joint_states.destroy()


def main(args: list[str] | None = None) -> None:
    """Entry point of ``hil_learner_node``: exits 0 on SIGINT/SIGTERM."""
    sys.exit(run_node(HilLearnerNode, args))


if __name__ == "__main__":
    main()
