"""``robot-rl eval``: success rate with a 95% CI, rliable aggregates across seeds, PNG plots.

Modes: ``inprocess`` (fast: the ONNX policy in the MuJoCo task env, this
process) or ``gate`` (``robot-rl gate``: the ROS 2 node graph as separate
processes). Episodes are split into ``--seeds`` seed blocks (reset seeds
``base_seed + seed*1000 + i``); every (policy, seed block) is one run for the
rliable IQM / bootstrap CI, and the Wilson interval covers all episodes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.learning.stats import across_seeds, success_summary

SEED_BLOCK = 1000
DEFAULT_BASE_SEED = 1_000_000  # far from the demonstration seeds (0, 1, ...)


def seed_blocks(episodes: int, seeds: int, base_seed: int = DEFAULT_BASE_SEED) -> list[list[int]]:
    """Reset seeds per seed block: ``episodes`` split as evenly as possible over ``seeds`` blocks."""
    if episodes < 1 or not 1 <= seeds <= episodes:
        raise ConfigError(f"eval: need episodes >= 1 and 1 <= seeds <= episodes (got {episodes}, {seeds})")
    counts = [episodes // seeds + (i < episodes % seeds) for i in range(seeds)]
    return [[base_seed + s * SEED_BLOCK + i for i in range(n)] for s, n in enumerate(counts)]


def _gate_block(policy: Path, episodes: int, seed: int, robot: str, extra: list[str],
                report_dir: Path | None = None) -> list[bool]:
    """One ``robot-rl gate`` run; per-episode successes from its report (kept as
    ``report_dir/gate_<seed>.json`` when ``report_dir`` is given)."""
    with tempfile.TemporaryDirectory() as tmp:
        report_path = (Path(report_dir) if report_dir else Path(tmp)) / f"gate_{seed}.json"
        report_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "robot_rl.cli", "gate", "--policy", str(policy), "--robot", robot,
               "--episodes", str(episodes), "--seed", str(seed), "--report", str(report_path), *extra]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if not report_path.is_file():
            raise ConfigError(f"robot-rl gate wrote no report (exit {done.returncode}): {done.stderr[-2000:]}")
        report = json.loads(report_path.read_text())
    return [bool(e.get("success")) for e in report["episodes"]]


def evaluate_policies(policies: list[Path], task: str, episodes: int, seeds: int, mode: str = "inprocess",
                      base_seed: int = DEFAULT_BASE_SEED, robot: str = "panda", gate_args: list[str] | None = None,
                      progress: bool = True, report_dir: Path | None = None, gap: str = "none") -> dict:
    """Evaluate each policy on ``episodes`` episodes in ``seeds`` seed blocks; returns the eval report.
    Gate mode keeps each block's gate report in ``report_dir`` when given. ``gap``: a sim-to-real gap
    (robot_rl_sim.hil.gaps; in-process only)."""
    from tqdm import tqdm

    from robot_rl.learning.rollout import evaluate

    if mode not in ("inprocess", "gate"):
        raise ConfigError(f"eval mode {mode!r} is not 'inprocess' or 'gate'")
    from robot_rl_sim.hil.gaps import resolve_gap

    gap = resolve_gap(gap, task)[0]  # "" -> the task's default; ConfigError naming the declared gaps
    if mode == "gate" and gap != "none":
        raise ConfigError(f"eval --gap {gap!r}: gaps are simulated in-process only, not through the gate")
    blocks = seed_blocks(episodes, seeds, base_seed)
    runs, outcomes = [], []
    bar = tqdm(total=episodes * len(policies), desc=f"eval {task} ({mode})", unit="ep", disable=not progress)
    for policy in policies:
        for block in blocks:
            if mode == "inprocess":
                results = evaluate(policy, task, block, progress=lambda *_: bar.update(1), gap=gap)
                successes = [r.success for r in results]
            else:
                successes = _gate_block(policy, len(block), block[0], robot, gate_args or [], report_dir)
                bar.update(len(block))
            runs.append({"policy": str(policy), "seeds": [block[0], block[-1]], "successes": successes,
                         "success_rate": float(np.mean(successes))})
            outcomes.extend(successes)
    bar.close()
    report = {"task": task, "mode": mode, "gap": gap, "policies": [str(p) for p in policies],
              "seed_blocks": len(blocks),
              **success_summary(np.array(outcomes)), "runs": runs}
    if len(runs) >= 2:
        report["across_seeds"] = across_seeds(np.array([r["success_rate"] for r in runs]))
    return report


def plot_loss(losses_by_run: dict[str, list], path: Path) -> Path:
    """PNG of training loss vs optimiser step, one line per run ({label: [(step, loss)]})."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for label, losses in losses_by_run.items():
        steps, values = zip(*losses) if losses else ((), ())
        ax.plot(steps, values, label=label)
    ax.set(xlabel="optimiser step", ylabel="DDPM noise MSE", yscale="log", title="training loss")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _error_bar(value: float, low: float, high: float) -> list[list[float]]:
    """matplotlib yerr [[below], [above]] for an interval around ``value``; never negative (a Wilson bound of
    a 100 % rate can round to 0.9999999999999999, and a bootstrap interval need not contain its estimate)."""
    return [[max(0.0, value - low)], [max(0.0, high - value)]]


def plot_success(reports: list[dict], path: Path) -> Path:
    """PNG of success rate per evaluation with its Wilson 95% CI (and the rliable IQM CI when present)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for i, report in enumerate(reports):
        rate, (lo, hi) = report["success_rate"], report["ci95"]
        ax.errorbar([i], [rate], yerr=_error_bar(rate, lo, hi), fmt="o", capsize=6, label="rate, Wilson 95% CI"
                    if i == 0 else None, color="C0")
        agg = report.get("across_seeds")
        if agg:
            ax.errorbar([i + 0.15], [agg["iqm"]], yerr=_error_bar(agg["iqm"], *agg["iqm_ci95"]),
                        fmt="s", capsize=6, color="C1", label="IQM over seeds, bootstrap 95% CI" if i == 0 else None)
    ax.set_xticks(range(len(reports)), [f"{r['task']}\n{r['mode']} (n={r['episodes']})" for r in reports])
    ax.set(ylim=(-0.02, 1.02), ylabel="success rate", title="evaluation success")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _main(args) -> int:
    from robot_rl.policy.contract import read_contract

    policies = [Path(p) for p in args.policy]
    task = args.task or read_contract(policies[0])[0].provenance.task
    out = Path(args.out)
    report = evaluate_policies(policies, task, args.episodes, args.seeds, args.mode, args.base_seed, args.robot,
                               report_dir=out / "gate_reports" if args.mode == "gate" else None, gap=args.gap)
    out.mkdir(parents=True, exist_ok=True)
    report["plots"] = {"success": str(plot_success([report], out / "success.png"))}
    if args.checkpoint:
        from robot_rl.learning.checkpoint import load_checkpoint

        losses = {Path(c).parent.name: load_checkpoint(c).losses for c in args.checkpoint}
        report["plots"]["loss"] = str(plot_loss(losses, out / "loss.png"))
    (out / "eval.json").write_text(json.dumps(report, indent=1))
    lo, hi = report["ci95"]
    print(f"{task} ({args.mode}, gap {report['gap']}): success {report['success_rate']:.3f} over "
          f"{report['episodes']} episodes, "
          f"95% CI [{lo:.3f}, {hi:.3f}]; report {out / 'eval.json'}")
    return 0


def register(subparsers) -> None:
    """Add ``robot-rl eval``."""
    p = subparsers.add_parser("eval", help="evaluate exported policies: success with 95%% CI, plots")
    p.add_argument("--policy", required=True, nargs="+", help="contract-carrying .onnx file(s), one per training seed")
    p.add_argument("--task", help="task name (default: the contract's provenance.task)")
    p.add_argument("--episodes", type=int, default=100, help="episodes per policy")
    p.add_argument("--seeds", type=int, default=5, help="seed blocks the episodes are split into")
    p.add_argument("--base-seed", type=int, default=DEFAULT_BASE_SEED)
    p.add_argument("--mode", choices=("inprocess", "gate"), default="inprocess")
    p.add_argument("--robot", default="panda", help="robot for gate mode")
    p.add_argument("--gap", default="none", help="sim-to-real gap (robot_rl_sim.hil.gaps, docs/hil.md; in-process "
                   "only): a declared name, names joined by '+', or '' for the task's default gap")
    p.add_argument("--checkpoint", nargs="*", default=[], help="checkpoint.pt file(s) for the loss plot")
    p.add_argument("--out", default="eval_out", help="directory for eval.json and the PNGs")
    p.set_defaults(func=_main)
