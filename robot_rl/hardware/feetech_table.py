"""The Feetech STS3215 control table subset robot_rl uses, shared by the driver and the simulated bus.

Addresses and sizes are those of Feetech's STS/SMS series manual, as LeRobot's feetech motors bus tables them
(src/lerobot/motors/feetech/tables.py). Multi-byte values are little endian (the SDK's protocol end 0); signed
registers are sign-magnitude with the sign at the bit :data:`SIGN_BITS` gives. Positions are encoder steps
(4096 per turn), speeds steps/s, load per mille of the servo's maximum torque, temperature deg C,
voltage 0.1 V.

Status packet error bits: those the servo sets (the SDK's ERRBIT_*), and two the simulated bus adds for bad
frames (:data:`ERR_CHECKSUM`, :data:`ERR_INSTRUCTION`, Dynamixel protocol 1.0's bits, which Feetech's protocol
is derived from; the STS manual does not define them, a real servo may drop such a frame instead).
"""

from __future__ import annotations

import math

# Register: (address, size in bytes)
FIRMWARE_MAJOR = (0, 1)
FIRMWARE_MINOR = (1, 1)
MODEL_NUMBER = (3, 2)
ID = (5, 1)
RETURN_DELAY = (7, 1)                # 2 us units
MIN_POSITION_LIMIT = (9, 2)
MAX_POSITION_LIMIT = (11, 2)
MAX_TEMPERATURE_LIMIT = (13, 1)      # deg C
MAX_TORQUE_LIMIT = (16, 2)           # per mille
HOMING_OFFSET = (31, 2)              # Present_Position = actual - Homing_Offset
OPERATING_MODE = (33, 1)             # 0 = position servo
PROTECTION_TIME = (35, 1)            # 10 ms units: overload held this long trips the servo
OVERLOAD_TORQUE = (36, 1)            # percent of maximum torque
TORQUE_ENABLE = (40, 1)
GOAL_POSITION = (42, 2)
TORQUE_LIMIT = (48, 2)               # per mille
LOCK = (55, 1)                       # 1: EEPROM writes locked
PRESENT_POSITION = (56, 2)
PRESENT_VELOCITY = (58, 2)
PRESENT_LOAD = (60, 2)
PRESENT_VOLTAGE = (62, 1)
PRESENT_TEMPERATURE = (63, 1)
MOVING = (66, 1)

TABLE_SIZE = 86
"""Bytes of the control table; a read or write beyond it is an instruction error on the simulated bus."""
READ_ONLY = frozenset({0, 1, 2, 3, 4, *range(56, 71)})
"""Addresses a write must not touch (versions, model number, present values)."""

SIGN_BITS = {HOMING_OFFSET: 11, GOAL_POSITION: 15, PRESENT_POSITION: 15, PRESENT_VELOCITY: 15, PRESENT_LOAD: 10}
"""Sign-magnitude registers and the index of their sign bit."""

FEEDBACK = (PRESENT_POSITION[0], 8)
"""The block every bus cycle sync-reads: position, velocity, load (2 bytes each), voltage, temperature."""

STS3215_MODEL = 777
STEPS_PER_TURN = 4096
CENTER_STEP = 2048
"""Present_Position at a joint's zero once calibrated (the middle of the turn)."""
RAD_PER_STEP = 2.0 * math.pi / STEPS_PER_TURN
STALL_TORQUE_NM = 2.94
"""STS3215 stall torque at 12 V (30 kg cm): what a load of 1000 per mille means, Nm."""

INST_PING, INST_READ, INST_WRITE, INST_SYNC_READ, INST_SYNC_WRITE = 0x01, 0x02, 0x03, 0x82, 0x83
BROADCAST_ID = 0xFE

ERR_VOLTAGE, ERR_ANGLE, ERR_OVERHEAT, ERR_OVERCURRENT, ERR_OVERLOAD = 0x01, 0x02, 0x04, 0x08, 0x20
ERR_CHECKSUM, ERR_INSTRUCTION = 0x10, 0x40
ERROR_NAMES = {ERR_VOLTAGE: "voltage", ERR_ANGLE: "angle sensor", ERR_OVERHEAT: "overheat",
               ERR_OVERCURRENT: "overcurrent", ERR_CHECKSUM: "checksum", ERR_OVERLOAD: "overload",
               ERR_INSTRUCTION: "instruction"}


def error_names(error: int) -> list[str]:
    """Names of the bits set in a status packet's error byte."""
    return [name for bit, name in ERROR_NAMES.items() if error & bit]


def encode(register: tuple[int, int], value: int) -> int:
    """Register value (unsigned, as on the wire) of the signed ``value``; ValueError if it does not fit."""
    bit = SIGN_BITS.get(register)
    if bit is None:
        if not 0 <= value < 1 << (8 * register[1]):
            raise ValueError(f"register {register}: {value} does not fit {register[1]} unsigned bytes")
        return value
    if abs(value) >= 1 << bit:
        raise ValueError(f"register {register}: magnitude {abs(value)} exceeds {(1 << bit) - 1}")
    return (1 << bit) | -value if value < 0 else value


def decode(register: tuple[int, int], raw: int) -> int:
    """Signed value of the register's unsigned wire value ``raw``."""
    bit = SIGN_BITS.get(register)
    if bit is None:
        return raw
    magnitude = raw & ((1 << bit) - 1)
    return -magnitude if raw >> bit & 1 else magnitude


def checksum(body: bytes) -> int:
    """Checksum of a packet: the inverted low byte of the sum of id, length, instruction/error and parameters."""
    return ~sum(body) & 0xFF


def packet(servo_id: int, instruction_or_error: int, params: bytes = b"") -> bytes:
    """A whole packet: 0xFF 0xFF id length instruction/error params checksum (length = len(params) + 2)."""
    body = bytes((servo_id, len(params) + 2, instruction_or_error)) + bytes(params)
    return b"\xff\xff" + body + bytes((checksum(body),))
