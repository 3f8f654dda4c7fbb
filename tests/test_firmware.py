"""The firmware, built with make and run for real: C unit tests, C <-> Python test vectors, and the
serial hardware interface end to end against the host simulation over a pseudo-terminal (no mocks).

Host simulation defaults (firmware/host): joint inertia 0.01 kg m^2, viscous friction 0.1 Nm s/rad,
brake damping 0.5 Nm s/rad while latched.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter

import numpy as np
import pytest

from firmware_host import BUILD, FirmwareProcess, build_firmware, capture_frames, provisioned_key, raw_line, wait_for
from robot_rl.control import ControlCore
from robot_rl.errors import CommandError, ConfigError, HardwareError
from robot_rl.hardware import create_hardware, hardware_names
from robot_rl.hardware import firmware_protocol as fp
from robot_rl.hardware.firmware_auth import SessionMac
from robot_rl.hardware.serial_firmware import SerialFirmwareHardware, check_firmware_info
from robot_rl.robot import RobotModel
from robot_rl.robot.config import load_robot_config

BRAKE = 0.5  # Nm s/rad, the host's default brake damping
STALE_S = 5.0  # s: generous, the pty and the simulation share a busy CPU


@pytest.fixture(scope="session")
def firmware_build():
    return build_firmware()


@pytest.fixture(scope="session")
def panda():
    return load_robot_config("panda")


@pytest.fixture(scope="session")
def key_file(tmp_path_factory):
    """The key shared by the host firmware and the driver, generated for this test session."""
    return provisioned_key(tmp_path_factory.mktemp("key"))


@pytest.fixture
def start_firmware(firmware_build, key_file):
    """Start rr_firmware_host with the given arguments; every one must exit 0 on SIGTERM afterwards."""
    started = []

    def start(*args: str) -> FirmwareProcess:
        started.append(FirmwareProcess(*args, key_file=key_file))
        return started[-1]

    yield start
    assert [firmware.stop() for firmware in started] == [0] * len(started)


@pytest.fixture
def robot(start_firmware, panda, key_file):
    """The Panda's 7 joints behind the host firmware: 5 Nm limits, a 3 s watchdog (no trip while a test runs)."""
    firmware = start_firmware("--joints", "7", "--limits", "5", "--watchdog-ms", "3000")
    with create_hardware("serial", panda, port=firmware.port, key_file=str(key_file),
                         state_timeout_s=STALE_S) as hardware:
        yield hardware


def send_nan_torque(robot: SerialFirmwareHardware) -> int:
    """A non-finite torque sent in the driver's own session (as a host bug past its check would); its counter."""
    sent_at = robot._newest(STALE_S).message["time_us"]
    return robot._link.send("TORQUE_COMMAND", command_time_us=sent_at, torque=[np.nan, 0, 0, 0, 0, 0, 0])


def newest(hardware, condition, what: str, timeout_s: float = 5.0):
    """The first sample and diagnostics of one STATE for which ``condition(sample, diagnostics)`` holds."""
    def check():
        sample, diag = hardware.read(), hardware.diagnostics()
        return (sample, diag) if diag["stamp"] == sample.stamp and condition(sample, diag) else None
    return wait_for(check, timeout_s, what)


# ----- C unit tests and shared vectors -------------------------------------------------------------
def test_c_unit_tests_pass(firmware_build):
    result = subprocess.run([str(firmware_build / "rr_firmware_tests")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 failed" in result.stdout


def random_stream(rng: np.random.Generator) -> bytes:
    """Python-encoded frames (every message, random joint counts), garbage between, some corrupted."""
    stream, mac = b"", SessionMac(rng.bytes(fp.KEY_SIZE), rng.bytes(2 * fp.NONCE_SIZE))
    for _ in range(rng.integers(1, 8)):
        n, counter = int(rng.integers(1, fp.MAX_JOINTS + 1)), int(rng.integers(2**32))
        frame = [fp.encode_message("HELLO", mac, counter, host_nonce=int(rng.integers(2**63))),
                 fp.encode_message("CLEAR_FAULT", mac, counter),
                 fp.encode_message("TORQUE_COMMAND", mac, counter, command_time_us=int(rng.integers(2**32)),
                                   torque=rng.normal(0, 50, n)),
                 fp.encode_message("HELLO_ACK", mac, counter, firmware_nonce=7, protocol_version=2,
                                   watchdog_timeout_ms=100, torque_limit=rng.random(n)),
                 fp.encode_message("STATE", mac, counter, sequence=1, time_us=int(rng.integers(2**32)),
                                   command_time_us=3, latch_time_us=0, status=5, rx_rejected=2, auth_rejected=1,
                                   replay_rejected=0, stale_rejected=4, position=rng.random(n),
                                   velocity=rng.random(n), effort=rng.random(n)),
                 ][rng.integers(5)]
        if rng.random() < 0.3:
            frame = bytearray(frame)
            frame[rng.integers(len(frame))] ^= int(rng.integers(1, 256))
            frame = bytes(frame)
        garbage = rng.integers(0, 256, rng.integers(0, 12)).astype(np.uint8).tobytes()
        false_start = [b"", fp.SYNC, fp.SYNC + b"\x82"][rng.integers(3)]  # -> unknown id, bad length
        stream += garbage + false_start + frame
    return stream


def python_decode(stream: bytes) -> list[str]:
    """What the C frame tool prints for ``stream``, computed by the Python parser."""
    parser = fp.FrameParser()
    lines = []
    for frame in parser.feed(stream):
        lines.append(f"frame {frame.msg_id:02x} {frame.payload.hex()}")
        if frame.msg_id == fp.BY_NAME["TORQUE_COMMAND"].msg_id:
            m = fp.decode_message(frame)
            lines.append(f"torque_command {m['counter']} {m['command_time_us']} "
                         + ",".join(f"{v:.9g}" for v in m["torque"]))
    c = parser.counts
    lines.append(f"counts frames={c.frames} bad_crc={c.bad_crc} unknown_id={c.unknown_id} "
                 f"bad_length={c.bad_length} skipped_bytes={c.skipped_bytes}")
    return lines


def test_c_parser_decodes_python_streams_exactly_like_python(firmware_build):
    """200 random streams through both parsers: same frames, same decoded torques, same rejection counts."""
    rng = np.random.default_rng(7)
    streams = [random_stream(rng) for _ in range(200)]
    result = subprocess.run([str(firmware_build / "rr_frame_tool"), "decode"],
                            input="\n".join(s.hex() for s in streams),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    expected = [line for s in streams for line in python_decode(s)]
    assert result.stdout.splitlines() == expected
    assert sum(line.startswith("torque_command") for line in expected) > 20  # the vectors exercise the codec
    totals = Counter()
    for line in expected:
        if line.startswith("counts"):
            totals.update({key: int(value) for key, value in (item.split("=") for item in line.split()[1:])})
    assert min(totals["bad_crc"], totals["unknown_id"], totals["bad_length"]) > 20  # ... and every rejection


def test_python_decodes_frames_encoded_and_sealed_by_c(firmware_build):
    tool = str(firmware_build / "rr_frame_tool")
    bodies = [(0x01, b""), (0x02, bytes(range(6))), (0x82, bytes(range(22))), (0x7F, b"\xa5\x5a")]
    result = subprocess.run([tool, "encode"], input="".join(f"{i:02x} {p.hex()}\n" for i, p in bodies),
                            capture_output=True, text=True, timeout=30, check=True)
    assert result.stdout.split() == [fp.encode_frame(i, p).hex() for i, p in bodies]
    key, session = bytes(range(32)), bytes(range(100, 116))
    mac = SessionMac(key, session)
    ack = subprocess.run([tool, "encode-hello-ack", key.hex(), session.hex(), str(2**64 - 2), "250", "87", "12.5"],
                         capture_output=True, text=True, check=True)
    [frame] = fp.FrameParser().feed(bytes.fromhex(ack.stdout.strip()))
    m = fp.decode_message(frame)
    assert mac.verify(frame) and m.name == "HELLO_ACK" and m["counter"] == 1
    assert (m["firmware_nonce"], m["protocol_version"]) == (2**64 - 2, fp.PROTOCOL_VERSION)
    assert m["watchdog_timeout_ms"] == 250
    np.testing.assert_array_equal(m["torque_limit"], [87.0, 12.5])

    state = subprocess.run([tool, "encode-state", key.hex(), session.hex(), "77", str(2**32 - 1), "4294967295",
                            "123", "456", "23", "9", "8", "7", "6", "2", "0.5", "-1.25", "3", "-4", "1e-3", "-7.5"],
                           capture_output=True, text=True, check=True)
    [frame] = fp.FrameParser().feed(bytes.fromhex(state.stdout.strip()))
    m = fp.decode_message(frame)
    assert mac.verify(frame) and not SessionMac(key).verify(frame) and m["counter"] == 77
    assert (m["sequence"], m["time_us"], m["command_time_us"], m["latch_time_us"]) == (2**32 - 1, 2**32 - 1, 123, 456)
    counts = (m["rx_rejected"], m["auth_rejected"], m["replay_rejected"], m["stale_rejected"])
    assert m["status"] == 23 and counts == (9, 8, 7, 6)
    np.testing.assert_array_equal(m["position"], [0.5, -1.25])
    np.testing.assert_array_equal(m["velocity"], [3.0, -4.0])
    np.testing.assert_array_equal(m["effort"], np.float32([1e-3, -7.5]))


# ----- opening: handshake and checks -------------------------------------------------------------
def test_handshake_reports_the_firmware_and_streams_state(robot):
    assert "serial" in hardware_names() and robot.lockstep is False
    assert (robot.info["protocol_version"], robot.info["watchdog_timeout_ms"]) == (fp.PROTOCOL_VERSION, 3000)
    np.testing.assert_array_equal(robot.info["torque_limit"], np.full(7, 5.0))
    first = robot.read()
    later = wait_for(lambda: (s := robot.read()).stamp >= first.stamp + 0.05 and s, what="firmware time to advance")
    assert later.position.shape == later.velocity.shape == later.effort.shape == (7,)
    status = robot.diagnostics()["status"]
    assert status.pop("SESSION_OPEN") and not any(status.values())  # idle: not armed, nothing latched


def test_joint_count_mismatch_is_refused(start_firmware, panda):
    firmware = start_firmware("--joints", "3")
    with pytest.raises(ConfigError, match=rf"{firmware.port} drives 3 joints, robot 'panda' has 7"):
        SerialFirmwareHardware(panda, port=firmware.port, key_file=str(firmware.key_file))


def test_firmware_limit_above_the_urdf_effort_limit_is_refused(start_firmware, panda):
    firmware = start_firmware("--joints", "7", "--limits", "87,87,87,87,12,20,12")
    with pytest.raises(ConfigError, match=rf"{firmware.port}.*panda_joint6: firmware 20 Nm, URDF 12 Nm"):
        SerialFirmwareHardware(panda, port=firmware.port, key_file=str(firmware.key_file))


def test_ur5_limits_are_checked_against_its_urdf(start_firmware):
    """The UR5's URDF also names its joints inside <transmission>: the limits must still be found."""
    firmware = start_firmware("--joints", "6", "--limits", "150,150,150,28,28,40")
    with pytest.raises(ConfigError, match=rf"{firmware.port}.*wrist_3_joint: firmware 40 Nm, URDF 28 Nm"):
        SerialFirmwareHardware(load_robot_config("ur5"), port=firmware.port, key_file=str(firmware.key_file))


def test_protocol_version_mismatch_is_refused(panda):
    [frame] = fp.FrameParser().feed(fp.encode_message("HELLO_ACK", SessionMac(bytes(32)), 1, firmware_nonce=1,
                                                      protocol_version=fp.PROTOCOL_VERSION + 1,
                                                      watchdog_timeout_ms=100, torque_limit=np.ones(7)))
    with pytest.raises(ConfigError, match=f"/dev/ttyX speaks protocol version {fp.PROTOCOL_VERSION + 1}"):
        check_firmware_info(fp.decode_message(frame), panda, np.full(7, 87.0), "/dev/ttyX")


def test_missing_device_names_the_port(panda, key_file):
    with pytest.raises(HardwareError, match="serial port '/dev/robot_rl_no_such_tty' cannot be opened"):
        SerialFirmwareHardware(panda, port="/dev/robot_rl_no_such_tty", key_file=str(key_file))


def test_silent_device_names_the_port(panda, key_file):
    master, slave = os.openpty()  # a terminal nobody answers on
    try:
        port = os.ttyname(slave)
        with pytest.raises(HardwareError, match=f"no authentic HELLO_ACK from firmware on {port} within 0.3 s"):
            SerialFirmwareHardware(panda, port=port, key_file=str(key_file), handshake_timeout_s=0.3)
    finally:
        os.close(slave)
        os.close(master)


@pytest.mark.parametrize("options, problem", [
    ({"baud": 0}, "baud"), ({"state_timeout_s": float("nan")}, "state_timeout_s"), ({"port": ""}, "'port'"),
    ({"rt_priority": 100}, "rt_priority must be an integer in 0..99"), ({"key_file": ""}, "option key_file")])
def test_bad_options_are_refused(panda, key_file, options, problem):
    with pytest.raises(ConfigError, match=problem):
        SerialFirmwareHardware(panda, **{"port": "/dev/null", "key_file": str(key_file), **options})


def test_initial_position_sets_where_the_simulated_joints_boot(start_firmware, panda):
    pose = np.array([0.5, -0.25, 0.125, -2.0, 0.0, 1.5, 0.75])
    firmware = start_firmware("--joints", "7", "--limits", "5", "--initial-position", ",".join(map(str, pose)))
    with SerialFirmwareHardware(panda, port=firmware.port, key_file=str(firmware.key_file),
                                state_timeout_s=STALE_S) as hardware:
        sample = hardware.read()
    np.testing.assert_array_equal(sample.position, pose.astype(np.float32))
    assert np.all(sample.velocity == 0.0)
    result = subprocess.run([str(BUILD / "rr_firmware_host"), "--joints", "7", "--initial-position", "1,2",
                             "--key-file", str(firmware.key_file)],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 2
    assert "--initial-position: give 1 value or 7 (one per joint), got 2" in result.stderr


# ----- torques ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("joint", [0, 4])
def test_positive_torque_moves_only_its_joint_positive(robot, joint):
    torque = np.zeros(7)
    torque[joint] = 1.0
    robot.write(torque)
    sample, _ = newest(robot, lambda s, d: s.velocity[joint] > 2.0 and s.position[joint] > 0.05, "the joint to move")
    others = np.arange(7) != joint
    assert np.all(sample.effort[others] == 0.0) and sample.effort[joint] == 1.0
    assert np.all(np.abs(sample.velocity[others]) < 1e-6) and np.all(np.abs(sample.position[others]) < 1e-6)


def test_torque_above_the_limit_is_applied_clamped_and_flagged(robot):
    robot.write(np.array([0, 0, 9.0, 0, 0, 0, -6.0]))
    sample, diag = newest(robot, lambda s, d: d["sequence_applied"] == d["sequence_sent"], "the command to be applied")
    np.testing.assert_array_equal(sample.effort, [0, 0, 5.0, 0, 0, 0, -5.0])
    assert diag["status"]["COMMAND_CLAMPED"]
    robot.write(np.array([0, 0, 4.0, 0, 0, 0, 0]))
    sample, diag = newest(robot, lambda s, d: d["sequence_applied"] == d["sequence_sent"], "the next command")
    assert sample.effort[2] == 4.0 and not diag["status"]["COMMAND_CLAMPED"]


def test_host_refuses_bad_torques_before_sending(robot):
    with pytest.raises(CommandError, match=r"non-finite torque for joints \['panda_joint3'\]"):
        robot.write(np.array([0, 0, np.nan, 0, 0, 0, 0]))
    with pytest.raises(CommandError, match=r"expected shape \(7,\)"):
        robot.write(np.zeros(6))
    assert robot.diagnostics()["sequence_sent"] == 0


def test_nan_torque_reaching_the_firmware_latches_a_fault_until_cleared(robot):
    robot.write(np.array([2.0, 0, 0, 0, 0, 0, 0]))
    newest(robot, lambda s, d: s.velocity[0] > 1.0, "joint 1 to move")
    send_nan_torque(robot)
    sample, diag = newest(robot, lambda s, d: d["status"]["FAULT_LATCHED"], "the fault to latch")
    assert diag["status"]["BAD_COMMAND"] and diag["sequence_applied"] == 1 and diag["fault"] == "FAULT_LATCHED"
    np.testing.assert_allclose(sample.effort, -BRAKE * sample.velocity, rtol=1e-6, atol=1e-7)  # braking
    robot.write(np.array([3.0, 0, 0, 0, 0, 0, 0]))  # a valid command does not clear the latch
    sample, diag = newest(robot, lambda s, d: abs(s.velocity[0]) < 0.05, "the brake to stop joint 1")
    assert diag["status"]["FAULT_LATCHED"] and sample.effort[0] <= 0.0 and diag["sequence_applied"] == 1
    robot.clear_fault()
    sample, diag = newest(robot, lambda s, d: not d["status"]["FAULT_LATCHED"], "the fault to clear")
    assert not diag["status"]["ARMED"] and np.all(sample.effort == 0.0)  # cleared: zero torque until commanded
    assert diag["fault"] == ""


def test_watchdog_trips_brakes_stays_latched_and_clears_only_on_request(start_firmware, panda):
    firmware = start_firmware("--joints", "7", "--limits", "5", "--watchdog-ms", "200")
    with SerialFirmwareHardware(panda, port=firmware.port, key_file=str(firmware.key_file),
                                state_timeout_s=STALE_S) as robot:
        robot.write(np.array([0, 1.0, 0, 0, 0, 0, 0]))
        sample, diag = newest(robot, lambda s, d: d["status"]["WATCHDOG_TRIPPED"], "the watchdog to trip")
        tripped_at, applied = sample.stamp, diag["sequence_applied"]
        assert applied == 1 and sample.effort[1] <= 0.0  # braking, no longer driving
        assert diag["fault"] == "WATCHDOG_TRIPPED"
        np.testing.assert_allclose(sample.effort, -BRAKE * sample.velocity, rtol=1e-6, atol=1e-7)
        for _ in range(20):  # commands keep arriving: the watchdog stays latched and they are not applied
            robot.write(np.array([0, 1.0, 0, 0, 0, 0, 0]))
            time.sleep(0.01)
        sample, diag = newest(robot, lambda s, d: s.stamp > tripped_at + 0.15, "time to pass")
        assert diag["status"]["WATCHDOG_TRIPPED"] and diag["sequence_applied"] == applied
        assert sample.effort[1] <= 0.0
        robot.clear_fault()
        newest(robot, lambda s, d: not d["status"]["WATCHDOG_TRIPPED"], "the watchdog to clear")
        robot.write(np.array([0, 1.0, 0, 0, 0, 0, 0]))
        _, diag = newest(robot, lambda s, d: d["sequence_applied"] == d["sequence_sent"], "a command to apply again")
        assert diag["sequence_applied"] == 23  # counters: 1 command, 20 ignored ones, CLEAR_FAULT, this one


def test_control_core_clears_a_latched_fault_then_holds_the_measured_position(robot, panda):
    """ControlCore.request_reset(clear_fault=True): CLEAR_FAULT goes out in the tick that starts holding, before
    that tick's torque, so the first command the firmware applies after the latch is the hold."""
    core = ControlCore(RobotModel(panda), robot, clock=time.time)
    core.tick()
    newest(robot, lambda s, d: d["status"]["ARMED"], "the first command to arm the watchdog")
    send_nan_torque(robot)
    newest(robot, lambda s, d: d["status"]["FAULT_LATCHED"], "the fault to latch")
    core.tick()  # ignored by the latched firmware
    core.request_reset(clear_fault=True)
    core.tick()
    sample, diag = newest(robot, lambda s, d: d["sequence_applied"] == d["sequence_sent"] == 5,
                          "the hold torque to be applied after the clear")
    assert diag["fault"] == "" and diag["status"]["ARMED"]
    np.testing.assert_array_equal(sample.effort, np.clip(core.last_torque, -5.0, 5.0).astype(np.float32))


def test_close_sends_zero_torque(start_firmware, panda):
    firmware = start_firmware("--joints", "7", "--watchdog-ms", "5000")
    with SerialFirmwareHardware(panda, port=firmware.port, key_file=str(firmware.key_file),
                                state_timeout_s=STALE_S) as robot:
        robot.write(np.full(7, 1.0))
        newest(robot, lambda s, d: np.all(s.effort == 1.0), "the torque to be applied")
    with SerialFirmwareHardware(panda, port=firmware.port, key_file=str(firmware.key_file),
                                state_timeout_s=STALE_S) as robot:
        sample, diag = newest(robot, lambda s, d: True, "a state")
        assert diag["sequence_applied"] == 2 and np.all(sample.effort == 0.0)


# ----- line noise ------------------------------------------------------------------------------------
def test_garbage_sent_to_the_firmware_is_rejected_and_the_next_command_applied(robot):
    bad_crc = bytearray(fp.encode_frame(0x02, bytes(4 + 4 * 7 + fp.AUTH_TRAILER_SIZE)))
    bad_crc[-2] ^= 0x01
    before = robot.diagnostics()
    with raw_line(robot.options.port) as line:
        line.write(b"\x00\x13\x37\xff" + fp.SYNC + b"\x7e\x00" + fp.SYNC + b"\x02\x07" + bytes(bad_crc))
    robot.write(np.array([0, 0, 0, -1.0, 0, 0, 0]))
    sample, diag = newest(robot, lambda s, d: d["sequence_applied"] == d["sequence_sent"],
                          "the good command after the garbage")
    assert sample.effort[3] == -1.0
    assert diag["firmware_rx_rejected"] - before["firmware_rx_rejected"] == 3  # unknown id, bad length, bad CRC
    assert diag["firmware_auth_rejected"] == before["firmware_auth_rejected"]  # never got as far as a tag


def test_line_noise_from_the_firmware_is_dropped_counted_and_loses_no_frame(start_firmware):
    """Every 10th tick the firmware sends garbage, an unknown id, a bad length and a bad-CRC copy before
    its STATE: exactly those frames follow rejections of each kind, every other frame follows none."""
    firmware = start_firmware("--joints", "2", "--line-noise-every", "10")
    captured = [(m, c) for m, c in capture_frames(firmware.port, 0.5) if m.name == "STATE"]
    assert len(captured) > 50
    noisy = 0
    for (_, before), (message, after) in zip(captured[1:], captured[2:]):  # the first may follow a cut
        grew = {k: getattr(after, k) - getattr(before, k) for k in ("unknown_id", "bad_length", "bad_crc")}
        if message["time_us"] // 1000 % 10 == 0:
            noisy += 1
            assert all(v >= 1 for v in grew.values()), (message["time_us"], grew)
        else:
            assert not any(grew.values()), (message["time_us"], grew)
    assert noisy >= 5


def test_hardware_reads_through_line_noise(start_firmware, panda):
    firmware = start_firmware("--joints", "7", "--limits", "5", "--watchdog-ms", "3000", "--line-noise-every", "3")
    with SerialFirmwareHardware(panda, port=firmware.port, key_file=str(firmware.key_file),
                                state_timeout_s=STALE_S) as robot:
        robot.write(np.array([0, 0, 0, 0, 0, 0, 1.0]))
        _, diag = newest(robot, lambda s, d: s.velocity[6] > 2.0 and d["host_parser"]["bad_crc"] >= 30,
                         "joint 7 to move through the noise")
        parser = diag["host_parser"]
        assert min(parser["unknown_id"], parser["bad_length"]) >= 30
        assert diag["states_received"] >= 2 * parser["bad_crc"]  # noise costs no frames
