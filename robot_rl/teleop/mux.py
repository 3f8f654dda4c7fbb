"""Command mux: decides whether the policy's or the human's chunks reach the safety filter (pure, no rclpy).

States (:class:`MuxState`):

* ``policy``: not intervening. Policy chunks are forwarded; teleop chunks are dropped.
* ``teleop``: the human is intervening and their chunks are fresh. Teleop chunks are forwarded; policy
  chunks are dropped (from the moment intervention starts).
* ``teleop_stale``: intervening, but no teleop chunk forwarded for ``teleop_timeout_s`` (since the last one,
  or since intervention started). Nothing is forwarded: the safety filter's watchdog brakes the robot. The
  mux never falls back to the policy by itself; only the human's "intervention over" does that, and the
  policy then resumes with its next chunk.

While intervening, a teleop chunk is forwarded unless its stamp (0 = "now") is more than ``teleop_timeout_s``
older than its receipt. All times are seconds on one clock (the node uses wall time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from robot_rl.errors import ConfigError


class MuxState(str, Enum):
    """What the mux forwards now (the values key /diagnostics)."""

    POLICY = "policy"
    TELEOP = "teleop"
    TELEOP_STALE = "teleop_stale"


@dataclass(frozen=True)
class MuxConfig:
    """Attributes:
        teleop_timeout_s: teleop chunks older than this (by stamp at receipt), or a gap between them longer
            than this, make the teleop source stale, s.
    """

    teleop_timeout_s: float = 0.2

    def __post_init__(self) -> None:
        t = self.teleop_timeout_s
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or not 0.0 < t <= 10.0:
            raise ConfigError(f"mux config: teleop_timeout_s must be a number in (0, 10] s, got {t!r}")


@dataclass
class MuxCounts:
    """Running counts, reported in /diagnostics."""

    interventions: int = 0  # times intervention started
    policy_forwarded: int = 0
    policy_dropped: int = 0  # received while intervening
    teleop_forwarded: int = 0
    teleop_dropped: int = 0  # received while not intervening
    teleop_stale: int = 0  # received while intervening but too old to forward


class CommandMux:
    """Routes policy and teleop chunks; see the module docstring for the rules."""

    def __init__(self, config: MuxConfig | None = None):
        self.config = config or MuxConfig()
        self.counts = MuxCounts()
        self.intervening = False
        self._last_teleop = 0.0  # receipt time of the last forwarded teleop chunk (or of intervention start), s

    def set_intervening(self, intervening: bool, now: float) -> bool:
        """Apply the human's intervening flag received at ``now``; True if it changed."""
        if intervening == self.intervening:
            return False
        self.intervening = intervening
        self._last_teleop = now  # the human's first chunk has teleop_timeout_s to arrive
        if intervening:
            self.counts.interventions += 1
        return True

    def policy(self, now: float) -> bool:
        """A policy chunk arrived at ``now``: True if it is to be forwarded."""
        if self.intervening:
            self.counts.policy_dropped += 1
            return False
        self.counts.policy_forwarded += 1
        return True

    def teleop(self, stamp: float, now: float) -> bool:
        """A teleop chunk stamped ``stamp`` (0: none) arrived at ``now``: True if it is to be forwarded."""
        if not self.intervening:
            self.counts.teleop_dropped += 1
            return False
        if stamp > 0.0 and now - stamp > self.config.teleop_timeout_s:
            self.counts.teleop_stale += 1
            return False
        self._last_teleop = now
        self.counts.teleop_forwarded += 1
        return True

    def state(self, now: float) -> MuxState:
        """What the mux forwards at ``now``."""
        if not self.intervening:
            return MuxState.POLICY
        fresh = now - self._last_teleop <= self.config.teleop_timeout_s
        return MuxState.TELEOP if fresh else MuxState.TELEOP_STALE
