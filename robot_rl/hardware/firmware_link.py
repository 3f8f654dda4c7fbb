"""The serial line to the joint-controller firmware: a port, a session, a reader thread, the newest messages.

:meth:`FirmwareLink.open_session` runs the handshake (HELLO with a fresh host nonce, HELLO_ACK with the
firmware's); from then on every frame sent is tagged under the session with a strictly increasing
counter, and the reader thread accepts a firmware frame only if its tag verifies under the session and
its counter increased (others are counted in :class:`LinkCounts`). The reader parses every byte as it
arrives (so the newest STATE is never stuck behind a full buffer), keeps the newest STATE, unwraps the
firmware's 32-bit microsecond clock, and keeps the parser's rejection counts. Nothing here knows about
robots or joints.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

import serial

from robot_rl.control.loop import request_fifo
from robot_rl.errors import HardwareError
from robot_rl.hardware.firmware_auth import PRE_SESSION, SessionMac, new_nonce
from robot_rl.hardware.firmware_protocol import (Frame, FrameParser, Message, ParserCounts, decode_message,
                                                 encode_message)

_CLOCK_WRAP_US = 1 << 32


@dataclasses.dataclass(frozen=True)
class ReceivedState:
    """A STATE message with its unwrapped firmware time and when the host received it."""

    message: Message
    stamp: float  # s, firmware clock, unwrapped
    received: float  # s, time.monotonic() on the host


@dataclasses.dataclass
class LinkCounts:
    """Firmware frames the host refused after the parser: wrong tag (spoofed, or another session) or a
    counter that did not increase (replayed)."""

    tag_rejected: int = 0
    replay_rejected: int = 0


class FirmwareLink:
    """Open ``port`` at ``baud`` and read it on a daemon thread until :meth:`close`; ``key``: the shared key.

    ``rt_priority`` > 0 asks for SCHED_FIFO at that priority for the reader thread (``rt_scheduling``
    tells whether it was granted; without the privilege it keeps normal scheduling). ``on_state`` (optional)
    is called on the reader thread with every accepted STATE. ``mac_type`` makes the session MACs (the
    benchmark's unauthenticated stand-in replaces it; nothing else should).

    Raises:
        HardwareError: the port cannot be opened (names the port and the OS error).
    """

    def __init__(self, port: str, baud: int, key: bytes, poll_s: float = 0.02, rt_priority: int = 0,
                 on_state: Callable[[ReceivedState], None] | None = None, mac_type: type = SessionMac):
        self.port = port
        self._key = key
        self._mac_type = mac_type
        self._on_state = on_state
        self._hello_mac = mac_type(key, PRE_SESSION)
        self._mac = None  # the open session's mac_type, None before the handshake
        self._pending: list[bytes] = []  # nonces of the HELLOs sent
        self._tx_counter = 0
        self._rx_counter = 0
        self.link_counts = LinkCounts()
        self.rt_scheduling = False
        self._rt_priority = rt_priority
        try:
            self._serial = serial.Serial(port, baudrate=baud, timeout=poll_s, write_timeout=1.0)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise HardwareError(f"serial port {port!r} cannot be opened: {exc}") from exc
        self._serial.reset_input_buffer()
        self._parser = FrameParser()
        self._changed = threading.Condition()
        self._write_lock = threading.Lock()
        self._state: ReceivedState | None = None
        self._ack: Message | None = None
        self._states_received = 0
        self._error: BaseException | None = None
        self._clock = (None, 0)  # (last raw time_us, wraps so far)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"firmware-link {port}", daemon=True)
        self._thread.start()

    def send(self, name: str, **values) -> int:
        """Tag message ``name`` under the session with the next counter and write it; returns the counter.

        Raises:
            HardwareError: no session is open, or the port cannot be written.
        """
        with self._write_lock:
            if self._mac is None:
                raise HardwareError(f"no session with the firmware on {self.port}: run the handshake first")
            if self._tx_counter >= 0xFFFFFFFF:
                raise HardwareError(f"session with the firmware on {self.port} used up its 2^32 counters: reopen")
            self._tx_counter += 1
            self._write(encode_message(name, self._mac, self._tx_counter, **values))
            return self._tx_counter

    def hello(self) -> None:
        """Send a HELLO with a fresh nonce (tagged under the all-zero session nonce)."""
        nonce = new_nonce()
        with self._changed:
            self._pending.append(nonce)
        with self._write_lock:
            self._write(encode_message("HELLO", self._hello_mac, 0, host_nonce=int.from_bytes(nonce, "little")))

    def wait_session(self, timeout_s: float) -> Message | None:
        """The HELLO_ACK that opened the session, waiting up to ``timeout_s``; None if none verified."""
        with self._changed:
            self._changed.wait_for(lambda: self._ack is not None or self._error is not None, timeout_s)
            self._raise_if_failed()
            return self._ack

    def _write(self, frame: bytes) -> None:
        try:
            self._serial.write(frame)
        except (serial.SerialException, OSError) as exc:
            raise HardwareError(f"cannot write to firmware on {self.port}: {exc}") from exc

    def wait_state(self, timeout_s: float) -> ReceivedState | None:
        """The newest STATE, waiting up to ``timeout_s`` for the first one; None if none came."""
        with self._changed:
            self._changed.wait_for(lambda: self._state is not None or self._error is not None, timeout_s)
            self._raise_if_failed()
            return self._state

    def counts(self) -> tuple[ParserCounts, LinkCounts]:
        """Copies of the host parser's and the host authentication's counts."""
        with self._changed:
            return dataclasses.replace(self._parser.counts), dataclasses.replace(self.link_counts)

    @property
    def states_received(self) -> int:
        """STATE messages received since the port was opened."""
        return self._states_received

    def close(self) -> None:
        """Stop the reader thread and close the port (idempotent)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._serial.close()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise HardwareError(f"reading firmware on {self.port} failed: {self._error}") from self._error

    def _run(self) -> None:
        self.rt_scheduling = request_fifo(self._rt_priority)
        try:
            while not self._stop.is_set():
                data = self._serial.read(max(1, self._serial.in_waiting))
                if data:
                    self._accept(data)
        except (serial.SerialException, OSError) as exc:
            with self._changed:
                self._error = exc if not self._stop.is_set() else None
                self._changed.notify_all()

    def _accept(self, data: bytes) -> None:
        with self._changed:
            for frame in self._parser.feed(data):
                if frame.msg_id == 0x81:  # HELLO_ACK
                    self._accept_ack(frame)
                    continue
                message = self._authentic(frame)
                if message is not None and message.name == "STATE":
                    self._state = ReceivedState(message, self._unwrap(message["time_us"]), time.monotonic())
                    self._states_received += 1
                    if self._on_state is not None:
                        self._on_state(self._state)
            self._changed.notify_all()

    def _accept_ack(self, frame: Frame) -> None:
        """A HELLO_ACK opens the session of the pending HELLO whose nonce it verifies under."""
        ack = decode_message(frame)
        firmware_nonce = ack["firmware_nonce"].to_bytes(8, "little")
        for nonce in self._pending:
            mac = self._mac_type(self._key, nonce + firmware_nonce)
            if mac.verify(frame):
                with self._write_lock:
                    self._mac, self._tx_counter = mac, 0
                self._rx_counter = ack["counter"]
                self._ack, self._state, self._clock = ack, None, (None, 0)
                return
        self.link_counts.tag_rejected += 1

    def _authentic(self, frame: Frame) -> Message | None:
        """The message if its tag verifies under the session and its counter increased, else None (counted)."""
        if self._mac is None:
            return None  # no session yet: nothing from the firmware can be checked, nor is anything needed
        if not self._mac.verify(frame):
            self.link_counts.tag_rejected += 1
            return None
        message = decode_message(frame)
        if message["counter"] <= self._rx_counter:
            self.link_counts.replay_rejected += 1
            return None
        self._rx_counter = message["counter"]
        return message

    def _unwrap(self, time_us: int) -> float:
        last, wraps = self._clock
        if last is not None and time_us < last:
            wraps += 1
        self._clock = (time_us, wraps)
        return (time_us + wraps * _CLOCK_WRAP_US) * 1e-6
