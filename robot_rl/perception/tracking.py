"""Pairing of a camera's color, depth and CameraInfo messages by stamp, and the perception statistics
published on /diagnostics (detection rate, reprojection error, age). Free of rclpy."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

KINDS = ("color", "depth", "info")


@dataclass
class FrameSync:
    """Collects the parts of a frame set by stamp (s); :meth:`add` returns the set once it is whole.

    Attributes:
        use_depth: a set needs depth too.
        keep: frame sets waiting at most (older incomplete ones are dropped, counted in ``dropped``).
    """

    use_depth: bool = True
    keep: int = 4
    dropped: int = 0
    _pending: dict[float, dict[str, Any]] = field(default_factory=dict)

    def add(self, kind: str, stamp: float, value: Any) -> dict[str, Any] | None:
        """Add one part; the whole set {kind: value} (and its older incomplete sets dropped), else None."""
        parts = self._pending.setdefault(stamp, {})
        parts[kind] = value
        needed = KINDS if self.use_depth else ("color", "info")
        if all(k in parts for k in needed):
            for old in [s for s in self._pending if s <= stamp]:
                self.dropped += old != stamp
                del self._pending[old]
            return parts
        while len(self._pending) > self.keep:
            del self._pending[min(self._pending)]
            self.dropped += 1
        return None


@dataclass
class PerceptionStats:
    """Detection rate over the last ``window`` frames, last reprojection error (px), last accepted stamp (s)."""

    window: int = 30
    frames: int = 0
    accepted: int = 0
    last_reprojection_px: float = float("nan")
    last_stamp: float | None = None
    _recent: deque = field(default_factory=deque)

    def record(self, accepted: bool, stamp: float, reprojection_px: float | None = None) -> None:
        """One processed frame set."""
        self.frames += 1
        self.accepted += accepted
        self._recent.append(accepted)
        while len(self._recent) > self.window:
            self._recent.popleft()
        if accepted:
            self.last_stamp = stamp
            self.last_reprojection_px = float(reprojection_px)

    def detection_rate(self) -> float:
        """Fraction of the recent frame sets with an accepted pose (0 with none)."""
        return sum(self._recent) / len(self._recent) if self._recent else 0.0

    def age_s(self, now: float) -> float:
        """Seconds since the last accepted pose's image (inf if none)."""
        return float("inf") if self.last_stamp is None else now - self.last_stamp

