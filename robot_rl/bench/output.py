"""Shared output of every benchmark: JSON to a file (atomically) and to stdout."""

from __future__ import annotations

import json
import platform
import time

import numpy as np

from robot_rl.control.loop import percentiles
from robot_rl.control.report import write_json_atomic


def percentiles_ms(seconds: np.ndarray) -> dict[str, float]:
    """p50/p99/max of durations given in seconds, in ms."""
    return percentiles(np.asarray(seconds, dtype=float) * 1e3)


def emit(name: str, results: dict, path: str | None) -> dict:
    """Add machine info to ``results``, print it as JSON and write it to ``path`` if given."""
    payload = {"benchmark": name, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "machine": {"python": platform.python_version(), "cpu_count": _cpu_count(),
                           "processor": platform.processor() or platform.machine()},
               **results}
    print(json.dumps(payload, indent=2))
    if path:
        write_json_atomic(path, payload)
    return payload


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
