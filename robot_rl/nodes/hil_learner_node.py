"""HIL learner node: learns the residual from what was observed, commanded and corrected; the policy node
hot-swaps each exported residual.

Subscribes:  /joint_states (read once per period), /robot_rl/goal (latched), /robot_rl/object_pose,
             /robot_rl/command (trajectory_msgs/JointTrajectory: what reached the safety filter, after the
             command mux), /robot_rl/gripper (std_msgs/Float64, m per finger: the executed gripper state of
             each step, labelled as ``gripper_labels`` says),
             /robot_rl/hil/intervention (std_msgs/Bool, latched: a human drives),
             /robot_rl/hil/episode_outcome (std_msgs/Bool: True success, False failure: ends the episode),
             /robot_rl/hil/episode_control (std_msgs/String: "start" the next episode, "reset" end this one),
             /<policy_node>/status (latched String, reported in the diagnostics)
Services:    ~/start, ~/reset (std_srvs/Trigger): as "start" / "reset" on episode_control
Publishes:   /<policy_node>/residual_bytes (std_msgs/UInt8MultiArray, transient local: each exported residual's
             bytes with "<name> sha256=<hex>" in layout.dim[0].label; :mod:`robot_rl.hil.transfer`; a restarted
             learner sends its newest one again),
             /<policy_node>/reset_episode (std_msgs/Empty: at each episode's end and start),
             /diagnostics (transitions, episodes, phase, updates, update rate, achieved UTD, exports; 1 Hz)

A timer at the base policy's rate asks :class:`robot_rl.hil.episodes.EpisodeControl` what the period is
and takes one step of :class:`robot_rl.hil.online.OnlineLearner` if it is recorded: the executed target of
the step is the newest command evaluated one policy period after the joint state's stamp (the step's
deadline), joints matched by name. Nothing is recorded between an episode's end and the next start (the
person resetting the scene). Learning and export run on a separate thread, as fast as the UTD allows.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Empty, Float64, Float64MultiArray, Header, MultiArrayDimension, String, UInt8MultiArray
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from robot_rl import topics
from robot_rl.errors import ConfigError, RobotRLError
from robot_rl.hil.episodes import RESET, START, EpisodeConfig, EpisodeControl, Phase
from robot_rl.hil.labels import command_target
from robot_rl.hil.methods import learner_class
from robot_rl.hil.online import RESIDUAL_FILE, OnlineConfig
from robot_rl.hil.transfer import ResidualPayload
from robot_rl.nodes.conversions import key_values, stamp_to_seconds, trajectory_from_msg
from robot_rl.nodes.latest import LatestMessage
from robot_rl.nodes.main import run_node
from robot_rl.nodes.ros_params import declare_from_yaml
from robot_rl.policy.contract import load_policy
from robot_rl.policy.observation import ObservationInputs
from robot_rl.robot.model import load_robot_model

LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
UPDATES_PER_ROUND = 10  # learning-thread updates between checks for an export and for shutdown
RATE_WINDOW_S = 10.0  # the update rate on /diagnostics is measured over this window, s


class HilLearnerNode(Node):
    """Thin shell around :class:`OnlineLearner`; see the module docstring for the interface."""

    def __init__(self):
        super().__init__("hil_learner")
        p = self.params = declare_from_yaml(self, "hil_learner")
        import torch

        torch.set_num_threads(p["torch_threads"])
        robot = load_robot_model(p["robot"])
        self._grip = robot.config.gripper  # open / closed positions of the executed gripper command
        base = load_policy(p["base_policy_path"], robot=robot)
        self.core = learner_class(p["method"])(base, learner_config(p), robot_model=robot,
                                               reward_fn=self._reward_source(robot))
        self.period = base.contract.timing.period
        self.episodes = EpisodeControl(EpisodeConfig(round(p["episode_time_limit_s"] / self.period),
                                                     p["start_running"]))
        self._joint_states = LatestMessage(self.context, f"{self.get_name()}_joint_states", JointState,
                                           topics.JOINT_STATES)
        self._goal = self._object_pose = self._command = self._gripper = None
        self._intervening, self._policy_status = False, ""
        self._updates_run, self._rate = 0, deque([(time.monotonic(), 0)])
        self._subscribe()
        self._residual_pub = self.create_publisher(UInt8MultiArray, f"/{p['policy_node']}/residual_bytes", LATCHED)
        self._reset_pub = self.create_publisher(Empty, f"/{p['policy_node']}/reset_episode", 10)
        self._resend_newest()
        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        self.create_timer(self.period, self._tick)
        self.create_timer(1.0, self._publish_diagnostics)
        self._stop, self._error = threading.Event(), None
        self._thread = threading.Thread(target=self._learn_loop, name="hil-learner", daemon=True)
        self._thread.start()
        self.get_logger().info(f"learning a residual for {p['base_policy_path']} (sha256={base.sha256[:12]}...) "
                               f"at {1 / self.period:g} Hz into {p['out_dir']}; {len(self.core.sampler)} stored; "
                               f"reward from {p['reward_source']}")

    def _reward_source(self, robot):
        """None for the human's keys; the success classifier (checked against ``robot``) for "classifier"."""
        source = self.params["reward_source"]
        if source == "key":
            return None
        if source != "classifier":
            raise ConfigError(f"reward_source must be 'key' or 'classifier', got {source!r}")
        from robot_rl.hil.classifier import load_classifier

        return load_classifier(self.params["classifier_path"], robot=robot)

    def _subscribe(self) -> None:
        self.create_subscription(Float64MultiArray, topics.GOAL,
                                 lambda m: setattr(self, "_goal", np.asarray(m.data, float)), LATCHED)
        self.create_subscription(PoseStamped, topics.OBJECT_POSE, self._on_object, 10)
        self.create_subscription(JointTrajectory, topics.COMMAND, self._on_command, 10)
        self.create_subscription(Float64, topics.GRIPPER,
                                 lambda m: setattr(self, "_gripper", (m.data, time.time())), 10)
        self.create_subscription(Bool, topics.INTERVENTION, lambda m: setattr(self, "_intervening", m.data), LATCHED)
        self.create_subscription(Bool, topics.EPISODE_OUTCOME, lambda m: self.episodes.outcome(m.data), 10)
        self.create_subscription(String, topics.EPISODE_CONTROL, self._on_episode_control, 10)
        self.create_service(Trigger, "~/start", lambda req, res: self._trigger(START, res))
        self.create_service(Trigger, "~/reset", lambda req, res: self._trigger(RESET, res))
        self.create_subscription(String, f"/{self.params['policy_node']}/status",
                                 lambda m: setattr(self, "_policy_status", m.data), LATCHED)

    def _on_episode_control(self, msg: String) -> None:
        if msg.data == START:
            self.episodes.request_start()
        elif msg.data == RESET:
            self.episodes.request_reset()
        else:
            self.get_logger().warning(f"episode control {msg.data!r} ignored: expected {START!r} or {RESET!r}")

    def _trigger(self, event: str, response: Trigger.Response) -> Trigger.Response:
        """~/start, ~/reset: queue the event; success says whether the phase allows it now."""
        allowed = (self.episodes.phase is Phase.RESETTING) == (event == START)
        (self.episodes.request_start if event == START else self.episodes.request_reset)()
        response.success = allowed
        response.message = (f"{event} queued for the next period" if allowed else
                            f"{event} ignored: the episode is {self.episodes.phase.value}")
        return response

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

    def _gripper_closed(self) -> bool | None:
        """Whether the newest gripper command (/robot_rl/gripper, m per finger) closes the gripper; None without a
        gripper or a command fresher than command_timeout_s (the gripper entry then keeps the base's label)."""
        if self._grip is None or self._gripper is None or \
                time.time() - self._gripper[1] > self.params["command_timeout_s"]:
            return None
        return abs(self._gripper[0] - self._grip.closed_position) < abs(self._gripper[0] - self._grip.open_position)

    def _tick(self) -> None:
        """One policy period: the episode's phase decides whether it is a step of the core, ends or starts one."""
        if self._error is not None:
            raise RuntimeError(f"HIL learning thread died: {self._error!r}") from self._error
        inputs = self._inputs()
        if inputs is None:
            return
        tick = self.episodes.tick()
        if tick.start:
            self.core.end_episode()  # nothing is pending while resetting: fresh histories and chunk
            self._reset_policy(f"episode {self.episodes.episode} starts")
        if tick.end is not None:  # the last step's transition ends here, with this state as its next state
            self._step(inputs, None, reward=tick.reward, done=tick.terminal)
            self._end_episode(tick.end)
        elif tick.record:
            self._step(inputs, self._executed(inputs.stamp + self.period))
            if self.core.terminal:  # the success classifier ended the episode
                self.episodes.ended_by_reward()
                self._end_episode("success (classifier)")

    def _step(self, inputs: ObservationInputs, executed, reward: float = 0.0, done: bool = False) -> None:
        try:
            self.core.step(inputs, executed, self._intervening, reward=reward, done=done,
                           gripper_closed=self._gripper_closed())
        except RobotRLError as exc:
            self.get_logger().warning(f"no step: {exc}", throttle_duration_sec=2.0)

    def _end_episode(self, how: str) -> None:
        """Close the core's episode (nothing recorded until the next start) and reset the policy node's."""
        self.core.end_episode()
        self._reset_policy(f"episode {self.episodes.episode} ended: {how} after {self.episodes.steps} steps; "
                           "resetting until the next start")

    def _reset_policy(self, why: str) -> None:
        self._reset_pub.publish(Empty())
        self.get_logger().info(why)

    def _learn_loop(self) -> None:
        """Learning thread: updates as the data allows; each export goes to the policy node."""
        try:
            while not self._stop.is_set():
                ran = self.core.learn(UPDATES_PER_ROUND)
                self._updates_run += ran
                self._rate.append((time.monotonic(), self._updates_run))
                path = self.core.maybe_export()
                if path is not None:
                    self._send(path)
                if not ran:
                    self._stop.wait(0.05)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the executor thread by _tick
            self._error = exc

    def _send(self, path) -> None:
        """Publish the residual's bytes (transient local: a policy node that joins later gets the newest)."""
        payload = ResidualPayload.from_file(path)
        msg = UInt8MultiArray(data=payload.data)
        msg.layout.dim = [MultiArrayDimension(label=payload.header, size=len(payload.data), stride=len(payload.data))]
        self._residual_pub.publish(msg)
        self.get_logger().info(f"residual {payload.header} sent to {self.params['policy_node']} "
                               f"({len(payload.data)} bytes)")

    def _resend_newest(self) -> None:
        """A restarted learner publishes its newest residual again, for a policy node that (re)starts later."""
        found = sorted((int(m.group(1)), path) for path in self.core.out_dir.glob("residual_*.onnx")
                       if (m := RESIDUAL_FILE.fullmatch(path.name)))
        if found:
            self._send(found[-1][1])

    def _learning_rate(self) -> float:
        """Updates per second over the last RATE_WINDOW_S s (0 before two samples)."""
        now = time.monotonic()
        while len(self._rate) > 2 and now - self._rate[1][0] > RATE_WINDOW_S:
            self._rate.popleft()
        (t0, n0), (t1, n1) = self._rate[0], self._rate[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    def _publish_diagnostics(self) -> None:
        stats, episodes = self.core.stats, self.episodes
        values = dict(stats, buffered=self.core.store.buffered, held=len(self.core.sampler),
                      updates_per_s=round(self._learning_rate(), 2), updates_run=self._updates_run,
                      utd_achieved=round(self._updates_run / max(stats["transitions"], 1), 3),
                      utd_target=self.params["updates_per_step"], updates_owed=self.core.update_budget(),
                      phase=episodes.phase.value, episode=episodes.episode, episode_steps=episodes.steps,
                      **{f"episodes_{k}": v for k, v in episodes.counts.items()},
                      intervening=self._intervening, policy_status=self._policy_status, pid=os.getpid(),
                      losses={k: round(v, 5) for k, v in self.core.losses.items()})
        level, message = DiagnosticStatus.OK, "learning" if stats["updates"] else "collecting"
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


def learner_config(params: dict) -> OnlineConfig:
    """The core's settings from the node's parameters (``declare_from_yaml``); ConfigError naming a bad one.
    A bc_weight / q_weight of -1 takes the method's, an empty gripper_labels :class:`OnlineConfig`'s default."""
    p = params
    optional = {"gripper_labels": p["gripper_labels"]} if p["gripper_labels"] else {}
    return OnlineConfig(
        out_dir=p["out_dir"], residual_scale=p["residual_scale"], updates_per_step=p["updates_per_step"],
        min_transitions=p["min_transitions"], export_every_updates=p["export_every_updates"],
        batch_size=p["batch_size"], flush_every=p["flush_every"], capacity=p["capacity"],
        hidden=p["hidden_units"], critics=p["critics"], method=p["method"], seed=p["seed"],
        bc_weight=p["bc_weight"] if p["bc_weight"] >= 0 else None,
        q_weight=p["q_weight"] if p["q_weight"] >= 0 else None, **optional)


def main(args: list[str] | None = None) -> None:
    """Entry point of ``hil_learner_node``: exits 0 on SIGINT/SIGTERM."""
    sys.exit(run_node(HilLearnerNode, args))


if __name__ == "__main__":
    main()
