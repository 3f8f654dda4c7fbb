"""The control loop's report: timing, tracking and limit activity, as a JSON-ready dict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from robot_rl.atomic import write_atomic
from robot_rl.control.loop import FixedRateLoop, LoopStats

if TYPE_CHECKING:  # the loop process's shell writes reports without loading the core
    from robot_rl.control.core import ControlCore


def control_report(stats: LoopStats, core: ControlCore) -> dict:
    """Loop timing (ms), final tracking error (rad) and counters of one control-loop run."""
    err = core.tracking_error()
    limits = core.limits.counts
    return {
        "loop": stats.as_dict(),
        "nominal_rate_hz": core.model.config.control_rate_hz,
        "final_tracking_error_rad": {"max": float(err.max()), "rms": float(np.sqrt(np.mean(err ** 2)))},
        "final_position_rad": dict(zip(core.model.joint_names, core.last_state.position.tolist())),
        "commands_accepted": core.commands_accepted,
        "last_line_limit_activations": {"position": limits.position, "velocity": limits.velocity,
                                        "effort": limits.effort, "overspeed": limits.overspeed},
        "ruckig_fallbacks": core.follower.failures,
    }


def join_and_report(loop: FixedRateLoop, core: ControlCore, hardware, warmup_s: float) -> dict:
    """Wait for ``loop`` (stopped, or stopping) to end, release ``hardware`` whatever happened, and the report of the
    run (:func:`control_report`, the first ``warmup_s`` s left out, with the loop's ``rt_scheduling``)."""
    try:
        loop.join()
    finally:
        hardware.close()
    report = control_report(loop.stats(skip_s=warmup_s), core)
    report["rt_scheduling"] = loop.rt_scheduling
    return report


def write_json_atomic(path: str | Path, payload: dict) -> None:
    """Write ``payload`` as JSON to ``path`` via a temporary file and rename (never a half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(payload, indent=2).encode())
