"""The authenticated firmware link: published HMAC vectors, C <-> Python tags, the key file, the fuzz through the
firmware's own receive path, and attacks over a real pty against the host firmware (second writer without the key,
replayed frames, a flood), plus a spoofed firmware talking to the host's link."""

from __future__ import annotations

import hmac
import json
import os
import stat
import subprocess
import sys
import threading
import time
from hashlib import sha256

import numpy as np
import pytest

from firmware_host import BUILD, FirmwareProcess, build_firmware, provisioned_key, raw_line, wait_for
from robot_rl.errors import ConfigError, HardwareError
from robot_rl.hardware import firmware_protocol as fp
from robot_rl.hardware.firmware_auth import PRE_SESSION, SessionMac, load_key, provision_key
from robot_rl.hardware.firmware_link import FirmwareLink
from robot_rl.hardware.serial_firmware import SerialFirmwareHardware
from robot_rl.robot.config import load_robot_config

STALE_S = 5.0
TICK_US = 1000
RFC4231 = [  # (key, data, HMAC-SHA-256), RFC 4231 test cases 1-7 (case 5: the RFC gives the first 128 bits)
    (b"\x0b" * 20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (bytes(range(1, 26)), b"\xcd" * 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (b"\xaa" * 131, b"This is a test using a larger than block-size key and a larger than block-size data. The key "
                    b"needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
]


@pytest.fixture(scope="module")
def key_file(tmp_path_factory):
    build_firmware()
    return provisioned_key(tmp_path_factory.mktemp("key"))


@pytest.fixture
def firmware(key_file):
    started = []

    def start(*args: str) -> FirmwareProcess:
        started.append(FirmwareProcess("--joints", "7", "--limits", "5", *args, key_file=key_file))
        return started[-1]
    yield start
    assert [f.stop() for f in started] == [0] * len(started)


def open_robot(firmware: FirmwareProcess) -> SerialFirmwareHardware:
    return SerialFirmwareHardware(load_robot_config("panda"), port=firmware.port, key_file=str(firmware.key_file),
                                  state_timeout_s=STALE_S)


def newest(robot, condition, what: str, timeout_s: float = 10.0):
    def check():
        sample, diag = robot.read(), robot.diagnostics()
        return (sample, diag) if diag["stamp"] == sample.stamp and condition(sample, diag) else None
    return wait_for(check, timeout_s, what)


def forged_frames(session: bytes, count: int, name: str = "TORQUE_COMMAND", **values) -> bytes:
    """``count`` frames of ``name`` tagged under the real session (a sniffer saw the handshake) with keys the
    firmware does not hold, counters far ahead: CRC-valid, so only the tag stops them."""
    rng = np.random.default_rng(count)
    return b"".join(fp.encode_message(name, SessionMac(rng.bytes(fp.KEY_SIZE), session), 10**6 + i, **values)
                    for i in range(count))


# ----- the MAC, in Python and in C ---------------------------------------------------------------------------
@pytest.mark.parametrize("key, data, expected", RFC4231)
def test_python_hmac_sha256_matches_rfc4231(key, data, expected):
    assert hmac.new(key, data, sha256).hexdigest().startswith(expected)
    # SessionMac is that HMAC over session | signed bytes, truncated to TAG_SIZE
    assert SessionMac(bytes(32), bytes(16))(data) == hmac.new(bytes(32), bytes(16) + data, sha256).digest()[:8]


def test_c_and_python_tags_agree_and_every_single_bit_flip_fails(key_file):
    tool, rng = str(BUILD / "rr_frame_tool"), np.random.default_rng(3)
    key, session = rng.bytes(32), rng.bytes(16)
    mac = SessionMac(key, session)
    lines = [f"{0x02:x} {c} {rng.bytes(4 + 4 * (1 + c % 16)).hex()}" for c in range(1, 60)]
    sealed = subprocess.run([tool, "seal", key.hex(), session.hex()], input="\n".join(lines), capture_output=True,
                            text=True, check=True).stdout.split()
    frames = [f for hex_frame in sealed for f in fp.FrameParser().feed(bytes.fromhex(hex_frame))]
    assert len(frames) == 59 and all(mac.verify(f) for f in frames)
    python_sealed = [fp.encode_message("CLEAR_FAULT", mac, c) for c in range(5)] + [bytes.fromhex(s) for s in sealed]
    flipped = []
    for frame in python_sealed[:8]:
        for bit in range(16, 8 * len(frame) - 16):  # id, len, payload, tag (the sync and CRC are the parser's)
            corrupt = bytearray(frame)
            corrupt[bit // 8] ^= 1 << bit % 8
            flipped.append(bytes(corrupt))
    verdicts = subprocess.run([tool, "verify", key.hex(), session.hex()],
                              input="\n".join(f.hex() for f in python_sealed + flipped),
                              capture_output=True, text=True, check=True).stdout.split()
    assert verdicts == ["ok"] * len(python_sealed) + ["bad"] * len(flipped)


def test_fuzz_through_the_firmware_accepts_nothing_forged_modified_replayed_or_flipped():
    """10^6 frames through rr_app_tick: a 7th each of legitimate commands (all applied), forged frames, frames
    tagged with another key, modified frames with the CRC fixed, replays, 1-bit and 2-bit flips (none applied)."""
    build_firmware()
    result = subprocess.run([str(BUILD / "rr_frame_tool"), "fuzz", "1000000", "14"], capture_output=True, text=True,
                            timeout=600)
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["violations"] == 0, report
    assert report["legit"]["accepted"] == report["legit"]["sent"] > 100_000
    for kind in ("forged", "wrong_key", "modified", "replayed", "flip1", "flip2"):
        assert report[kind]["sent"] > 100_000 and report[kind]["accepted"] == 0, (kind, report)
    assert report["firmware"]["replay_rejected"] >= report["replayed"]["sent"]


# ----- keys ----------------------------------------------------------------------------------------------------
def test_provisioned_key_file_is_private_and_checked(tmp_path, firmware):
    cli = subprocess.run([sys.executable, "-m", "robot_rl.cli", "firmware", "provision", "--key-file",
                          str(tmp_path / "cli.key")], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0 and len(load_key(tmp_path / "cli.key")) == 32, cli.stderr
    again = subprocess.run([sys.executable, "-m", "robot_rl.cli", "firmware", "provision", "--key-file",
                            str(tmp_path / "cli.key")], capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "exists; refusing to replace" in again.stderr
    path = provision_key(tmp_path / "k")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(load_key(path)) == 32
    assert load_key(provision_key(tmp_path / "k2")) != load_key(path)
    with pytest.raises(ConfigError, match="exists; refusing to replace"):
        provision_key(path)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="accessible to group/others .*chmod 600"):
        load_key(path)
    host = subprocess.run([str(BUILD / "rr_firmware_host"), "--joints", "1", "--key-file", str(path)],
                          capture_output=True, text=True, timeout=10)
    assert host.returncode == 2 and "is accessible to group/others (mode 644)" in host.stderr
    host = subprocess.run([str(BUILD / "rr_firmware_host"), "--joints", "1"], capture_output=True, text=True,
                          timeout=10)
    assert host.returncode == 2 and "--key-file PATH is required" in host.stderr
    bad = tmp_path / "bad"
    bad.write_text("00" * 31 + "\n")
    bad.chmod(0o600)
    with pytest.raises(ConfigError, match="must hold 64 hex digits"):
        load_key(bad)
    other = FirmwareProcess("--joints", "7", "--limits", "5", key_file=provision_key(tmp_path / "other"))
    try:
        with pytest.raises(HardwareError, match="no authentic HELLO_ACK .* provisioned with the key"):
            SerialFirmwareHardware(load_robot_config("panda"), port=other.port, key_file=str(tmp_path / "k2"),
                                   handshake_timeout_s=0.5)
    finally:
        assert other.stop() == 0


# ----- attacks over a real pty -----------------------------------------------------------------------------------
def test_second_writer_without_the_key_cannot_move_a_joint_or_clear_a_fault(firmware):
    fw = firmware("--watchdog-ms", "200")
    with open_robot(fw) as robot:
        session = robot._link._mac.session
        robot.write(np.zeros(7))
        newest(robot, lambda s, d: d["status"]["ARMED"], "the zero command to arm the firmware")
        with raw_line(fw.port) as line:
            line.write(forged_frames(session, 300, command_time_us=0, torque=np.full(7, 5.0)))
            line.write(forged_frames(PRE_SESSION, 20, "HELLO", host_nonce=1))  # sessions: only with the key
            sample, diag = newest(robot, lambda s, d: d["firmware_auth_rejected"] >= 320, "the forgeries to be read")
            assert np.all(sample.effort == 0.0) and np.all(sample.velocity == 0.0), sample
            assert diag["sequence_applied"] == 1 and diag["firmware_replay_rejected"] == 0
            newest(robot, lambda s, d: d["status"]["WATCHDOG_TRIPPED"], "the watchdog to trip (no legitimate command)")
            line.write(forged_frames(session, 50, "CLEAR_FAULT") + forged_frames(session, 50, command_time_us=0,
                                                                                  torque=np.full(7, 5.0)))
            sample, diag = newest(robot, lambda s, d: d["firmware_auth_rejected"] >= 420, "the forged clears")
        assert diag["fault"] == "WATCHDOG_TRIPPED" and np.all(sample.effort == 0.0) and np.all(sample.position == 0.0)
        robot.clear_fault()  # the key holder can
        newest(robot, lambda s, d: d["fault"] == "", "the legitimate clear")


def test_a_replayed_captured_frame_is_rejected(firmware):
    fw = firmware("--watchdog-ms", "3000")
    captured = []
    with open_robot(fw) as robot:
        write = robot._link._serial.write
        robot._link._serial.write = lambda data: (captured.append(bytes(data)), write(data))[1]  # a tap on the line
        robot.write(np.array([2.0, 0, 0, 0, 0, 0, 0]))
        robot.write(np.array([0, 0, 0, 0, 0, 0, -1.0]))
        _, before = newest(robot, lambda s, d: d["sequence_applied"] == 2, "the second command")
        with raw_line(fw.port) as line:
            line.write(captured[0])
            sample, diag = newest(robot, lambda s, d: d["firmware_replay_rejected"] == 1, "the replay to be refused")
        assert diag["sequence_applied"] == 2 and sample.effort[0] == 0.0 and sample.effort[6] == -1.0
    with open_robot(fw) as robot:  # a new session: the old frames' tags no longer verify at all
        _, start = newest(robot, lambda s, d: True, "a state of the new session")
        with raw_line(fw.port) as line:
            line.write(b"".join(captured))
            _, diag = newest(robot, lambda s, d: d["firmware_auth_rejected"] >= start["firmware_auth_rejected"] + 3,
                             "the old session's frames to be refused")
        assert diag["sequence_applied"] == 3  # the zero torque the first session's close() sent, nothing since


def test_a_flood_trips_the_watchdog_on_the_applied_command_age(firmware):
    """The host keeps commanding every ms while a second writer floods the line with CRC-valid forged CLEAR_FAULTs
    (18 bytes each), a burst of 16 KB (about the pty's whole buffer) every 20 ms: the firmware checks 8 tags per
    tick, so a burst takes 110 ticks to drain. The host's commands queue behind the flood and arrive older than
    the 80 ms timeout: the watchdog trips on the applied command's age within the timeout plus one tick, and the
    late commands, though they keep arriving, are refused as stale."""
    timeout_ms = 80
    fw = firmware("--watchdog-ms", str(timeout_ms))
    stop = threading.Event()
    with open_robot(fw) as robot:
        def command() -> None:
            while not stop.is_set():
                try:
                    robot.write(np.full(7, 0.01))
                except HardwareError:
                    pass  # the line stayed full for the write timeout
                time.sleep(0.001)

        commander = threading.Thread(target=command, daemon=True)
        commander.start()
        try:
            newest(robot, lambda s, d: d["status"]["ARMED"] and d["sequence_applied"] > 20, "commands to flow")
            burst = forged_frames(robot._link._mac.session, 900, "CLEAR_FAULT")
            fd = os.open(fw.port, os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK)
            states_before, deadline = robot._link.states_received, time.monotonic() + 20.0
            try:
                while time.monotonic() < deadline:
                    diag = robot.diagnostics()
                    if diag["status"]["WATCHDOG_TRIPPED"] and diag["firmware_stale_rejected"] > 0:
                        break
                    try:
                        os.write(fd, burst)
                    except BlockingIOError:
                        pass
                    time.sleep(0.02)
            finally:
                os.close(fd)
        finally:
            stop.set()
            commander.join(timeout=5)
        state = robot._newest(STALE_S).message
        trip_age_us = (state["latch_time_us"] - state["command_time_us"]) % 2**32
        assert timeout_ms * 1000 < trip_age_us <= timeout_ms * 1000 + TICK_US, trip_age_us
        assert state["status"] & fp.STATUS["WATCHDOG_TRIPPED"] and state["stale_rejected"] > 0, state.values
        assert state["auth_rejected"] > 100  # the forgeries, every one refused
        assert robot._link.states_received - states_before > 50  # the control tick kept running through the flood


# ----- the host refuses a spoofed or replayed firmware ------------------------------------------------------
def test_host_refuses_spoofed_and_replayed_state(key_file):
    """A Python stand-in plays the firmware on the other end of a pty: the host's link opens a session only on
    an authentic HELLO_ACK and accepts only STATE frames tagged under it with increasing counters."""
    key = load_key(key_file)
    master, slave = os.openpty()
    link = FirmwareLink(os.ttyname(slave), 115200, key)
    try:
        link.hello()
        hello = wait_for(lambda: fp.FrameParser().feed(os.read(master, 4096)), what="the HELLO")[0]
        assert SessionMac(key).verify(hello)
        host_nonce = fp.decode_message(hello)["host_nonce"].to_bytes(8, "little")
        mac = SessionMac(key, host_nonce + (77).to_bytes(8, "little"))
        ack = dict(firmware_nonce=77, protocol_version=fp.PROTOCOL_VERSION, watchdog_timeout_ms=100,
                   torque_limit=np.ones(2))
        os.write(master, fp.encode_message("HELLO_ACK", SessionMac(bytes(32), mac.session), 1, **ack))  # wrong key
        assert link.wait_session(0.3) is None
        os.write(master, fp.encode_message("HELLO_ACK", mac, 1, **ack))
        assert link.wait_session(5.0)["firmware_nonce"] == 77

        def state(tag: SessionMac, counter: int, time_us: int) -> bytes:
            return fp.encode_message("STATE", tag, counter, sequence=0, time_us=time_us, command_time_us=0,
                                     latch_time_us=0, status=0, rx_rejected=0, auth_rejected=0, replay_rejected=0,
                                     stale_rejected=0, position=np.zeros(2), velocity=np.zeros(2), effort=np.zeros(2))
        good = state(mac, 2, 1000)
        os.write(master, good + good + state(SessionMac(bytes(32), mac.session), 3, 2000)
                 + state(SessionMac(key), 4, 3000) + state(mac, 5, 4000))
        wait_for(lambda: link.states_received == 2 and link.wait_state(0.1).message["time_us"] == 4000,
                 what="the two authentic states")
        _, counts = link.counts()
        assert (counts.tag_rejected, counts.replay_rejected) == (3, 1)  # wrong key x2 (ack, state), other session
    finally:
        link.close()
        os.close(master)
        os.close(slave)


def test_link_benchmark_runs_both_modes_in_one_run():
    """robot-rl bench firmware-link, briefly: both firmware builds answer and report commands applied (no timing
    is asserted: the figures are the benchmark's, firmware/README.md)."""
    from robot_rl.bench.firmware_link import run

    result = run(seconds=0.3, rounds=1, fuzz_frames=2000)
    for mode in ("authenticated", "null_mac"):
        assert result["round_trip_ms"][mode]["timed"] > 10, result["round_trip_ms"]
    assert result["fuzz"]["frames"] == 2000 and result["fuzz"]["violations"] == 0
