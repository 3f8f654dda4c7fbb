"""Teleop devices without ROS: the device-agnostic session and buttons, and the SpaceMouse and gamepad fed their
recorded streams (tests/data/teleop/) through the replay stand-ins (robot_rl/teleop/replay.py) on a FIFO, i.e.
through hidapi's and python-evdev's read paths' shapes and this project's real parsing code."""

from __future__ import annotations

import importlib.util
import os
import tomllib
from pathlib import Path

import numpy as np
import pytest

from robot_rl.errors import CommandError, ConfigError
from robot_rl.teleop import gamepad as gp
from robot_rl.teleop import spacemouse as sm
from robot_rl.teleop.device import ButtonMap, MotionConfig, TeleopSample, TeleopSession
from robot_rl.teleop.devices import open_device
from robot_rl.teleop.keyboard import KeyboardDevice
from robot_rl.teleop.replay import ReplayHid, event_records, hid_frames, read_fixture, replay_events

FIXTURES = Path(__file__).parent / "data" / "teleop"
PARAMS = {"linear_speed": 0.1, "angular_speed": 0.4, "deadzone": 0.1, "frame_yaw_deg": 0.0, "buttons": "",
          "device_model": "", "first_repeat_timeout_s": 0.6, "repeat_timeout_s": 0.15}


class Stream:
    """A FIFO carrying one fixture's phases, written on demand; ``unplug`` closes it (end of stream)."""

    def __init__(self, tmp_path: Path, fixture: str, encode):
        self.path = str(tmp_path / fixture)
        os.mkfifo(self.path)
        self.fd = os.open(self.path, os.O_RDWR)
        self.phases, self.encode = read_fixture(FIXTURES / fixture), encode

    def play(self, device, phase: str) -> TeleopSample:
        os.write(self.fd, self.encode(self.phases[phase]))
        return device.poll(0.0)

    def unplug(self) -> None:
        os.close(self.fd)


def _twist(*values: float) -> np.ndarray:
    return np.array(values, dtype=float)


def test_spacemouse_combined_reports_take_over_move_mark_and_unplug(tmp_path):
    stream = Stream(tmp_path, "spacemouse_wireless.txt", hid_frames)
    mouse = sm.SpaceMouse(ReplayHid(stream.path), sm.model_named("SpaceMouseWireless"))
    idle = mouse.poll(0.0)  # nothing pending yet
    assert idle.connected and not idle.engaged and np.all(idle.twist == 0.0) and idle.gripper is None
    assert stream.play(mouse, "take_over").engaged
    np.testing.assert_allclose(stream.play(mouse, "move").twist, _twist(0.1, 0, 0, 0, 0, 0))  # away = ahead
    assert stream.play(mouse, "success").outcomes == (True,)
    tilt = stream.play(mouse, "tilt").twist  # X 800 clipped to full scale (right = -y); RZ -175: half a turn left
    np.testing.assert_allclose(tilt, _twist(0, -0.1, 0, 0, 0, 0.4 * (0.5 - 0.1) / 0.9))
    np.testing.assert_allclose(stream.play(mouse, "other").twist, tilt)  # an unused report id changes nothing
    assert not stream.play(mouse, "give_back").engaged
    stream.unplug()
    assert not mouse.poll(0.0).connected and "read error" in mouse.error
    assert not mouse.poll(1.0).connected  # and stays gone


def test_spacemouse_split_reports_translate_and_rotate_and_a_short_report_disconnects(tmp_path):
    stream = Stream(tmp_path, "spacenavigator.txt", hid_frames)
    mouse = sm.SpaceMouse(ReplayHid(stream.path), sm.model_named("SpaceNavigator"))
    assert stream.play(mouse, "take_over").engaged
    np.testing.assert_allclose(stream.play(mouse, "move").twist, _twist(0, 0.1 * 0.4 / 0.9, 0, 0, 0, 0))
    np.testing.assert_allclose(stream.play(mouse, "yaw").twist, _twist(0, 0, 0, 0, 0, 0.4))  # CCW from above
    np.testing.assert_allclose(stream.play(mouse, "stop").twist, np.zeros(6))
    assert not stream.play(mouse, "short").connected
    assert "report 1 is 4 bytes (01 00 00 a2), expected 7" in mouse.error


def test_the_spacemouse_table_matches_pyspacemouses_device_table():
    """Our models, report formats, byte positions and translation signs are pyspacemouse's (devices.toml),
    read from the installed package without importing it (its import needs a system libhidapi)."""
    spec = importlib.util.find_spec("pyspacemouse")
    assert spec is not None, "pyspacemouse is a test requirement (requirements/teleop.txt)"
    table = tomllib.loads((Path(spec.submodule_search_locations[0]) / "devices.toml").read_text())
    ours = {m.name: m for m in sm.MODELS}
    assert set(ours) == set(table)
    for name, entry in table.items():
        model, axes = ours[name], entry["mappings"]
        assert [model.vendor_id, model.product_id] == entry["hid_id"], name
        assert entry["axis_scale"] == sm.FULL_SCALE
        assert [axes[a] for a in ("x", "y", "z")] == [[1, 1, 2, 1], [1, 3, 4, -1], [1, 5, 6, -1]], name
        rotation = [axes[a][:3] for a in ("pitch", "roll", "yaw")]
        combined, split = [[1, 7, 8], [1, 9, 10], [1, 11, 12]], [[2, 1, 2], [2, 3, 4], [2, 5, 6]]
        assert rotation == (combined if model.combined else split), name
        for channel, byte, bit in entry.get("buttons", {}).values():  # button n = byte 1 + n // 8, bit n % 8
            assert channel == 3 and byte >= 1 and 0 <= bit < 8


@pytest.mark.parametrize("fixture, layout", [("xbox.txt", "xbox"), ("dualsense.txt", "playstation")])
def test_gamepad_codes_are_evdevs(fixture, layout):
    from evdev import ecodes

    for name in ("EV_SYN", "EV_KEY", "EV_ABS", "SYN_REPORT", "SYN_DROPPED", "ABS_X", "ABS_Y", "ABS_Z", "ABS_RX",
                 "ABS_RY", "ABS_RZ", "ABS_HAT0X", "ABS_HAT0Y"):
        assert getattr(gp, name) == getattr(ecodes, name)
    assert gp.button_id("BTN_TR") == ecodes.BTN_TR == 311 and gp.button_id("BTN_SOUTH") == ecodes.BTN_A
    assert gp.layout_for("", {"xbox": 0x045E, "playstation": 0x054C}[layout]).name == layout
    assert read_fixture(FIXTURES / fixture)["take_over"] == ["EV_KEY BTN_TR 1", "EV_SYN SYN_REPORT 0"]


def test_xbox_events_frame_by_frame_deadman_drops_and_autorepeat(tmp_path):
    stream = Stream(tmp_path, "xbox.txt", event_records)
    pad = gp.Gamepad(replay_events(stream.path), gp.LAYOUTS["xbox"])
    assert stream.play(pad, "take_over").engaged
    np.testing.assert_allclose(stream.play(pad, "move").twist, _twist(0.1, 0, 0, 0, 0, 0))  # stick up = ahead
    unsynced = stream.play(pad, "unsynced")  # no SYN_REPORT yet: the frame is not applied
    np.testing.assert_allclose(unsynced.twist, _twist(0.1, 0, 0, 0, 0, 0))
    assert unsynced.outcomes == ()
    dropped = stream.play(pad, "dropped")  # the pending frame and the dropped one are discarded; motion zeroed
    np.testing.assert_allclose(dropped.twist, np.zeros(6))
    assert dropped.engaged and dropped.outcomes == ()
    dpad = stream.play(pad, "dpad")
    np.testing.assert_allclose(dpad.twist, _twist(0, 0, 0, 0.4, 0, 0))
    assert dpad.engaged  # BTN_TR value 2 (autorepeat) is no release
    assert stream.play(pad, "failure").outcomes == (False,)
    assert not stream.play(pad, "give_back").engaged  # the deadman let go
    stream.unplug()
    assert not pad.poll(0.0).connected and "No such device" in pad.error


def test_dualsense_ranges_stick_trigger_and_success(tmp_path):
    stream = Stream(tmp_path, "dualsense.txt", event_records)
    pad = gp.Gamepad(replay_events(stream.path), gp.LAYOUTS["playstation"])
    assert stream.play(pad, "take_over").engaged
    np.testing.assert_allclose(stream.play(pad, "move").twist, _twist(0, 0.1, 0, 0, 0, 0))  # left = +y
    assert np.all(stream.play(pad, "stop").twist == 0.0)  # 128 of 0..255 is inside the deadzone
    up = stream.play(pad, "up")
    np.testing.assert_allclose(up.twist, _twist(0, 0, 0.1, 0, 0, 0))
    assert up.gripper == pytest.approx(128 / 255, abs=1e-3)
    assert stream.play(pad, "success").outcomes == (True,)
    assert not stream.play(pad, "give_back").engaged


def test_operator_frame_and_deadzone():
    ahead = np.array([1.0, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(MotionConfig(frame_yaw_deg=90).twist(ahead), [0, 0.1, 0, 0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(MotionConfig(deadzone=0.2).twist(ahead * 0.19), np.zeros(6))
    np.testing.assert_allclose(MotionConfig(deadzone=0.2).twist(ahead * 0.6), [0.05, 0, 0, 0, 0, 0])


def test_a_device_lost_mid_takeover_keeps_the_flag_and_sends_nothing():
    session = TeleopSession()
    step = session.update(TeleopSample(engaged=True, twist=np.ones(6)))
    assert step.intervening_changed and np.all(step.twist == 1.0)
    step = session.update(TeleopSample(connected=False))
    assert step.disconnected and session.intervening and step.twist is None and step.joint_target is None
    assert session.update(TeleopSample(connected=False)) == type(step)()  # reported once
    assert session.update(TeleopSample(engaged=False)).intervening_changed is False  # no coming back
    assert session.intervening


def test_session_sends_joint_targets_hold_and_gripper_changes():
    session = TeleopSession()
    assert session.update(TeleopSample(engaged=False, twist=np.ones(6))).twist is None  # not intervening
    target = {"a": 0.1}
    step = session.update(TeleopSample(engaged=True, joint_target=target, gripper=1.0))
    assert step.joint_target == target and step.twist is None and step.gripper == 1.0
    step = session.update(TeleopSample(engaged=True, gripper=1.0))
    assert np.all(step.twist == 0.0) and step.gripper is None  # no motion: hold; gripper unchanged
    with pytest.raises(ValueError, match="not both"):
        TeleopSample(twist=np.zeros(6), joint_target=target)


def test_toward_a_joint_target_is_speed_capped_and_stops_there(panda_model):
    from robot_rl.teleop.twist import TwistToJoints

    mapper = TwistToJoints(panda_model)
    q = panda_model.config.default_pose
    far = mapper.toward(q + 0.5, q, 1.0)
    assert np.all(np.abs(far.velocities) <= mapper.max_velocity + 1e-9)
    step = np.diff(np.vstack([q, far.positions]), axis=0)
    np.testing.assert_allclose(step / np.linalg.norm(step, axis=1, keepdims=True), np.ones((5, 7)) / np.sqrt(7))
    near = mapper.toward(q + 1e-3, q, 1.0)
    np.testing.assert_allclose(near.positions, np.tile(q + 1e-3, (5, 1)))  # reached at the first step, then held
    by_name = dict(zip(panda_model.joint_names, q + 1e-3, strict=True))
    np.testing.assert_allclose(mapper.toward({**by_name, "leader_extra": 9.0}, q, 1.0).positions, near.positions)
    with pytest.raises(CommandError, match="not 7 finite positions"):
        mapper.toward(q[:3], q, 1.0)
    with pytest.raises(CommandError, match=r"joint target lacks joints \['panda_joint7'\]"):
        mapper.toward({n: v for n, v in by_name.items() if n != "panda_joint7"}, q, 1.0)


@pytest.mark.parametrize("text, match", [
    ("0:success", "exactly one 'takeover' or 'deadman'"), ("0:takeover,1:deadman", "exactly one"),
    ("0:takeover,1:fly", "unknown actions"), ("0takeover", "is not BUTTON:action"),
])
def test_button_maps_name_their_problem(text, match):
    with pytest.raises(ConfigError, match=match):
        ButtonMap.parse(text, sm.button_id)


def test_bad_parameters_and_absent_devices_are_config_errors_naming_them(tmp_path):
    with pytest.raises(ConfigError, match="SpaceMouse button 'LEFT'"):
        ButtonMap.parse("LEFT:takeover", sm.button_id)
    with pytest.raises(ConfigError, match="gamepad button 'BTN_NOPE'"):
        ButtonMap.parse("BTN_NOPE:deadman", gp.button_id)
    with pytest.raises(ConfigError, match="deadzone"):
        MotionConfig(deadzone=1.0)
    with pytest.raises(ConfigError, match="vendor id 4660 has no known layout"):
        gp.layout_for("", 0x1234)
    with pytest.raises(ConfigError, match="unknown SpaceMouse model 'Mouse9'"):
        sm.model_named("Mouse9")
    with pytest.raises(ConfigError, match="replayed stream carries no USB ids; set device_model"):
        open_device("gamepad", f"replay:{tmp_path}/x", PARAMS)
    with pytest.raises(ConfigError, match="replay stream .* cannot be opened"):
        open_device("spacemouse", f"replay:{tmp_path}/missing", {**PARAMS, "device_model": "SpaceNavigator"})
    leader = {**PARAMS, "robot": "so101", "leader_robot": "", "leader_calibration": "", "leader_offset_rate": 0.2,
              "leader_timeout_ms": 20.0, "leader_state_timeout_s": 0.25}
    with pytest.raises(ConfigError, match="teleop leader: set device .* and leader_calibration"):
        open_device("leader", "/dev/ttyACM1", leader)
    with pytest.raises(ConfigError, match="unknown teleop device kind 'wheel'"):
        open_device("wheel", "", PARAMS)
    with pytest.raises(ConfigError, match="no 3Dconnexion SpaceMouse found; HID devices"):  # none attached here
        open_device("spacemouse", "", PARAMS)
    with pytest.raises(ConfigError, match="no gamepad at /dev/input/event99 found|cannot be opened"):
        open_device("gamepad", "/dev/input/event99", PARAMS)


def test_keyboard_device_samples_and_a_hung_up_terminal_disconnects():
    master, slave = os.openpty()
    keyboard = KeyboardDevice(os.ttyname(slave))
    try:
        os.write(master, b" wy")
        sample = keyboard.poll(1.0)
        assert sample.engaged and sample.outcomes == (True,) and sample.twist[0] == 0.1
        os.close(slave)
        os.close(master)
        assert not keyboard.poll(2.0).connected and "hung up" in keyboard.error
    finally:
        keyboard.close()
