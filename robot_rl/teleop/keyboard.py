"""Keyboard teleop: key presses -> end-effector twist, intervention toggle and episode outcome.

Two parts, the mapping kept apart from the device:

* :class:`KeyboardTeleop` (pure): fed key presses with their times, it keeps the commanded twist, whether
  the human is intervening, and reports outcome marks. A held key arrives as repeated presses (the
  terminal's autorepeat); an axis drops back to zero when its key has not arrived for a while: the first
  gap may be as long as the autorepeat delay (``first_repeat_timeout_s``), later gaps only as long as a
  few repeat intervals (``repeat_timeout_s``), so releasing a held key stops the motion quickly.
* :class:`TerminalKeys` (device): a terminal file descriptor in cbreak mode (no line buffering, no echo;
  Ctrl-C still signals), read without blocking; the terminal's settings are restored on close.
* :class:`KeyboardDevice`: both as a :class:`robot_rl.teleop.device.TeleopDevice` (a hung-up terminal is a
  disconnected device).

Default keys (base frame): w/s +-x, a/d +-y, r/f +-z, u/o +-roll (wx), i/k +-pitch (wy), j/l +-yaw (wz);
space toggles intervening; y marks the episode a success, n a failure (both end it); e ends the episode
without an outcome (to reset the scene); g starts the next episode; x stops the motion at once; c closes the
gripper, v opens it (while intervening only; each takeover starts with no gripper command of its own, so the
gripper keeps what the policy last commanded until c or v: docs/teleop.md).
"""

from __future__ import annotations

import math
import os
import re
import select
import termios
from dataclasses import dataclass, field

import numpy as np

from robot_rl.errors import ConfigError, HardwareError
from robot_rl.teleop.device import DISCONNECTED, TeleopSample

DEFAULT_AXES = {"w": (0, 1.0), "s": (0, -1.0), "a": (1, 1.0), "d": (1, -1.0), "r": (2, 1.0), "f": (2, -1.0),
                "u": (3, 1.0), "o": (3, -1.0), "i": (4, 1.0), "k": (4, -1.0), "j": (5, 1.0), "l": (5, -1.0)}
"""key -> (twist axis 0..5, sign)."""


@dataclass(frozen=True)
class KeyboardConfig:
    """Keys and speeds of the keyboard teleop.

    Attributes:
        linear_speed: speed of a translation key, m/s.
        angular_speed: speed of a rotation key, rad/s.
        first_repeat_timeout_s: an axis pressed once stays on this long, s (longer than the terminal's
            autorepeat delay, typically 0.25-0.6 s, so a held key moves smoothly from its first press).
        repeat_timeout_s: once its key repeats, an axis stays on this long after the last repeat, s
            (longer than the autorepeat interval, typically 0.03-0.05 s).
        axes: key -> (twist axis 0..5, sign +-1).
        toggle_key, success_key, failure_key, stop_key, start_key, reset_key, close_key, open_key: single
            characters (start_key: start the next episode; reset_key: end this one without an outcome;
            close_key / open_key: the gripper, while intervening).
    """

    linear_speed: float = 0.1
    angular_speed: float = 0.4
    first_repeat_timeout_s: float = 0.6
    repeat_timeout_s: float = 0.15
    axes: dict[str, tuple[int, float]] = field(default_factory=lambda: dict(DEFAULT_AXES))
    toggle_key: str = " "
    success_key: str = "y"
    failure_key: str = "n"
    stop_key: str = "x"
    start_key: str = "g"
    reset_key: str = "e"
    close_key: str = "c"
    open_key: str = "v"

    def __post_init__(self) -> None:
        for name, high in (("linear_speed", 2.0), ("angular_speed", 6.0), ("first_repeat_timeout_s", 5.0),
                           ("repeat_timeout_s", 5.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not 0.0 < value <= high:
                raise ConfigError(f"keyboard config: {name} must be a number in (0, {high}], got {value!r}")
        if self.repeat_timeout_s > self.first_repeat_timeout_s:
            raise ConfigError(f"keyboard config: repeat_timeout_s ({self.repeat_timeout_s} s) must not exceed "
                              f"first_repeat_timeout_s ({self.first_repeat_timeout_s} s)")
        self._check_keys()

    def _check_keys(self) -> None:
        for key, (axis, sign) in self.axes.items():
            if axis not in range(6) or sign not in (-1.0, 1.0):
                raise ConfigError(f"keyboard config: key {key!r} maps to axis {axis!r} sign {sign!r}; "
                                  "expected axis 0..5 and sign +-1")
        keys = list(self.axes) + [self.toggle_key, self.success_key, self.failure_key, self.stop_key,
                                  self.start_key, self.reset_key, self.close_key, self.open_key]
        bad = [k for k in keys if not isinstance(k, str) or len(k) != 1]
        if bad:
            raise ConfigError(f"keyboard config: keys must be single characters, got {bad}")
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ConfigError(f"keyboard config: keys {dupes} are bound twice")


@dataclass(frozen=True)
class KeyEvents:
    """What a batch of key presses did besides moving.

    Attributes:
        intervening_changed: the intervening state was toggled (an even number of toggles leaves it False).
        outcomes: episode outcome marks in press order (True = success, False = failure).
        controls: episode control requests in press order: "start" (start_key), "reset" (reset_key).
    """

    intervening_changed: bool = False
    outcomes: tuple[bool, ...] = ()
    controls: tuple[str, ...] = ()


class KeyboardTeleop:
    """The keyboard's state: twist per axis (with its timeout), intervening flag, gripper (0 open .. 1 closed;
    None: no gripper key pressed during this takeover). Times in s."""

    def __init__(self, config: KeyboardConfig | None = None):
        self.config = config or KeyboardConfig()
        self.intervening = False
        self.gripper: float | None = None
        self._speed = np.array([self.config.linear_speed] * 3 + [self.config.angular_speed] * 3)
        self._sign = np.zeros(6)  # -1, 0, +1 per axis
        self._last = np.full(6, -np.inf)  # time of each axis's last press, s
        self._repeating = np.zeros(6, dtype=bool)

    def press(self, keys: str, now: float) -> KeyEvents:
        """Apply ``keys`` (characters, in order) pressed at ``now``; unknown keys are ignored."""
        was, outcomes, controls = self.intervening, [], []
        for key in keys:
            self._press_one(key, now, outcomes, controls)
        return KeyEvents(self.intervening != was, tuple(outcomes), tuple(controls))

    def _press_one(self, key: str, now: float, outcomes: list[bool], controls: list[str]) -> None:
        c = self.config
        if key in c.axes:
            axis, sign = c.axes[key]
            self._repeating[axis] = self._sign[axis] == sign and self._active(now)[axis]
            self._sign[axis], self._last[axis] = sign, now
        elif key == c.toggle_key:
            self.intervening = not self.intervening
            self._sign[:] = 0.0  # a new intervention starts at rest, and so does the policy's turn
            self.gripper = None  # and without a gripper command: the gripper keeps the policy's last
        elif key in (c.close_key, c.open_key):
            if self.intervening:
                self.gripper = 1.0 if key == c.close_key else 0.0
        elif key == c.stop_key:
            self._sign[:] = 0.0
        elif key in (c.success_key, c.failure_key):
            outcomes.append(key == c.success_key)
        elif key in (c.start_key, c.reset_key):
            controls.append("start" if key == c.start_key else "reset")

    def _active(self, now: float) -> np.ndarray:
        """Per axis (6,): its key arrived recently enough to keep moving."""
        timeout = np.where(self._repeating, self.config.repeat_timeout_s, self.config.first_repeat_timeout_s)
        return (self._sign != 0.0) & (now - self._last <= timeout)

    def twist(self, now: float) -> np.ndarray:
        """The commanded twist (6,) [m/s x3, rad/s x3] at ``now``: zero on every axis whose key timed out."""
        return np.where(self._active(now), self._sign * self._speed, 0.0)


_ESCAPE = re.compile(rb"\x1b(\[[0-9;?]*[ -/]*[@-~]|O.|.)?", re.DOTALL)  # CSI / SS3 / 2-byte sequences


def keys_from_bytes(data: bytes) -> str:
    """The plain key characters in ``data`` read from a terminal; escape sequences (arrows, F-keys) dropped."""
    return _ESCAPE.sub(b"", data).decode("ascii", errors="ignore")


class TerminalKeys:
    """A terminal opened at ``path`` in cbreak mode, polled for key presses without blocking.

    Args:
        path: a tty device (``/dev/tty`` = the controlling terminal, or a pty slave such as ``/dev/pts/3``).

    Raises:
        ConfigError: naming ``path`` if it cannot be opened or is not a terminal.
    """

    def __init__(self, path: str):
        self.path = path
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as exc:
            raise ConfigError(f"teleop device {path!r} cannot be opened: {exc.strerror}") from exc
        try:
            self._saved = termios.tcgetattr(self.fd)
            termios.tcsetattr(self.fd, termios.TCSAFLUSH, _cbreak(self._saved))  # flush keys typed before
        except termios.error as exc:
            os.close(self.fd)
            raise ConfigError(f"teleop device {path!r} is not a terminal: {exc}") from exc

    def read(self, timeout: float = 0.0) -> bytes:
        """Bytes typed since the last read (b"" if none within ``timeout`` s).

        Raises:
            HardwareError: naming the device if the terminal hung up (e.g. its window was closed).
        """
        if not select.select([self.fd], [], [], timeout)[0]:
            return b""
        chunks = []
        while True:
            try:
                data = os.read(self.fd, 1024)
            except BlockingIOError:
                break
            except OSError as exc:
                raise HardwareError(f"teleop device {self.path!r} hung up: {exc.strerror}") from exc
            if not data:  # end of file: readable yet empty (no data would be EAGAIN in this mode)
                if not chunks:
                    raise HardwareError(f"teleop device {self.path!r} hung up")
                break
            chunks.append(data)
        return b"".join(chunks)

    def close(self) -> None:
        """Restore the terminal's settings and close it (idempotent)."""
        if self.fd < 0:
            return
        try:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
        except termios.error:
            pass  # the terminal hung up: nothing left to restore
        finally:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> TerminalKeys:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class KeyboardDevice:
    """Keys typed at a terminal, as a :class:`robot_rl.teleop.device.TeleopDevice`.

    Raises:
        ConfigError: naming ``path`` if it cannot be opened or is not a terminal.
    """

    def __init__(self, path: str, config: KeyboardConfig | None = None):
        self.keys = TerminalKeys(path)
        self.keyboard = KeyboardTeleop(config)
        self.name = f"keyboard on {path}"
        self.error = ""

    def poll(self, now: float) -> TeleopSample:
        """The keys typed since the last poll; disconnected once the terminal hung up."""
        if self.keys.fd < 0:
            return DISCONNECTED
        try:
            data = self.keys.read()
        except HardwareError as exc:
            self.error = str(exc)
            self.keys.close()
            return DISCONNECTED
        events = self.keyboard.press(keys_from_bytes(data), now)
        return TeleopSample(engaged=self.keyboard.intervening, twist=self.keyboard.twist(now),
                            gripper=self.keyboard.gripper, outcomes=events.outcomes, controls=events.controls)

    def close(self) -> None:
        self.keys.close()


def _cbreak(attrs: list) -> list:
    """``attrs`` (termios.tcgetattr's list) with line buffering and echo off; reads return at once."""
    new = [list(a) if isinstance(a, list) else a for a in attrs]
    new[3] &= ~(termios.ICANON | termios.ECHO)  # lflag; ISIG kept: Ctrl-C still interrupts
    new[6][termios.VMIN] = 0
    new[6][termios.VTIME] = 0
    return new
