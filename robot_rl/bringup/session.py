"""Run a graph for a while and collect what it reports: shared by ``robot-rl bringup`` and the benchmarks."""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from pathlib import Path

from robot_rl.bringup.graph import NodeSpec
from robot_rl.bringup.runner import GraphRunner

CONTROL_STATS = "control_stats.json"


# Fast DDS binds UDP ports 7400 + 250 * domain + offsets. Above domain 101 these fall in Linux's ephemeral
# range (32768-60999), where another socket may already hold them; ROS 2 documents 0-101 as the safe range.
MAX_SAFE_DOMAIN_ID = 101


def random_domain_id() -> str:
    """A random ROS_DOMAIN_ID in [1, MAX_SAFE_DOMAIN_ID], as the environment variable's string."""
    return str(random.SystemRandom().randint(1, MAX_SAFE_DOMAIN_ID))


def isolated_ros_env() -> dict[str, str]:
    """Environment for a graph of its own: localhost discovery and a random domain id (unless set)."""
    return {"ROS_AUTOMATIC_DISCOVERY_RANGE": os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST"),
            "ROS_DOMAIN_ID": os.environ.get("ROS_DOMAIN_ID", random_domain_id())}


def run_graph(specs: list[NodeSpec], log_dir: Path, duration: float | None, env: dict[str, str] | None = None
              ) -> dict:
    """Start ``specs``, run until ``duration`` s pass, SIGINT/SIGTERM arrives or a node exits; stop cleanly.

    Returns a dict with the wall time, each node's exit code, the nodes that exited early,
    and the control node's statistics (if it wrote them to ``log_dir/control_stats.json``).
    """
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    runner = GraphRunner(specs, log_dir, env={**isolated_ros_env(), **(env or {})})
    started = time.monotonic()
    early: dict[str, int] = {}
    try:
        runner.start()
        while not stop.is_set() and (duration is None or time.monotonic() - started < duration):
            early = runner.exited()
            if early:
                break
            stop.wait(0.1)
    finally:
        codes = runner.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    stats_file = log_dir / CONTROL_STATS
    return {
        "wall_time_s": time.monotonic() - started,
        "exit_codes": codes,
        "exited_early": early,
        "control": json.loads(stats_file.read_text()) if stats_file.is_file() else None,
        "log_dir": str(log_dir),
    }
