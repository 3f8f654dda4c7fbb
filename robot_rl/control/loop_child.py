"""The control loop process: ``ControlCore`` + hardware in a ``FixedRateLoop`` thread, no ROS, no other Python work.

Started by :class:`robot_rl.control.loop_process.LoopProcess` (``python -m robot_rl.control.loop_child SPEC``). It
owns the hardware (and its port: ``serial``, ``feetech``). Each tick its loop thread takes the shell's messages from
a socket (commands, resets, gripper, diagnostics requests, stop: a non-blocking poll, microseconds when empty), ticks
the core and writes the state into shared memory (robot_rl/control/state_exchange.py); a diagnostics request is
answered on the socket after the tick's write. Its main thread only waits, so nothing else in the process takes the
GIL but the hardware's own reader thread, if it has one (``serial``, ``feetech``).

Safety stays here: the core's command watchdog brakes a stale command at the robot's limits, whatever the shell
does; and if the shell dies (its socket end closes, the parent pid changes, or SIGTERM), the loop brakes at the
robot's limits, holds for the longest stop + ORPHAN_HOLD_S, releases the hardware and exits (code 3).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from multiprocessing.connection import Connection

from robot_rl.control.core import ControlCore, ControlCoreConfig
from robot_rl.control.loop import FixedRateLoop
from robot_rl.control.report import join_and_report
from robot_rl.control.state_exchange import (COUNTERS_EVERY, OBJECT_POSE_EVERY, WARMUP_S, SharedLoopState,
                                             loop_counters)
from robot_rl.errors import HardwareError, RobotRLError
from robot_rl.hardware import create_hardware, loop_catch_up
from robot_rl.robot import RobotModel, load_robot_config

try:  # the hardware the loop process runs (PROCESS_HARDWARE), loaded before the spec arrives
    import robot_rl_sim.hardware  # noqa: F401
except ImportError:  # the simulator package is not installed: create_hardware names the problem
    pass


PARENT_CHECK_EVERY = 100
"""Ticks between two checks of the parent pid (the socket's end of file is the first sign of the shell's death)."""
ORPHAN_HOLD_S = 0.5
"""s the loop keeps holding the braked robot, beyond the longest stop, after the shell died."""
EXIT_ORPHANED = 3
"""Exit code after the shell died and the robot was braked."""


class LoopChild:
    """The loop process's parts, built from a :class:`LoopSpec` as a dict; ``memory_fd``: the shared memory file,
    sized here for the robot's joints and the hardware's gripper joints."""

    def __init__(self, spec: dict, conn: Connection, memory_fd: int):
        robot = load_robot_config(spec["robot"])
        self.conn, self._parent = conn, os.getppid()
        self.hardware = create_hardware(spec["hardware"], robot, **spec["options"])
        hw = self.hardware
        self._gripper_state = getattr(hw, "gripper_state", None)
        gripper = len(self._gripper_state()[0]) if self._gripper_state else 0
        os.ftruncate(memory_fd, SharedLoopState.nbytes(spec["dof"], gripper))
        self.shared = shared = SharedLoopState(spec["dof"], gripper, fd=memory_fd)
        lockstep = spec["realtime"] and getattr(hw, "lockstep", False)
        self.core = ControlCore(RobotModel(robot), hw, clock=self._scheduled_time if lockstep else time.time,
                                config=ControlCoreConfig(**spec["core"]))
        self.loop = FixedRateLoop(robot.control_period, self._step, realtime=spec["realtime"],
                                  rt_priority=spec["rt_priority"], catch_up=loop_catch_up(hw),
                                  mirror=shared.history)
        self._object_pose = hw.object_pose if getattr(hw, "has_object", lambda: False)() else None
        self._orphan_ticks: int | None = None  # ticks left to hold after the shell died
        self.orphaned = ""  # why the shell is considered dead ("" while it lives)
        self._lost_time = float("nan")  # s: the tick time at which it was found dead
        self.terminated = False  # SIGTERM: treated as the shell's death
        self._diagnostics_asked: int | None = None  # number of the shell's pending diagnostics request

    def info(self) -> dict:
        """What the shell needs to know about the hardware (it never touches it)."""
        hw = self.hardware
        return {"hardware_type": type(hw).__name__, "can_reset": hasattr(hw, "reset"),
                "can_clear_fault": hasattr(hw, "clear_fault"), "has_gripper": hasattr(hw, "set_gripper"),
                "has_object": self._object_pose is not None, "has_diagnostics": hasattr(hw, "diagnostics"),
                "base_frame": getattr(hw, "base_frame", ""),
                "gripper_joints": list(self._gripper_state()[0]) if self._gripper_state else []}

    def _scheduled_time(self) -> float:
        return self.loop.tick_time()

    def _step(self) -> None:
        if self._orphan_ticks is None:
            self._receive()
        state = self.core.tick()
        grip = self._gripper_state() if self._gripper_state else ((), (), ())
        self.shared.write_state(self.core.last_tick_time, state.position, state.velocity, state.effort, grip[1],
                                grip[2])
        ticks = self.loop.ticks + 1
        if self._object_pose is not None and ticks % OBJECT_POSE_EVERY == 0:
            self.shared.write_object_pose(self.core.last_tick_time, self._object_pose())
        if self._diagnostics_asked is not None:
            self._answer_diagnostics()
        if ticks % COUNTERS_EVERY == 0:
            self.shared.write_counters({**loop_counters(self.core, self.loop), "shell_lost_time": self._lost_time})
        if self._orphan_ticks is not None:
            self._orphan_ticks -= 1
            if self._orphan_ticks <= 0:
                self.loop.stop()

    def _answer_diagnostics(self) -> None:
        """Send the hardware's diagnostics (or its HardwareError's message) for the pending request."""
        asked, self._diagnostics_asked = self._diagnostics_asked, None
        try:
            values, error = self.hardware.diagnostics(), ""
        except HardwareError as exc:  # the loop stops on the same error at its next read
            values, error = None, str(exc)
        try:
            self.conn.send(("diagnostics", asked, values, error))
        except OSError:  # the shell is gone: seen at the next tick's receive
            pass

    def _receive(self) -> None:
        """Handle the shell's messages; brake if the shell is gone."""
        try:
            while self.conn.poll():
                self._handle(*self.conn.recv())
        except (EOFError, OSError):
            self._orphan("the ROS shell's socket closed")
        if self.terminated:
            self._orphan("SIGTERM")
        elif self.loop.ticks % PARENT_CHECK_EVERY == 0 and os.getppid() != self._parent:
            self._orphan("the parent process is gone")

    def _handle(self, kind: str, *args) -> None:
        core = self.core
        if kind == "command":
            core.submit(args[0])
        elif kind == "reset":  # (sample the task's reset distribution,)
            core.request_default_reset(args[0])
        elif kind == "clear_fault":
            core.request_reset(clear_fault=True)
        elif kind == "gripper":
            self.hardware.set_gripper(args[0])
        elif kind == "diagnostics":  # (request number,): answered after this tick's write
            self._diagnostics_asked = args[0]
        elif kind == "stop":
            self.loop.stop()
        else:
            raise ValueError(f"unknown message from the shell: {kind!r}")

    def _orphan(self, why: str) -> None:
        """The shell died: brake at the robot's limits, hold, then stop."""
        self.orphaned, self._lost_time = why, self.core.clock()
        self.core.follower.brake()
        self._orphan_ticks = int((self.core.max_stop_s + ORPHAN_HOLD_S) / self.loop.period)
        print(f"control loop process: {why}; braking at the robot's limits and stopping", file=sys.stderr, flush=True)

    def run(self) -> int:
        """Run until stopped; send the report (if the shell listens); release the hardware; the exit code."""
        self.loop.start()
        report = join_and_report(self.loop, self.core, self.hardware, WARMUP_S)
        if self.orphaned:
            return EXIT_ORPHANED
        self.conn.send(("report", report))
        return 0


def main(argv: list[str]) -> int:
    """``python -m robot_rl.control.loop_child FDS_JSON``: FDS_JSON holds the inherited socket and memory file
    descriptors (``conn_fd``, ``memory_fd``); the spec (:class:`LoopSpec` as a dict) arrives on the socket."""
    fds = json.loads(argv[0])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C reaches the shell, which stops us in order
    conn = Connection(fds["conn_fd"])
    try:
        _, spec = conn.recv()  # ("spec", LoopSpec as a dict)
    except EOFError:  # the shell chose thread mode, or stopped while starting
        return 0
    if spec["cpu"] >= 0:
        os.sched_setaffinity(0, {spec["cpu"]})
    try:
        child = LoopChild(spec, conn, fds["memory_fd"])
    except RobotRLError as exc:  # a HardwareError stays one (the port cannot be opened, the device is silent)
        conn.send(("error", "hardware" if isinstance(exc, HardwareError) else "config", str(exc)))
        return 2
    except Exception:  # noqa: BLE001 - handed to the shell with its traceback, never swallowed
        conn.send(("error", "crash", traceback.format_exc()))
        return 1
    signal.signal(signal.SIGTERM, lambda *_: setattr(child, "terminated", True))
    conn.send(("ready", child.info()))
    return child.run()


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # no interpreter teardown: the frozen start-up objects (ruckig's, gc.freeze) are released anyway
