"""What a session recording holds: every topic of the graph that a replay or a dataset needs."""

from __future__ import annotations

from dataclasses import dataclass

from robot_rl import topics


@dataclass(frozen=True)
class RecordedTopic:
    """One recorded topic.

    Attributes:
        topic: ROS topic name.
        type_name: ROS 2 type, ``pkg/msg/Name`` (the MCAP schema name ``ros2 bag`` writes).
        latched: the publishers are transient-local (the recorder subscribes so, and gets the last value).
        image: a camera stream, recorded only when images are asked for, at most at the image rate.
    """

    topic: str
    type_name: str
    latched: bool = False
    image: bool = False


RECORDED_TOPICS: tuple[RecordedTopic, ...] = (
    RecordedTopic(topics.JOINT_STATES, "sensor_msgs/msg/JointState"),
    RecordedTopic(topics.POLICY_COMMAND, "trajectory_msgs/msg/JointTrajectory"),
    RecordedTopic(topics.TELEOP_COMMAND, "trajectory_msgs/msg/JointTrajectory"),
    RecordedTopic(topics.COMMAND, "trajectory_msgs/msg/JointTrajectory"),
    RecordedTopic(topics.SAFE_COMMAND, "trajectory_msgs/msg/JointTrajectory"),
    RecordedTopic(topics.GRIPPER, "std_msgs/msg/Float64"),
    RecordedTopic(topics.ESTOP, "std_msgs/msg/Bool"),
    RecordedTopic(topics.DIAGNOSTICS, "diagnostic_msgs/msg/DiagnosticArray"),
    RecordedTopic(topics.TELEOP_INTERVENING, "std_msgs/msg/Bool", latched=True),
    RecordedTopic(topics.INTERVENTION, "std_msgs/msg/Bool", latched=True),
    RecordedTopic(topics.EPISODE_OUTCOME, "std_msgs/msg/Bool"),
    RecordedTopic(topics.EPISODE_CONTROL, "std_msgs/msg/String"),
    RecordedTopic(topics.GOAL, "std_msgs/msg/Float64MultiArray", latched=True),
    RecordedTopic(topics.OBJECT_POSE, "geometry_msgs/msg/PoseStamped"),
    RecordedTopic(topics.POLICY_LATENCY, "std_msgs/msg/Float64"),
    RecordedTopic(topics.CAMERA_COLOR, "sensor_msgs/msg/Image", image=True),
    RecordedTopic(topics.CAMERA_DEPTH, "sensor_msgs/msg/Image", image=True),
    RecordedTopic(topics.CAMERA_INFO, "sensor_msgs/msg/CameraInfo", image=True),
)
"""Every recorded topic, in one place (names from robot_rl.topics)."""


def recorded_topics(images: bool) -> tuple[RecordedTopic, ...]:
    """The topics to record: all of :data:`RECORDED_TOPICS`, the camera streams only if ``images``."""
    return tuple(t for t in RECORDED_TOPICS if images or not t.image)
