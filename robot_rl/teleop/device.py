"""The device-agnostic teleop interface (pure, no rclpy): what any teleop device hands the teleop node.

A device (:class:`TeleopDevice`) is polled at the node's rate; each poll returns a :class:`TeleopSample`:

* ``engaged``: the human wants to drive now (a takeover toggled on, or a deadman button held);
* the motion: ``twist`` (6,) [m/s x3, rad/s x3] of the end effector in base-frame axes, or ``joint_target``
  (follower joint name -> position, rad; a leader arm), or neither (hold still);
* ``gripper``: 0 (open) .. 1 (closed), or None if the device commands no gripper;
* ``outcomes`` (True = success, False = failure) and ``controls`` ("start" / "reset") since the last poll;
* ``connected``: False once the device is gone (unplugged, hung up, end of a replayed stream). A device
  never reconnects by itself; every later poll says disconnected too.

:class:`TeleopSession` turns samples into what the node does: the intervening flag, and the command to
send (or none). A device that disconnects while the human intervenes leaves the flag up and sends nothing
more, so the command mux forwards nothing (not the policy) and the safety filter's watchdog brakes.

:class:`Buttons` is the button logic shared by the devices: button id -> action (takeover toggle, held
deadman, success, failure, start, reset, gripper toggle), fed press and release edges.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from robot_rl.errors import ConfigError

ACTIONS = ("takeover", "deadman", "success", "failure", "start", "reset", "gripper")
"""What a button can do: takeover (each press toggles intervening), deadman (intervening while held),
success / failure (mark the episode), start / reset (episode control), gripper (each press toggles
open/closed)."""


@dataclass(frozen=True)
class TeleopSample:
    """One poll of a teleop device; see the module docstring. ``twist`` and ``joint_target`` exclude each other."""

    connected: bool = True
    engaged: bool = False
    twist: np.ndarray | None = None
    joint_target: Mapping[str, float] | None = None
    gripper: float | None = None
    outcomes: tuple[bool, ...] = ()
    controls: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.twist is not None and self.joint_target is not None:
            raise ValueError("a teleop sample carries a twist or a joint target, not both")


DISCONNECTED = TeleopSample(connected=False)


class TeleopDevice(Protocol):
    """What the teleop node needs of a device (keyboard, SpaceMouse, gamepad, leader arm...).

    Attributes:
        name: a short description for logs, e.g. "SpaceMouse Wireless (replay stand-in /tmp/sm.fifo)".
        error: why it disconnected ("" while connected), for logs.
    """

    name: str
    error: str

    def poll(self, now: float) -> TeleopSample:
        """Everything the device reported since the last poll, at ``now`` (s, the node's wall clock). Never
        blocks; never raises for a device that went away (returns a disconnected sample)."""

    def close(self) -> None:
        """Release the device (idempotent)."""


@dataclass(frozen=True)
class SessionStep:
    """What the node does after one poll.

    Attributes:
        intervening_changed: publish the (new) intervening flag.
        disconnected: the device was lost at this poll (reported once).
        twist, joint_target: the motion to turn into a chunk; both None: send no command.
        gripper: the gripper command if the device gives one and it changed, else None.
    """

    intervening_changed: bool = False
    disconnected: bool = False
    twist: np.ndarray | None = None
    joint_target: Mapping[str, float] | None = None
    gripper: float | None = None


class TeleopSession:
    """The intervening flag and the command to send, from a device's samples (see the module docstring)."""

    def __init__(self) -> None:
        self.intervening = False
        self.connected = True
        self._gripper: float | None = None

    def update(self, sample: TeleopSample) -> SessionStep:
        """Apply one poll's ``sample``."""
        if not sample.connected:
            lost, self.connected = self.connected, False
            return SessionStep(disconnected=lost)  # the flag stays as it was; no command
        if not self.connected:  # devices do not come back: a stray sample after a disconnect changes nothing
            return SessionStep()
        changed = sample.engaged != self.intervening
        self.intervening = sample.engaged
        gripper = sample.gripper if sample.gripper != self._gripper else None
        self._gripper = sample.gripper
        if not self.intervening:
            return SessionStep(changed, gripper=gripper)
        twist = None if sample.joint_target is not None else (np.zeros(6) if sample.twist is None else sample.twist)
        return SessionStep(changed, twist=twist, joint_target=sample.joint_target, gripper=gripper)


@dataclass(frozen=True)
class ButtonMap:
    """Button id (a device's own: an evdev key code, a HID button number) -> action of :data:`ACTIONS`.

    Exactly one button takes over: a ``takeover`` toggle or a ``deadman`` held.
    """

    actions: Mapping[Hashable, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = {b: a for b, a in self.actions.items() if a not in ACTIONS}
        if bad:
            raise ConfigError(f"teleop buttons: unknown actions {bad}; choose from {ACTIONS}")
        engage = [a for a in self.actions.values() if a in ("takeover", "deadman")]
        if len(engage) != 1:
            raise ConfigError(f"teleop buttons: bind exactly one 'takeover' or 'deadman' button, got {engage}")

    @classmethod
    def parse(cls, text: str, button_id: Callable[[str], Hashable]) -> ButtonMap:
        """From "BUTTON:action,BUTTON:action" (e.g. "BTN_TR:deadman,BTN_SOUTH:success"); ``button_id``
        turns a button's name into the device's id (raising ConfigError for an unknown one)."""
        actions = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, sep, action = item.partition(":")
            if not sep:
                raise ConfigError(f"teleop buttons: {item!r} is not BUTTON:action")
            actions[button_id(name.strip())] = action.strip()
        return cls(actions)


class Buttons:
    """The state the buttons set: engaged, gripper; and the outcome / control events since the last take."""

    def __init__(self, buttons: ButtonMap):
        self.map = buttons
        self.engaged = False
        self.gripper: float | None = 0.0 if "gripper" in buttons.actions.values() else None
        self._outcomes: list[bool] = []
        self._controls: list[str] = []

    def edge(self, button: Hashable, down: bool) -> None:
        """Button ``button`` went down (``down``) or up; unbound buttons are ignored."""
        action = self.map.actions.get(button)
        if action == "deadman":
            self.engaged = down
        elif not down or action is None:
            return
        elif action == "takeover":
            self.engaged = not self.engaged
        elif action in ("success", "failure"):
            self._outcomes.append(action == "success")
        elif action in ("start", "reset"):
            self._controls.append(action)
        elif action == "gripper":
            self.gripper = 1.0 - self.gripper

    def take_events(self) -> tuple[tuple[bool, ...], tuple[str, ...]]:
        """(outcomes, controls) since the last call."""
        events = (tuple(self._outcomes), tuple(self._controls))
        self._outcomes.clear()
        self._controls.clear()
        return events


def deadzoned(value: np.ndarray, deadzone: float) -> np.ndarray:
    """``value`` (any shape, in [-1, 1]) with |value| < ``deadzone`` zeroed and the rest rescaled to stay
    continuous: sign(v) (|v| - deadzone) / (1 - deadzone)."""
    value = np.clip(np.asarray(value, dtype=float), -1.0, 1.0)
    return np.sign(value) * np.maximum(np.abs(value) - deadzone, 0.0) / (1.0 - deadzone)


@dataclass(frozen=True)
class MotionConfig:
    """How a device's normalised deflection becomes a base-frame twist.

    Attributes:
        linear_speed: end-effector speed at full deflection, m/s.
        angular_speed: angular speed at full deflection, rad/s.
        deadzone: deflections below this fraction of full scale are zero (sensor noise, a stick's rest).
        frame_yaw_deg: where the operator stands: their frame (x ahead of them, y to their left, z up) is the
            base frame turned by this angle about base z, deg (0: they stand behind the robot, facing base +x).
    """

    linear_speed: float = 0.1
    angular_speed: float = 0.4
    deadzone: float = 0.1
    frame_yaw_deg: float = 0.0

    def __post_init__(self) -> None:
        for name, low, high in (("linear_speed", 1e-3, 2.0), ("angular_speed", 1e-3, 6.0), ("deadzone", 0.0, 0.9),
                                ("frame_yaw_deg", -360.0, 360.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) \
                    or not low <= value <= high:
                raise ConfigError(f"teleop motion config: {name} must be a number in [{low}, {high}], got {value!r}")

    def twist(self, deflection: np.ndarray) -> np.ndarray:
        """Base-frame twist (6,) [m/s x3, rad/s x3] for ``deflection`` (6,) in [-1, 1]: translation and
        rotation (right-handed) along the operator's x (ahead), y (left), z (up), deadzone applied."""
        d = deadzoned(deflection, self.deadzone)
        yaw = np.radians(self.frame_yaw_deg)
        rz = np.array([[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
        return np.concatenate([rz @ d[:3] * self.linear_speed, rz @ d[3:] * self.angular_speed])
