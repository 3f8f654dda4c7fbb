"""``robot-rl``: one command-line entry point; each subcommand lives in its own module.

A module listed in :data:`SUBCOMMAND_MODULES` defines ``register(subparsers)``,
which adds its parser and sets ``func(args) -> int`` (the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from robot_rl.errors import RobotRLError

SUBCOMMAND_MODULES = [
    "robot_rl.bringup.cli",
    "robot_rl_sim.gate.cli",
    "robot_rl.bench",
    "robot_rl_sim.dataset.cli",
    "robot_rl.learning.cli",
    "robot_rl_sim.hil.cli",
    "robot_rl.hardware.firmware_auth",
    "robot_rl.robot.check_cli",
    "robot_rl.perception.cli",
]


def build_parser() -> argparse.ArgumentParser:
    """The full ``robot-rl`` parser."""
    parser = argparse.ArgumentParser(prog="robot-rl", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Parse, run, exit with the subcommand's code; a robot_rl error exits 2 with its message."""
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except RobotRLError as exc:
        print(f"robot-rl {args.command}: error: {exc}", file=sys.stderr)
        code = 2
    sys.exit(code)


if __name__ == "__main__":
    main()
