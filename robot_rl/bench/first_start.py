"""``robot-rl bench first-start --install PREFIX``: how long an installed safety filter takes to be ready.

Starts ``PREFIX/lib/robot_rl/safety_filter_node`` (a colcon install: ``install/robot_rl``) with that install on
PYTHONPATH and AMENT_PREFIX_PATH, and measures the wall time until it publishes its first state other than
``starting`` on /diagnostics. ``--cold`` points NUMBA_CACHE_DIR at an empty directory, so the node compiles its
kernels as it would without the install-time compilation.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from robot_rl.bench.output import emit


def register(subparsers) -> None:
    """Add ``bench first-start``."""
    p = subparsers.add_parser("first-start", help="time until an installed safety filter is ready")
    p.add_argument("--install", required=True, type=Path, help="the package's install prefix (install/robot_rl)")
    p.add_argument("--cold", action="store_true", help="empty numba cache: measure a start that compiles")
    p.add_argument("--timeout", type=float, default=300.0, help="s")
    p.add_argument("--json", default=None, help="write the result here")
    p.set_defaults(func=run)


def _node_env(install: Path, cache: str | None) -> dict[str, str]:
    site = next((install / "lib").glob("python3*/site-packages"))
    env = {**os.environ, "PYTHONPATH": str(site), "AMENT_PREFIX_PATH": str(install)}
    if cache is not None:
        env["NUMBA_CACHE_DIR"] = cache
    return env


def run(args: argparse.Namespace) -> int:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray

    from robot_rl import topics
    from robot_rl.bringup.session import isolated_ros_env

    os.environ.update(isolated_ros_env())
    seen: list[str] = []
    with tempfile.TemporaryDirectory() as cache, rclpy.init():
        probe = rclpy.create_node("first_start_probe")
        probe.create_subscription(DiagnosticArray, topics.DIAGNOSTICS,
                                  lambda m: seen.extend(s.message for s in m.status if s.name == "safety_filter"), 10)
        start = time.monotonic()
        node = subprocess.Popen([str(args.install / "lib" / "robot_rl" / "safety_filter_node")],
                                env=_node_env(args.install, cache if args.cold else None),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while time.monotonic() - start < args.timeout and not any(m != "starting" for m in seen):
            rclpy.spin_once(probe, timeout_sec=0.1)
        ready = time.monotonic() - start if any(m != "starting" for m in seen) else None
        node.terminate()
        node.wait(timeout=30)
    emit("first-start", {"install": str(args.install), "cold_numba_cache": args.cold, "ready_s": ready,
                         "reported": sorted(set(seen)), "load_average_1min": os.getloadavg()[0]}, args.json)
    return 0 if ready is not None else 1
