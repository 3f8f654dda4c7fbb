"""The control loop behind one interface, wherever it runs (no rclpy): the control node's shell talks to either.

- :class:`ThreadLoop` (``loop_mode`` thread): hardware + ``ControlCore`` in a ``FixedRateLoop`` thread of the
  shell's process; each tick takes the shell's commands, ticks the core and hands the state to the shell.
- :class:`ProcessLoop` (``loop_mode`` process): the loop process (:class:`LoopProcess`, which owns the hardware)
  and a relay thread in the shell that hands the loop's states from shared memory to the shell.

Both offer: ``start(outputs)``, ``now``/``submit`` (commands), ``set_gripper``, ``request_reset``, ``clear_fault``,
``figures`` (timing and counters for diagnostics), ``hardware_diagnostics``, ``failure`` (why the loop stopped)
and ``stop`` (the report). :func:`open_loop` picks one for a resolved ``loop_mode``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from robot_rl.command import JointTrajectoryCommand
from robot_rl.control.loop import FixedRateLoop, LoopStats, summarize
from robot_rl.control.loop_process import LoopProcess, LoopSpec, check_cpu, pin_threads
from robot_rl.control.report import join_and_report
from robot_rl.control.state_exchange import OBJECT_POSE_EVERY, WARMUP_S, loop_counters
from robot_rl.errors import ConfigError, HardwareError
from robot_rl.hardware import JointStateSample, create_hardware, loop_catch_up


RELAY_EVERY = 2
"""Control periods between two runs of the relay thread (process mode): it hands on every tick's state, two at a
time (half the wake-ups of a relay at the control rate: measured 0.11-0.13 CPU s/s instead of 0.18)."""

Gripper = tuple  # (joint names, positions (g,) m, velocities (g,) m/s), or None: no gripper


@dataclass(frozen=True)
class LoopOutputs:
    """What the loop hands to the shell, from the loop thread (thread mode) or the relay thread (process mode).

    ``state(sample, stamp s, gripper)``: every ``publish_every``-th tick's state; ``object_pose(stamp s, pose (7,),
    base frame)``: every OBJECT_POSE_EVERY ticks, if the hardware simulates an object; ``take_commands()``: called
    by the loop thread before each tick where the loop takes commands in its tick (``commands_in_loop``), to
    ``submit`` what arrived; ``log_error(text)``: an error met while stopping."""

    state: Callable[[JointStateSample, float, Gripper | None], None]
    object_pose: Callable[[float, np.ndarray, str], None]
    take_commands: Callable[[], None]
    log_error: Callable[[str], None]
    publish_every: int = 1


class ThreadLoop:
    """The loop in a thread of this process: it owns the hardware and the core (loaded here only in this mode)."""

    mode, commands_in_loop = "thread", True

    def __init__(self, robot, hardware: str, options: dict, realtime: bool, rt_priority: int, core_config: dict):
        from robot_rl.control.core import ControlCore, ControlCoreConfig
        from robot_rl.robot.model import RobotModel

        hw = self.hardware = create_hardware(hardware, robot, **options)
        # A lockstep simulator runs on the loop's schedule (a late or catch-up tick keeps its own slot), so the
        # plan is sampled, and /joint_states stamped, on the simulated robot's timeline; real hardware: now.
        lockstep = realtime and getattr(hw, "lockstep", False)
        self.core = ControlCore(RobotModel(robot), hw, clock=self._scheduled_time if lockstep else time.time,
                                config=ControlCoreConfig(**core_config))
        self.loop = FixedRateLoop(robot.control_period, self._step, realtime=realtime, rt_priority=rt_priority,
                                  catch_up=loop_catch_up(hw))
        # A vendor driver that publishes /joint_states itself is their one source (ros2_control bridge).
        self.publishes_joint_states = getattr(hw, "publishes_joint_states", False)
        self.has_object = getattr(hw, "has_object", lambda: False)()
        self.has_gripper = hasattr(hw, "set_gripper")
        self.hardware_diagnostics = getattr(hw, "diagnostics", None)
        self._gripper_state = getattr(hw, "gripper_state", None)
        self._outputs: LoopOutputs | None = None
        self._tick = 0

    def _scheduled_time(self) -> float:
        return self.loop.tick_time()

    def start(self, outputs: LoopOutputs) -> None:
        self._outputs = outputs
        self.loop.start()

    def _step(self) -> None:
        """One control tick."""
        out = self._outputs
        out.take_commands()
        state = self.core.tick()
        self._tick += 1
        if self._tick % out.publish_every == 0:
            out.state(state, self.core.last_tick_time, self._gripper_state() if self._gripper_state else None)
        if self.has_object and self._tick % OBJECT_POSE_EVERY == 0:
            out.object_pose(self.core.last_tick_time, self.hardware.object_pose(), self.hardware.base_frame)

    def now(self) -> float:
        """The clock commands are stamped against (s)."""
        return self.core.clock()

    def submit(self, command: JointTrajectoryCommand) -> None:
        self.core.submit(command)

    def set_gripper(self, position: float) -> None:
        self.hardware.set_gripper(position)

    def request_reset(self, sample_task: bool) -> None:
        self.core.request_default_reset(sample_task=sample_task)

    def clear_fault(self) -> None:
        self.core.request_reset(clear_fault=True)

    def figures(self, recent: int) -> tuple[LoopStats, dict[str, float]]:
        """(period statistics of the last ``recent`` ticks, the loop's counters)."""
        return self.loop.stats(recent=recent), loop_counters(self.core, self.loop)

    def failure(self) -> str | None:
        """Why the loop stopped, None while it runs."""
        return None if self.loop.running else "control loop thread stopped"

    def stop(self) -> dict:
        """Stop the loop, release the hardware; the report (``control_report``)."""
        self.loop.stop()
        return join_and_report(self.loop, self.core, self.hardware, WARMUP_S)


class ProcessLoop:
    """The loop in the loop process (it owns the hardware), and the relay thread here that hands its new states
    (every tick's) and object pose to the shell, every RELAY_EVERY control periods, one priority step below the
    loop process (above any other work: it carries /joint_states), off the loop process's CPU if that is pinned."""

    mode, commands_in_loop, publishes_joint_states = "process", False, False

    def __init__(self, process: LoopProcess, spec: LoopSpec, joint_names: tuple[str, ...], period: float):
        self.process, self.spec, self._joint_names, self._period = process, spec, joint_names, period
        info = process.start(spec)
        self.has_object, self.has_gripper = info["has_object"], info["has_gripper"]
        self.hardware_diagnostics = process.hardware_diagnostics if info["has_diagnostics"] else None
        self._base_frame, self._gripper_joints = info["base_frame"], tuple(info["gripper_joints"])
        self._states_seen = self._poses_seen = self._tick = 0
        self._outputs: LoopOutputs | None = None
        self.relay: FixedRateLoop | None = None

    def start(self, outputs: LoopOutputs) -> None:
        self._outputs, cpu = outputs, self.spec.cpu
        if cpu >= 0 and len(os.sched_getaffinity(0)) > 1:
            pin_threads(os.sched_getaffinity(0) - {cpu})
        self.relay = FixedRateLoop(RELAY_EVERY * self._period, self._relay,
                                   rt_priority=max(self.spec.rt_priority - 1, 0), name="control-relay", history=1000)
        self.relay.start()

    def _relay(self) -> None:
        """The loop process's new states and object pose out."""
        shared, out = self.process.shared, self._outputs
        self._states_seen, rows = shared.states_since(self._states_seen)
        for row in rows:
            self._tick += 1
            if self._tick % out.publish_every == 0:
                tick_time, q, v, effort, grip_q, grip_v = shared.split(row)
                out.state(JointStateSample(tick_time, q, v, effort), tick_time, (self._gripper_joints, grip_q, grip_v))
        pose = shared.object_pose() if self.has_object else None
        if pose is not None and pose[0] != self._poses_seen:
            self._poses_seen = pose[0]
            out.object_pose(pose[1], pose[2], self._base_frame)
        if self.process.exit_code() is not None:
            raise HardwareError(f"the control loop process exited with code {self.process.exit_code()}")

    def now(self) -> float:
        """The clock commands are stamped against (s): this process's, within a tick of the loop's."""
        return time.time()

    def submit(self, command: JointTrajectoryCommand) -> None:
        """Forward ``command`` (CommandError: unknown joints; HardwareError: the loop process is gone)."""
        self.process.submit(command.in_order(self._joint_names))

    def set_gripper(self, position: float) -> None:
        self.process.set_gripper(position)

    def request_reset(self, sample_task: bool) -> None:
        self.process.request_reset(sample_task=sample_task)

    def clear_fault(self) -> None:
        self.process.clear_fault()

    def figures(self, recent: int) -> tuple[LoopStats, dict[str, float]]:
        """(period statistics of the last ``recent`` ticks, the loop's counters), from shared memory."""
        shared = self.process.shared
        return (summarize(self._period, shared.history.count, [shared.history.newest(recent)]),
                shared.counter_values())

    def failure(self) -> str | None:
        """Why the loop (or its relay) stopped, None while both run."""
        code = self.process.exit_code()
        if code is not None:
            return f"control loop process exited with code {code}"
        return None if self.relay.running else "control relay thread stopped"

    def stop(self) -> dict | None:
        """Stop the relay and the loop process; its report, or None (see ``LoopProcess.stop``)."""
        if self.relay is not None:
            self.relay.stop()
            try:
                self.relay.join(timeout=5.0)
            except HardwareError as exc:  # it stopped when the loop process died
                self._outputs.log_error(str(exc))
        return self.process.stop()


def open_loop(mode: str, robot_name: str, robot, hardware: str, options: dict, *, realtime: bool,
              rt_priority: int, core_config: dict, cpu: int = -1,
              loop_process: LoopProcess | None = None) -> ThreadLoop | ProcessLoop:
    """The loop for a resolved ``mode`` (``resolve_loop_mode``), built and ready to ``start``.

    ``robot_name``: name or YAML path (the loop process loads it); ``robot``: its ``RobotConfig``; ``hardware``,
    ``options``: as for ``create_hardware``; ``cpu``: the CPU the loop process is pinned to (-1: none);
    ``loop_process``: one spawned early (process mode; stopped if the mode is thread).

    Raises:
        ConfigError: a bad ``cpu``, or one given in thread mode; the loop refused its configuration.
        HardwareError: the hardware or the loop process failed while starting.
    """
    check_cpu(cpu)
    if cpu >= 0 and mode != "process":
        raise ConfigError("parameter loop_cpu pins the loop process: it needs loop_mode process")
    if mode == "process":
        spec = LoopSpec(robot_name, hardware, len(robot.joints), options, realtime, rt_priority, core_config, cpu)
        return ProcessLoop(loop_process or LoopProcess(), spec, robot.joints, robot.control_period)
    if loop_process is not None:
        loop_process.stop()  # spawned on a wrong guess: it exits
    return ThreadLoop(robot, hardware, options, realtime, rt_priority, core_config)
