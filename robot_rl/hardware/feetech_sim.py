"""STAND-IN for a bus of Feetech STS3215 servos: the protocol subset robot_rl uses, with simulated servo motion.

Not a servo: a model of one, for tests and benchmarks where no SO-101 is attached (like the firmware's host
build). :mod:`robot_rl.hardware.feetech_sim_process` serves it on a real pty. What it implements:

- Instructions PING, READ, WRITE, SYNC READ (each listed servo answers in list order), SYNC WRITE (no answer);
  the checksum; status packets whose error byte carries the servo's error bits. A frame with a bad checksum
  answers ERR_CHECKSUM (when addressed to one servo of the bus), an unknown instruction, a read or write beyond
  the table, or a write to a read-only register answers ERR_INSTRUCTION (see feetech_table).
- Servo motion in position mode with torque enabled: first-order tracking of the goal (time constant
  ``tau_s``) rate-limited to ``max_speed`` steps/s, within Min/Max_Position_Limit; a blocked joint does not move.
  Present_Position = actual - Homing_Offset (mod 4096). Load per mille grows with the tracking error and
  saturates; held above Overload_Torque for Protection_Time it trips the servo (torque off, ERR_OVERLOAD).
  Temperature follows the load with a first-order thermal lag; above Max_Temperature_Limit: ERR_OVERHEAT.
- Torque off: the joint stays where it is, or where a hand puts it (:meth:`SimulatedServo.move_by_hand`).

Not modelled: baud-rate changes, REG_WRITE/ACTION, the EEPROM lock (writes always take), voltage errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from robot_rl.hardware import feetech_table as ft

AMBIENT_C = 25.0
LOAD_PER_STEP = 10.0
"""Load (per mille) per step of tracking error, saturating at 1000: a servo pushing 100 steps off its goal."""
HEATING_C = 60.0
"""Steady-state temperature rise (deg C) at full load."""
THERMAL_TAU_S = 30.0


@dataclass
class SimulatedServo:
    """One STS3215 (steps, steps/s, per mille, deg C). ``actual``: the shaft's position before the homing offset."""

    servo_id: int
    model: int = ft.STS3215_MODEL
    firmware: tuple[int, int] = (3, 10)
    actual: float = float(ft.CENTER_STEP)
    tau_s: float = 0.03
    max_speed: float = 3000.0
    table: bytearray = field(default_factory=lambda: bytearray(ft.TABLE_SIZE))
    velocity: float = 0.0
    load: float = 0.0
    temperature: float = AMBIENT_C
    blocked: bool = False
    muted: bool = False  # does not answer (a cut cable, a dead servo)
    tripped: int = 0  # error bits latched by the servo's own protection
    _overload_s: float = 0.0

    def __post_init__(self) -> None:
        defaults = {ft.FIRMWARE_MAJOR: self.firmware[0], ft.FIRMWARE_MINOR: self.firmware[1],
                    ft.MODEL_NUMBER: self.model,
                    ft.ID: self.servo_id, ft.MAX_POSITION_LIMIT: ft.STEPS_PER_TURN - 1, ft.MAX_TEMPERATURE_LIMIT: 70,
                    ft.MAX_TORQUE_LIMIT: 1000, ft.TORQUE_LIMIT: 1000, ft.PROTECTION_TIME: 20, ft.OVERLOAD_TORQUE: 80,
                    ft.RETURN_DELAY: 0}
        for register, value in defaults.items():
            self.set(register, value)
        self.update_registers()
        self.set(ft.GOAL_POSITION, self.get(ft.PRESENT_POSITION))  # a servo powers up holding where it is

    def get(self, register: tuple[int, int]) -> int:
        """Signed value of ``register``."""
        address, size = register
        return ft.decode(register, int.from_bytes(self.table[address:address + size], "little"))

    def set(self, register: tuple[int, int], value: int) -> None:
        address, size = register
        self.table[address:address + size] = ft.encode(register, int(value)).to_bytes(size, "little")

    @property
    def torque_enabled(self) -> bool:
        return bool(self.table[ft.TORQUE_ENABLE[0]])

    def error_bits(self) -> int:
        """The error byte of this servo's status packets."""
        hot = ft.ERR_OVERHEAT if self.temperature > self.get(ft.MAX_TEMPERATURE_LIMIT) else 0
        return self.tripped | hot

    def write(self, address: int, data: bytes) -> None:
        """A WRITE or SYNC WRITE's data at ``address``; enabling torque clears the servo's tripped overload."""
        self.table[address:address + len(data)] = data
        if address <= ft.TORQUE_ENABLE[0] < address + len(data) and self.torque_enabled:
            self.tripped &= ~ft.ERR_OVERLOAD
            self._overload_s = 0.0

    def move_by_hand(self, actual: float) -> None:
        """Put the shaft at ``actual`` steps (a person moving a limp joint; a powered one goes back to its goal)."""
        self.actual = float(actual) % ft.STEPS_PER_TURN
        self.update_registers()

    def step(self, dt: float) -> None:
        """Advance the servo by ``dt`` s (steps of a few ms at most); registers follow at :meth:`update_registers`."""
        before = self.actual
        error = 0.0
        if self.torque_enabled:
            low, high = self.get(ft.MIN_POSITION_LIMIT), self.get(ft.MAX_POSITION_LIMIT)
            goal = min(max(self.get(ft.GOAL_POSITION), low), high) + self.get(ft.HOMING_OFFSET)
            error = goal - self.actual
            if not self.blocked:
                move = min(abs(error) * dt / self.tau_s, self.max_speed * dt, abs(error))
                self.actual += math.copysign(move, error)
            error = goal - self.actual
        self.velocity = (self.actual - before) / dt if dt > 0 else 0.0
        self.load = min(max(LOAD_PER_STEP * error, -1000.0), 1000.0)
        self._protect(dt)
        steady = AMBIENT_C + HEATING_C * (abs(self.load) / 1000.0) ** 2
        self.temperature += (steady - self.temperature) * min(1.0, dt / THERMAL_TAU_S)

    def _protect(self, dt: float) -> None:
        """Overload protection: a load over Overload_Torque for Protection_Time switches the torque off."""
        over = abs(self.load) > 10.0 * self.get(ft.OVERLOAD_TORQUE)
        self._overload_s = self._overload_s + dt if over else 0.0
        if self.torque_enabled and self._overload_s > 0.01 * self.get(ft.PROTECTION_TIME):
            self.tripped |= ft.ERR_OVERLOAD
            self.table[ft.TORQUE_ENABLE[0]] = 0

    def update_registers(self) -> None:
        """The present values of the control table from the simulated state."""
        present = (round(self.actual) - self.get(ft.HOMING_OFFSET)) % ft.STEPS_PER_TURN
        self.set(ft.PRESENT_POSITION, present)
        self.set(ft.PRESENT_VELOCITY, min(max(round(self.velocity), -32767), 32767))
        self.set(ft.PRESENT_LOAD, round(self.load))
        self.set(ft.PRESENT_VOLTAGE, 120)
        self.set(ft.PRESENT_TEMPERATURE, min(max(round(self.temperature), 0), 255))
        self.set(ft.MOVING, int(abs(self.velocity) > 1.0))


class SimulatedBus:
    """Servos on one bus: parses instruction packets from a byte stream, answers with status packets.

    Args:
        servos: the servos, by id.
    """

    def __init__(self, servos: list[SimulatedServo]):
        self.servos = {s.servo_id: s for s in servos}
        self._buffer = bytearray()
        self.frames = 0
        self.bad_frames = 0

    def step(self, dt: float, max_dt: float = 0.005) -> None:
        """Advance every servo by ``dt`` s in sub-steps of at most ``max_dt``."""
        n = max(1, math.ceil(dt / max_dt))
        for servo in self.servos.values():
            for _ in range(n):
                servo.step(dt / n)
            servo.update_registers()

    def feed(self, data: bytes) -> list[bytes]:
        """Bytes from the line; returns the status packets to send back, in order."""
        self._buffer += data
        replies: list[bytes] = []
        while True:
            start = self._buffer.find(b"\xff\xff")
            if start < 0:
                del self._buffer[:-1]
                return replies
            del self._buffer[:start]
            if len(self._buffer) < 4 or len(self._buffer) < 4 + self._buffer[3]:
                return replies
            length = self._buffer[3]
            frame = bytes(self._buffer[:4 + length])
            del self._buffer[:4 + length]
            if length < 2:
                self.bad_frames += 1
                continue
            replies += self._handle(frame)

    def _handle(self, frame: bytes) -> list[bytes]:
        self.frames += 1
        servo_id, instruction, params = frame[2], frame[4], frame[5:-1]
        if ft.checksum(frame[2:-1]) != frame[-1]:
            return self._status(servo_id, ft.ERR_CHECKSUM)
        if instruction == ft.INST_SYNC_WRITE and servo_id == ft.BROADCAST_ID:
            return self._sync_write(params)
        if instruction == ft.INST_SYNC_READ and servo_id == ft.BROADCAST_ID:
            return self._sync_read(params)
        if instruction == ft.INST_PING:
            return self._status(servo_id)
        if instruction == ft.INST_READ and len(params) == 2:
            return self._read(servo_id, params[0], params[1])
        if instruction == ft.INST_WRITE and len(params) >= 2:
            return self._write(servo_id, params[0], params[1:])
        return self._status(servo_id, ft.ERR_INSTRUCTION)

    def _status(self, servo_id: int, error: int = 0, data: bytes = b"") -> list[bytes]:
        """The status packet of ``servo_id`` (none from an absent or muted servo); a protocol ``error`` (checksum,
        instruction) counts as a bad frame."""
        if error & (ft.ERR_CHECKSUM | ft.ERR_INSTRUCTION):
            self.bad_frames += 1
        servo = self.servos.get(servo_id)
        if servo is None or servo.muted:  # broadcast or absent: nobody answers
            return []
        return [ft.packet(servo_id, error | servo.error_bits(), data)]

    def _read(self, servo_id: int, address: int, size: int) -> list[bytes]:
        servo = self.servos.get(servo_id)
        if servo is None or address + size > ft.TABLE_SIZE or size == 0:
            return self._status(servo_id, ft.ERR_INSTRUCTION)
        return self._status(servo_id, data=bytes(servo.table[address:address + size]))

    def _write(self, servo_id: int, address: int, data: bytes) -> list[bytes]:
        servo = self.servos.get(servo_id)
        if servo is None and servo_id != ft.BROADCAST_ID:
            return []
        if address + len(data) > ft.TABLE_SIZE or ft.READ_ONLY.intersection(range(address, address + len(data))):
            return self._status(servo_id, ft.ERR_INSTRUCTION)
        for target in (self.servos.values() if servo is None else (servo,)):
            target.write(address, data)
        return self._status(servo_id)

    def _sync_read(self, params: bytes) -> list[bytes]:
        address, size, ids = params[0], params[1], params[2:] if len(params) > 2 else b""
        return [reply for servo_id in ids for reply in self._read(servo_id, address, size)]

    def _sync_write(self, params: bytes) -> list[bytes]:
        if len(params) < 2 or params[1] == 0 or (len(params) - 2) % (params[1] + 1):
            self.bad_frames += 1
            return []
        address, size = params[0], params[1]
        if address + size > ft.TABLE_SIZE or ft.READ_ONLY.intersection(range(address, address + size)):
            self.bad_frames += 1
            return []  # a broadcast gets no status packet, whatever its error
        for i in range(2, len(params), size + 1):
            servo = self.servos.get(params[i])
            if servo is not None:
                servo.write(address, params[i + 1:i + 1 + size])
        return []
