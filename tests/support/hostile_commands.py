"""Hostile joint targets for the safety tests (no ROS): jumps across the range, targets outside the workspace box
and in self-collision, near-default moves with NaN/Inf. Used by hostile_source.py (over ROS) and by
tests/test_safety_hostile_sim.py (in-process).
"""

from __future__ import annotations

import numpy as np

TARGET_KINDS = ("jump", "jump", "outside", "outside", "collide", "collide", "valid")
"""Kinds of finite targets, with their weights (repeats); the ROS source adds message-level kinds."""

BURST_KINDS = ("outside", "collide")
"""Kinds whose target is held for a burst of BURST_COMMANDS commands, so the arm really drives into the box's
boundary or towards itself (a new random target every 20 ms rarely gets there)."""
BURST_COMMANDS = (10, 40)


def _sample(model, rng, want, tries: int = 20000) -> np.ndarray:
    lim = model.limits
    for _ in range(tries):
        q = rng.uniform(lim.lower, lim.upper)
        if want(q):
            return q
    raise RuntimeError("no sample found")


class HostileTargets:
    """Joint targets (k, n) rad of a given hostile kind for ``model``, drawn from ``rng``; with ``bursts``, an
    outside/colliding target is held for BURST_COMMANDS commands (else each command draws anew)."""

    def __init__(self, model, rng, bursts: bool = False):
        self.model, self.rng, self.bursts = model, rng, bursts
        box = model.config.workspace
        self.outside = [_sample(model, rng, lambda q: not box.contains(model.frame_positions(q, box.links)))
                        for _ in range(4)]
        self.colliding = [_sample(model, rng, lambda q: model.min_collision_distance(q)[0] < 0) for _ in range(4)]
        self._burst: tuple[str, np.ndarray] | None = None  # (kind, target (n,) rad) being held
        self._burst_left = 0

    def next_kind(self, kinds: tuple[str, ...]) -> str:
        """The next command's kind: the running burst's, else one drawn from ``kinds`` (a burst kind starts one)."""
        if self._burst_left > 0:
            self._burst_left -= 1
            return self._burst[0]
        kind = str(self.rng.choice(kinds))
        if kind in BURST_KINDS:
            pool = self.outside if kind == "outside" else self.colliding
            self._burst = (kind, pool[self.rng.integers(len(pool))])
            self._burst_left = int(self.rng.integers(*BURST_COMMANDS)) - 1 if self.bursts else 0
        return kind

    def positions(self, kind: str, k: int) -> np.ndarray:
        model, rng, lim = self.model, self.rng, self.model.limits
        if kind == "jump":
            return np.repeat(rng.uniform(lim.lower - 0.3, lim.upper + 0.3)[None, :], k, axis=0)
        if kind in BURST_KINDS:
            return np.repeat(self._burst[1][None, :], k, axis=0)
        q = model.config.default_pose + rng.uniform(-0.4, 0.4, model.dof)
        if kind == "nan":
            q = q.copy()
            q[rng.integers(model.dof)] = rng.choice([np.nan, np.inf, -np.inf])
        return np.repeat(q[None, :], k, axis=0)
