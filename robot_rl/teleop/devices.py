"""Which teleop devices exist, and opening one from the teleop node's parameters (pure, no rclpy).

A new device (a leader arm, ...) adds its kind to :data:`KINDS` and a branch to :func:`open_device` returning a
:class:`robot_rl.teleop.device.TeleopDevice`; the node, bringup and the launch file need nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from robot_rl.errors import ConfigError
from robot_rl.teleop.device import ButtonMap, MotionConfig, TeleopDevice
from robot_rl.teleop.replay import REPLAY_PREFIX

KINDS = ("keyboard", "spacemouse", "gamepad", "leader")
"""Teleop device kinds (the node's ``kind`` parameter, ``robot-rl bringup --teleop``)."""


def open_device(kind: str, device: str, p: Mapping[str, Any]) -> TeleopDevice:
    """Open teleop device ``kind`` at ``device`` with the node's parameters ``p`` (config/nodes/teleop.yaml).

    Args:
        kind: one of :data:`KINDS`.
        device: keyboard: a terminal ("" = /dev/tty); spacemouse: a hidraw path; gamepad: an event device
            ("" = the first one found); ``replay:<path>``: the replay stand-in on a recorded stream
            (:mod:`robot_rl.teleop.replay`; needs ``device_model``); leader: the leader arm's servo adapter
            (/dev/ttyACM1; needs ``leader_calibration``).

    Raises:
        ConfigError: an unknown kind, a bad parameter, or a device that cannot be found or opened (named).
    """
    if kind == "keyboard":
        from robot_rl.teleop.keyboard import KeyboardConfig, KeyboardDevice

        return KeyboardDevice(device or "/dev/tty", KeyboardConfig(p["linear_speed"], p["angular_speed"],
                                                                   p["first_repeat_timeout_s"], p["repeat_timeout_s"]))
    if kind == "leader":
        return _open_leader(device, p)
    motion = MotionConfig(p["linear_speed"], p["angular_speed"], p["deadzone"], p["frame_yaw_deg"])
    replay = device.startswith(REPLAY_PREFIX)
    path = device[len(REPLAY_PREFIX):] if replay else device
    if replay and not p["device_model"]:
        raise ConfigError(f"teleop device {device!r}: a replayed stream carries no USB ids; set device_model")
    if kind == "spacemouse":
        from robot_rl.teleop import spacemouse as sm

        buttons = ButtonMap.parse(p["buttons"] or sm.DEFAULT_BUTTONS, sm.button_id)
        if replay:
            from robot_rl.teleop.replay import ReplayHid

            model = sm.model_named(p["device_model"])
            return sm.SpaceMouse(ReplayHid(path), model, motion, buttons, f"{model.name} (replay stand-in {path})")
        source, model, name = sm.open_spacemouse(path, p["device_model"])
        return sm.SpaceMouse(source, model, motion, buttons, name)
    if kind == "gamepad":
        from robot_rl.teleop import gamepad as gp

        buttons = ButtonMap.parse(p["buttons"] or gp.DEFAULT_BUTTONS, gp.button_id)
        if replay:
            from robot_rl.teleop.replay import replay_events

            layout = gp.layout_for(p["device_model"], None)
            return gp.Gamepad(replay_events(path), layout, motion, buttons,
                              f"{layout.name} gamepad (replay stand-in {path})")
        source, layout, ranges, name = gp.open_gamepad(path, p["device_model"])
        return gp.Gamepad(source, layout, motion, buttons, name, ranges)
    raise ConfigError(f"unknown teleop device kind {kind!r}; choose one of {KINDS}")


def _open_leader(port: str, p: Mapping[str, Any]) -> TeleopDevice:
    """The leader arm (robot ``leader_robot``, "" = the follower's ``robot``) on its servo bus at ``port``."""
    from robot_rl.robot import load_robot_config
    from robot_rl.teleop.leader import LeaderArm, LeaderConfig

    if not port or not p["leader_calibration"]:
        raise ConfigError(f"teleop leader: set device (the leader's servo port, got {port!r}) and "
                          f"leader_calibration (its calibration YAML, got {p['leader_calibration']!r})")
    follower = load_robot_config(p["robot"])
    leader = load_robot_config(p["leader_robot"]) if p["leader_robot"] else follower
    return LeaderArm(leader, follower, port, p["leader_calibration"], LeaderConfig(offset_rate=p["leader_offset_rate"]),
                     timeout_ms=p["leader_timeout_ms"], state_timeout_s=p["leader_state_timeout_s"])
