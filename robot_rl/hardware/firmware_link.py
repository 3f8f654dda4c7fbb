"""The serial line to the joint-controller firmware: a port, a reader thread, the newest messages.

The reader thread parses every byte as it arrives (so the newest STATE is never stuck behind a full
buffer), keeps the newest STATE and INFO, unwraps the firmware's 32-bit microsecond clock, and keeps
the parser's rejection counts. Nothing here knows about robots or joints.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import serial

from robot_rl.control.loop import request_fifo
from robot_rl.errors import HardwareError
from robot_rl.hardware.firmware_protocol import FrameParser, Message, ParserCounts, decode_message

_CLOCK_WRAP_US = 1 << 32


@dataclasses.dataclass(frozen=True)
class ReceivedState:
    """A STATE message with its unwrapped firmware time and when the host received it."""

    message: Message
    stamp: float  # s, firmware clock, unwrapped
    received: float  # s, time.monotonic() on the host


class FirmwareLink:
    """Open ``port`` at ``baud`` and read it on a daemon thread until :meth:`close`.

    ``rt_priority`` > 0 asks for SCHED_FIFO at that priority for the reader thread (``rt_scheduling``
    tells whether it was granted; without the privilege it keeps normal scheduling).

    Raises:
        HardwareError: the port cannot be opened (names the port and the OS error).
    """

    def __init__(self, port: str, baud: int, poll_s: float = 0.02, rt_priority: int = 0):
        self.port = port
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
        self._info: Message | None = None
        self._states_received = 0
        self._error: BaseException | None = None
        self._clock = (None, 0)  # (last raw time_us, wraps so far)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"firmware-link {port}", daemon=True)
        self._thread.start()

    def send(self, frame: bytes) -> None:
        """Write one encoded frame."""
        try:
            with self._write_lock:
                self._serial.write(frame)
        except (serial.SerialException, OSError) as exc:
            raise HardwareError(f"cannot write to firmware on {self.port}: {exc}") from exc

    def wait_info(self, timeout_s: float) -> Message | None:
        """The newest INFO, waiting up to ``timeout_s`` for the first one; None if none came."""
        with self._changed:
            self._changed.wait_for(lambda: self._info is not None or self._error is not None, timeout_s)
            self._raise_if_failed()
            return self._info

    def wait_state(self, timeout_s: float) -> ReceivedState | None:
        """The newest STATE, waiting up to ``timeout_s`` for the first one; None if none came."""
        with self._changed:
            self._changed.wait_for(lambda: self._state is not None or self._error is not None, timeout_s)
            self._raise_if_failed()
            return self._state

    def counts(self) -> ParserCounts:
        """A copy of the host parser's counts."""
        with self._changed:
            return dataclasses.replace(self._parser.counts)

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
                message = decode_message(frame)
                if message.name == "STATE":
                    self._state = ReceivedState(message, self._unwrap(message["time_us"]), time.monotonic())
                    self._states_received += 1
                elif message.name == "INFO":
                    self._info = message
            self._changed.notify_all()

    def _unwrap(self, time_us: int) -> float:
        last, wraps = self._clock
        if last is not None and time_us < last:
            wraps += 1
        self._clock = (time_us, wraps)
        return (time_us + wraps * _CLOCK_WRAP_US) * 1e-6
