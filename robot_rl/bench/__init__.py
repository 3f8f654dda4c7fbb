"""``robot-rl bench <name>``: benchmarks with machine-readable JSON output (times in ms).

A module listed in :data:`BENCH_MODULES` defines ``register(subparsers)``.
"""

from __future__ import annotations

import importlib

BENCH_MODULES = [
    "robot_rl.bench.control_loop",
    "robot_rl.bench.policy", "robot_rl.bench.train",
    "robot_rl.bench.sim",
    "robot_rl.bench.safety_filter",
    "robot_rl.bench.firmware_link",
    "robot_rl.bench.first_start",
    "robot_rl.bench.safety_torque",
    "robot_rl.bench.stop",
    "robot_rl.bench.hil",
    "robot_rl.bench.feetech",
]


def register(subparsers) -> None:
    """Add ``bench`` and one sub-subcommand per benchmark module."""
    parser = subparsers.add_parser("bench", help="run a benchmark and write JSON")
    sub = parser.add_subparsers(dest="bench", required=True)
    for name in BENCH_MODULES:
        importlib.import_module(name).register(sub)
