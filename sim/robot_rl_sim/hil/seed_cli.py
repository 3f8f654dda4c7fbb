"""``robot-rl hil seed-from-mcap``: a recorded session -> the HIL learner's transition store
(:mod:`robot_rl.hil.seed_mcap`, docs/recording.md)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(hil_subparsers) -> None:
    """Add ``seed-from-mcap`` under ``robot-rl hil``."""
    s = hil_subparsers.add_parser("seed-from-mcap", help="turn a recorded session (robot-rl bringup --record) into "
                                                         "transitions of the HIL learner's store")
    s.add_argument("recording", type=Path, help="MCAP file written by the recorder")
    s.add_argument("--base", type=Path, required=True, help="the base ONNX policy the learner will run on")
    s.add_argument("--out-dir", type=Path, required=True,
                   help="the learner's out_dir (config/nodes/hil_learner.yaml); its transitions/ store is created "
                        "or appended to")
    s.add_argument("--robot", default="panda", help="shipped robot name or robot YAML")
    s.add_argument("--residual-scale", type=float, default=0.1, help="as the learner's residual_scale")
    s.add_argument("--auto-start", action="store_true",
                   help="start the next episode right after each outcome (recordings without 'start' messages on "
                        "/robot_rl/hil/episode_control)")
    s.add_argument("--allow-truncated", action="store_true", help="use a recording whose recorder was killed")
    s.add_argument("--command-timeout", type=float, default=0.5,
                   help="a step is recorded only while the newest /robot_rl/command is younger than this, s "
                        "(the learner node's command_timeout_s)")
    s.add_argument("--seed", type=int, default=0, help="the learner's seed")
    s.set_defaults(func=run_seed)


def run_seed(args: argparse.Namespace) -> int:
    """Seed and print a JSON summary; exit code 0."""
    from robot_rl.hil.seed_mcap import SeedConfig, seed_from_mcap

    print(json.dumps(seed_from_mcap(SeedConfig(
        recording=args.recording, base_policy=args.base, out_dir=args.out_dir, robot=args.robot,
        residual_scale=args.residual_scale, auto_start=args.auto_start, allow_truncated=args.allow_truncated,
        command_timeout_s=args.command_timeout, seed=args.seed))))
    return 0
