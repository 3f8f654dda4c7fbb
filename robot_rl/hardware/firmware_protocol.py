"""The serial protocol between the host and the joint-controller firmware: the single source of truth.

The C firmware's constants (``firmware/include/rr_protocol_gen.h``) and the protocol tables of
firmware/README.md are generated from this module::

    python -m robot_rl.hardware.firmware_protocol --header firmware/include/rr_protocol_gen.h
    python -m robot_rl.hardware.firmware_protocol --tables

Frame (all multi-byte values little-endian)::

    sync 0xA5 0x5A (2) | id (1) | len (1) | payload (len) | crc16 (2)
    payload = fields | joint arrays | counter u32 | tag (8)

``crc16`` is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor) over
id + len + payload: it catches line noise. Every message, in both directions, ends in the
authentication trailer (see :mod:`robot_rl.hardware.firmware_auth`): a counter that strictly
increases within a session and ``tag`` = HMAC-SHA256(key, session nonce | id | len | payload
without the tag), truncated to TAG_SIZE bytes. A message with joint arrays carries n values per
array (n in [1, MAX_JOINTS]) and n follows from the length:
``len = fixed_size + n * per_joint_size + AUTH_TRAILER_SIZE``.

:class:`FrameParser` reads a byte stream incrementally, resynchronises after garbage, and drops
(and counts) candidate frames with an unknown id, a length the id does not allow, or a bad CRC.
After a rejection it rescans from the byte after the rejected sync, so a good frame that a false
sync had swallowed is still found.
"""

from __future__ import annotations

import argparse
import binascii
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SYNC = b"\xa5\x5a"
PROTOCOL_VERSION = 2
MAX_JOINTS = 16
KEY_SIZE = 32  # bytes of the shared HMAC-SHA256 key
NONCE_SIZE = 8  # bytes each side contributes to the session nonce (host's, then firmware's)
COUNTER_SIZE = 4
TAG_SIZE = 8  # HMAC-SHA256 truncated to 64 bits
AUTH_TRAILER_SIZE = COUNTER_SIZE + TAG_SIZE
HEADER_SIZE = 4  # sync (2) + id (1) + len (1)
CRC_SIZE = 2
MAX_PAYLOAD = 255
CRC16_POLY = 0x1021
CRC16_INIT = 0xFFFF


@dataclass(frozen=True)
class Field:
    """One payload field: ``fmt`` is a struct code (B u8, H u16, I u32, Q u64, f float32)."""

    name: str
    fmt: str
    unit: str
    doc: str

    @property
    def size(self) -> int:
        """Bytes on the wire."""
        return struct.calcsize("<" + self.fmt)


@dataclass(frozen=True)
class MessageSpec:
    """A message: fixed fields, then each joint array (n float32, one per joint) in order."""

    name: str
    msg_id: int
    sender: str  # "host" or "firmware"
    doc: str
    fields: tuple[Field, ...] = ()
    joint_arrays: tuple[Field, ...] = ()

    @property
    def fixed_size(self) -> int:
        """Payload bytes of the fixed fields."""
        return sum(f.size for f in self.fields)

    @property
    def per_joint_size(self) -> int:
        """Payload bytes per joint (0 for a message without joint arrays)."""
        return sum(f.size for f in self.joint_arrays)

    def joints_for_length(self, length: int) -> int | None:
        """Joint count n implied by a payload length (with the trailer); None if this message cannot have it."""
        length -= AUTH_TRAILER_SIZE
        if not self.joint_arrays:
            return 0 if length == self.fixed_size else None
        n, rest = divmod(length - self.fixed_size, self.per_joint_size)
        return n if rest == 0 and 1 <= n <= MAX_JOINTS else None

    def payload_size(self, n_joints: int) -> int:
        """Payload bytes for ``n_joints`` joints, with the authentication trailer."""
        return self.fixed_size + n_joints * self.per_joint_size + AUTH_TRAILER_SIZE


def _f32(name: str, unit: str, doc: str) -> Field:
    return Field(name, "f", unit, doc)


MESSAGES: tuple[MessageSpec, ...] = (
    MessageSpec("HELLO", 0x01, "host", "Open a session (its tag uses the all-zero session nonce); answered by "
                "HELLO_ACK.",
                fields=(Field("host_nonce", "Q", "-", "fresh random host half of the session nonce"),)),
    MessageSpec("TORQUE_COMMAND", 0x02, "host", "Joint torques to apply until the next command; the counter is its "
                "sequence.",
                fields=(Field("command_time_us", "I", "us", "firmware time (newest STATE's time_us) when the host "
                              "sent it: the firmware judges its age"),),
                joint_arrays=(_f32("torque", "Nm", "commanded joint torque"),)),
    MessageSpec("CLEAR_FAULT", 0x03, "host", "Explicit reset of a latched watchdog trip or fault."),
    MessageSpec("HELLO_ACK", 0x81, "firmware", "Session opened: the firmware's nonce half and what it is.",
                fields=(Field("firmware_nonce", "Q", "-", "fresh random firmware half of the session nonce"),
                        Field("protocol_version", "H", "-", "PROTOCOL_VERSION the firmware speaks"),
                        Field("watchdog_timeout_ms", "H", "ms", "command age that trips the watchdog")),
                joint_arrays=(_f32("torque_limit", "Nm", "applied torque is clamped to +-this"),)),
    MessageSpec("STATE", 0x82, "firmware", "Measured state, sent every control tick (1 kHz).",
                fields=(Field("sequence", "I", "-", "counter of the last applied TORQUE_COMMAND"),
                        Field("time_us", "I", "us", "firmware clock (wraps at 2^32)"),
                        Field("command_time_us", "I", "us", "command_time_us of the applied command"),
                        Field("latch_time_us", "I", "us", "firmware time the current latch was set (0: none)"),
                        Field("status", "H", "-", "STATUS_* bits"),
                        Field("rx_rejected", "H", "-", "frames the firmware's parser rejected (wraps)"),
                        Field("auth_rejected", "H", "-", "frames with a wrong tag (wraps)"),
                        Field("replay_rejected", "H", "-", "authentic frames whose counter did not increase (wraps)"),
                        Field("stale_rejected", "H", "-", "authentic commands older than the timeout (wraps)")),
                joint_arrays=(_f32("position", "rad", "joint position"),
                              _f32("velocity", "rad/s", "joint velocity"),
                              _f32("effort", "Nm", "torque applied this tick"))),
)
BY_NAME = {m.name: m for m in MESSAGES}
BY_ID = {m.msg_id: m for m in MESSAGES}

STATUS_FLAGS: tuple[tuple[str, int, str], ...] = (
    ("WATCHDOG_TRIPPED", 0x0001, "the applied command grew older than the timeout; braking until CLEAR_FAULT"),
    ("FAULT_LATCHED", 0x0002, "a non-finite torque or measurement; braking until CLEAR_FAULT"),
    ("COMMAND_CLAMPED", 0x0004, "this tick's torque was limited to torque_limit on some joint"),
    ("BAD_COMMAND", 0x0008, "the last TORQUE_COMMAND was rejected (joint count or non-finite)"),
    ("ARMED", 0x0010, "a command was accepted since boot or CLEAR_FAULT: the watchdog runs"),
    ("SESSION_OPEN", 0x0020, "a HELLO opened the session this STATE is tagged under"),
)
STATUS = {name: bit for name, bit, _ in STATUS_FLAGS}


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (binascii.crc_hqx is this CRC with init 0xFFFF)."""
    return binascii.crc_hqx(data, CRC16_INIT)


def encode_frame(msg_id: int, payload: bytes) -> bytes:
    """Wrap a payload in sync, id, len and CRC."""
    if not 0 <= msg_id <= 0xFF or len(payload) > MAX_PAYLOAD:
        raise ValueError(f"frame id {msg_id} / payload of {len(payload)} bytes out of range")
    body = bytes((msg_id, len(payload))) + payload
    return SYNC + body + crc16(body).to_bytes(2, "little")


@dataclass(frozen=True)
class Frame:
    """A frame that passed id, length and CRC checks."""

    msg_id: int
    payload: bytes


@dataclass(frozen=True)
class Message:
    """A decoded message: fixed fields as ints, joint arrays as float64 arrays (n,)."""

    name: str
    values: dict

    def __getitem__(self, key: str):
        return self.values[key]

    @property
    def n_joints(self) -> int:
        """Length of the joint arrays (0 without arrays)."""
        arrays = BY_NAME[self.name].joint_arrays
        return len(self.values[arrays[0].name]) if arrays else 0


def encode_message(name: str, mac: Callable[[bytes], bytes], counter: int, **values) -> bytes:
    """A complete, tagged frame for message ``name``; every field and joint array must be given.

    Args:
        mac: the session's tag function (:class:`robot_rl.hardware.firmware_auth.SessionMac`): id | len |
            payload without the tag -> TAG_SIZE bytes.
        counter: u32, strictly increasing within the session (the receiver drops any other).
    """
    if name not in BY_NAME:
        raise ValueError(f"unknown message {name!r}; known: {sorted(BY_NAME)}")
    spec = BY_NAME[name]
    missing = sorted({f.name for f in spec.fields + spec.joint_arrays} - set(values))
    if missing:
        raise ValueError(f"{name}: missing values {missing}")
    payload = struct.pack("<" + "".join(f.fmt for f in spec.fields), *(values[f.name] for f in spec.fields))
    arrays = [np.asarray(values[f.name], dtype="<f4").ravel() for f in spec.joint_arrays]
    if arrays and (len({a.size for a in arrays}) != 1 or not 1 <= arrays[0].size <= MAX_JOINTS):
        raise ValueError(f"{name}: joint arrays must share one length in [1, {MAX_JOINTS}], "
                         f"got {[a.size for a in arrays]}")
    body = payload + b"".join(a.tobytes() for a in arrays) + struct.pack("<I", counter)
    return encode_frame(spec.msg_id, body + mac(bytes((spec.msg_id, len(body) + TAG_SIZE)) + body))


def signed_part(frame: Frame) -> bytes:
    """What a frame's tag covers (after the session nonce): id | len | payload without the tag."""
    return bytes((frame.msg_id, len(frame.payload))) + frame.payload[:-TAG_SIZE]


def decode_message(frame: Frame) -> Message:
    """Fields of a frame from :class:`FrameParser` (its id and length are already checked; its tag is NOT:
    check it with :class:`robot_rl.hardware.firmware_auth.SessionMac` first). ``counter`` is the trailer's."""
    spec = BY_ID[frame.msg_id]
    n = spec.joints_for_length(len(frame.payload))
    fixed = struct.unpack_from("<" + "".join(f.fmt for f in spec.fields), frame.payload)
    values = {f.name: v for f, v in zip(spec.fields, fixed)}
    offset = spec.fixed_size
    for f in spec.joint_arrays:
        values[f.name] = np.frombuffer(frame.payload, dtype="<f4", count=n, offset=offset).astype(float)
        offset += 4 * n
    values["counter"] = struct.unpack_from("<I", frame.payload, len(frame.payload) - AUTH_TRAILER_SIZE)[0]
    return Message(spec.name, values)


@dataclass
class ParserCounts:
    """What :class:`FrameParser` accepted and rejected since it was created."""

    frames: int = 0
    bad_crc: int = 0
    unknown_id: int = 0
    bad_length: int = 0
    skipped_bytes: int = 0  # bytes discarded outside accepted frames (garbage, rejected syncs)

    @property
    def rejected(self) -> int:
        """Candidate frames dropped, all reasons."""
        return self.bad_crc + self.unknown_id + self.bad_length


@dataclass
class FrameParser:
    """Incremental frame parser; never raises on line noise. Same algorithm as firmware/src/rr_frame.c."""

    counts: ParserCounts = field(default_factory=ParserCounts)
    _buf: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[Frame]:
        """Append bytes; return the frames completed by them, in stream order."""
        return list(self.frames(data))

    def frames(self, data: bytes) -> Iterator[Frame]:
        """Append bytes; yield the frames completed by them, in stream order. At each yield ``counts`` holds
        exactly the rejections that came before that frame on the line, as if the bytes were fed one by one."""
        self._buf += data
        while (frame := self._next()) is not None:
            yield frame

    def _next(self) -> Frame | None:
        while self._find_sync() and len(self._buf) >= HEADER_SIZE:
            msg_id, length = self._buf[2], self._buf[3]
            spec = BY_ID.get(msg_id)
            if spec is None:
                self._reject("unknown_id")
                continue
            if spec.joints_for_length(length) is None:
                self._reject("bad_length")
                continue
            end = HEADER_SIZE + length + CRC_SIZE
            if len(self._buf) < end:
                return None
            if crc16(bytes(self._buf[2:end - CRC_SIZE])) != int.from_bytes(self._buf[end - CRC_SIZE:end], "little"):
                self._reject("bad_crc")
                continue
            frame = Frame(msg_id, bytes(self._buf[HEADER_SIZE:end - CRC_SIZE]))
            del self._buf[:end]
            self.counts.frames += 1
            return frame
        return None

    def _find_sync(self) -> bool:
        """Discard bytes before the first sync; False (keeping a trailing first sync byte) if none."""
        start = self._buf.find(SYNC)
        if start < 0:
            start = len(self._buf) - 1 if self._buf.endswith(SYNC[:1]) else len(self._buf)
        self.counts.skipped_bytes += start
        del self._buf[:start]
        return self._buf.startswith(SYNC)

    def _reject(self, reason: str) -> None:
        setattr(self.counts, reason, getattr(self.counts, reason) + 1)
        self.counts.skipped_bytes += 1
        del self._buf[:1]


def main(argv: list[str] | None = None) -> None:
    """CLI: write the generated C header, or print the README's protocol tables."""
    from robot_rl.hardware.firmware_header import generate_header, generate_markdown_tables

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--header", type=Path, help="path of the C header to write")
    action.add_argument("--tables", action="store_true", help="print the markdown tables for firmware/README.md")
    args = parser.parse_args(argv)
    if args.tables:
        print(generate_markdown_tables(), end="")
        return
    args.header.write_text(generate_header())
    print(f"wrote {args.header}")


if __name__ == "__main__":
    main()
