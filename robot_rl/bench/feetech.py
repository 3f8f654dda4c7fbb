"""``robot-rl bench feetech``: bus cycle of hardware ``feetech`` (SO-101, 6 servos) through the Feetech SDK, as JSON.

Against the STAND-IN simulated STS3215 bus on a real pty (robot_rl/hardware/feetech_sim.py), which models the
wire: half duplex at ``baud`` bits/s, 10 bits a byte, Return_Delay_Time 0. For each bus rate (``0`` = cycles back
to back, the most the bus gives; then the driver's default), the hardware runs ``seconds`` and reports:

- ``round_trip_ms``: the SYNC READ round trip, request sent to the last servo's status packet parsed (p50/p99/max);
- ``cycle_rate_hz``: bus cycles per second achieved (SYNC READ + SYNC WRITE of the goals);
- ``wire_ms``: the bytes' own time on the wire for one SYNC READ (request and answers), the floor of the round
  trip; ``round_trip_over_wire`` (p50): what the SDK, pyserial, the pty and the stand-in's scheduling add.

Times are wall clock on whatever else the machine runs; the 1-minute load average comes with them.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from robot_rl.bench.output import emit, percentiles_ms
from robot_rl.hardware import create_hardware
from robot_rl.hardware import feetech_table as ft
from robot_rl.hardware.feetech_calibration import FeetechCalibration, JointCalibration, joint_names
from robot_rl.hardware.feetech_sim_process import SimulatedBusProcess
from robot_rl.robot import load_robot_config

DEFAULT_RATES = (0.0, 200.0)


def _calibration(path: Path, names: tuple[str, ...]) -> str:
    joints = {n: JointCalibration(id=i, direction=1, homing_offset=0, range_min=0, range_max=4095, firmware="3.10")
              for i, n in enumerate(names, start=1)}
    FeetechCalibration("so101", ft.STS3215_MODEL, joints).save(path)
    return str(path)


def _wire_ms(servos: int, baud: int) -> float:
    """One SYNC READ of the feedback block on the wire: request 8 + n bytes, n answers of 6 + 8 bytes."""
    size = ft.FEEDBACK[1]
    return (8 + servos + servos * (6 + size)) * 10.0 / baud * 1e3


def run(seconds: float, rates: tuple[float, ...], baud: int) -> dict:
    config = load_robot_config("so101")
    names = joint_names(config)
    results, load_before = {}, os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp, SimulatedBusProcess(baud=baud) as sim:
        calibration = _calibration(Path(tmp) / "so101.yaml", names)
        for rate in rates:
            with create_hardware("feetech", config, port=sim.port, calibration=calibration, baud=baud,
                                 bus_rate_hz=rate, rt_priority=0) as arm:
                time.sleep(seconds)
                trips, starts = arm.bus_timing()
                faults = arm.diagnostics()
            rate_achieved = (len(starts) - 1) / (starts[-1] - starts[0])
            wire = _wire_ms(len(names), baud)
            results["back_to_back" if rate == 0 else f"{rate:g}_hz"] = {
                "round_trip_ms": percentiles_ms(trips), "cycles": int(trips.size), "cycle_rate_hz": rate_achieved,
                "wire_ms": wire, "round_trip_over_wire": float(np.median(trips)) * 1e3 / wire,
                "bus_errors": faults["bus_errors"], "fault": faults["fault"]}
    return {"servos": len(names), "baud": baud, "seconds_per_rate": seconds, "rates": results,
            "stand_in": "simulated STS3215 bus (robot_rl/hardware/feetech_sim.py), not servos",
            "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]}}


def register(subparsers) -> None:
    p = subparsers.add_parser("feetech", help="Feetech servo bus (SO-101): SYNC READ round trip and cycle rate")
    p.add_argument("--seconds", type=float, default=5.0, help="per bus rate")
    p.add_argument("--rates", default=",".join(f"{r:g}" for r in DEFAULT_RATES),
                   help="bus rates to run, Hz, comma-separated (0: back to back)")
    p.add_argument("--baud", type=int, default=1_000_000)
    p.add_argument("--json", default=None, help="also write the JSON to this file")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    rates = tuple(float(r) for r in args.rates.split(","))
    emit("feetech", run(args.seconds, rates, args.baud), args.json)
    return 0
