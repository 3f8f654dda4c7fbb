"""``robot-rl demo [--quick]``: the whole train-in-sim path on CPU, ending in a markdown report.

Per task: collect scripted-expert demonstrations -> train a small diffusion
policy -> export contract-carrying ONNX -> evaluate in-process (success with
95% CI, rliable IQM across seed blocks) -> run the sim2sim gate through the ROS 2
node graph -> write ``<out>/report.md`` with the PNG plots. Exit 0 when every
stage ran (the gate verdict is in the report); ``--strict`` exits 1 if a gate failed.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from robot_rl.errors import ConfigError


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of one demo run (see :data:`QUICK` and :data:`FULL`)."""

    tasks: tuple[str, ...]
    demos: int  # successful demonstrations per task
    train_steps: int
    batch_size: int
    eval_episodes: int  # in-process, per task
    eval_seeds: int
    gate_episodes: int  # through the ROS 2 graph, per task
    min_success: float  # gate pass criterion stored in the contract
    workers: int = 2
    threads: int = 2
    train_minutes: float | None = None  # training wall-time budget per task (TrainConfig.max_seconds)
    distill_steps: int = 0  # > 0: also distil a one-step student (robot-rl train distill) and evaluate it

    def __post_init__(self):
        if not self.tasks:
            raise ConfigError("DemoConfig.tasks must name at least one task")
        if self.distill_steps < 0:
            raise ConfigError(f"DemoConfig.distill_steps must be >= 0, got {self.distill_steps}")
        for name in ("demos", "train_steps", "batch_size", "eval_episodes", "eval_seeds", "workers", "threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"DemoConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.gate_episodes < 0 or not 0 <= self.min_success <= 1:
            raise ConfigError("DemoConfig: gate_episodes must be >= 0 and min_success in [0, 1]")
        if self.train_minutes is not None and not self.train_minutes > 0:
            raise ConfigError(f"DemoConfig.train_minutes must be > 0 or None, got {self.train_minutes}")


QUICK = DemoConfig(tasks=("panda-reach",), demos=100, train_steps=2500, batch_size=256, eval_episodes=20,
                   eval_seeds=4, gate_episodes=4, min_success=0.5)  # 1000 steps left the chunks too rough (4/20)
FULL = DemoConfig(tasks=("panda-reach", "panda-pick-cube"), demos=300, train_steps=4000, batch_size=256,
                  eval_episodes=100, eval_seeds=5, gate_episodes=100, min_success=0.8, threads=1,
                  train_minutes=29.0)  # the settings of the runs in docs/training.md (1 torch thread: see there)


def _stage(log: list, name: str, start: float, **info) -> None:
    seconds = time.perf_counter() - start
    log.append({"stage": name, "seconds": round(seconds, 1), **info})
    print(f"[demo] {name}: {seconds:.1f} s {json.dumps(info) if info else ''}", flush=True)


def run_task(task: str, config: DemoConfig, out: Path) -> dict:
    """All stages for one task; returns its section of the report."""
    from robot_rl.learning.eval import plot_loss, plot_success
    from robot_rl.learning.export import export_policy
    from robot_rl.learning.train_bc import run_training
    from robot_rl.learning.trainer import TrainConfig
    from robot_rl_sim.dataset.collect import CollectConfig, collect
    from robot_rl_sim.tasks import get_task

    stages: list = []
    folder = out / task
    t = time.perf_counter()
    summary = collect(CollectConfig(task=task, episodes=config.demos, out=folder / "demos", workers=config.workers))
    _stage(stages, "collect", t, **summary)
    t = time.perf_counter()
    train = TrainConfig(steps=config.train_steps, batch_size=config.batch_size, threads=config.threads,
                        checkpoint_every=max(100, config.train_steps // 4),
                        max_seconds=None if config.train_minutes is None else 60.0 * config.train_minutes)
    checkpoint = run_training(task, folder / "demos", folder / "run", train)
    _stage(stages, "train", t, steps=checkpoint.step, final_loss=checkpoint.losses[-1][1],
           parameters=checkpoint.train.get("parameters"))
    t = time.perf_counter()
    policy = folder / "policy.onnx"
    contract = export_policy(checkpoint, get_task(task), policy, min_success_rate=config.min_success)
    _stage(stages, "export", t, policy=str(policy), golden=len(contract.golden))
    evals, gate = evaluate_stages(policy, task, config, folder, stages)
    if config.distill_steps:
        evals += distill_stages(folder, task, config, stages)
    plots = {"loss": plot_loss({task: checkpoint.losses}, folder / "loss.png"),
             "success": plot_success(evals, folder / "success.png")}
    return {"task": task, "stages": stages, "evals": evals, "policy": str(policy),
            "train_seconds": checkpoint.train.get("seconds"), "plots": {k: str(v) for k, v in plots.items()},
            "gate_passed": None if gate is None else gate["success_rate"] >= config.min_success}


def evaluate_stages(policy: Path, task: str, config: DemoConfig, folder: Path, stages: list,
                    label: str = "") -> tuple[list[dict], dict | None]:
    """In-process evaluation and (with ``config.gate_episodes``) the sim2sim gate of ``policy``; returns
    ([evaluations], the gate's or None). ``label`` tags the stage names and the evaluations (e.g. "student")."""
    from robot_rl.learning.eval import evaluate_policies
    from robot_rl_sim.tasks import get_task

    suffix = f" ({label})" if label else ""
    t = time.perf_counter()
    evals = [evaluate_policies([policy], task, config.eval_episodes, config.eval_seeds, "inprocess")]
    _stage(stages, "eval in-process" + suffix, t, success_rate=evals[0]["success_rate"], ci95=evals[0]["ci95"])
    gate = None
    if config.gate_episodes:
        t = time.perf_counter()
        gate = evaluate_policies([policy], task, config.gate_episodes, 1, "gate",
                                 gate_args=["--episode-s", str(get_task(task).episode_seconds)],
                                 report_dir=folder / f"gate{'_' + label if label else ''}")
        evals.append(gate)
        _stage(stages, "sim2sim gate (ROS 2 graph)" + suffix, t, success_rate=gate["success_rate"],
               ci95=gate["ci95"])
    for e in evals:
        e["mode"] = e["mode"] + suffix
    return evals, gate


def distill_stages(folder: Path, task: str, config: DemoConfig, stages: list) -> list[dict]:
    """Distil ``folder``/run's checkpoint into a one-step student (``folder``/student), export it and evaluate it
    as the teacher was; returns the student's evaluations."""
    from robot_rl.learning.distill import DistillConfig, run_distill
    from robot_rl.learning.export import export_policy
    from robot_rl_sim.tasks import get_task

    t = time.perf_counter()
    student = run_distill(folder / "run" / "checkpoint.pt", None, folder / "student",
                          DistillConfig(steps=config.distill_steps, threads=config.threads), progress=False)
    _stage(stages, "distil one-step student", t, steps=student.step,
           holdout_error=student.train["distill"]["holdout_error"])
    policy = folder / "student.onnx"
    export_policy(student, get_task(task), policy, min_success_rate=config.min_success)
    return evaluate_stages(policy, task, config, folder, stages, "student")[0]


def write_report(sections: list[dict], config: DemoConfig, out: Path, mode: str, total_s: float) -> Path:
    """``<out>/report.md`` (and report.json) from the task sections."""
    lines = [f"# robot_rl demo ({mode} mode)", "",
             f"Total wall time: {total_s / 60:.1f} min on this machine. Config: `{json.dumps(asdict(config))}`", ""]
    for s in sections:
        lines += [f"## {s['task']}", "", "| stage | seconds | result |", "|---|---|---|"]
        for st in s["stages"]:
            info = {k: v for k, v in st.items() if k not in ("stage", "seconds")}
            lines.append(f"| {st['stage']} | {st['seconds']} | `{json.dumps(info)}` |")
        lines += ["", "| evaluation | episodes | success | 95% CI (Wilson) | IQM over seeds [95% CI] |", "|---|---|---|---|---|"]
        for e in s["evals"]:
            agg = e.get("across_seeds")
            iqm = f"{agg['iqm']:.3f} [{agg['iqm_ci95'][0]:.3f}, {agg['iqm_ci95'][1]:.3f}]" if agg else "n/a (1 seed)"
            lines.append(f"| {e['mode']} | {e['episodes']} | {e['success_rate']:.3f} | "
                         f"[{e['ci95'][0]:.3f}, {e['ci95'][1]:.3f}] | {iqm} |")
        verdict = {None: "not run", True: "PASSED", False: "FAILED"}[s["gate_passed"]]
        lines += ["", f"Gate (min success {config.min_success}): **{verdict}**. Policy: `{s['policy']}`", "",
                  f"![loss]({Path(s['plots']['loss']).relative_to(out)})",
                  f"![success]({Path(s['plots']['success']).relative_to(out)})", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    (out / "report.json").write_text(json.dumps({"mode": mode, "config": asdict(config), "sections": sections},
                                                indent=1, default=str))
    return path


def run_demo(config: DemoConfig, out: Path, mode: str) -> tuple[Path, list[dict]]:
    """Run every task of ``config`` into ``out``; returns the report path and the sections."""
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    sections = [run_task(task, config, out) for task in config.tasks]
    return write_report(sections, config, out, mode, time.perf_counter() - start), sections


def _main(args) -> int:
    from dataclasses import replace

    config = QUICK if args.quick else FULL
    if args.tasks:
        config = replace(config, tasks=tuple(args.tasks))
    if args.train_steps:
        config = replace(config, train_steps=args.train_steps)
    if args.threads:
        config = replace(config, threads=args.threads)
    if args.distill:
        config = replace(config, distill_steps=args.distill)
    report, sections = run_demo(config, Path(args.out), "quick" if args.quick else "full")
    print(f"[demo] report: {report}")
    failed = [s["task"] for s in sections if s["gate_passed"] is False]
    return 1 if (args.strict and failed) else 0


def register(subparsers) -> None:
    """Add ``robot-rl demo``."""
    p = subparsers.add_parser("demo", help="collect demos -> train -> export -> gate -> report (CPU)")
    p.add_argument("--quick", action="store_true", help="small run (panda-reach, < 10 min on 2 cores)")
    p.add_argument("--out", default="demo_out", help="output directory (report.md, per-task folders)")
    p.add_argument("--tasks", nargs="+", help="override the task list")
    p.add_argument("--train-steps", type=int, help="override the optimiser steps per task")
    p.add_argument("--threads", type=int, help="torch threads for training (default 2; 1 is faster on a loaded machine)")
    p.add_argument("--strict", action="store_true", help="exit 1 if a task's gate verdict is FAILED")
    p.add_argument("--distill", type=int, nargs="?", const=1500, default=0, metavar="STEPS",
                   help="also distil a one-step student (default 1500 steps) and evaluate it like the teacher")
    p.set_defaults(func=_main)
