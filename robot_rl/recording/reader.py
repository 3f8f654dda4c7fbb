"""Read a session recording back: every message, decoded through its own ``ros2msg`` schema (no rclpy).

A recording whose writer was killed has no summary or footer: it is read record by record up to the last
whole chunk, and :attr:`Recording.complete` is False with the reason in :attr:`Recording.problem`.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcap.exceptions import EndOfFile, McapError
from mcap.records import Channel, Footer, Message, Schema
from mcap.stream_reader import StreamReader
from mcap_ros2.decoder import DecoderFactory

from robot_rl.errors import DataError


@dataclass(frozen=True)
class RecordedMessage:
    """One recorded message.

    Attributes:
        topic: ROS topic.
        type_name: ROS 2 type (``pkg/msg/Name``).
        log_time_ns: when the recorder received it, ns since the epoch.
        data: the CDR bytes as published.
    """

    topic: str
    type_name: str
    log_time_ns: int
    data: bytes


@dataclass
class Recording:
    """A read recording: messages in file order, whether the file ended properly, and a decoder.

    Attributes:
        path: the file.
        messages: every message read, in the order written (log time order per topic).
        complete: the file ended with its footer (the writer closed it).
        problem: why it is not complete (empty if it is).
    """

    path: Path
    messages: list[RecordedMessage]
    complete: bool
    problem: str = ""
    _schemas: dict[str, Schema] = field(default_factory=dict, repr=False)
    _decoders: dict[str, Any] = field(default_factory=dict, repr=False)

    def counts(self) -> Counter[str]:
        """Number of messages per topic."""
        return Counter(m.topic for m in self.messages)

    def decode(self, message: RecordedMessage) -> Any:
        """The message as an object with the ROS fields as attributes (``msg.header.stamp.sec``...)."""
        if message.type_name not in self._decoders:
            decoder = DecoderFactory().decoder_for("cdr", self._schemas[message.type_name])
            if decoder is None:
                raise DataError(f"{self.path}: cannot decode type {message.type_name}")
            self._decoders[message.type_name] = decoder
        return self._decoders[message.type_name](message.data)

    def decoded(self, topic: str) -> list[tuple[int, Any]]:
        """(log time ns, decoded message) of every message on ``topic``, in order."""
        return [(m.log_time_ns, self.decode(m)) for m in self.messages if m.topic == topic]


def read_recording(path: str | Path) -> Recording:
    """Read the MCAP file at ``path``, also a truncated one (up to its last whole chunk, CRCs checked).

    Raises:
        DataError: naming the file, if it is missing, not MCAP, corrupt before any message, or not ROS 2 CDR.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"recording {path} does not exist")
    schemas: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}
    messages: list[RecordedMessage] = []
    complete, problem = False, "the file ends without its footer (the recorder did not close it: killed?)"
    with open(path, "rb") as f:
        try:
            for record in StreamReader(f, validate_crcs=True).records:
                if isinstance(record, Schema):
                    _check_schema(path, record)
                    schemas[record.id] = record
                elif isinstance(record, Channel):
                    channels[record.id] = record
                elif isinstance(record, Message):
                    channel = channels[record.channel_id]
                    messages.append(RecordedMessage(channel.topic, schemas[channel.schema_id].name,
                                                    record.log_time, record.data))
                elif isinstance(record, Footer):
                    complete, problem = True, ""
        except (McapError, ValueError, KeyError, struct.error) as exc:
            if not messages and not channels:
                raise DataError(f"recording {path} is not a readable MCAP file: {type(exc).__name__}: {exc}") from exc
            if not isinstance(exc, EndOfFile):
                problem = f"read up to a damaged record ({type(exc).__name__}: {exc})"
    return Recording(path, messages, complete, problem, {s.name: s for s in schemas.values()})


def _check_schema(path: Path, schema: Schema) -> None:
    if schema.encoding != "ros2msg":
        raise DataError(f"recording {path}: schema {schema.name!r} has encoding {schema.encoding!r}, "
                        "not ROS 2 (ros2msg)")
