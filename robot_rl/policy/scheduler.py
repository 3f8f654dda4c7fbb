"""When the policy node pushes observation frames, runs inference and publishes commands (pure, no rclpy).

Every policy period (dt = 1 / policy_hz) the node calls :meth:`PolicyScheduler.tick`:

* one observation frame is pushed per tick, as in training (frame t-1 is one period before frame t);
* inference is requested when the executed part of the current chunk runs out: no chunk yet, or the
  deadline of its step ``n_action_steps`` (stamp + n_action_steps * dt) is at most dt/2 ahead of ``now``
  (with n_action_steps == 1: every tick); never while one is still running. The chunk carries the policy's
  whole horizon, so while that inference runs the robot goes on along the SAME chunk's later steps
  (predicted from the same observation) instead of stopping; with no inference latency this is exactly
  "execute n_action_steps, then replan" (the in-process rollout);
* a heartbeat command goes out on every tick: the not-yet-due remainder of the current chunk with its
  ORIGINAL absolute deadlines (steps due within ``min_lead`` dropped), re-stamped at ``now`` so the
  safety filter's stale check (``max_command_age``) does not reject the tail of a long chunk. The control
  node replaces its trajectory with that remainder, which is the same path: only the safety filter's
  dead-man timer is refreshed. When the whole chunk is exhausted while an inference is running (for at most
  ``max_latency`` s), the heartbeat holds the chunk's last target at rest, which is what the control node
  does after a trajectory's end anyway. With no chunk, or a stalled inference, nothing is sent and the
  safety filter brakes after its watchdog timeout.

:meth:`PolicyScheduler.accept` takes a finished chunk: stale steps dropped (see
:func:`robot_rl.policy.chunking.drop_stale`); if any remain the chunk replaces the current one and is
published at once with its observation stamp.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.policy.chunking import ActionChunk, drop_stale, splice
from robot_rl.policy.schema import check_ensemble


@dataclass(frozen=True)
class ScheduleConfig:
    """Timing of the policy node.

    Attributes:
        period: policy period dt, s (1 / policy_hz).
        max_latency: a chunk whose observation is older than this when it is ready is dropped, s; also the
            longest time the heartbeat holds the last target while an inference runs.
        min_lead: steps whose deadline is less than this far ahead are not sent, s.
        n_action_steps: steps of a chunk executed before the next inference is requested; None: all of them.
        replace_from: the contract's ``chunking.replace_from``: a new chunk replaces the current one from this
            step on (:func:`robot_rl.policy.chunking.splice`); 0: the whole chunk.
        ensemble: the contract's ``chunking.ensemble`` in [0, 1): weight of the current chunk's targets where a new
            chunk overlaps it (:func:`robot_rl.policy.chunking.blend`); 0: off.
    """

    period: float
    max_latency: float
    min_lead: float = 0.002
    n_action_steps: int | None = None
    replace_from: int = 0
    ensemble: float = 0.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.period) and self.period > 0):
            raise ConfigError(f"ScheduleConfig.period must be > 0 s, got {self.period}")
        if not (np.isfinite(self.max_latency) and self.max_latency > 0):
            raise ConfigError(f"ScheduleConfig.max_latency must be > 0 s, got {self.max_latency}")
        if not (0.0 <= self.min_lead < self.period):
            raise ConfigError(f"ScheduleConfig.min_lead must be in [0, period={self.period}) s, got {self.min_lead}")
        if self.n_action_steps is not None and self.n_action_steps < 1:
            raise ConfigError(f"ScheduleConfig.n_action_steps must be >= 1 or None, got {self.n_action_steps}")
        if self.replace_from < 0:
            raise ConfigError(f"ScheduleConfig.replace_from must be >= 0, got {self.replace_from}")
        check_ensemble(self.ensemble, "ScheduleConfig")

    @classmethod
    def from_contract(cls, contract, min_lead: float = 0.002) -> ScheduleConfig:
        """Period, latency bound and executed steps from a :class:`PolicyContract` (its chunks hold the
        whole horizon, :class:`robot_rl.policy.runtime.PolicyRuntime`)."""
        return cls(period=contract.timing.period, max_latency=contract.timing.max_latency_ms / 1000.0,
                   min_lead=min_lead, n_action_steps=contract.chunking.n_action_steps,
                   replace_from=contract.chunking.replace_from, ensemble=contract.chunking.ensemble)


@dataclass(frozen=True)
class Tick:
    """What to do this period.

    Attributes:
        infer: run inference on this period's observation (its frame is the one pushed this tick).
        command: heartbeat to publish (stamp = now, deadlines relative to it), or None.
        hold: the command holds the last target (chunk exhausted, inference running).
    """

    infer: bool
    command: ActionChunk | None
    hold: bool = False


def restamp(chunk: ActionChunk, stamp: float) -> ActionChunk:
    """The same steps at the same absolute times, with deadlines relative to ``stamp`` (s)."""
    return replace(chunk, stamp=stamp, deadlines=chunk.stamp + chunk.deadlines - stamp)


def hold_last(chunk: ActionChunk, now: float, period: float) -> ActionChunk:
    """One step: the chunk's last target (and gripper) at rest, due ``period`` s after ``now``."""
    last = chunk.select(np.arange(chunk.num_steps) == chunk.num_steps - 1)
    return replace(last, stamp=now, deadlines=np.array([period]), velocities=np.zeros_like(last.velocities))


class PolicyScheduler:
    """Decides, per tick, whether to infer and what to publish; keeps the current chunk and counters."""

    def __init__(self, config: ScheduleConfig):
        self.config = config
        self.stats = {"ticks": 0, "heartbeats": 0, "holds": 0, "chunks": 0, "dropped_chunks": 0,
                      "dropped_steps": 0, "overruns": 0, "late_ticks": 0, "tick_interval_max_ms": 0.0}
        self.reset()

    def reset(self) -> None:
        """Forget the current chunk and any running inference (new episode / reactivation)."""
        self.current: ActionChunk | None = None
        self.requested_at: float | None = None  # s, when the running inference was requested
        self.last_tick: float | None = None  # s

    @property
    def inferring(self) -> bool:
        """An inference was requested and has not been accepted or failed yet."""
        return self.requested_at is not None

    def _exhausted(self, now: float) -> bool:
        """The executed part of the current chunk ends within half a period of ``now`` (s)."""
        if self.current is None:
            return True
        steps = self.config.n_action_steps
        end = self.current.deadlines[-1] if steps is None else steps * self.config.period
        return self.current.stamp + end <= now + self.config.period / 2

    def tick(self, now: float) -> Tick:
        """Decision for the period starting at ``now`` (s, same clock as the chunk stamps)."""
        self._time_tick(now)
        infer = False
        if self._exhausted(now):
            if self.inferring:
                self.stats["overruns"] += 1
            else:
                infer, self.requested_at = True, now
        command, hold = self._heartbeat(now), False
        if command is None and self.current is not None and self.inferring \
                and now - self.requested_at <= self.config.max_latency:
            command, hold = hold_last(self.current, now, self.config.period), True
            self.stats["holds"] += 1
        if command is not None:
            self.stats["heartbeats"] += 1
        return Tick(infer=infer, command=command, hold=hold)

    def _time_tick(self, now: float) -> None:
        """Count ticks, the longest interval between two (ms) and intervals over 1.5 periods (late)."""
        self.stats["ticks"] += 1
        if self.last_tick is not None:
            interval = now - self.last_tick
            self.stats["tick_interval_max_ms"] = max(self.stats["tick_interval_max_ms"], round(interval * 1e3, 2))
            self.stats["late_ticks"] += int(interval > 1.5 * self.config.period)
        self.last_tick = now

    def _heartbeat(self, now: float) -> ActionChunk | None:
        if self.current is None:
            return None
        keep = self.current.stamp + self.current.deadlines > now + self.config.min_lead
        if not keep.any():
            return None
        return restamp(self.current.select(keep), now)

    def accept(self, chunk: ActionChunk, now: float) -> ActionChunk | None:
        """A finished inference at ``now`` (s): its fresh steps replace the current chunk (from step
        ``replace_from`` on, :func:`robot_rl.policy.chunking.splice`) and are returned (to publish at once,
        stamped with the observation time); None when the whole chunk is stale."""
        self.requested_at = None
        self.stats["chunks"] += 1
        chunk = splice(self.current, chunk, self.config.replace_from, self.config.ensemble)
        fresh = drop_stale(chunk, now, self.config.max_latency, self.config.min_lead)
        if fresh is None:
            self.stats["dropped_chunks"] += 1
            self.stats["dropped_steps"] += chunk.num_steps
            return None
        self.stats["dropped_steps"] += chunk.num_steps - fresh.num_steps
        self.current = fresh
        return fresh

    def failed(self) -> None:
        """The requested inference produced no chunk (e.g. a missing observation); the next tick retries."""
        self.requested_at = None
