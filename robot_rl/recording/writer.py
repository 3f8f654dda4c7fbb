"""MCAP writer of a session: raw CDR messages from the graph into zstd chunks, flushed often.

The file is readable by Foxglove, ``ros2 bag`` (rosbag2's mcap storage) and the ``mcap`` tools: profile
``ros2``, schemas ``ros2msg`` named ``pkg/msg/Name``, messages ``cdr``. A chunk is written (and the file
flushed to the OS) when it reaches ``chunk_bytes`` or when the owner calls :meth:`McapRecorder.flush` (the
recorder node does so every ``flush_period_s``), so a recorder killed with SIGKILL leaves everything up to its
last chunk readable (:func:`robot_rl.recording.read_recording`).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from mcap.writer import CompressionType, Writer

from robot_rl.errors import ConfigError
from robot_rl.recording.schemas import schema_text


_INFINITE = "\n    sec: 9223372036\n    nsec: 854775807"  # RMW_DURATION_INFINITE, as rosbag2 (Jazzy on) writes it
_DEFAULT_QOS_TIMES = (f"  deadline:{_INFINITE}\n  lifespan:{_INFINITE}\n  liveliness: automatic\n"
                      f"  liveliness_lease_duration:{_INFINITE}\n  avoid_ros_namespace_conventions: false\n")
"""The rest of a rosbag2 ``offered_qos_profiles`` entry: rclpy's defaults (readers such as rosbags require
every key)."""

@dataclass(frozen=True)
class RecorderConfig:
    """Recorder settings.

    Attributes:
        path: the MCAP file to write (must not exist: a recording is never overwritten).
        chunk_bytes: uncompressed size at which a chunk is closed, bytes.
    """

    path: str
    chunk_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        if not self.path:
            raise ConfigError("recorder: path is empty")
        if self.chunk_bytes < 1024:
            raise ConfigError(f"recorder: chunk_bytes {self.chunk_bytes} < 1024")


class McapRecorder:
    """Writes raw CDR messages to an MCAP file; counts them per topic."""

    def __init__(self, config: RecorderConfig) -> None:
        path = Path(config.path)
        if path.exists():
            raise ConfigError(f"recording {path} exists: choose a new file (recordings are never overwritten)")
        if not path.parent.is_dir():
            raise ConfigError(f"recording {path}: directory {path.parent} does not exist")
        self.config = config
        self.counts: Counter[str] = Counter()
        self._file = open(path, "xb")  # noqa: SIM115 (closed in close())
        self._writer = Writer(self._file, chunk_size=config.chunk_bytes, compression=CompressionType.ZSTD)
        self._writer.start(profile="ros2", library="robot_rl")
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self._closed = False

    @property
    def topics(self) -> list[str]:
        """The registered topics."""
        return list(self._channels)

    def add_topic(self, topic: str, type_name: str, latched: bool = False) -> None:
        """Register ``topic`` of ROS 2 type ``type_name`` (``pkg/msg/Name``); its QoS goes into the channel
        metadata the way rosbag2 stores it (``offered_qos_profiles``), so a replay can latch it again."""
        if topic in self._channels:
            return
        if type_name not in self._schemas:
            self._schemas[type_name] = self._writer.register_schema(
                name=type_name, encoding="ros2msg", data=schema_text(type_name).encode())
        durability = "transient_local" if latched else "volatile"
        qos = (f"- history: keep_last\n  depth: {1 if latched else 10}\n  reliability: reliable\n"
               f"  durability: {durability}\n{_DEFAULT_QOS_TIMES}")
        self._channels[topic] = self._writer.register_channel(
            topic=topic, message_encoding="cdr", schema_id=self._schemas[type_name],
            metadata={"offered_qos_profiles": qos})

    def write(self, topic: str, data: bytes, log_time_ns: int, publish_time_ns: int | None = None) -> None:
        """Append one serialized (CDR) message of a registered topic, received at ``log_time_ns`` (ns since
        the epoch); ``publish_time_ns`` defaults to it."""
        if self._closed:
            raise ConfigError(f"recording {self.config.path} is closed")
        self._writer.add_message(channel_id=self._channels[topic], log_time=log_time_ns, data=data,
                                 publish_time=publish_time_ns if publish_time_ns is not None else log_time_ns,
                                 sequence=self.counts[topic])
        self.counts[topic] += 1

    def flush(self) -> None:
        """Close the chunk in progress and hand the bytes to the OS (a killed process loses nothing before
        this point; a power cut may, we do not fsync per chunk)."""
        if not self._closed:
            self._writer.flush()

    def close(self) -> None:
        """Write the summary (index, statistics) and close the file, fsynced. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._writer.finish()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
