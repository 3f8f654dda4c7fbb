"""``robot-rl collect`` (scripted-expert demonstrations into a dataset directory) and ``robot-rl dataset
to-lerobot`` (export to the LeRobotDataset v3.0 layout); see docs/dataset.md."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers) -> None:
    """Add the ``collect`` and ``dataset`` subcommands."""
    _register_dataset(subparsers)
    p = subparsers.add_parser("collect", help="collect scripted-expert demonstrations for a task")
    p.add_argument("--task", required=True, help="registered task name, e.g. panda-reach, panda-pick-cube")
    p.add_argument("--episodes", type=int, required=True, help="episodes to store (failed ones are retried)")
    p.add_argument("--out", type=Path, required=True, help="dataset directory (created or resumed)")
    p.add_argument("--seed", type=int, default=0, help="base seed (episode seeds are derived from it)")
    p.add_argument("--noise", type=float, default=1.0, help="expert noise scale in [0, 2]")
    p.add_argument("--workers", type=int, default=1, help="worker processes")
    p.add_argument("--keep-failures", action="store_true", help="also store episodes the expert failed")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Collect and print a JSON summary; exit code 0."""
    from tqdm import tqdm

    from robot_rl_sim.dataset.collect import CollectConfig, collect

    config = CollectConfig(task=args.task, episodes=args.episodes, out=args.out, seed=args.seed,
                           noise=args.noise, workers=args.workers, keep_failures=args.keep_failures)
    with tqdm(total=config.episodes, desc=f"collect {config.task}", unit="ep") as bar:
        def progress(stored: int, target: int) -> None:
            bar.n = stored
            bar.refresh()

        summary = collect(config, progress)
    print(json.dumps(summary))
    return 0


def _register_dataset(subparsers) -> None:
    p = subparsers.add_parser("dataset", help="convert demonstration datasets")
    sub = p.add_subparsers(dest="dataset_command", required=True)
    q = sub.add_parser("to-lerobot", help="export a demonstration dataset to the LeRobotDataset v3.0 layout")
    q.add_argument("--dataset", type=Path, required=True, help="robot_rl demonstration directory (robot-rl collect)")
    q.add_argument("--out", type=Path, required=True, help="LeRobot dataset root to create")
    q.add_argument("--task-text", help="language task stored in meta/tasks.parquet (default: the task description)")
    q.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    q.set_defaults(func=to_lerobot)
    m = sub.add_parser("from-mcap", help="a recorded session (robot-rl bringup --record) -> demonstration dataset")
    m.add_argument("recording", type=Path, help="MCAP file written by the recorder")
    m.add_argument("--out", type=Path, required=True, help="dataset directory (created or resumed)")
    m.add_argument("--task", required=True, help="registered task whose observations and action to build")
    m.add_argument("--segments", choices=("human", "episodes"), default="human",
                   help="human: the human-driven segments; episodes: whole episodes with their outcome")
    m.add_argument("--min-steps", type=int, default=2, help="skip shorter segments (policy steps)")
    m.add_argument("--allow-truncated", action="store_true", help="use a recording whose recorder was killed")
    m.set_defaults(func=from_mcap)


def from_mcap(args: argparse.Namespace) -> int:
    """Convert a recording and print a JSON summary; exit code 0."""
    from robot_rl_sim.dataset.from_mcap import FromMcapConfig, from_mcap as convert

    print(json.dumps(convert(FromMcapConfig(recording=args.recording, out=args.out, task=args.task,
                                            segments=args.segments, min_steps=args.min_steps,
                                            allow_truncated=args.allow_truncated))))
    return 0


def to_lerobot(args: argparse.Namespace) -> int:
    """Export and print a JSON summary; exit code 0."""
    from robot_rl_sim.dataset.lerobot import LeRobotExportConfig, export_lerobot

    summary = export_lerobot(LeRobotExportConfig(dataset=args.dataset, out=args.out, task_text=args.task_text,
                                                 overwrite=args.overwrite))
    print(json.dumps(summary))
    return 0
