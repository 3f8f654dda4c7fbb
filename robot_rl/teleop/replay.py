"""Replay stand-ins for teleop devices: recorded report and event streams fed through the real parsing code.

**Stand-ins.** The build machines have no SpaceMouse or gamepad, and no /dev/uinput, /dev/uhid or /dev/input to
create a virtual one. These two classes take the place of the device handle only; everything after them (report
parsing, event framing, deadzone, scaling, buttons, disconnect handling) is the code a real device runs through:

* :class:`ReplayHid` stands in for an open ``hid.device`` (hidapi): it reads input reports from a file or FIFO
  (each framed by one length byte) and hands them out one per ``read`` like hidraw; at the end of the stream
  (the writer closed it) ``read`` raises OSError("read error"), as hidapi does once a device is unplugged.
* :class:`ReplayEvents` stands in for an ``evdev.InputDevice``: it *is* python-evdev's ``EventIO`` on a file or
  FIFO of kernel ``struct input_event`` records, so python-evdev's own reader decodes them; at the end of the
  stream ``read`` raises OSError(ENODEV), as an unplugged event device does.

A teleop node opens one when its ``device`` parameter is ``replay:<path>``.

Fixture files (tests/data/teleop/) are text: ``[phase]`` headers, then one report per line as hex bytes
(SpaceMouse) or one event per line as ``TYPE CODE VALUE`` with evdev names (``EV_ABS ABS_X 0``). The streams
in them are written from the devices' documented formats, not captured from physical devices.
"""

from __future__ import annotations

import errno
import os
import struct
from pathlib import Path

from robot_rl.errors import ConfigError

REPLAY_PREFIX = "replay:"
_EVENT = struct.Struct("@llHHi")  # struct input_event on 64-bit Linux: timeval (sec, usec), type, code, value


def _open(path: str, what: str) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise ConfigError(f"{what} replay stream {path!r} cannot be opened: {exc.strerror}") from exc


class ReplayHid:
    """Stand-in for an open, non-blocking ``hid.device`` (see the module docstring)."""

    def __init__(self, path: str):
        self.path = path
        self.fd = _open(path, "HID")
        self._buffer = b""
        self._ended = False

    def read(self, max_length: int) -> list[int]:
        """The next report (at most ``max_length`` bytes) as ints; [] if none is pending.

        Raises:
            OSError: the stream ended (the device is gone); ValueError: read after close (as hidapi).
        """
        if self.fd < 0:
            raise ValueError("not open")
        if not self._ended:
            try:
                data = os.read(self.fd, 4096)
                self._buffer += data
                self._ended = not data
            except BlockingIOError:
                pass
        if self._buffer and len(self._buffer) > self._buffer[0]:
            size = self._buffer[0]
            report, self._buffer = self._buffer[1:1 + size], self._buffer[1 + size:]
            return list(report[:max_length])
        if self._ended:
            raise OSError("read error")
        return []

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _event_io():
    from evdev.eventio import EventIO

    class ReplayEvents(EventIO):
        """Stand-in for an ``evdev.InputDevice`` (see the module docstring): python-evdev's EventIO on a stream."""

        def __init__(self, path: str):
            self.path = path
            self.fd = _open(path, "evdev")

        def read(self):
            """python-evdev's reader; OSError(ENODEV) at the end of the stream (the device is gone)."""
            events = list(super().read())  # BlockingIOError when nothing is pending
            if not events:
                raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))
            yield from events

        def close(self) -> None:
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1

    return ReplayEvents


def replay_events(path: str):
    """A :class:`ReplayEvents` on ``path`` (python-evdev is imported only when one is needed)."""
    return _event_io()(path)


def read_fixture(path: str | Path) -> dict[str, list[str]]:
    """Phase name -> its lines (comments after ``#`` and blank lines dropped), in file order."""
    phases: dict[str, list[str]] = {}
    current = None
    for number, raw in enumerate(Path(path).read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = phases.setdefault(line[1:-1], [])
        elif current is None:
            raise ConfigError(f"{path}:{number}: data before the first [phase] header")
        else:
            current.append(line)
    return phases


def hid_frames(lines: list[str]) -> bytes:
    """Hex report lines -> the byte stream :class:`ReplayHid` reads (each report after its length byte)."""
    reports = [bytes.fromhex(line) for line in lines]
    return b"".join(bytes([len(r)]) + r for r in reports)


def event_records(lines: list[str], sec: int = 0) -> bytes:
    """``TYPE CODE VALUE`` lines (evdev names or numbers) -> kernel ``struct input_event`` records."""
    from evdev import ecodes

    def number(token: str) -> int:
        return int(token) if token.lstrip("-").isdigit() else ecodes.ecodes[token]

    out = []
    for usec, line in enumerate(lines):
        type_, code, value = (number(t) for t in line.split())
        out.append(_EVENT.pack(sec, usec, type_, code, value))
    return b"".join(out)
