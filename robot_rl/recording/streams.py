"""A recorded topic as a time series: the newest message at or before a time (no rclpy).

Shared by the readers that resample a session at a policy rate (``robot-rl dataset from-mcap``,
``robot-rl hil seed-from-mcap``). Times are the recorder's log times (reception), s since the epoch.
"""

from __future__ import annotations

import bisect
from typing import Any

import numpy as np

from robot_rl import topics
from robot_rl.command import JointTrajectoryCommand
from robot_rl.policy.observation import ObservationInputs
from robot_rl.recording.reader import Recording


class TopicStream:
    """Decoded messages of one topic by log time.

    Attributes:
        times: log times (k,) s, non-decreasing (the recorder writes each topic in reception order).
        messages: the decoded messages (k), same order.
    """

    def __init__(self, recording: Recording, topic: str):
        decoded = recording.decoded(topic)
        self.times = [t * 1e-9 for t, _ in decoded]
        self.messages = [m for _, m in decoded]

    def index(self, t: float) -> int:
        """Index of the newest message at or before ``t`` s; -1 if none."""
        return bisect.bisect_right(self.times, t) - 1

    def at(self, t: float) -> Any:
        """The newest message at or before ``t`` s, or None."""
        i = self.index(t)
        return self.messages[i] if i >= 0 else None


def trajectory_command(msg: Any, receive_time: float) -> JointTrajectoryCommand:
    """A decoded trajectory_msgs/JointTrajectory -> JointTrajectoryCommand; a zero header stamp starts it at
    ``receive_time`` s (as the control node does with a command stamped zero)."""
    stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
    points = list(msg.points)
    return JointTrajectoryCommand(
        joint_names=tuple(msg.joint_names), stamp=stamp if stamp > 0 else receive_time,
        times=np.array([p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in points]),
        positions=np.array([list(p.positions) for p in points], dtype=float).reshape(len(points), -1))


def pose_vector(msg: Any) -> np.ndarray:
    """A decoded geometry_msgs/PoseStamped -> (7,) [x, y, z, qw, qx, qy, qz] (m, unit quaternion)."""
    p, q = msg.pose.position, msg.pose.orientation
    return np.array([p.x, p.y, p.z, q.w, q.x, q.y, q.z])


def observation_inputs(streams: dict[str, TopicStream], t: float) -> ObservationInputs:
    """What a policy observed at ``t`` s: the newest /joint_states, goal and object pose (streams by topic, the
    joint states' at least one message at or before ``t``), stamped ``t``."""
    state, goal, pose = (streams[k].at(t) for k in (topics.JOINT_STATES, topics.GOAL, topics.OBJECT_POSE))
    velocity = state.velocity if len(state.velocity) == len(state.name) else np.zeros(len(state.name))
    return ObservationInputs(stamp=t, joint_names=tuple(state.name), position=np.asarray(state.position, float),
                             velocity=np.asarray(velocity, float),
                             goal=np.asarray(goal.data, float) if goal is not None else None,
                             object_pose=pose_vector(pose) if pose is not None else None)
