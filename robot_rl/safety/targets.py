"""Sampling a command onto the output grid, and clamping targets to the soft position limits."""

from __future__ import annotations

import numpy as np

from robot_rl.safety import kernels
from robot_rl.safety.rate_limiter import GridLimits
from robot_rl.safety.result import Intervention, Reason


def sample_targets(times: np.ndarray, positions: np.ndarray, t_start: float, q_start: np.ndarray,
                   grid: np.ndarray) -> np.ndarray:
    """Linear interpolation of the command at the grid times.

    Args:
        times: (k,) absolute waypoint times, s, strictly increasing.
        positions: (k, n) waypoint positions, rad.
        t_start: absolute time of the plan point the new output starts from, s.
        q_start: (n,) that point's position; waypoints at or before ``t_start`` are dropped (stale)
            and the path runs from here to the first future waypoint.
        grid: (m,) absolute output times, s (all > t_start).

    Returns:
        (m, n) targets; after the last waypoint the last waypoint is held.
    """
    out = np.empty((len(grid), positions.shape[1]))
    kernels.sample_linear(times, positions, t_start, q_start, grid, out)
    return out


def clamp_targets(targets: np.ndarray, lim: GridLimits, names: tuple[str, ...]
                  ) -> tuple[np.ndarray, list[Intervention]]:
    """Targets (m, n) clipped to the soft limits, with one intervention per clamped joint."""
    outside = np.zeros(targets.shape[1], dtype=bool)
    if not kernels.columns_outside(targets, lim.lower, lim.upper, outside):
        return targets, []  # the usual case: one compiled pass, no copy
    clipped = np.clip(targets, lim.lower, lim.upper)
    notes = []
    for j in np.flatnonzero(outside):
        worst = targets[np.argmax(np.abs(targets[:, j] - clipped[:, j])), j]
        notes.append(Intervention(Reason.POSITION_LIMIT, names[j],
                                  f"target {worst:.4f} rad clamped to [{lim.lower[j]:.4f}, {lim.upper[j]:.4f}]"))
    return clipped, notes
