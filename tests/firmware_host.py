"""Test support for the firmware: build it with make, run the host simulation on a pty, wait on it."""

from __future__ import annotations

import select
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"
BUILD = FIRMWARE / "build"


def build_firmware() -> Path:
    """``make -C firmware``; fails the test session with the compiler's output if it does not build."""
    result = subprocess.run(["make", "-C", str(FIRMWARE)], capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        pytest.fail(f"`make -C firmware` failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}",
                    pytrace=False)
    return BUILD


class FirmwareProcess:
    """``rr_firmware_host`` with ``args``, running until :meth:`stop`; ``port`` is its pty."""

    def __init__(self, *args: str):
        self.process = subprocess.Popen([str(BUILD / "rr_firmware_host"), *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
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
