"""``robot-rl bench firmware-link``: the authenticated firmware link's cost and its fuzz, as JSON.

- **Round trip at 1 kHz** over a real pty against the host firmware: the host sends a TORQUE_COMMAND every
  1 ms (absolute deadlines; a late send does not make the next one early, so no bursts) and times, for each
  command the firmware reports as applied in a STATE, the
  interval from its send to that STATE's arrival (ms, p50/p99/max). Two modes in the same run, alternated
  ``rounds`` times: ``authenticated`` (HMAC-SHA256 tags both ways, the shipped build) and ``null_mac``, the
  same protocol with every tag zero on both sides (firmware/build/rr_firmware_host_INSECURE_null_mac and a
  zero-tag Python stand-in): the difference is what the MAC costs. Commands the firmware never reported
  (superseded within one tick, or lost) are counted, not timed.
- **Per-frame MAC cost** on the host (Python hmac): tagging a 7-joint command, verifying a 7-joint STATE.
- **Fuzz** (firmware/host/link_fuzz.c): ``fuzz_frames`` frames through the firmware's rr_app_tick, with
  throughput; every forged, modified, replayed or bit-flipped frame must be refused.

Times are wall clock on whatever else the machine runs: the 1-minute load average is reported with them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import threading
import time
import timeit
from pathlib import Path

import numpy as np

from robot_rl.bench.output import emit, percentiles_ms
from robot_rl.hardware import firmware_protocol as fp
from robot_rl.hardware.firmware_auth import SessionMac, load_key, provision_key
from robot_rl.hardware.firmware_link import FirmwareLink, ReceivedState

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
BUILD = FIRMWARE / "build"
JOINTS = 7
BINARIES = {"authenticated": "rr_firmware_host", "null_mac": "rr_firmware_host_INSECURE_null_mac"}


class NullMac:
    """Benchmark stand-in for :class:`SessionMac` with NO authentication: every tag is zero bytes."""

    def __init__(self, key: bytes, session: bytes):
        self.session = session

    def __call__(self, signed: bytes) -> bytes:
        return bytes(fp.TAG_SIZE)

    def verify(self, frame: fp.Frame) -> bool:
        return frame.payload[-fp.TAG_SIZE:] == bytes(fp.TAG_SIZE)


class RoundTrips:
    """Send times by counter (host thread) and round trips of the commands STATE reports applied (reader)."""

    def __init__(self):
        self.sent: dict[int, float] = {}
        self.round_trips: list[float] = []
        self._last_applied = 0
        self.lock = threading.Lock()

    def on_state(self, state: ReceivedState) -> None:
        applied = state.message["sequence"]
        with self.lock:
            if applied > self._last_applied and applied in self.sent:
                self.round_trips.append(state.received - self.sent[applied])
                self._last_applied = applied


def _round_trip(mode: str, key_file: Path, seconds: float) -> tuple[np.ndarray, int]:
    """One run of ``mode``: (round trips in s, commands sent)."""
    process = subprocess.Popen([str(BUILD / BINARIES[mode]), "--joints", str(JOINTS), "--watchdog-ms", "1000",
                                "--key-file", str(key_file)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
    trips = RoundTrips()
    try:
        port = process.stdout.readline().strip()
        link = FirmwareLink(port, 2_000_000, load_key(key_file), on_state=trips.on_state,
                            mac_type=SessionMac if mode == "authenticated" else NullMac)
        try:
            link.hello()
            if link.wait_session(2.0) is None or link.wait_state(2.0) is None:
                raise RuntimeError(f"{BINARIES[mode]} on {port}: no session")
            deadline, sent = time.monotonic(), 0
            end = deadline + seconds
            while deadline < end:
                time.sleep(max(0.0, deadline - time.monotonic()))
                now_us = link.wait_state(1.0).message["time_us"]
                with trips.lock:  # the reader waits until the send time is recorded
                    start = time.monotonic()
                    trips.sent[link.send("TORQUE_COMMAND", command_time_us=now_us, torque=np.zeros(JOINTS))] = start
                sent += 1
                deadline = max(deadline + 1e-3, time.monotonic())  # late: no burst to catch up
            time.sleep(0.05)  # the last reports
        finally:
            link.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
    return np.array(trips.round_trips), sent


def _host_mac_cost_us() -> dict[str, float]:
    """Python hmac per frame, us: tag a 7-joint command, verify a 7-joint STATE."""
    mac = SessionMac(os.urandom(fp.KEY_SIZE), os.urandom(2 * fp.NONCE_SIZE))
    command = b"\x02\x2c" + bytes(4 + 4 * JOINTS + 4)
    state = fp.encode_message("STATE", mac, 1, sequence=0, time_us=0, command_time_us=0, latch_time_us=0, status=0,
                              rx_rejected=0, auth_rejected=0, replay_rejected=0, stale_rejected=0,
                              position=np.zeros(JOINTS), velocity=np.zeros(JOINTS), effort=np.zeros(JOINTS))
    [frame] = fp.FrameParser().feed(state)
    n = 20000
    return {"tag_command_us": timeit.timeit(lambda: mac(command), number=n) / n * 1e6,
            "verify_state_us": timeit.timeit(lambda: mac.verify(frame), number=n) / n * 1e6}


def _fuzz(frames: int) -> dict:
    result = subprocess.run([str(BUILD / "rr_frame_tool"), "fuzz", str(frames), "1"], capture_output=True, text=True,
                            check=False)
    return json.loads(result.stdout)


def run(seconds: float, rounds: int, fuzz_frames: int) -> dict:
    """All three measurements (see the module docstring)."""
    subprocess.run(["make", "-C", str(FIRMWARE), "all", "bench"], check=True, capture_output=True)
    load_before = os.getloadavg()[0]
    samples = {mode: [] for mode in BINARIES}
    sent = dict.fromkeys(BINARIES, 0)
    with tempfile.TemporaryDirectory() as tmp:
        key_file = provision_key(Path(tmp) / "bench.key")
        for _ in range(rounds):
            for mode in BINARIES:
                trips, count = _round_trip(mode, key_file, seconds)
                samples[mode].append(trips)
                sent[mode] += count
    round_trip = {}
    for mode, runs in samples.items():
        trips = np.concatenate(runs)
        round_trip[mode] = {**percentiles_ms(trips), "timed": int(trips.size), "sent": sent[mode],
                            "send_rate_hz": sent[mode] / (seconds * rounds)}
    auth, null = round_trip["authenticated"], round_trip["null_mac"]
    return {"round_trip_ms": round_trip,
            "ratio_authenticated_to_null_mac": {"p50": auth["p50"] / null["p50"], "p99": auth["p99"] / null["p99"]},
            "host_mac_cost": _host_mac_cost_us(),
            "fuzz": _fuzz(fuzz_frames),
            "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]}}


def register(subparsers) -> None:
    p = subparsers.add_parser("firmware-link", help="authenticated firmware link: 1 kHz round trip vs no MAC, fuzz")
    p.add_argument("--seconds", type=float, default=5.0, help="per mode and round")
    p.add_argument("--rounds", type=int, default=2, help="alternations of the two modes")
    p.add_argument("--fuzz-frames", type=int, default=10_000_000)
    p.add_argument("--json", default=None, help="also write the JSON to this file")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    emit("firmware_link", run(args.seconds, args.rounds, args.fuzz_frames), args.json)
    return 0
