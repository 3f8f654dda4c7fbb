"""Start a node graph as separate processes on a machine without ``ros2 launch`` (pip-only ROS 2)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from robot_rl.bringup.graph import NodeSpec


class GraphRunner:
    """Runs each :class:`NodeSpec` as ``python -m <module> --ros-args ...``; a context manager.

    Args:
        specs: the graph.
        log_dir: where each node's parameter file and log (<name>.log) go.
        env: extra environment variables (e.g. ROS_DOMAIN_ID) for every node.
        cwd: working directory per node name (default: this process's), e.g. to run nodes that share no path.
    """

    def __init__(self, specs: list[NodeSpec], log_dir: str | Path, env: dict[str, str] | None = None,
                 cwd: dict[str, str | Path] | None = None):
        self.specs = {s.name: s for s in specs}
        self.log_dir = Path(log_dir)
        self.env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        self.cwd = dict(cwd or {})
        self.procs: dict[str, subprocess.Popen] = {}

    def __enter__(self) -> GraphRunner:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def command(self, spec: NodeSpec) -> list[str]:
        """The command line that starts ``spec`` (its parameter file is written here)."""
        params = self.log_dir / f"{spec.name}.params.yaml"
        params.write_text(yaml.safe_dump({spec.name: {"ros__parameters": spec.parameters}}))
        cmd = [sys.executable, "-m", spec.module, "--ros-args", "-r", f"__node:={spec.name}",
               "--params-file", str(params)]
        for src, dst in spec.remappings:
            cmd += ["-r", f"{src}:={dst}"]
        return cmd

    def start(self) -> None:
        """Start every node (control node first)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name in self.specs:
            self.start_node(name, mode="w")

    def start_node(self, name: str, mode: str = "a") -> None:
        """Start node ``name`` (again, after it exited or was killed: its log is appended to)."""
        log = open(self.log_dir / f"{name}.log", mode)  # noqa: SIM115 - owned by the child process
        self.procs[name] = subprocess.Popen(self.command(self.specs[name]), stdout=log, stderr=subprocess.STDOUT,
                                            env=self.env, start_new_session=True, cwd=self.cwd.get(name))

    def exited(self) -> dict[str, int]:
        """Exit codes of the nodes that have already exited."""
        return {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to node ``name`` (e.g. SIGKILL to simulate a crash) and reap it."""
        self.procs[name].send_signal(sig)
        self.procs[name].wait(timeout=10)

    def stop(self, timeout: float = 15.0) -> dict[str, int]:
        """SIGINT every running node (sources first, control node last), wait, SIGKILL stragglers.

        Returns exit codes by node name; -9 marks a node that had to be killed.
        """
        for name in reversed(list(self.procs)):
            if self.procs[name].poll() is None:
                self.procs[name].send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return {n: p.returncode for n, p in self.procs.items()}

    def log(self, name: str) -> str:
        """Everything node ``name`` printed so far."""
        return (self.log_dir / f"{name}.log").read_text(errors="replace")
