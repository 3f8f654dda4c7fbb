"""Operator-facing bookkeeping of interventions: counts per reason and per-(reason, joint) log throttling."""

from __future__ import annotations

from collections import Counter

from robot_rl.safety.result import Intervention, Reason


class InterventionMonitor:
    """Counts every intervention by reason and decides which ones to log now.

    Args:
        throttle: minimum seconds between two log lines for the same (reason, joint).
    """

    def __init__(self, throttle: float):
        self.throttle = float(throttle)
        self.counts: Counter[str] = Counter({reason: 0 for reason in Reason.ALL})
        self._last_logged: dict[tuple[str, str | None], float] = {}
        self.commands = 0

    def record(self, interventions: list[Intervention], now: float) -> list[tuple[Intervention, int]]:
        """Count ``interventions``; return those due for logging, each with its reason's total count."""
        due = []
        for item in interventions:
            self.counts[item.reason] += 1
            key = (item.reason, item.joint)
            if now - self._last_logged.get(key, -float("inf")) >= self.throttle:
                self._last_logged[key] = now
                due.append((item, self.counts[item.reason]))
        return due

    def summary(self) -> dict[str, int]:
        """Counts per reason (all reasons, zeros included) plus ``commands`` received."""
        return {"commands": self.commands, **dict(self.counts)}
