"""CPU hogs: N busy processes, to measure (and test) real-time behaviour next to other work on the machine."""

from __future__ import annotations

import os
import subprocess
import sys

BUSY_LOOP = "while True: pass"


class CpuHogs:
    """Context manager: ``count`` processes at normal priority, each burning one CPU, killed on exit.

    Args:
        count: number of processes (0: none).
    """

    def __init__(self, count: int):
        if count < 0:
            raise ValueError(f"hog count must be >= 0, got {count}")
        self.count = count
        self._procs: list[subprocess.Popen] = []

    def __enter__(self) -> CpuHogs:
        self._procs = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP], stdin=subprocess.DEVNULL)
                       for _ in range(self.count)]
        return self

    def __exit__(self, *exc) -> None:
        for proc in self._procs:
            proc.kill()
        for proc in self._procs:
            proc.wait()
        self._procs = []

    def running(self) -> int:
        """How many hogs are alive."""
        return sum(proc.poll() is None for proc in self._procs)


def load_average() -> dict[str, float]:
    """The machine's 1, 5 and 15 minute load averages."""
    one, five, fifteen = os.getloadavg()
    return {"1min": one, "5min": five, "15min": fifteen}
