"""Keyboard teleop: the pure key mapping (explicit times), and the terminal device over a real pseudo-terminal."""

from __future__ import annotations

import os
import termios

import numpy as np
import pytest

from robot_rl.errors import ConfigError, HardwareError
from robot_rl.teleop.keyboard import KeyboardConfig, KeyboardTeleop, TerminalKeys, keys_from_bytes

CONFIG = KeyboardConfig(linear_speed=0.1, angular_speed=0.4, first_repeat_timeout_s=0.6, repeat_timeout_s=0.15)


def _axis(i: int, value: float) -> np.ndarray:
    twist = np.zeros(6)
    twist[i] = value
    return twist


@pytest.mark.parametrize("key, axis, value", [
    ("w", 0, 0.1), ("s", 0, -0.1), ("a", 1, 0.1), ("d", 1, -0.1), ("r", 2, 0.1), ("f", 2, -0.1),
    ("u", 3, 0.4), ("o", 3, -0.4), ("i", 4, 0.4), ("k", 4, -0.4), ("j", 5, 0.4), ("l", 5, -0.4),
])
def test_each_motion_key_drives_its_axis(key, axis, value):
    kb = KeyboardTeleop(CONFIG)
    assert kb.press(key, 10.0) == kb.press("", 10.0)  # no events from motion keys
    np.testing.assert_array_equal(kb.twist(10.0), _axis(axis, value))


def test_no_key_no_motion_and_unknown_keys_are_ignored():
    kb = KeyboardTeleop(CONFIG)
    np.testing.assert_array_equal(kb.twist(0.0), np.zeros(6))
    events = kb.press("zqWQ[A\n", 1.0)
    assert not events.intervening_changed and events.outcomes == ()
    np.testing.assert_array_equal(kb.twist(1.0), np.zeros(6))


def test_a_single_press_lasts_the_autorepeat_delay():
    kb = KeyboardTeleop(CONFIG)
    kb.press("w", 10.0)
    assert kb.twist(10.59)[0] == 0.1  # the terminal's first repeat may come this late
    assert kb.twist(10.61)[0] == 0.0


def test_a_held_key_stops_soon_after_its_last_repeat():
    kb = KeyboardTeleop(CONFIG)
    times = 10.0 + np.r_[0.0, 0.5 + 0.033 * np.arange(20)]  # first press, autorepeat delay 0.5 s, 30 Hz repeats
    for t in times:
        kb.press("w", t)
        assert kb.twist(t)[0] == 0.1
    last = times[-1]
    assert kb.twist(last + 0.14)[0] == 0.1
    assert kb.twist(last + 0.16)[0] == 0.0  # released: repeat_timeout_s, not the 0.6 s first-press grace


def test_the_opposite_key_reverses_at_once_and_restarts_the_first_press_grace():
    kb = KeyboardTeleop(CONFIG)
    for t in (0.0, 0.5, 0.53):
        kb.press("w", t)
    kb.press("s", 0.56)
    assert kb.twist(0.56)[0] == -0.1
    assert kb.twist(0.56 + 0.5)[0] == -0.1  # a first press of "s": the longer grace


def test_axes_combine_and_time_out_independently():
    kb = KeyboardTeleop(CONFIG)
    kb.press("w", 0.0)
    kb.press("aj", 0.3)
    np.testing.assert_array_equal(kb.twist(0.5), [0.1, 0.1, 0, 0, 0, 0.4])
    np.testing.assert_array_equal(kb.twist(0.7), [0.0, 0.1, 0, 0, 0, 0.4])  # w timed out, a and j not yet


def test_stop_key_zeroes_every_axis():
    kb = KeyboardTeleop(CONFIG)
    kb.press("wd", 0.0)
    kb.press("x", 0.1)
    np.testing.assert_array_equal(kb.twist(0.1), np.zeros(6))


def test_space_toggles_intervening_and_starts_each_turn_at_rest():
    kb = KeyboardTeleop(CONFIG)
    kb.press("w", 0.0)
    events = kb.press(" ", 0.1)
    assert kb.intervening and events.intervening_changed
    np.testing.assert_array_equal(kb.twist(0.1), np.zeros(6))
    kb.press("w", 0.2)
    events = kb.press(" ", 0.3)
    assert not kb.intervening and events.intervening_changed
    np.testing.assert_array_equal(kb.twist(0.3), np.zeros(6))
    events = kb.press("  ", 0.4)  # taken over and given back within one read
    assert not kb.intervening and not events.intervening_changed


def test_c_and_v_close_and_open_the_gripper_only_while_intervening_each_takeover_starting_without():
    kb = KeyboardTeleop(CONFIG)
    assert kb.press("c", 0.0) == kb.press("", 0.0) and kb.gripper is None  # the policy's turn: ignored
    kb.press(" ", 0.1)
    assert kb.gripper is None  # the takeover starts without a gripper command
    kb.press("c", 0.2)
    assert kb.gripper == 1.0
    kb.press("vc v", 0.3)  # in order: open, close, give back (cleared), open ignored
    assert not kb.intervening and kb.gripper is None
    kb.press(" c", 0.4)
    assert kb.gripper == 1.0  # the same key again in a new takeover: a command of its own
    np.testing.assert_array_equal(kb.twist(0.4), np.zeros(6))  # gripper keys move nothing


def test_success_and_failure_keys_report_outcomes_in_order():
    kb = KeyboardTeleop(CONFIG)
    assert kb.press("y", 0.0).outcomes == (True,)
    assert kb.press("n", 0.0).outcomes == (False,)
    assert kb.press("ywn", 0.0).outcomes == (True, False)
    assert not kb.intervening


@pytest.mark.parametrize("kwargs, match", [
    ({"linear_speed": 0.0}, "linear_speed"), ({"angular_speed": float("inf")}, "angular_speed"),
    ({"repeat_timeout_s": 1.0, "first_repeat_timeout_s": 0.5}, "must not exceed"),
    ({"toggle_key": "y"}, r"keys \['y'\] are bound twice"),
    ({"close_key": "w"}, r"keys \['w'\] are bound twice"), ({"stop_key": "xx"}, "single characters"),
    ({"axes": {"w": (6, 1.0)}}, "'w' maps to axis 6"), ({"axes": {"w": (0, 2.0)}}, "sign"),
])
def test_config_errors_name_the_problem(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        KeyboardConfig(**kwargs)


def test_escape_sequences_are_not_keys():
    assert keys_from_bytes(b"w\x1b[Aa\x1bOBs\x1b[1;5Cd\x1bq \xff") == "wasd "  # arrows, ctrl-arrow, alt-q, junk


def test_terminal_keys_reads_single_presses_without_enter_and_restores_the_terminal(pty_pair):
    master, slave = pty_pair
    before = termios.tcgetattr(slave)
    assert before[3] & termios.ICANON  # a fresh pty is line-buffered: a key alone would not be readable
    with TerminalKeys(os.ttyname(slave)) as keys:
        lflag = termios.tcgetattr(slave)[3]
        assert not lflag & (termios.ICANON | termios.ECHO) and lflag & termios.ISIG
        assert keys.read() == b""
        os.write(master, b"w")  # no newline: cbreak delivers it at once
        assert keys.read(timeout=5.0) == b"w"
        os.write(master, b"\x1b[A ")
        data = b""
        while not data.endswith(b" "):
            chunk = keys.read(timeout=5.0)
            assert chunk, f"keys stopped arriving after {data!r}"
            data += chunk
        assert keys_from_bytes(data) == " "
    assert termios.tcgetattr(slave) == before


def test_terminal_keys_feed_the_mapping(pty_pair):
    master, slave = pty_pair
    kb = KeyboardTeleop(CONFIG)
    with TerminalKeys(os.ttyname(slave)) as keys:
        os.write(master, b" wwwa")
        data = b""
        while len(data) < 5:
            chunk = keys.read(timeout=5.0)
            assert chunk, f"keys stopped arriving after {data!r}"
            data += chunk
        events = kb.press(keys_from_bytes(data), 1.0)
    assert events.intervening_changed and kb.intervening
    np.testing.assert_array_equal(kb.twist(1.0), [0.1, 0.1, 0, 0, 0, 0])


def test_a_missing_device_or_a_non_terminal_is_a_config_error_naming_it(tmp_path):
    missing = tmp_path / "no_such_tty"
    with pytest.raises(ConfigError, match=f"teleop device '{missing}' cannot be opened"):
        TerminalKeys(str(missing))
    plain = tmp_path / "plain_file"
    plain.write_text("")
    with pytest.raises(ConfigError, match=f"teleop device '{plain}' is not a terminal"):
        TerminalKeys(str(plain))


def test_a_hung_up_terminal_is_a_hardware_error_naming_it():
    master, slave = os.openpty()
    path = os.ttyname(slave)
    keys = TerminalKeys(path)
    os.close(slave)
    os.close(master)  # the terminal window closes
    try:
        with pytest.raises(HardwareError, match=f"teleop device '{path}' hung up"):
            keys.read(timeout=5.0)
    finally:
        keys.close()
