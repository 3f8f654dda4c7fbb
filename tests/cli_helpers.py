"""Run ``robot-rl`` subcommands inside the test process (no subprocess, no second torch import)."""

from __future__ import annotations

from robot_rl.cli import build_parser


def run_cli(*argv: str) -> int:
    """The exit code of ``robot-rl ARGV...`` parsed by the real parser and run by its handler."""
    args = build_parser().parse_args(list(argv))
    return args.func(args)
