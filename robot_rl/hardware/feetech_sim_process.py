"""STAND-IN servo bus process: the simulated STS3215 bus (:mod:`robot_rl.hardware.feetech_sim`) on a real pty.

``python -m robot_rl.hardware.feetech_sim_process --ids 1,2,3,4,5,6`` prints the pty's path on its first line;
open it like a servo adapter (/dev/ttyACM0) with the Feetech SDK. The wire is modelled: the bus is half duplex at
``--baud`` (10 bits a byte), so a status packet leaves only once the request and the answers before it would
have crossed the line, plus each servo's Return_Delay_Time. A pty has no baud rate of its own.

Test hooks, one line on stdin each, answered by one line on stdout ("ok", or JSON for ``state``):
``move ID STEPS`` (a hand moves the shaft), ``heat ID CELSIUS``, ``block ID`` / ``unblock ID`` (an obstacle),
``mute ID`` / ``unmute ID`` (the servo stops answering), ``state`` (every servo's actual, present and goal
position, torque, load, temperature, tripped error bits).
"""

from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import time
import tty

from robot_rl.errors import HardwareError
from robot_rl.hardware import feetech_table as ft
from robot_rl.hardware.feetech_sim import SimulatedBus, SimulatedServo

IDLE_STEP_S = 0.02
"""s: the servos are advanced at least this often while the line is quiet."""


def _pairs(text: str, value=int) -> dict[int, object]:
    """``"1:2100,3:1900"`` -> {1: 2100, 3: 1900}."""
    return {int(k): value(v) for k, v in (item.split(":") for item in text.split(",") if item)}


def _version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


def build_bus(args: argparse.Namespace) -> SimulatedBus:
    """The servos the command line describes."""
    actual, models = _pairs(args.actual, float), _pairs(args.model)
    firmware = _pairs(args.servo_firmware, _version)
    return SimulatedBus([SimulatedServo(i, model=models.get(i, ft.STS3215_MODEL),
                                        firmware=firmware.get(i, _version(args.firmware)),
                                        actual=actual.get(i, float(ft.CENTER_STEP)), tau_s=args.tau,
                                        max_speed=args.max_speed)
                         for i in (int(x) for x in args.ids.split(","))])


def _hook(bus: SimulatedBus, line: str) -> str:
    """Run one test-hook line; its answer."""
    words = line.split()
    if words == ["state"]:
        return json.dumps({i: {"actual": s.actual, "present": s.get(ft.PRESENT_POSITION),
                               "goal": s.get(ft.GOAL_POSITION), "torque": s.torque_enabled, "load": s.load,
                               "temperature": s.temperature, "tripped": s.tripped}
                           for i, s in bus.servos.items()})
    actions = {"move": lambda s, v: s.move_by_hand(float(v)), "heat": lambda s, v: setattr(s, "temperature", float(v)),
               "block": lambda s: setattr(s, "blocked", True), "unblock": lambda s: setattr(s, "blocked", False),
               "mute": lambda s: setattr(s, "muted", True), "unmute": lambda s: setattr(s, "muted", False)}
    try:
        actions[words[0]](bus.servos[int(words[1])], *words[2:])
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        return f"error: {line.strip()!r}: {exc!r}"
    return "ok"


def serve(bus: SimulatedBus, baud: int) -> None:
    """Open a pty, print its path, answer the line and the test hooks until stdin closes."""
    master, slave = os.openpty()
    tty.setraw(slave)  # the line discipline must pass bytes through unchanged (0xFF, CR...)
    print(os.ttyname(slave), flush=True)
    byte_s = 10.0 / baud
    last = wire_free = time.monotonic()
    while True:
        ready, _, _ = select.select([master, sys.stdin], [], [], IDLE_STEP_S)
        now = time.monotonic()
        bus.step(now - last)
        last = now
        if master in ready:
            request = os.read(master, 4096)
            wire_free = max(wire_free, now) + len(request) * byte_s
            replies = bus.feed(request)
            if replies:
                delay = sum(2e-6 * bus.servos[r[2]].get(ft.RETURN_DELAY) + len(r) * byte_s for r in replies)
                wire_free += delay
                time.sleep(max(0.0, wire_free - time.monotonic()))
                os.write(master, b"".join(replies))
        if sys.stdin in ready:
            line = sys.stdin.readline()
            if not line:
                return
            print(_hook(bus, line), flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ids", default="1,2,3,4,5,6", help="servo ids on the bus")
    p.add_argument("--baud", type=int, default=1_000_000, help="bits/s of the modelled wire")
    p.add_argument("--actual", default="", help="initial shaft positions, ID:STEPS,... (default 2048)")
    p.add_argument("--model", default="", help="model numbers other than the STS3215's 777, ID:NUMBER,...")
    p.add_argument("--firmware", default="3.10", help="firmware version MAJOR.MINOR of every servo")
    p.add_argument("--servo-firmware", default="", help="per-servo firmware, ID:MAJOR.MINOR,...")
    p.add_argument("--tau", type=float, default=0.03, help="s, the position loop's time constant")
    p.add_argument("--max-speed", type=float, default=3000.0, help="steps/s (3000 = 4.6 rad/s, no-load at 12 V)")
    p.add_argument("--rt-priority", type=int, default=50,
                   help="SCHED_FIFO priority (0: normal): a servo is its own MCU and answers on time whatever else "
                        "the host runs; granted to root or CAP_SYS_NICE only, else normal scheduling")
    args = p.parse_args(argv)
    if args.rt_priority > 0:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(args.rt_priority))
        except OSError:
            pass  # not permitted: normal scheduling (the stand-in may then answer late on a loaded machine)
    serve(build_bus(args), args.baud)


class SimulatedBusProcess:
    """The stand-in bus in a child process; ``port`` is its pty. Arguments as on its command line
    (``ids="1,2"``, ``actual="1:2100"``...)."""

    def __init__(self, **args: str | float | int):
        argv = [f"--{k.replace('_', '-')}={v}" for k, v in args.items()]
        self.process = subprocess.Popen([sys.executable, "-m", "robot_rl.hardware.feetech_sim_process", *argv],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        ready, _, _ = select.select([self.process.stdout], [], [], 30.0)
        self.port = self.process.stdout.readline().strip() if ready else ""
        if not self.port.startswith("/dev/"):
            self.process.kill()
            raise HardwareError(f"simulated servo bus printed no pty path: {self.process.stderr.read()}")

    def hook(self, line: str) -> str:
        """Send a test-hook line; its answer (raises HardwareError on an error answer)."""
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline().strip()
        if answer.startswith("error") or not answer:
            raise HardwareError(f"simulated servo bus: {answer or 'exited'} ({self.process.stderr.read()})")
        return answer

    def state(self) -> dict[int, dict]:
        """Every servo's simulated state, by id."""
        return {int(k): v for k, v in json.loads(self.hook("state")).items()}

    def stop(self) -> None:
        """Close its stdin (it exits) and wait."""
        try:
            self.process.stdin.close()
            self.process.wait(timeout=10)
        finally:
            self.process.kill() if self.process.poll() is None else None
            self.process.stdout.close()
            self.process.stderr.close()

    def __enter__(self) -> SimulatedBusProcess:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


if __name__ == "__main__":
    main()
