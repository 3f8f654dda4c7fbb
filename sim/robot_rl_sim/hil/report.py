"""The multi-seed ``robot-rl hil sim`` report: ``out/report.md`` with ``success.png`` and ``human_share.png``.

Reads every finished run (``out/<method>/seed_<s>/report.json``, see :mod:`.seeds`). Per method and
evaluation point (the base before any round, then after each round), over seeds:

- x: the mean over seeds of the cumulative env steps (policy steps collected, the human's included);
- success without the human: rliable IQM of the per-seed success rates with a stratified-bootstrap 95 % CI
  (:func:`robot_rl.learning.stats.across_seeds`; a single seed is shown without an interval);
- the human's share of the round's collected steps, aggregated the same way;
- wall time and learner updates per run; env steps to the first evaluation with success >= 0.95.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from robot_rl.errors import ConfigError

TARGET = 0.95
BOOTSTRAP_REPS = 2000  # rliable stratified-bootstrap resamples per interval


def load_runs(out: Path, method: str) -> list[dict]:
    """The finished runs' report.json dicts of ``method``, by seed (unfinished and set-aside dirs skipped)."""
    runs = []
    paths = [p for p in Path(out, method).glob("seed_*/report.json") if p.parent.name[5:].isdigit()]
    for path in sorted(paths, key=lambda p: int(p.parent.name[5:])):
        report = json.loads(path.read_text())
        report["seed"] = int(path.parent.name[5:])
        report["final_eval"] = final_eval(path.parent, report)
        runs.append(report)
    return runs


def final_eval(run_dir: Path, report: dict) -> dict | None:
    """The largest ``robot-rl hil eval`` of the run's final residual (``eval_<residual>_<N>.json``), or None."""
    if not report["rounds"] or not report["rounds"][-1].get("residual"):
        return None
    stem = Path(report["rounds"][-1]["residual"]).stem
    found = [json.loads(p.read_text()) for p in run_dir.glob(f"eval_{stem}_*.json")]
    return max(found, key=lambda e: e["episodes"]) if found else None


def curves(run: dict) -> dict[str, np.ndarray]:
    """One run's points: ``env_steps``, ``success`` (no human; NaN where the round was not evaluated),
    ``human_share`` (of that round's steps)."""
    rounds = run["rounds"]
    return {"env_steps": np.array([0] + [r["env_steps"] for r in rounds], dtype=float),
            "success": np.array([run["base_eval"]["success"]] + [r["eval_success"] for r in rounds], dtype=float),
            "human_share": np.array([np.nan] + [r["human_step_fraction"] for r in rounds])}


def _aggregate(values: np.ndarray) -> tuple[float, float, float]:
    """(IQM, CI low, CI high) over seeds; one seed: (value, nan, nan); a point some seed did not evaluate: nan."""
    from robot_rl.learning.stats import across_seeds

    if np.isnan(values).any():
        return (float("nan"),) * 3
    if len(values) < 2:
        return float(values[0]), float("nan"), float("nan")
    agg = across_seeds(values, reps=BOOTSTRAP_REPS)
    return agg["iqm"], agg["iqm_ci95"][0], agg["iqm_ci95"][1]


def summarise(runs: list[dict]) -> dict:
    """Per-point aggregates over the seeds of one method, and per-run totals."""
    if not runs:
        raise ConfigError("hil report: no finished runs")
    per_run = [curves(r) for r in runs]
    points = min(len(c["success"]) for c in per_run)
    stack = {k: np.stack([c[k][:points] for c in per_run]) for k in per_run[0]}
    success = [_aggregate(stack["success"][:, i]) for i in range(points)]
    share = [(np.nan,) * 3] + [_aggregate(stack["human_share"][:, i]) for i in range(1, points)]
    x = stack["env_steps"].mean(axis=0)
    reached = [i for i, s in enumerate(success) if s[0] >= TARGET]
    totals = [{"seed": r["seed"], "wall_s": r["seconds"], "updates": r["rounds"][-1]["updates"] if r["rounds"] else 0,
               "env_steps": r["rounds"][-1]["env_steps"] if r["rounds"] else 0,
               "human_steps": r["rounds"][-1]["human_steps"] if r["rounds"] else 0,
               "final_success": float(c["success"][points - 1]),
               "steps_to_target": next((float(s) for s, v in zip(c["env_steps"], c["success"]) if v >= TARGET), None)}
              for r, c in zip(runs, per_run)]
    finals = [r["final_eval"] for r in runs]
    final = None
    if all(finals) and len({f["episodes"] for f in finals}) == 1:
        final = {"episodes": finals[0]["episodes"], "per_seed": [f["success"] for f in finals],
                 "iqm": _aggregate(np.array([f["success"] for f in finals]))}
    return {"env_steps": x, "success": np.array(success), "human_share": np.array(share), "runs": totals,
            "final_eval": final,
            "steps_to_target_iqm": float(x[reached[0]]) if reached else None, "gap": runs[0].get("gap", "?"),
            "eval_episodes": runs[0]["config"]["eval_episodes"], "task": runs[0]["config"]["task"]}


def plot(summaries: dict[str, dict], key: str, ylabel: str, path: Path) -> Path:
    """PNG: ``key`` (IQM line, 95 % CI band) against env steps, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for i, (method, s) in enumerate(summaries.items()):
        values, x = s[key], s["env_steps"]
        ok = ~np.isnan(values[:, 0])
        ax.plot(x[ok], values[ok, 0], "o-", color=f"C{i}", label=f"{method} (IQM, n={len(s['runs'])})")
        ax.fill_between(x[ok], values[ok, 1], values[ok, 2], color=f"C{i}", alpha=0.2)
    if key == "success":
        ax.axhline(TARGET, color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="env steps (policy steps, the human's included)", ylabel=ylabel, ylim=(-0.02, 1.02))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _cell(value: float, low: float, high: float) -> str:
    return f"{value:.2f}" if np.isnan(low) else f"{value:.2f} [{low:.2f}, {high:.2f}]"


def _method_section(method: str, s: dict) -> list[str]:
    runs = s["runs"]
    lines = [f"### {method}", "", "| env steps (mean over seeds) | success without the human, IQM [95 % CI] | "
             "human's share of the round's steps, IQM [95 % CI] |", "|---|---|---|"]
    for x, succ, share in zip(s["env_steps"], s["success"], s["human_share"]):
        evaluated = "not evaluated" if np.isnan(succ[0]) else _cell(*succ)
        lines.append(f"| {x:.0f} | {evaluated} | {'base, no human' if np.isnan(share[0]) else _cell(*share)} |")
    target = s["steps_to_target_iqm"]
    mean = {k: float(np.mean([r[k] for r in runs])) for k in ("wall_s", "updates", "env_steps", "human_steps")}
    lines += ["", f"Env steps until the IQM first reached {TARGET}: "
              f"{'not reached' if target is None else f'{target:.0f}'}. Per run, mean over seeds: wall time "
              f"{mean['wall_s'] / 60:.1f} min, {mean['updates']:.0f} learner updates, "
              f"{mean['env_steps']:.0f} env steps of which the human drove {mean['human_steps']:.0f} "
              f"({mean['human_steps'] / max(mean['env_steps'], 1):.1%}).", ""]
    final = s["final_eval"]
    if final:
        lines += [f"The final residual over {final['episodes']} evaluation episodes per seed (`robot-rl hil eval`): "
                  f"IQM {_cell(*final['iqm'])}; per seed {', '.join(f'{v:.2f}' for v in final['per_seed'])}.", ""]
    lines += ["| seed | final success | env steps | human steps (share) | steps to 0.95 | learner updates "
              "| wall time |", "|---|---|---|---|---|---|---|"]
    for r in runs:
        share = r["human_steps"] / r["env_steps"] if r["env_steps"] else 0.0
        to = "not reached" if r["steps_to_target"] is None else f"{r['steps_to_target']:.0f}"
        lines.append(f"| {r['seed']} | {r['final_success']:.2f} | {r['env_steps']} | {r['human_steps']} "
                     f"({share:.1%}) | {to} | {r['updates']} | {r['wall_s'] / 60:.1f} min |")
    return lines + [""]


def write_report(out: Path, methods: list[str]) -> Path:
    """``out/report.md`` + PNGs from the finished runs of ``methods``; returns the markdown path."""
    out = Path(out)
    summaries = {m: summarise(load_runs(out, m)) for m in methods if load_runs(out, m)}
    if not summaries:
        raise ConfigError(f"hil report: no finished run under {out} for methods {methods}")
    first = next(iter(summaries.values()))
    success = plot(summaries, "success", "success without the human", out / "success.png")
    share = plot(summaries, "human_share", "human's share of steps", out / "human_share.png")
    lines = [f"# robot-rl hil sim: {first['task']}, gap {first['gap']}", "",
             f"Methods: {', '.join(summaries)}. Success without the human over {first['eval_episodes']} evaluation "
             "episodes per seed and point; the first point is the base alone. IQM over seeds with rliable's "
             f"stratified-bootstrap 95 % CI ({BOOTSTRAP_REPS} resamples); x is the mean over seeds of the cumulative "
             "env steps. "
             "The human is the simulated one (a scripted stand-in for the person, sim/robot_rl_sim/hil/human.py).",
             "", f"![success]({success.name})", "", f"![human share]({share.name})", ""]
    for method, s in summaries.items():
        lines += _method_section(method, s)
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
