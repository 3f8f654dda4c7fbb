"""``robot-rl calibrate feetech``: find each servo's homing offset and range, write the calibration YAML.

With torque off on every servo:

1. the person puts the arm at its URDF zero pose (every joint, the gripper closed) and presses Enter: each
   servo's homing offset becomes its shaft position minus :data:`CENTER_STEP`, so that pose reads 2048;
2. the person moves every joint through its full travel and presses Enter: the smallest and largest
   Present_Position seen are the joint's range.

Directions are not measured: ``--invert`` names the joints whose servo turns against the URDF axis.
The servo ids default to 1, 2, ... in the robot's joint order (arm, then gripper), as on the SO-101.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.hardware import feetech_table as ft
from robot_rl.hardware.feetech_bus import FeetechBus
from robot_rl.hardware.feetech_calibration import (FeetechCalibration, JointCalibration, check_servos,
                                                   joint_names)
from robot_rl.robot.config import RobotConfig

SWEEP_PERIOD_S = 0.01
"""s between two position reads while the joints are swept."""


def calibrate(bus: FeetechBus, config: RobotConfig, ids: list[int], invert: set[str], at_zero: Callable[[], None],
              sweep: Callable[[threading.Event], None], model: int = ft.STS3215_MODEL) -> FeetechCalibration:
    """Run both steps on ``bus`` (see the module docstring): ``at_zero()`` returns once the arm is at its zero
    pose; then ``sweep(done)`` runs in a thread while the positions are read, until it sets ``done``.

    Raises:
        ConfigError: a servo missing or of another model, an unknown joint in ``invert``, or a joint whose
            swept range does not contain its zero.
    """
    names = joint_names(config)
    if len(ids) != len(names):
        raise ConfigError(f"{len(ids)} servo ids {ids} for the {len(names)} joints {list(names)}")
    unknown = invert - set(names)
    if unknown:
        raise ConfigError(f"--invert: {sorted(unknown)} are not joints of {config.name} ({list(names)})")
    servos = dict(zip(names, ids))
    firmware = check_servos(bus, servos, model)
    bus.sync_write(ft.TORQUE_ENABLE, {i: 0 for i in ids})
    for servo_id in ids:
        for register, value in ((ft.LOCK, 0), (ft.HOMING_OFFSET, 0), (ft.MIN_POSITION_LIMIT, 0),
                                (ft.MAX_POSITION_LIMIT, ft.STEPS_PER_TURN - 1)):
            bus.write(servo_id, register, value)
    at_zero()
    offsets = {i: bus.read(i, ft.PRESENT_POSITION) - ft.CENTER_STEP for i in ids}
    for servo_id, offset in offsets.items():
        bus.write(servo_id, ft.HOMING_OFFSET, offset)
    swept = threading.Event()
    threading.Thread(target=sweep, args=(swept,), daemon=True).start()
    low, high = _sweep(bus, ids, swept)
    joints = {}
    for k, (name, servo_id) in enumerate(servos.items()):
        if not low[k] <= ft.CENTER_STEP <= high[k]:
            raise ConfigError(f"{name} (servo {servo_id}): swept range {low[k]}..{high[k]} steps does not contain "
                              f"its zero ({ft.CENTER_STEP}): was the arm at its zero pose in step 1?")
        joints[name] = JointCalibration(id=servo_id, direction=-1 if name in invert else 1,
                                        homing_offset=offsets[servo_id], range_min=int(low[k]),
                                        range_max=int(high[k]), firmware=firmware[name])
    return FeetechCalibration(robot=config.name, model=model, joints=joints)


def _sweep(bus: FeetechBus, ids: list[int], swept: threading.Event) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest Present_Position (steps) of each servo, read until ``swept`` is set."""
    low = np.full(len(ids), ft.STEPS_PER_TURN)
    high = np.full(len(ids), -1)
    while True:
        done = swept.is_set()  # read once more after it is set: the last position counts
        data, _ = bus.sync_read(ids, *ft.PRESENT_POSITION)
        steps = np.array([ft.decode(ft.PRESENT_POSITION, int.from_bytes(data[i], "little")) for i in ids])
        low, high = np.minimum(low, steps), np.maximum(high, steps)
        if done:
            return low, high
        swept.wait(SWEEP_PERIOD_S)


def register_calibrate(calibrate_subparsers) -> None:
    """Add ``calibrate feetech`` under ``robot-rl calibrate``."""
    c = calibrate_subparsers.add_parser("feetech", help="Feetech servo arm (SO-101): homing offsets, ranges -> YAML")
    c.add_argument("--port", required=True, help="servo bus device, e.g. /dev/ttyACM0")
    c.add_argument("--robot", default="so101", help="shipped robot name or robot YAML")
    c.add_argument("--out", type=Path, required=True, help="calibration YAML to write")
    c.add_argument("--ids", default="", help="servo ids in joint order (arm, then gripper); default 1, 2, ...")
    c.add_argument("--invert", default="", help="joints whose servo turns against the URDF axis, comma-separated")
    c.add_argument("--baud", type=int, default=1_000_000)
    c.add_argument("--timeout-ms", type=float, default=100.0,
                   help="ms a status packet may take beyond its bytes' time (docs/feetech.md)")
    c.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Prompt through both steps on the terminal, write the YAML, print a JSON summary."""
    from robot_rl.robot import load_robot_config

    config = load_robot_config(args.robot)
    names = joint_names(config)
    ids = [int(i) for i in args.ids.split(",")] if args.ids else list(range(1, len(names) + 1))
    invert = {n for n in args.invert.split(",") if n}

    def at_zero() -> None:
        input(f"Torque is off. Put {config.name} at its zero pose (URDF zero, gripper closed), then press Enter: ")

    def sweep(done: threading.Event) -> None:
        input("Move every joint through its full travel, then press Enter: ")
        done.set()

    bus = FeetechBus(args.port, args.baud, args.timeout_ms)
    try:
        result = calibrate(bus, config, ids, invert, at_zero, sweep)
    finally:
        bus.close()
    result.save(args.out)
    print(json.dumps({"out": str(args.out), "joints": {n: vars(j) for n, j in result.joints.items()}}))
    return 0
