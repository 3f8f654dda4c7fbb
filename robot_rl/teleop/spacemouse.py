"""3Dconnexion SpaceMouse teleop: raw HID input reports -> twist and button actions, read with hidapi (its hidraw
backend on Linux: the ``hidraw`` module of the ``hidapi`` wheel).

The reports (report id first, values little-endian signed 16-bit):

* **split** format (SpaceNavigator, SpaceExplorer, SpacePilot (Pro), SpaceMouse Pro (wired), Compact, USB):
  report 1 = translation X, Y, Z (7 bytes), report 2 = rotation RX, RY, RZ (7 bytes);
* **combined** format (SpaceMouse Wireless, Pro Wireless, Enterprise, the universal receiver): report 1 =
  X, Y, Z, RX, RY, RZ (13 bytes);
* report 3 = buttons, a little-endian bitmask (button n = byte 1 + n // 8, bit n % 8).

Raw axes are in the device's frame, x right, y toward the user, z down (rotations right-handed about the
same axes), about +-350 counts at full deflection. Which model uses which format, and the byte layout, are
those of pyspacemouse's device table (devices.toml, v2.1.0), which tests/test_teleop_devices.py checks this
table against. The device's (right, forward, up) then are the operator's (-y, +x, +z): push the cap away
from you and the hand moves ahead of you (see :class:`robot_rl.teleop.device.MotionConfig`).

Default buttons: button 0 (left) toggles the takeover, button 1 (right) marks the episode a success. Other
actions need a button-rich model (SpaceMouse Pro, Enterprise) or a remap (``buttons`` parameter).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_rl.errors import ConfigError, HardwareError
from robot_rl.teleop.device import DISCONNECTED, ButtonMap, Buttons, MotionConfig, TeleopSample

FULL_SCALE = 350.0
"""Raw counts at full deflection (the logical maximum of the 3Dconnexion report descriptors; pyspacemouse's
axis_scale)."""

DEFAULT_BUTTONS = "0:takeover,1:success"
REPORT_SIZE = 64
"""Bytes asked of hidapi per read (longer than any 3Dconnexion input report)."""


@dataclass(frozen=True)
class SpaceMouseModel:
    """A 3Dconnexion device: USB ids and report format (combined: rotation in report 1 too)."""

    name: str
    vendor_id: int
    product_id: int
    combined: bool


MODELS = (
    SpaceMouseModel("SpaceNavigator", 0x046D, 0xC626, False),
    SpaceMouseModel("SpaceExplorer", 0x046D, 0xC627, False),
    SpaceMouseModel("SpacePilot", 0x046D, 0xC625, False),
    SpaceMouseModel("SpacePilotPro", 0x046D, 0xC629, False),
    SpaceMouseModel("SpaceMousePro", 0x046D, 0xC62B, False),
    SpaceMouseModel("SpaceMouseCompact", 0x256F, 0xC635, False),
    SpaceMouseModel("SpaceMouseUSB", 0x256F, 0xC641, False),
    SpaceMouseModel("SpaceMouseWireless", 0x256F, 0xC62E, True),
    SpaceMouseModel("SpaceMouseWirelessNew", 0x256F, 0xC63A, True),
    SpaceMouseModel("SpaceMouseProWireless", 0x256F, 0xC632, True),
    SpaceMouseModel("SpaceMouseProWirelessBluetooth", 0x256F, 0xC638, True),
    SpaceMouseModel("SpaceMouseEnterprise", 0x256F, 0xC633, True),
    SpaceMouseModel("UniversalReceiver", 0x256F, 0xC652, True),
)


def model_named(name: str) -> SpaceMouseModel:
    """The model called ``name`` (ConfigError listing the known ones otherwise)."""
    for model in MODELS:
        if model.name == name:
            return model
    raise ConfigError(f"unknown SpaceMouse model {name!r}; known: {[m.name for m in MODELS]}")


def button_id(name: str) -> int:
    """A HID button number from its name in a ``buttons`` parameter ("0", "1", ...)."""
    if not name.isdigit() or int(name) > 63:
        raise ConfigError(f"SpaceMouse button {name!r}: expected a button number 0..63")
    return int(name)


class SpaceMouseReports:
    """Parses input reports into the latest raw axes and reports button edges (pure)."""

    def __init__(self, model: SpaceMouseModel):
        self.model = model
        self.raw = np.zeros(6)  # X, Y, Z, RX, RY, RZ in counts, device frame
        self.buttons = 0  # bitmask

    def feed(self, report: bytes) -> list[tuple[int, bool]]:
        """Apply one report; returns its button edges [(button number, down)]. Unknown report ids (LED
        state, battery level) are ignored.

        Raises:
            HardwareError: a motion or button report too short for its id.
        """
        rid = report[0] if report else None
        if rid == 1:
            count = 6 if self.model.combined else 3
            self.raw[:count] = self._values(report, count)
        elif rid == 2 and not self.model.combined:
            self.raw[3:] = self._values(report, 3)
        elif rid == 3:
            if len(report) < 2:
                raise HardwareError(f"{self.model.name}: button report {report.hex(' ')} has no button bytes")
            buttons = int.from_bytes(report[1:], "little")
            changed, self.buttons = buttons ^ self.buttons, buttons
            return [(n, bool(buttons >> n & 1)) for n in range(changed.bit_length()) if changed >> n & 1]
        return []

    def _values(self, report: bytes, count: int) -> np.ndarray:
        if len(report) < 1 + 2 * count:
            raise HardwareError(f"{self.model.name}: report {report[0]} is {len(report)} bytes "
                                f"({report.hex(' ')}), expected {1 + 2 * count}")
        return np.frombuffer(report[1:1 + 2 * count], dtype="<i2").astype(float)

    def deflection(self) -> np.ndarray:
        """(6,) in [-1, 1]: translation then rotation along the operator's (ahead, left, up)."""
        x, y, z, rx, ry, rz = np.clip(self.raw / FULL_SCALE, -1.0, 1.0)
        right_forward_up = np.array([x, -y, -z, rx, -ry, -rz])  # 180 deg about device x: a proper rotation
        r, f, u, wr, wf, wu = right_forward_up
        return np.array([f, -r, u, wf, -wr, wu])


class SpaceMouse:
    """A SpaceMouse as a :class:`robot_rl.teleop.device.TeleopDevice`.

    Args:
        source: what reads the reports: an open ``hidraw.device`` / ``hid.device`` (non-blocking; ``read(n)`` returns a report as a
            list of ints, [] when none is pending, raises OSError/ValueError once unplugged), or the replay
            stand-in :class:`robot_rl.teleop.replay.ReplayHid` with the same methods.
        model: its report format.
        motion: speeds, deadzone, operator frame.
        buttons: button number -> action.
        name: for logs.
    """

    def __init__(self, source, model: SpaceMouseModel, motion: MotionConfig | None = None,
                 buttons: ButtonMap | None = None, name: str = ""):
        self.source = source
        self.reports = SpaceMouseReports(model)
        self.motion = motion or MotionConfig()
        self.buttons = Buttons(buttons or ButtonMap.parse(DEFAULT_BUTTONS, button_id))
        self.name = name or model.name
        self.error = ""  # why it disconnected

    def poll(self, now: float) -> TeleopSample:
        """Reads every pending report (never blocks)."""
        if self.source is None:
            return DISCONNECTED
        try:
            while report := self.source.read(REPORT_SIZE):
                for button, down in self.reports.feed(bytes(report)):
                    self.buttons.edge(button, down)
        except (OSError, ValueError, HardwareError) as exc:  # unplugged, closed, or a malformed report
            self.error = f"{self.name}: {exc}"
            self.close()
            return DISCONNECTED
        outcomes, controls = self.buttons.take_events()
        return TeleopSample(engaged=self.buttons.engaged, twist=self.motion.twist(self.reports.deflection()),
                            gripper=self.buttons.gripper, outcomes=outcomes, controls=controls)

    def close(self) -> None:
        if self.source is not None:
            self.source.close()
            self.source = None


def open_spacemouse(path: str = "", model: str = "") -> tuple[object, SpaceMouseModel, str]:
    """Open a connected SpaceMouse with hidapi: (device, model, description).

    Args:
        path: its hidraw path (e.g. /dev/hidraw3); "" = the first known 3Dconnexion device.
        model: a name of :data:`MODELS` to override the one found by USB ids.

    Raises:
        ConfigError: hidapi is not installed, or no known SpaceMouse is connected (the message lists the HID
            devices seen), or it cannot be opened (permissions: see docs/teleop.md).
    """
    try:  # the hidapi wheel's hidraw backend (/dev/hidrawN, the kernel keeps the device); else its libusb one
        import hidraw as hid
    except ImportError:
        try:
            import hid
        except ImportError as exc:
            raise ConfigError("SpaceMouse teleop needs hidapi: pip install 'robot_rl[teleop]'") from exc
    known = {(m.vendor_id, m.product_id): m for m in MODELS}
    seen = hid.enumerate()
    found = [d for d in seen if (d["vendor_id"], d["product_id"]) in known
             and (not path or d["path"].decode() == path)]
    found.sort(key=lambda d: (d.get("usage_page"), d.get("usage")) != (1, 8))  # the multi-axis interface first
    if not found:
        names = [f"{d['vendor_id']:04x}:{d['product_id']:04x} {d['path'].decode()}" for d in seen]
        raise ConfigError(f"no 3Dconnexion SpaceMouse {'at ' + path + ' ' if path else ''}found; HID devices: {names}")
    info = found[0]
    device = hid.device()
    try:
        device.open_path(info["path"])
    except OSError as exc:
        raise ConfigError(f"SpaceMouse at {info['path'].decode()} cannot be opened ({exc}): see docs/teleop.md "
                          "for the udev rule") from exc
    device.set_nonblocking(1)
    chosen = model_named(model) if model else known[(info["vendor_id"], info["product_id"])]
    return device, chosen, f"{chosen.name} at {info['path'].decode()}"
