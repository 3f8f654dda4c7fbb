"""A fixed-rate loop in a dedicated thread that sleeps to absolute deadlines, with period statistics."""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


GC_YOUNG_EVERY = 100
"""Ticks between two collections of the young generations (0 and 1) the loop runs itself, right after a step."""
GC_FULL_EVERY = 10_000
"""Ticks between two full collections (after gc.freeze() they scan only objects created since the loop started)."""


@dataclass(frozen=True)
class LoopStats:
    """Timing of a loop run. Times in ms."""

    ticks: int
    duration_s: float
    rate_hz: float  # achieved: ticks / duration
    period_error_ms: dict[str, float]  # |actual period - nominal|: p50, p99, max
    overrun_fraction: float  # fraction of periods longer than 1.5 nominal periods (a deadline missed)
    step_time_ms: dict[str, float]  # time spent in the step function: p50, p99, max

    def as_dict(self) -> dict:
        """JSON-ready dict."""
        return {"ticks": self.ticks, "duration_s": self.duration_s, "rate_hz": self.rate_hz,
                "period_error_ms": self.period_error_ms, "overrun_fraction": self.overrun_fraction,
                "step_time_ms": self.step_time_ms}


def percentiles(values_ms: np.ndarray) -> dict[str, float]:
    """p50, p99 and max of durations in ms (NaN for none); the one summary every timing report uses."""
    values_ms = np.asarray(values_ms, dtype=float)
    if values_ms.size == 0:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    return {"p50": float(np.percentile(values_ms, 50)), "p99": float(np.percentile(values_ms, 99)),
            "max": float(values_ms.max())}


def request_fifo(priority: int) -> bool:
    """Ask Linux for SCHED_FIFO at ``priority`` for the calling thread; True if granted.

    Needs root or CAP_SYS_NICE; otherwise (or for priority <= 0) the thread keeps normal scheduling.
    """
    if priority <= 0 or not hasattr(os, "sched_setscheduler"):
        return False
    try:  # pid 0 = the calling thread on Linux
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except OSError:
        return False
    return True


class FixedRateLoop:
    """Calls ``step()`` every ``period`` seconds in its own thread until stopped.

    Deadlines are absolute (start + k * period), so a late tick does not shift
    later ones. After an overrun the missed ticks run back to back while the loop is at most
    ``catch_up`` s behind (a lockstep simulator advances only when ticked, so this keeps its
    time on the wall clock); further behind, the loop re-anchors and the missed ticks are
    dropped (a real robot's time passes anyway). With ``realtime=False`` it runs back to back (tests).

    Garbage collection (realtime only): automatic collection would run at whatever allocation crosses its threshold,
    in whichever thread, and a full one scans every object of the process (117 ms with MuJoCo, pinocchio and rclpy
    loaded). The loop therefore freezes the objects that exist when it starts (``gc.freeze``), turns automatic
    collection off while it runs, and collects itself right after a step: the young generations every
    GC_YOUNG_EVERY ticks, all every GC_FULL_EVERY ticks (measured: ~0.05 ms and ~0.01 ms). It turns automatic
    collection back on when it stops.

    Args:
        period: s.
        step: called once per tick; an exception stops the loop and is re-raised by ``join``.
        realtime: pace to wall-clock deadlines.
        max_ticks: stop after this many ticks (None: until ``stop``).
        history: number of most recent ticks kept for statistics (bounded memory).
        mirror: another history each tick is also recorded in (shared memory read by the ROS shell).
        catch_up: s of lag recovered by running missed ticks back to back (0: re-anchor after one period).
        rt_priority: if > 0 and ``realtime``, ask Linux for SCHED_FIFO at this priority for the
            loop thread (needs root or CAP_SYS_NICE; ``rt_scheduling`` says whether it was granted).
    """

    def __init__(self, period: float, step: Callable[[], None], realtime: bool = True,
                 max_ticks: int | None = None, name: str = "control-loop", history: int = 600_000,
                 rt_priority: int = 0, catch_up: float = 0.0, mirror: TickHistory | None = None):
        if period <= 0 or catch_up < 0:
            raise ValueError(f"period must be > 0 s and catch_up >= 0 s, got {period}, {catch_up}")
        self.period = period
        self._max_lag = max(catch_up, period)
        self._step = step
        self._realtime = realtime
        self._max_ticks = max_ticks
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._history = TickHistory(history)
        self._mirror = mirror
        self.ticks = 0
        self.reanchors = 0  # times the loop fell more than catch_up behind and dropped the missed ticks
        self._scheduled = 0.0  # time.perf_counter() deadline of the current tick
        self._wall_offset = time.time() - time.perf_counter()
        self._rt_priority = rt_priority if realtime else 0
        self.rt_scheduling: bool | None = None  # set once the thread runs
        self._error: BaseException | None = None

    def start(self) -> FixedRateLoop:
        """Start the thread; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the loop to end after the current tick."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread; re-raise an exception raised by ``step``."""
        self._thread.join(timeout)
        if self._error is not None:
            raise self._error

    @property
    def running(self) -> bool:
        """True while the thread is alive."""
        return self._thread.is_alive()

    def tick_time(self) -> float:
        """Wall-clock time (``time.time()`` domain, s) the current tick was scheduled for.

        A tick run late (or back to back while catching up) still reports its own slot, so a lockstep
        simulator stepped once per tick and stamped with this time stays on one consistent timeline.
        """
        return self._wall_offset + self._scheduled

    def _request_rt_scheduling(self) -> None:
        self.rt_scheduling = request_fifo(self._rt_priority)

    def _run(self) -> None:
        self._request_rt_scheduling()
        clock, period = time.perf_counter, self.period
        manage_gc = self._realtime and gc.isenabled()
        if manage_gc:
            gc.freeze()
            gc.disable()
        deadline = clock()
        try:
            while not self._stop.is_set():
                if self._realtime:
                    delay = deadline - clock()
                    if delay > 0:
                        time.sleep(delay)
                start = clock()
                self._scheduled = deadline if self._realtime else start
                self._step()
                step_time = clock() - start
                self._history.append(start, step_time)
                if self._mirror is not None:
                    self._mirror.append(start, step_time)
                self.ticks += 1
                if manage_gc and self.ticks % GC_YOUNG_EVERY == 0:
                    gc.collect(2 if self.ticks % GC_FULL_EVERY == 0 else 1)
                if self._max_ticks is not None and self.ticks >= self._max_ticks:
                    break
                deadline += period
                if clock() - deadline > self._max_lag:  # too far behind to catch up: re-anchor
                    deadline = clock()
                    self.reanchors += 1
        except BaseException as exc:  # noqa: BLE001 - handed to join(), never swallowed
            self._error = exc
        finally:
            if manage_gc:
                gc.enable()

    def stats(self, skip_s: float = 0.0, recent: int | None = None) -> LoopStats:
        """Timing statistics of the most recent ``history`` ticks (``ticks`` counts all); arguments as in
        :meth:`timings`."""
        return summarize(self.period, self.ticks, [self.timings(skip_s, recent)])

    def timings(self, skip_s: float = 0.0, recent: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(tick start times (k,) s on time.perf_counter, step durations (k,) s) of the kept ticks.

        Args:
            skip_s: leave out the ticks of the first ``skip_s`` seconds (start-up warm-up).
            recent: only the last ``recent`` ticks (cost O(recent), not O(history): for periodic reports).
        """
        starts, step_times = self._history.newest(recent)
        keep = starts >= starts[0] + skip_s if starts.size else np.zeros(0, dtype=bool)
        if keep.sum() > 1:
            starts, step_times = starts[keep], step_times[keep]
        return starts, step_times


def summarize(period: float, ticks: int, runs: list[tuple[np.ndarray, np.ndarray]]) -> LoopStats:
    """LoopStats of one or more runs of a loop at ``period`` s, each (tick starts (k,) s, step durations (k,) s).

    Periods are taken within each run, never across two (a pooled baseline measured before and after another run).
    """
    periods = np.concatenate([np.diff(starts) for starts, _ in runs])
    step_times = np.concatenate([steps for _, steps in runs])
    duration = sum(float(starts[-1] - starts[0]) for starts, _ in runs if starts.size > 1)
    return LoopStats(
        ticks=ticks, duration_s=duration,
        rate_hz=float(periods.size / duration) if duration > 0 else 0.0,
        period_error_ms=percentiles(np.abs(periods - period) * 1e3),
        overrun_fraction=float(np.mean(periods > 1.5 * period)) if periods.size else 0.0,
        step_time_ms=percentiles(step_times * 1e3),
    )


class TickHistory:
    """The last ``size`` ticks' (start s, step duration s), written by the loop thread, read by any other.

    Kept in ``buffer`` (2 * size + 1,) float64 when given (shared memory read by another process,
    robot_rl/control/state_exchange.py): starts, step durations, then the count.

    Preallocated ring buffers and one counter: the writer never allocates or waits, and a reader copies a window
    by index, so nothing is iterated while it changes (a deque read from the executor thread raised "deque mutated
    during iteration"). The counter is advanced after both values are written; a reader that races the writer may
    see the oldest tick of a full window already overwritten by the newest, which statistics tolerate.
    """

    def __init__(self, size: int, buffer: np.ndarray | None = None):
        if buffer is None:
            buffer = np.zeros(2 * size + 1)
        if buffer.shape != (2 * size + 1,):
            raise ValueError(f"a history of {size} ticks needs a buffer of shape ({2 * size + 1},), got {buffer.shape}")
        self._starts, self._steps, self._count = buffer[:size], buffer[size:2 * size], buffer[2 * size:]

    @property
    def count(self) -> int:
        """Ticks recorded so far."""
        return int(self._count[0])

    def append(self, start: float, step: float) -> None:
        """Record one tick (loop thread only)."""
        count = int(self._count[0])
        i = count % self._starts.size
        self._starts[i], self._steps[i] = start, step
        self._count[0] = count + 1

    def newest(self, count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(starts (k,), step durations (k,)) of the newest ``count`` ticks (all kept: None), oldest first."""
        written = self.count
        k = min(written, self._starts.size, self._starts.size if count is None else count)
        index = np.arange(written - k, written) % self._starts.size
        return self._starts[index], self._steps[index]
