"""The filter's output plan: every position it has allowed, on a fixed absolute time grid.

Grid point k is at time ``origin + k * dt``. A new command replaces the plan after the grid point
that is current at the time it is filtered; earlier points stay (they may already be executing),
so the spliced sequence of positions is exactly what the control node is asked to follow. Every
plan ends at rest, so after its last point the robot holds that point.
"""

from __future__ import annotations

import math

import numpy as np

from robot_rl.safety import kernels
from robot_rl.safety.rate_limiter import GridState

_HISTORY = 2  # points kept before the current one, to difference velocity and acceleration


class OutputPlan:
    """Positions (m, n) rad at grid indices ``base .. base + m - 1``; the last point is held forever."""

    def __init__(self, q: np.ndarray, origin: float, dt: float):
        """Start at rest at q (n,) rad; grid index 0 is at ``origin`` s."""
        self.origin, self.dt, self.base = float(origin), float(dt), -_HISTORY
        self.positions = np.repeat(np.asarray(q, dtype=float)[None, :], _HISTORY + 1, axis=0)

    @property
    def last_index(self) -> int:
        """Grid index of the final (held) point."""
        return self.base + len(self.positions) - 1

    def index_at(self, t: float) -> int:
        """Index of the grid point at or just before time t (s)."""
        return math.floor((t - self.origin) / self.dt + 1e-9)

    def time_of(self, k: int) -> float:
        """Absolute time (s) of grid point k."""
        return self.origin + k * self.dt

    def position(self, k: int) -> np.ndarray:
        """Planned position (n,) at grid index k (the held last point beyond the end)."""
        return self.positions[min(max(k - self.base, 0), len(self.positions) - 1)]

    def state_at(self, k: int) -> GridState:
        """Output state (q, v, a) at grid index k, from finite differences of the plan."""
        q0, q1, q2 = self.position(k - 2), self.position(k - 1), self.position(k)
        v1, v2 = (q1 - q0) / self.dt, (q2 - q1) / self.dt
        return GridState(q2.copy(), v2, (v2 - v1) / self.dt)

    def at_rest_from(self, k: int) -> bool:
        """True if the plan holds still from grid index k on."""
        return k >= self.last_index

    def splice(self, k: int, points: np.ndarray, keep_from: int | None = None) -> None:
        """Keep the plan up to index k and follow it with ``points`` (m, n) at k+1, k+2, ...

        Points from ``keep_from`` (default and at most: k - 2, for the finite differences) are kept,
        so a segment from an index before k can still be sent.
        """
        keep_from = k - _HISTORY if keep_from is None else min(keep_from, k - _HISTORY)
        kept = self._rows(keep_from, k + 1)
        self.positions = np.vstack([kept, points]) if len(points) else kept
        self.base = keep_from

    def _rows(self, first: int, stop: int) -> np.ndarray:
        """Positions (stop - first, n) at grid indices first .. stop - 1 (held ends repeated)."""
        lo, hi = first - self.base, stop - self.base
        if 0 <= lo and hi <= len(self.positions):
            return self.positions[lo:hi].copy()
        return np.array([self.position(i) for i in range(first, stop)])

    def segment(self, k: int) -> np.ndarray:
        """Planned positions (m, n) from index k to the end (at least the held point)."""
        if k >= self.last_index:
            return self.position(k)[None, :].copy()
        return self.positions[k - self.base:].copy()

    def velocities(self, k: int) -> np.ndarray:
        """Velocities (m, n) rad/s at the points of :meth:`segment` (k), for cubic Hermite interpolation.

        Central differences (q_{i+1} - q_{i-1}) / (2 dt), exact for constant-acceleration stretches,
        limited as in monotone cubic interpolation (Fritsch-Carlson): 0 where the motion stops or
        reverses at the point, and at most 3x the smaller adjacent step velocity, so the
        interpolated path never moves backwards between two grid points (no overshoot at a stop).
        """
        seg = self.segment(k)
        out = np.empty_like(seg)
        kernels.monotone_velocities(self.position(k - 1), seg, self.dt, out)
        return out
