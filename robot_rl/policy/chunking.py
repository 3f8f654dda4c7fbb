"""Action chunks as timestamped joint targets, stale-step dropping and the chunk execution rule.

Timing: a chunk computed from the observation taken at ``stamp`` (s) has step
i (0-based) executed during [stamp + i*dt, stamp + (i+1)*dt] and its target
reached at the step's deadline ``stamp + (i+1)*dt`` (dt = policy period).

Stale steps: when the chunk is ready at ``now``, a step whose deadline is not
at least ``min_lead`` s ahead of ``now`` can no longer be executed as trained
and is dropped; if the whole chunk is older than the contract's
``max_latency_ms``, or no step is left, the chunk is dropped entirely.

Execution rule ("temporal replacement"): a new chunk replaces the remainder of
the previous one from its first non-stale step on; the old chunk's steps after
that time are never executed. This is the JointTrajectory semantics of the
control node (a new trajectory replaces the current one from its start), so
the in-process :class:`ChunkExecutor` and the ROS graph behave the same.

Replacing from a later step (``Chunking.replace_from`` = m > 0, the ``--replan-hz`` export, m = r - 1): the
new chunk's steps before step m are not executed while a current chunk exists; the current chunk's steps
due before the new step m are kept (:func:`splice`). The export's first r - 1 steps run from the
*measured* joint position towards the first trained step; the arm lags its command, so at 50 Hz, starting
every chunk from there threw away the command's lead 50 times a second and the arm crawled
(docs/distillation.md). With the splice every executed target is a trained step as at the training rate:
the one due 1 / training rate after its observation.

Temporal ensembling (``Chunking.ensemble`` = w > 0, default 0 = off): before the rule above, a new chunk's
targets at times the current chunk also covers become w * the current chunk's target there (linear in time
between its steps) + (1 - w) * the new chunk's (:func:`blend`; a binary gripper target snapped back to binary). Applied at every replan, the target executed at
a time is an exponentially weighted mean of every chunk that predicted it (the newest weighs 1 - w, the one
before w (1 - w), ...), ACT's temporal ensemble in recursive form: consecutive one-step chunks that disagree
no longer each make a new acceleration demand, and a gripper close that every newer chunk plans a little later
still happens (docs/distillation.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class ActionChunk:
    """Joint targets from one inference.

    Attributes:
        stamp: time of the observation the chunk came from, s.
        joint_names: (n,) action joint names.
        deadlines: (k,) s after ``stamp`` at which each target is to be reached.
        positions: (k, n) joint position targets, rad.
        velocities: (k, n) rad/s (finite-difference of the targets, or the commanded velocity).
        gripper: (k,) finger position targets, m, or None.
        raw: (k, a) raw policy outputs (after any residual), for logging and saturation statistics.
        saturated: (k, a) bool, True where the action clip was active.
        latency_ms: inference wall time for this chunk.
        base_raw: (k, a) the base policy's raw actions (before a residual), or None.
    """

    stamp: float
    joint_names: tuple[str, ...]
    deadlines: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    gripper: np.ndarray | None
    raw: np.ndarray
    saturated: np.ndarray
    latency_ms: float = 0.0
    base_raw: np.ndarray | None = None

    @property
    def num_steps(self) -> int:
        """Number of steps k."""
        return int(self.deadlines.shape[0])

    def select(self, keep: np.ndarray) -> ActionChunk:
        """The chunk with only the steps where ``keep`` (k,) is True."""
        return replace(self, deadlines=self.deadlines[keep], positions=self.positions[keep],
                       velocities=self.velocities[keep], gripper=None if self.gripper is None else self.gripper[keep],
                       raw=self.raw[keep], saturated=self.saturated[keep],
                       base_raw=None if self.base_raw is None else self.base_raw[keep])


def _join(first, second):
    """Row-wise concatenation of two optional arrays (None if either is None)."""
    return None if first is None or second is None else np.concatenate([first, second])


def blend(current: ActionChunk, chunk: ActionChunk, weight: float) -> ActionChunk:
    """``chunk`` whose positions, velocities and gripper targets at steps due within ``current``'s span [first,
    last deadline] are ``weight`` * ``current``'s (interpolated linearly in time) + (1 - ``weight``) * its own;
    the gripper stays binary: the blend snaps to the nearer of the two finger targets. Raw actions are kept (what
    the policy output). ``weight`` in [0, 1)."""
    due = chunk.stamp + chunk.deadlines
    old_due = current.stamp + current.deadlines
    inside = (due >= old_due[0]) & (due <= old_due[-1])
    if weight == 0.0 or not inside.any():
        return chunk
    positions, velocities = chunk.positions.copy(), chunk.velocities.copy()
    for j in range(positions.shape[1]):
        for mine, theirs in ((positions, current.positions), (velocities, current.velocities)):
            mine[inside, j] += weight * (np.interp(due[inside], old_due, theirs[:, j]) - mine[inside, j])
    gripper = chunk.gripper
    if gripper is not None and current.gripper is not None:
        mixed = np.asarray(gripper, dtype=float).copy()
        mixed[inside] += weight * (np.interp(due[inside], old_due, current.gripper) - mixed[inside])
        low, high = min(current.gripper.min(), gripper.min()), max(current.gripper.max(), gripper.max())
        gripper = np.where(mixed - low < high - mixed, low, high)
    return replace(chunk, positions=positions, velocities=velocities, gripper=gripper)


def splice(current: ActionChunk | None, chunk: ActionChunk, replace_from: int, ensemble: float = 0.0) -> ActionChunk:
    """``chunk`` (blended with ``current`` by :func:`blend` when ``ensemble`` > 0) from its step ``replace_from``
    on, preceded by ``current``'s steps due after ``chunk.stamp`` and more than a quarter step before that step
    (re-timed relative to ``chunk.stamp``; a current step due at the same time up to float rounding or timer
    jitter made two waypoints ~0 s apart, which the safety filter rejects as ``bad_times``). ``chunk`` itself when
    ``replace_from`` and ``ensemble`` are 0 or there is no current chunk."""
    if current is None:
        return chunk
    chunk = blend(current, chunk, ensemble)
    if replace_from == 0:
        return chunk
    due = current.stamp + current.deadlines
    first = chunk.stamp + chunk.deadlines[replace_from]
    margin = 0.25 * (chunk.deadlines[replace_from] - chunk.deadlines[replace_from - 1])
    old = current.select((due > chunk.stamp) & (due < first - margin))
    new = chunk.select(np.arange(chunk.num_steps) >= replace_from)
    return replace(new, deadlines=np.concatenate([old.stamp + old.deadlines - chunk.stamp, new.deadlines]),
                   positions=np.concatenate([old.positions, new.positions]),
                   velocities=np.concatenate([old.velocities, new.velocities]),
                   gripper=_join(old.gripper, new.gripper), raw=np.concatenate([old.raw, new.raw]),
                   saturated=np.concatenate([old.saturated, new.saturated]),
                   base_raw=_join(old.base_raw, new.base_raw))


def drop_stale(chunk: ActionChunk, now: float, max_latency: float, min_lead: float = 0.0) -> ActionChunk | None:
    """``chunk`` without steps whose deadline is <= now + min_lead (s); None if nothing is left.

    Also None when the observation is older than ``max_latency`` s at ``now``.
    """
    if now - chunk.stamp > max_latency:
        return None
    keep = chunk.stamp + chunk.deadlines > now + min_lead
    if not keep.any():
        return None
    return chunk.select(keep)


class ChunkExecutor:
    """Applies the temporal-replacement rule in-process: which target holds at time t.

    Counts dropped steps and chunks so a node or benchmark can report them.
    """

    def __init__(self, max_latency: float, min_lead: float = 0.0, replace_from: int = 0, ensemble: float = 0.0):
        self.max_latency = max_latency
        self.min_lead = min_lead
        self.replace_from = replace_from  # the contract's chunking.replace_from (:func:`splice`)
        self.ensemble = ensemble  # the contract's chunking.ensemble (:func:`blend`)
        self.current: ActionChunk | None = None
        self.dropped_steps = 0
        self.dropped_chunks = 0

    def accept(self, chunk: ActionChunk, now: float) -> ActionChunk | None:
        """Drop stale steps of ``chunk`` at ``now`` (s); if any remain, they replace the old remainder (from
        step ``replace_from`` on, blended by ``ensemble``)."""
        chunk = splice(self.current, chunk, self.replace_from, self.ensemble)
        fresh = drop_stale(chunk, now, self.max_latency, self.min_lead)
        if fresh is None:
            self.dropped_steps += chunk.num_steps
            self.dropped_chunks += 1
            return None
        self.dropped_steps += chunk.num_steps - fresh.num_steps
        self.current = fresh
        return fresh

    def target_at(self, t: float) -> np.ndarray | None:
        """Position target (n,) rad of the step being executed at time ``t`` (s): the first step whose
        deadline is >= t; the last target once the chunk is exhausted; None before any chunk."""
        if self.current is None:
            return None
        due = self.current.stamp + self.current.deadlines
        index = int(np.searchsorted(due, t, side="left"))
        return self.current.positions[min(index, self.current.num_steps - 1)]
