"""Recorder node: the session into one MCAP file (see :mod:`robot_rl.recording`, docs/recording.md).

Subscribes (raw CDR, nothing deserialized): every topic of robot_rl.recording.RECORDED_TOPICS (latched ones
transient-local); the camera streams only with ``image_period_s`` > 0, at most once per that period.
Publishes:   nothing.
"""

from __future__ import annotations

import importlib
import time

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from robot_rl.errors import ConfigError
from robot_rl.nodes.main import run_node
from robot_rl.nodes.ros_params import declare_from_yaml
from robot_rl.recording import McapRecorder, RecordedTopic, RecorderConfig, recorded_topics


def _message_class(type_name: str):
    package, _, name = type_name.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


class RecorderNode(Node):
    """Thin rclpy shell around :class:`McapRecorder`. Log time: when the middleware received the message (not
    when this callback ran: a busy executor does not squeeze times together); publish time: the writer's source
    timestamp; both ns since the epoch, as rosbag2 records them."""

    def __init__(self) -> None:
        super().__init__("recorder")
        p = declare_from_yaml(self, "recorder")
        if not p["path"]:
            raise ConfigError("recorder: parameter 'path' (the MCAP file) is empty")
        self.recorder = McapRecorder(RecorderConfig(p["path"], p["chunk_bytes"]))
        self._image_period_ns = int(p["image_period_s"] * 1e9)
        self._last_image_ns: dict[str, int] = {}
        for topic in recorded_topics(images=self._image_period_ns > 0):
            self.recorder.add_topic(topic.topic, topic.type_name, topic.latched)
            durability = DurabilityPolicy.TRANSIENT_LOCAL if topic.latched else DurabilityPolicy.VOLATILE
            qos = QoSProfile(depth=p["queue_depth"], reliability=ReliabilityPolicy.RELIABLE, durability=durability)
            self.create_subscription(_message_class(topic.type_name), topic.topic, self._callback(topic), qos,
                                     raw=True)
        self.create_timer(p["flush_period_s"], self.recorder.flush)
        self.get_logger().info(f"recording {len(self.recorder.topics)} topics to {p['path']}")

    def _callback(self, topic: RecordedTopic):
        def on_message(data: bytes, info) -> None:  # info: rclpy MessageInfo, middleware timestamps (ns)
            now = info["received_timestamp"] or time.time_ns()
            if topic.image:
                if now - self._last_image_ns.get(topic.topic, -self._image_period_ns) < self._image_period_ns:
                    return
                self._last_image_ns[topic.topic] = now
            self.recorder.write(topic.topic, data, now, info["source_timestamp"] or now)
        return on_message

    def shutdown(self) -> None:
        """Close the file (summary and index written, fsynced) and log what was recorded."""
        self.recorder.close()
        self.get_logger().info(f"recorded {sum(self.recorder.counts.values())} messages: "
                               f"{dict(self.recorder.counts)}")


def main(args: list[str] | None = None) -> None:
    """Entry point: ``python -m robot_rl.nodes.recorder_node`` / ``ros2 run robot_rl recorder_node``."""
    raise SystemExit(run_node(RecorderNode, args))


if __name__ == "__main__":
    main()
