"""Gamepad teleop: Linux evdev events (EV_ABS sticks, triggers, d-pad; EV_KEY buttons) -> twist and actions.

Layouts, as the kernel drivers report them:

* **xbox** (``xpad``: Xbox 360 / One / Series pads, USB): sticks ABS_X/ABS_Y (left), ABS_RX/ABS_RY (right) in
  [-32768, 32767], up = negative (xpad inverts the pad's Y); triggers ABS_Z (left) / ABS_RZ (right) in
  [0, 1023]; d-pad ABS_HAT0X / ABS_HAT0Y in [-1, 1].
* **playstation** (``hid-playstation``: DualShock 4, DualSense): the same codes, sticks and triggers in
  [0, 255] (sticks rest at 128), up = 0.

Both drivers name buttons by position: BTN_SOUTH (A / cross), BTN_EAST (B / circle), BTN_TL / BTN_TR (LB, RB
/ L1, R1), BTN_SELECT (back, view / share, create), BTN_START (start, menu / options).

A real device's own ranges (its absinfo) override the layout's. Default mapping (the operator's frame, see
:class:`robot_rl.teleop.device.MotionConfig`): left stick up/down +-x, left/right +-y; right stick up/down
+-z, left/right +-yaw; d-pad right/left +-roll, up/down +-pitch; the right trigger closes the gripper
(0..1). Buttons: RB / R1 held = deadman (the human drives only while it is held), A / cross success,
B / circle failure, start / options "start", back / share "reset".

Events apply at each SYN_REPORT (a complete frame). After SYN_DROPPED (the kernel's buffer overflowed) the
events up to the next SYN_REPORT are discarded and the motion axes read zero until they move again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.teleop.device import DISCONNECTED, ButtonMap, Buttons, MotionConfig, TeleopSample

EV_SYN, EV_KEY, EV_ABS = 0x00, 0x01, 0x03  # linux/input-event-codes.h (== evdev.ecodes)
SYN_REPORT, SYN_DROPPED = 0, 3
ABS_X, ABS_Y, ABS_Z, ABS_RX, ABS_RY, ABS_RZ, ABS_HAT0X, ABS_HAT0Y = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x10, 0x11

MOTION = {ABS_Y: (0, -1.0), ABS_X: (1, -1.0), ABS_RY: (2, -1.0), ABS_RX: (5, -1.0),
          ABS_HAT0X: (3, 1.0), ABS_HAT0Y: (4, -1.0)}
"""abs code -> (operator-frame twist axis 0..5, sign): stick up = ahead, left = left; d-pad up = +pitch."""
GRIPPER_AXIS = ABS_RZ
DEFAULT_BUTTONS = "BTN_TR:deadman,BTN_SOUTH:success,BTN_EAST:failure,BTN_START:start,BTN_SELECT:reset"


@dataclass(frozen=True)
class GamepadLayout:
    """A driver's axis ranges: abs code -> (minimum, maximum); and the USB vendor ids that use it."""

    name: str
    vendor_ids: tuple[int, ...]
    ranges: dict[int, tuple[int, int]]


def _ranges(stick: tuple[int, int], trigger: tuple[int, int]) -> dict[int, tuple[int, int]]:
    return {**{code: stick for code in (ABS_X, ABS_Y, ABS_RX, ABS_RY)}, ABS_Z: trigger, ABS_RZ: trigger,
            ABS_HAT0X: (-1, 1), ABS_HAT0Y: (-1, 1)}


LAYOUTS = {  # Linux drivers/input/joystick/xpad.c and drivers/hid/hid-playstation.c
    "xbox": GamepadLayout("xbox", (0x045E,), _ranges((-32768, 32767), (0, 1023))),
    "playstation": GamepadLayout("playstation", (0x054C,), _ranges((0, 255), (0, 255))),
}


def layout_for(name: str, vendor_id: int | None) -> GamepadLayout:
    """Layout ``name``, or (name "") the one of ``vendor_id``; ConfigError if neither settles it."""
    if name:
        if name not in LAYOUTS:
            raise ConfigError(f"unknown gamepad layout {name!r}; choose one of {sorted(LAYOUTS)}")
        return LAYOUTS[name]
    for layout in LAYOUTS.values():
        if vendor_id in layout.vendor_ids:
            return layout
    raise ConfigError(f"gamepad vendor id {vendor_id!r} has no known layout: set device_model to one of "
                      f"{sorted(LAYOUTS)}")


def button_id(name: str) -> int:
    """An evdev key code from its name ("BTN_TR", "BTN_SOUTH", ...), via python-evdev's ecodes."""
    from evdev import ecodes

    code = ecodes.ecodes.get(name)
    if code is None or not name.startswith(("BTN_", "KEY_")):
        raise ConfigError(f"gamepad button {name!r}: not an evdev key name such as BTN_SOUTH")
    return code


class GamepadEvents:
    """Gamepad state from evdev events (pure): normalised axes, and button edges per complete frame."""

    def __init__(self, layout: GamepadLayout, ranges: dict[int, tuple[int, int]] | None = None):
        self.layout = layout
        self.ranges = {**layout.ranges, **(ranges or {})}
        self.axes: dict[int, float] = {}  # abs code -> [-1, 1] (sticks, d-pad) or [0, 1] (triggers)
        self._pending: list[tuple[int, int, int]] = []
        self._dropping = False

    def feed(self, type_: int, code: int, value: int) -> list[tuple[int, bool]]:
        """Apply one event; at a SYN_REPORT returns the frame's button edges [(key code, down)]."""
        if type_ == EV_SYN and code == SYN_DROPPED:
            self._pending.clear()
            self._dropping = True
            self.axes = {c: v for c, v in self.axes.items() if c not in MOTION}  # hold still until they move
            return []
        if type_ == EV_SYN and code == SYN_REPORT:
            frame, self._pending = self._pending, []
            if self._dropping:
                self._dropping = False
                return []
            return [edge for event in frame if (edge := self._apply(*event)) is not None]
        if type_ in (EV_KEY, EV_ABS) and not self._dropping:
            self._pending.append((type_, code, value))
        return []

    def _apply(self, type_: int, code: int, value: int) -> tuple[int, bool] | None:
        if type_ == EV_KEY:
            return (code, bool(value)) if value in (0, 1) else None  # 2 = autorepeat
        low, high = self.ranges.get(code, (0, 0))
        if high > low:
            fraction = (value - low) / (high - low)
            self.axes[code] = fraction if code in (ABS_Z, ABS_RZ) else 2.0 * fraction - 1.0
        return None

    def deflection(self) -> np.ndarray:
        """(6,) in [-1, 1] along the operator's (ahead, left, up, roll, pitch, yaw)."""
        out = np.zeros(6)
        for code, (axis, sign) in MOTION.items():
            out[axis] = sign * self.axes.get(code, 0.0)
        return out


class Gamepad:
    """A gamepad as a :class:`robot_rl.teleop.device.TeleopDevice`.

    Args:
        source: an ``evdev.InputDevice`` (its ``read()`` yields InputEvents, raises BlockingIOError when none is
            pending and OSError once unplugged), or the replay stand-in :class:`robot_rl.teleop.replay.ReplayEvents`.
        layout: axis ranges; ``ranges`` overrides them (a real device's absinfo).
        motion, buttons, name: speeds and operator frame; key code -> action; for logs.
    """

    def __init__(self, source, layout: GamepadLayout, motion: MotionConfig | None = None,
                 buttons: ButtonMap | None = None, name: str = "", ranges: dict[int, tuple[int, int]] | None = None):
        self.source = source
        self.events = GamepadEvents(layout, ranges)
        self.motion = motion or MotionConfig()
        self.buttons = Buttons(buttons or ButtonMap.parse(DEFAULT_BUTTONS, button_id))
        self.name = name or f"{layout.name} gamepad"
        self.error = ""

    def poll(self, now: float) -> TeleopSample:
        """Applies every pending event (never blocks)."""
        if self.source is None:
            return DISCONNECTED
        try:
            while True:  # each read() yields what one read(2) returned; BlockingIOError once none is pending
                for event in self.source.read():
                    for code, down in self.events.feed(event.type, event.code, event.value):
                        self.buttons.edge(code, down)
        except BlockingIOError:
            pass  # nothing (more) pending
        except OSError as exc:
            self.error = f"{self.name}: {exc}"
            self.close()
            return DISCONNECTED
        outcomes, controls = self.buttons.take_events()
        gripper = self.events.axes.get(GRIPPER_AXIS, 0.0)
        return TeleopSample(engaged=self.buttons.engaged, twist=self.motion.twist(self.events.deflection()),
                            gripper=round(float(np.clip(gripper, 0.0, 1.0)), 3), outcomes=outcomes, controls=controls)

    def close(self) -> None:
        if self.source is not None:
            self.source.close()
            self.source = None


def open_gamepad(path: str = "", layout: str = ""):
    """Open a gamepad with python-evdev: (Gamepad source, layout, absinfo ranges, description).

    Args:
        path: its event device (e.g. /dev/input/event5, or a /dev/input/by-id link); "" = the first device
            with sticks (ABS_X) and a south button.
        layout: a name of :data:`LAYOUTS`; "" = by the device's USB vendor id.

    Raises:
        ConfigError: evdev is not installed, or no gamepad is found or it cannot be opened.
    """
    try:
        import evdev
    except ImportError as exc:
        raise ConfigError("gamepad teleop needs evdev: pip install 'robot_rl[teleop]'") from exc
    paths = [path] if path else evdev.list_devices()
    for candidate in paths:
        try:
            device = evdev.InputDevice(candidate)
        except OSError as exc:
            if path:
                raise ConfigError(f"gamepad {path!r} cannot be opened: {exc.strerror}") from exc
            continue
        caps = device.capabilities(absinfo=True)
        keys = set(caps.get(EV_KEY, []))
        absinfo = {code: (info.min, info.max) for code, info in caps.get(EV_ABS, [])}
        if ABS_X in absinfo and (evdev.ecodes.BTN_SOUTH in keys or path):
            chosen = layout_for(layout, device.info.vendor)
            return device, chosen, absinfo, f"{device.name} ({chosen.name} layout) at {candidate}"
        device.close()
    raise ConfigError(f"no gamepad {'at ' + path + ' ' if path else ''}found among {paths} (see docs/teleop.md "
                      "for the input group)")
