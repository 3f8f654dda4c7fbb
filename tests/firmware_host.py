"""Test support for the firmware: build it with make, run the host simulation on a pty, read and write its line
directly, wait on it."""

from __future__ import annotations

import os
import select
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest
import serial

from robot_rl.hardware import firmware_protocol as fp
from robot_rl.hardware.firmware_auth import provision_key

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"
BUILD = FIRMWARE / "build"


def build_firmware() -> Path:
    """``make -C firmware``; fails the test session with the compiler's output if it does not build."""
    result = subprocess.run(["make", "-C", str(FIRMWARE)], capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        pytest.fail(f"`make -C firmware` failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}",
                    pytrace=False)
    return BUILD


def provisioned_key(directory: Path) -> Path:
    """A fresh key file in ``directory`` (a test's tmp dir: never a key in the repository)."""
    return provision_key(Path(directory) / "firmware.key")


def fifo_prefix(priority: int) -> list[str]:
    """``chrt -f priority`` where this machine grants SCHED_FIFO (else nothing: normal scheduling)."""
    if priority <= 0 or subprocess.run(["chrt", "-f", str(priority), "true"], capture_output=True).returncode:
        return []
    return ["chrt", "-f", str(priority)]


class FirmwareProcess:
    """``rr_firmware_host --key-file key_file`` with ``args``, running until :meth:`stop`; ``port`` is its pty.
    ``rt_priority`` > 0: at that SCHED_FIFO priority where granted (a real controller is its own MCU, which the
    host's load does not delay; the host build sleeps to its 1 kHz deadlines, so it cannot starve the machine)."""

    def __init__(self, *args: str, key_file: Path, rt_priority: int = 0):
        self.key_file = key_file
        self.process = subprocess.Popen([*fifo_prefix(rt_priority), str(BUILD / "rr_firmware_host"), "--key-file",
                                         str(key_file), *args],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.process.stdout], [], [], 10.0)
        self.port = self.process.stdout.readline().strip() if ready else ""
        if not self.port.startswith("/dev/"):
            self.process.kill()
            raise AssertionError(f"rr_firmware_host {args} printed no pty path: {self.process.stderr.read()}")

    def stop(self) -> int:
        """SIGTERM; the exit status (0 when it shut down cleanly)."""
        self.process.terminate()
        try:
            return self.process.wait(timeout=10)
        finally:
            self.process.stdout.close()
            self.process.stderr.close()


def raw_line(port: str) -> BinaryIO:
    """A second, write-only handle on the host's side of the pty: bytes written here reach the firmware
    unchecked. Opened without pyserial, whose open flushes the terminal's input queue, which is shared with
    the reader already on the port (that reader then fails on "readiness to read but returned no data")."""
    return os.fdopen(os.open(port, os.O_WRONLY | os.O_NOCTTY), "wb", buffering=0)


def capture_frames(port: str, seconds: float) -> list[tuple[fp.Message, fp.ParserCounts]]:
    """Every message on the line for ``seconds``, each with the parser's counts just after it (decoded, tags
    not checked: a listener on the line, without the session)."""
    parser, captured = fp.FrameParser(), []
    with serial.Serial(port, timeout=0.05) as line:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for frame in parser.frames(line.read(max(1, line.in_waiting))):  # whole reads: keeps up under load
                captured.append((fp.decode_message(frame), fp.ParserCounts(**vars(parser.counts))))
    return captured


def wait_for(condition: Callable[[], object], timeout_s: float = 5.0, what: str = "condition"):
    """Poll ``condition`` every 2 ms until it returns something truthy; that value. Generous timeouts:
    the pty and the simulation share the CPU with everything else."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.002)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
