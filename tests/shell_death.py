"""Test support: a stand-in ROS shell (tests/support/loop_shell.py) that starts the loop process, and its death."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from robot_rl.control.state_exchange import SharedLoopState

SHELL = Path(__file__).parent / "support" / "loop_shell.py"


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie left to a parent that does not reap)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class ShellAndLoop:
    """The stand-in shell for ``config`` (loop_shell.py's argument), its stderr in ``log``; ``started``: what it
    printed; ``shared``: the loop process's shared memory, mapped here for a robot of ``dof`` joints; ``start``: the
    newest state row when the shell was told to send its move."""

    def __init__(self, log: Path, dof: int, config: dict | None = None):
        self.log = log
        with open(log, "w") as err:
            self.shell = subprocess.Popen([sys.executable, str(SHELL), json.dumps(config or {})],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            line = self.shell.stdout.readline()
            if not line:
                raise AssertionError(f"the stand-in shell exited: {log.read_text()}")
            self.started = json.loads(line)
            self.child = self.started["child"]
            fd = os.open(f"/proc/{self.child}/fd/{self.started['memory_fd']}", os.O_RDWR)
            self.shared = SharedLoopState(dof, len(self.started["gripper"]), fd=fd)
            while self.shared.states_written == 0:
                time.sleep(0.01)
            self.start = self.newest(1)[0]  # the state row before the move
            self.shell.stdin.write("move\n")  # the move starts once this process watches
            self.shell.stdin.flush()
        except BaseException:
            self.shell.kill()
            self.shell.wait()
            raise

    def newest(self, count: int) -> np.ndarray:
        """The newest ``count`` state rows (fewer at the start)."""
        return self.shared.states_since(max(self.shared.states_written - count, 0))[1]

    def kill_shell(self, timeout_s: float = 30.0) -> tuple[float, np.ndarray, float]:
        """SIGKILL the shell, wait for the loop process to end; (kill time s, every state row kept, the tick time
        at which the loop found the shell dead)."""
        killed = time.time()
        self.shell.kill()
        deadline = time.monotonic() + timeout_s
        while alive(self.child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(self.child), "the loop process outlived its shell"
        rows, lost = self.shared.states_since(0)[1], self.shared.counter_values()["shell_lost_time"]
        return killed, rows, lost

    def close(self) -> None:
        self.shell.kill()
        self.shell.wait()
        self.shared.close()
