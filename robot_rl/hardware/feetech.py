"""Hardware ``feetech``: an arm of Feetech STS3215 bus servos (the SO-101) through the Feetech SDK, in position mode.

The servos close their own position loop, so this hardware's ``command_mode`` is ``"position"``: the control
core sends it the limited reference position (:meth:`FeetechHardware.write_position`), not torques.

A bus thread cycles at ``bus_rate_hz``: one SYNC READ of position, velocity, load, voltage and temperature from
every servo (arm and gripper), then one SYNC WRITE of the newest goal positions. ``read`` returns the newest
feedback at once; the control loop never waits on the bus.

Opening: load the calibration (:mod:`feetech_calibration`), check every joint's servo answers with the
calibrated model and firmware (ConfigError naming each difference), write the calibration into the servos with
torque off, set each goal to the present position, and enable torque: the arm holds where it is.

Faults latch and switch the torque off on every servo (the arm goes limp), named in ``diagnostics()["fault"]``:
a status packet with an error bit (overload, overheat, voltage, angle sensor, overcurrent, or the simulated
bus's checksum/instruction errors), a temperature at or above ``max_temperature_c``, ``max_bus_errors`` bus
cycles failing in a row (a servo that stops answering, a corrupt packet), or feedback older than
``state_timeout_s`` when the control loop reads, and still no newer after another ``state_timeout_s`` (``read``
then raises HardwareError too).
:meth:`FeetechHardware.clear_fault` sets each goal to the present position and enables torque again (a cause
that remains latches the fault again one bus cycle later; an overload trip is cleared by that torque enable).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from robot_rl.control.loop import percentiles, request_fifo
from robot_rl.errors import CommandError, ConfigError, HardwareError
from robot_rl.hardware import feetech_table as ft
from robot_rl.hardware.base import JointStateSample
from robot_rl.hardware.feetech_bus import FeetechBus
from robot_rl.hardware.feetech_calibration import check_servos, joint_names, load_calibration
from robot_rl.robot.config import RobotConfig

TIMING_WINDOW = 10_000
"""Bus cycles whose timing the diagnostics and the bench summarise."""


@dataclass(frozen=True)
class FeetechOptions:
    """Options of hardware ``feetech`` (control node parameters, see :func:`robot_rl.hardware.hardware_options`).

    Attributes:
        port: the servo adapter's serial device (/dev/ttyACM0), or the simulated bus's pty.
        calibration: the calibration YAML (``robot-rl calibrate feetech``).
        baud: bits/s of the bus.
        bus_rate_hz: bus cycles per second (0: back to back).
        timeout_ms: ms a status packet may take beyond its bytes' time. A servo answers within about 1 ms
            (docs/feetech.md); the rest is the host: the kernel hands received bytes to the reader through a
            normal-priority kernel worker, which CPU hogs delayed by up to 263 ms here (docs/feetech.md).
        state_timeout_s: s; older feedback is a fault.
        max_bus_errors: failed bus cycles in a row that are a fault.
        max_temperature_c: deg C; a servo at or above it is a fault (the servo's own limit is 70).
        rt_priority: SCHED_FIFO priority (0..99) of the bus thread, 0 for normal scheduling.
        torque: False for an arm moved by hand (a leader arm, robot_rl/teleop/leader.py): torque stays off and
            no goal is written; it is only read.
    """

    port: str
    calibration: str
    baud: int = 1_000_000
    bus_rate_hz: float = 200.0
    timeout_ms: float = 100.0
    state_timeout_s: float = 0.25
    max_bus_errors: int = 3
    max_temperature_c: float = 65.0
    rt_priority: int = 0
    torque: bool = True

    def __post_init__(self) -> None:
        for name in ("port", "calibration"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ConfigError(f"feetech hardware: option {name!r} is needed (port: the servo bus device; "
                                  f"calibration: the YAML of `robot-rl calibrate feetech`)")
        positive = {"baud": self.baud, "timeout_ms": self.timeout_ms, "state_timeout_s": self.state_timeout_s,
                    "max_bus_errors": self.max_bus_errors, "max_temperature_c": self.max_temperature_c}
        bad = [f"{k}={v!r}" for k, v in positive.items() if not (isinstance(v, (int, float)) and 0 < v < math.inf)]
        if not (isinstance(self.bus_rate_hz, (int, float)) and 0 <= self.bus_rate_hz < math.inf):
            bad.append(f"bus_rate_hz={self.bus_rate_hz!r}")
        if not (isinstance(self.rt_priority, int) and 0 <= self.rt_priority <= 99):
            bad.append(f"rt_priority={self.rt_priority!r}")
        if bad:
            raise ConfigError(f"feetech hardware ({self.port}): invalid options {', '.join(bad)} (positive numbers; "
                              f"bus_rate_hz >= 0; rt_priority 0..99)")


@dataclass(frozen=True)
class Feedback:
    """One SYNC READ, arrays (m,) over every servo (arm joints, then gripper joints)."""

    stamp: float  # s, time.monotonic() when the last answer arrived
    position: np.ndarray  # Present_Position, steps
    velocity: np.ndarray  # steps/s
    load: np.ndarray  # per mille of the maximum torque
    temperature: np.ndarray  # deg C
    errors: np.ndarray  # status error bytes


class FeetechHardware:
    """The robot ``config`` on the Feetech bus ``port``; arrays are (n,) in ``config.joints`` order.

    Raises:
        ConfigError: bad options or calibration, or the bus does not match it (each joint's difference named).
        HardwareError: the port cannot be opened or the servos stop answering while it opens.
    """

    lockstep = False
    command_mode = "position"

    def __init__(self, config: RobotConfig, port: str = "", calibration: str = "", **options):
        self.options = FeetechOptions(port=port, calibration=calibration, **options)
        self.calibration = load_calibration(calibration, config)
        self.joint_names, self.servo_names = config.joints, joint_names(config)
        self._n = len(config.joints)
        self._ids = [self.calibration.joints[name].id for name in self.servo_names]
        self._direction = self.calibration.array("direction", self.servo_names)
        self._lock, self._stop, self._new_feedback = threading.Lock(), threading.Event(), threading.Event()
        self._fault, self._clear_requested, self.faults, self.bus_errors, self.cycles = "", False, 0, 0, 0
        self._round_trips, self._cycle_starts = deque(maxlen=TIMING_WINDOW), deque(maxlen=TIMING_WINDOW)
        self._bus = FeetechBus(port, self.options.baud, self.options.timeout_ms)
        try:
            self.firmware = check_servos(self._bus, dict(zip(self.servo_names, self._ids)), self.calibration.model,
                                         {n: j.firmware for n, j in self.calibration.joints.items()})
            self._feedback = self._start_holding()
        except BaseException:
            self._bus.close()
            raise
        self._goal = self._feedback.position.copy()
        self._thread = threading.Thread(target=self._run, name="feetech_bus", daemon=True)
        self._thread.start()

    def _start_holding(self) -> Feedback:
        """Calibration into the servos (torque off; position mode, no answer delay: the factory's 500 us a servo
        would add 3 ms to each cycle of 6), goal = present position, torque on."""
        self._bus.sync_write(ft.TORQUE_ENABLE, {i: 0 for i in self._ids})
        for name, servo_id in zip(self.servo_names, self._ids):
            joint = self.calibration.joints[name]
            for register, value in ((ft.LOCK, 0), (ft.HOMING_OFFSET, joint.homing_offset),
                                    (ft.MIN_POSITION_LIMIT, joint.range_min), (ft.MAX_POSITION_LIMIT, joint.range_max),
                                    (ft.OPERATING_MODE, 0), (ft.RETURN_DELAY, 0)):
                self._bus.write(servo_id, register, value)
        feedback = self._read_feedback()
        if self.options.torque:
            self._bus.sync_write(ft.GOAL_POSITION, dict(zip(self._ids, feedback.position.tolist())))
            self._bus.sync_write(ft.TORQUE_ENABLE, {i: 1 for i in self._ids})
        return feedback

    def _read_feedback(self) -> Feedback:
        data, errors = self._bus.sync_read(self._ids, *ft.FEEDBACK)
        rows = [data[i] for i in self._ids]

        def column(register: tuple[int, int]) -> np.ndarray:
            at = register[0] - ft.FEEDBACK[0]
            return np.array([ft.decode(register, int.from_bytes(r[at:at + register[1]], "little")) for r in rows])

        return Feedback(stamp=time.monotonic(), position=column(ft.PRESENT_POSITION),
                        velocity=column(ft.PRESENT_VELOCITY), load=column(ft.PRESENT_LOAD),
                        temperature=column(ft.PRESENT_TEMPERATURE), errors=np.array([errors[i] for i in self._ids]))

    # --- the bus thread -------------------------------------------------------------------------------------

    def _run(self) -> None:
        request_fifo(self.options.rt_priority)
        period = 1.0 / self.options.bus_rate_hz if self.options.bus_rate_hz > 0 else 0.0
        deadline, failures = time.monotonic(), 0
        while not self._stop.is_set():
            try:
                self._cycle()
                failures = 0
            except HardwareError as exc:
                failures += 1
                self.bus_errors += 1
                if failures >= self.options.max_bus_errors:
                    self._trip(f"bus: {failures} cycles failed in a row, last: {exc}")
                if self.fault:
                    self._torque_off()
            except Exception as exc:  # a bug here: leave the arm limp and named, then stop (read() goes stale)
                self._trip(f"bus thread stopped: {exc!r}")
                self._torque_off()
                raise
            deadline = max(deadline + period, time.monotonic() - period)  # never a burst of catch-up cycles
            self._stop.wait(max(0.0, deadline - time.monotonic()))

    def _cycle(self) -> None:
        """One SYNC READ, the fault checks, then the goals (or, while a fault is latched, torque off)."""
        start = time.perf_counter()
        feedback = self._read_feedback()
        self._round_trips.append(time.perf_counter() - start)
        self._cycle_starts.append(start)
        with self._lock:
            self._feedback, self.cycles = feedback, self.cycles + 1
            enable, self._clear_requested = self._clear_requested, False
            if enable:  # hold here; the next cycle's checks latch the fault again if its cause remains
                self._fault, self._goal = "", feedback.position.copy()
            goal = self._goal.copy()
        self._new_feedback.set()
        fault = "" if enable else self._fault_in(feedback)
        if fault:
            self._trip(fault)
        if self._fault:
            self._torque_off()
        if self._fault or not self.options.torque:
            return
        self._bus.sync_write(ft.GOAL_POSITION, dict(zip(self._ids, goal.tolist())))
        if enable:
            self._bus.sync_write(ft.TORQUE_ENABLE, {i: 1 for i in self._ids})

    def _fault_in(self, feedback: Feedback) -> str:
        """The faults this feedback shows, named by joint ("" if none)."""
        found = [f"{name} (servo {i}): {', '.join(ft.error_names(int(e)))}"
                 for name, i, e in zip(self.servo_names, self._ids, feedback.errors) if e]
        found += [f"{name} (servo {i}): temperature {t} C >= {self.options.max_temperature_c:g} C"
                  for name, i, t in zip(self.servo_names, self._ids, feedback.temperature)
                  if t >= self.options.max_temperature_c]
        return "; ".join(found)

    def _trip(self, reason: str) -> None:
        """Latch ``reason`` (the first fault stays named until cleared); the bus thread then switches torque off."""
        with self._lock:
            if not self._fault:
                self._fault, self.faults = reason, self.faults + 1

    def _torque_off(self) -> None:
        try:
            self._bus.sync_write(ft.TORQUE_ENABLE, {i: 0 for i in self._ids})
        except HardwareError:
            pass  # the port itself is gone: nothing can reach the servos

    # --- the hardware interface -----------------------------------------------------------------------------

    def _fresh(self) -> Feedback:
        """The newest feedback; if older than state_timeout_s, one more state_timeout_s is given to the bus
        thread (a process holding the GIL, e.g. loading a robot model, can starve it), then it is a fault."""
        with self._lock:
            feedback = self._feedback
        if time.monotonic() - feedback.stamp > self.options.state_timeout_s:
            self._new_feedback.clear()
            self._new_feedback.wait(self.options.state_timeout_s)
            with self._lock:
                feedback = self._feedback
        age = time.monotonic() - feedback.stamp
        if age > self.options.state_timeout_s:
            self._trip(f"stale feedback: none for {age:.3f} s (state_timeout_s={self.options.state_timeout_s})")
            raise HardwareError(f"servo bus {self.options.port}: no feedback for {age:.3f} s "
                                f"(state_timeout_s={self.options.state_timeout_s}): {self._fault}")
        return feedback

    def read(self) -> JointStateSample:
        """Newest feedback: stamp s (monotonic), rad, rad/s, effort Nm estimated from Present_Load."""
        fb, n = self._fresh(), self._n
        effort = self._direction[:n] * fb.load[:n] * 1e-3 * ft.STALL_TORQUE_NM
        return JointStateSample(stamp=fb.stamp, position=self.calibration.to_radians(fb.position[:n], self.joint_names),
                                velocity=self._direction[:n] * fb.velocity[:n] * ft.RAD_PER_STEP, effort=effort)

    def write(self, effort: np.ndarray) -> None:
        """Not supported: these servos take positions (``command_mode == "position"``)."""
        raise CommandError("hardware feetech takes joint positions (write_position), not torques")

    def write_position(self, position: np.ndarray, velocity: np.ndarray | None = None) -> None:
        """Goal positions (n,) rad for the next bus cycle, clipped into the calibrated ranges. ``velocity``
        (rad/s) is not sent: the servo plans its own motion to each goal.

        Raises:
            CommandError: wrong shape or a non-finite position (named by joint); nothing is changed.
        """
        q = np.asarray(position, dtype=float)
        if q.shape != (self._n,):
            raise CommandError(f"position: expected shape ({self._n},), one per joint {self.joint_names}, "
                               f"got {q.shape}")
        bad = [name for name, value in zip(self.joint_names, q) if not math.isfinite(value)]
        if bad:
            raise CommandError(f"position: non-finite for joints {bad}")
        steps = self.calibration.to_steps(q, self.joint_names)
        with self._lock:
            self._goal[:self._n] = steps

    def gripper_state(self) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
        """(gripper joint names, positions (g,) rad, velocities (g,) rad/s)."""
        fb, n, names = self._fresh(), self._n, self.servo_names[self._n:]
        return names, self.calibration.to_radians(fb.position[n:], names), \
            self._direction[n:] * fb.velocity[n:] * ft.RAD_PER_STEP

    def set_gripper(self, position: float) -> None:
        """Every gripper joint to ``position`` rad (clipped into its calibrated range)."""
        names = self.servo_names[self._n:]
        if not names:
            raise ConfigError("this robot has no gripper")
        if not math.isfinite(position):
            raise CommandError(f"gripper position must be finite, got {position}")
        steps = self.calibration.to_steps(np.full(len(names), float(position)), names)
        with self._lock:
            self._goal[self._n:] = steps

    @property
    def fault(self) -> str:
        """The latched fault, named ("" when none)."""
        with self._lock:
            return self._fault

    def clear_fault(self) -> None:
        """Ask the bus thread to clear the latch, hold the present position and enable torque again at its next
        cycle; if the fault's cause remains (a servo still too hot), the cycle after latches it again."""
        with self._lock:
            self._clear_requested = True

    def diagnostics(self) -> dict:
        """Bus health: ``fault`` ("" when none), counts, the newest feedback's age (s), cycle rate and SYNC READ
        round trip (ms), per joint temperature (deg C) and load (per mille)."""
        with self._lock:
            fb = self._feedback
        trips, starts = self.bus_timing()
        rate = (len(starts) - 1) / (starts[-1] - starts[0]) if len(starts) > 1 and starts[-1] > starts[0] else 0.0
        return {"port": self.options.port, "fault": self.fault, "faults": self.faults, "cycles": self.cycles,
                "feedback_age_s": time.monotonic() - fb.stamp,
                "bus_errors": self.bus_errors, "cycle_rate_hz": rate, "round_trip_ms": percentiles(trips * 1e3),
                "temperature_c": dict(zip(self.servo_names, fb.temperature.tolist())),
                "load_permille": dict(zip(self.servo_names, fb.load.tolist())), "firmware": self.firmware}

    def bus_timing(self) -> tuple[np.ndarray, np.ndarray]:
        """(SYNC READ round trips (s), cycle start times (s, perf_counter)) of the last :data:`TIMING_WINDOW`
        bus cycles."""
        return np.array(self._round_trips), np.array(self._cycle_starts)

    def close(self) -> None:
        """Stop the bus thread; without a latched fault the servos keep holding the present position."""
        self._stop.set()
        self._thread.join(timeout=5.0)
        try:
            if not self._fault and self.options.torque:
                fb = self._read_feedback()
                self._bus.sync_write(ft.GOAL_POSITION, dict(zip(self._ids, fb.position.tolist())))
        except HardwareError:
            self._torque_off()
        finally:
            self._bus.close()

    def __enter__(self) -> FeetechHardware:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
