"""Session recording to MCAP (ROS 2 ``ros2msg`` schemas, CDR messages), free of rclpy.

The recorder node (robot_rl.nodes.recorder_node) hands raw CDR bytes to :class:`McapRecorder`;
:func:`read_recording` reads a file back, also one whose writer was killed (up to its last whole chunk).
"""

from robot_rl.recording.plan import RECORDED_TOPICS, RecordedTopic, recorded_topics
from robot_rl.recording.reader import RecordedMessage, Recording, read_recording
from robot_rl.recording.writer import McapRecorder, RecorderConfig

__all__ = ["RECORDED_TOPICS", "RecordedTopic", "recorded_topics", "RecordedMessage", "Recording",
           "read_recording", "McapRecorder", "RecorderConfig"]
