"""Shared memory between the control loop process (the only writer) and the ROS shell (a reader).

One anonymous memory file (``os.memfd_create``: no name to leak, freed when both processes have closed it),
mapped by both processes and viewed as float64 arrays:

- a ring of the last ``STATE_RING`` ticks' states, one row per tick: (tick time s, position (n,) rad,
  velocity (n,) rad/s, effort (n,) Nm, gripper position (g,), gripper velocity (g,));
- the loop's tick history (:class:`robot_rl.control.loop.TickHistory`: tick starts, step durations, count), from
  which the shell computes the period statistics of its diagnostics;
- the loop's counters (:data:`COUNTER_NAMES`, refreshed every ``COUNTERS_EVERY`` ticks);
- the object pose of a simulated task: (tick time s, position (3,) m, quaternion wxyz (4,)).

Each ring has a write counter advanced after its row is written (one aligned 8-byte store; x86 keeps stores in
order), so a reader copies rows below the counter and, re-reading the counter afterwards, drops any row the writer
may have overwritten meanwhile (a seqlock per ring). The writer never waits for a reader.
"""

from __future__ import annotations

import mmap
import os

import numpy as np

from robot_rl.control.loop import TickHistory


STATE_RING = 4096
"""Ticks of states kept (4 s at 1 kHz): the shell publishes every one even if it is descheduled that long."""
TICK_HISTORY = 4096
"""Ticks of timing kept for the shell's diagnostics (they summarise the last 2 s)."""
COUNTERS_EVERY = 10
"""Ticks between two refreshes of the shared counters (they feed the 1 Hz diagnostics)."""
COUNTER_NAMES = ("ticks", "commands_accepted", "stale_command_brakes", "plans_refused", "late_plans_refused",
                 "plan_chase_ticks", "max_plan_lag_ms", "max_tracking_error_rad", "loop_reanchors",
                 "last_command_time", "rt_scheduling", "shell_lost_time")
"""The loop's counters the shell reports (see :func:`loop_counters`); ``shell_lost_time``: the tick time (s) at
which the loop process found the shell dead and braked (NaN while it lives)."""
WARMUP_S = 1.0
"""Seconds of loop start-up left out of the timing statistics (imports, first messages, discovery)."""
OBJECT_POSE_EVERY = 10
"""Control ticks between two object poses (100 Hz at a 1 kHz loop)."""
POSE_SIZE = 8
"""Object pose row: tick time s, position (3,) m, quaternion wxyz (4,)."""


def loop_counters(core, loop) -> dict[str, float]:
    """The counters of :data:`COUNTER_NAMES` but ``shell_lost_time`` of a ``ControlCore`` driven by a
    ``FixedRateLoop``."""
    follower = core.follower
    return {"ticks": loop.ticks, "commands_accepted": core.commands_accepted, "stale_command_brakes": core.stale_brakes,
            "plans_refused": follower.plans_refused, "late_plans_refused": core.late_plans_refused,
            "plan_chase_ticks": follower.chase_ticks, "max_plan_lag_ms": follower.max_plan_lag * 1e3,
            "max_tracking_error_rad": float(core.tracking_error().max()), "loop_reanchors": loop.reanchors,
            "last_command_time": core.last_command_time, "rt_scheduling": float(bool(loop.rt_scheduling))}


class SharedLoopState:
    """The shared arrays for a robot of ``dof`` joints and ``gripper`` gripper joints.

    Args:
        dof, gripper: joint counts.
        fd: an existing memory file of :meth:`nbytes` bytes (shared with the other process); None creates one.
    """

    def __init__(self, dof: int, gripper: int, fd: int | None = None):
        self.dof, self.gripper = dof, gripper
        self.row = 1 + 3 * dof + 2 * gripper
        if fd is None:
            fd = os.memfd_create("robot_rl_control_loop")
            os.ftruncate(fd, self.nbytes(dof, gripper))
        self.fd = fd
        self._map = mmap.mmap(fd, self.nbytes(dof, gripper))
        flat = np.frombuffer(self._map, dtype=np.float64)
        parts, start = [], 0
        for size in self._sizes(dof, gripper):
            parts.append(flat[start:start + size])
            start += size
        states, written, history, self.counters, pose = parts
        self.states, self._written = states.reshape(STATE_RING, self.row), written
        self.history = TickHistory(TICK_HISTORY, buffer=history)
        self._pose_count, self._pose = pose[:1], pose[1:]

    @staticmethod
    def _sizes(dof: int, gripper: int) -> tuple[int, ...]:
        """float64 counts of: the state ring, its write count, the tick history, the counters, the object pose."""
        return STATE_RING * (1 + 3 * dof + 2 * gripper), 1, 2 * TICK_HISTORY + 1, len(COUNTER_NAMES), POSE_SIZE + 1

    @classmethod
    def nbytes(cls, dof: int, gripper: int) -> int:
        """Size of the memory file, bytes."""
        return 8 * sum(cls._sizes(dof, gripper))

    # -- the loop process (writer) ------------------------------------------------------------------------------

    def write_state(self, tick_time: float, position, velocity, effort, gripper_position, gripper_velocity) -> None:
        """Append one tick's state (arrays (n,) and (g,))."""
        count, n, g = int(self._written[0]), self.dof, self.gripper
        row = self.states[count % STATE_RING]
        row[0] = tick_time
        row[1:1 + n], row[1 + n:1 + 2 * n], row[1 + 2 * n:1 + 3 * n] = position, velocity, effort
        if g:
            row[1 + 3 * n:1 + 3 * n + g], row[1 + 3 * n + g:] = gripper_position, gripper_velocity
        self._written[0] = count + 1

    def write_counters(self, counters: dict[str, float]) -> None:
        """Refresh the counters (names of :data:`COUNTER_NAMES`)."""
        self.counters[:] = [counters[name] for name in COUNTER_NAMES]

    def write_object_pose(self, tick_time: float, pose: np.ndarray) -> None:
        """Publish the object pose (7,) measured at ``tick_time`` s (the count is odd while it is written)."""
        self._pose_count[0] += 1
        self._pose[0], self._pose[1:] = tick_time, pose
        self._pose_count[0] += 1

    # -- the shell (reader) -------------------------------------------------------------------------------------

    @property
    def states_written(self) -> int:
        """Ticks whose state has been written so far."""
        return int(self._written[0])

    def states_since(self, seen: int) -> tuple[int, np.ndarray]:
        """(ticks written, rows (k, row) of the ticks after the first ``seen``, oldest first); rows the writer
        overwrote before they could be copied (the reader fell more than STATE_RING ticks behind) are left out."""
        written = self.states_written
        first = max(seen, written - STATE_RING)
        rows = self.states[np.arange(first, written) % STATE_RING].copy()
        overwritten = self.states_written - STATE_RING  # rows below this index may hold newer ticks now
        return written, rows[max(0, overwritten - first):]

    def split(self, row: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One state row -> (tick time s, position, velocity, effort (n,), gripper position, velocity (g,))."""
        n, g = self.dof, self.gripper
        return (float(row[0]), row[1:1 + n], row[1 + n:1 + 2 * n], row[1 + 2 * n:1 + 3 * n],
                row[1 + 3 * n:1 + 3 * n + g], row[1 + 3 * n + g:])

    def counter_values(self) -> dict[str, float]:
        """The counters as last refreshed by the loop."""
        return dict(zip(COUNTER_NAMES, self.counters.tolist()))

    def object_pose(self) -> tuple[int, float, np.ndarray] | None:
        """(poses written so far, tick time s, pose (7,)), or None if the loop was writing one (read again)."""
        before = int(self._pose_count[0])
        row = self._pose.copy()
        if before % 2 or int(self._pose_count[0]) != before:
            return None
        return before // 2, float(row[0]), row[1:]

    def close(self) -> None:
        """Unmap and close this process's handle (the memory is freed once both processes have closed it)."""
        self.history = None
        self.states = self.counters = self._written = self._pose = self._pose_count = None
        try:
            self._map.close()
        except BufferError:  # a view still exported by a caller: the mapping goes when the process ends
            pass
        os.close(self.fd)
