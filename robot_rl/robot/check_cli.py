"""``robot-rl check-robot [ROBOT ...]``: the conformance checks over robot YAMLs (default: every shipped one)."""

from __future__ import annotations

import argparse
import os

from robot_rl.bench.output import emit


def register(subparsers) -> None:
    """Add ``check-robot``."""
    p = subparsers.add_parser("check-robot", help="conformance of robot YAMLs: FK, hold, tracking, hostile streams, "
                                                  "loop timing; prints a table")
    p.add_argument("robots", nargs="*", help="robot names or YAML paths (default: every YAML in config/robots)")
    p.add_argument("--hostile-seconds", type=float, default=6.0, help="simulated seconds per hostile stream")
    p.add_argument("--json", default=None, help="write the figures here")
    p.set_defaults(func=run)


def shipped_robots() -> list[str]:
    """Names of the robot YAMLs in config/robots."""
    from robot_rl.paths import config_dir

    return sorted(p.stem for p in (config_dir() / "robots").glob("*.yaml"))


def table(results: list[dict]) -> str:
    """One row per robot: FK, hold, tracking, settle, worst hostile figures, tick time, verdict."""
    head = (f"{'robot':<10}{'FK m':>9}{'hold rad':>10}{'track rad':>10}{'settle s':>9}{'v/plan':>8}{'v/URDF':>8}"
            f"{'box m':>8}{'clear m':>9}{'tick p50/p99 ms':>17}  result")
    rows = [head, "-" * len(head)]
    for r in results:
        h, t = r["hostile"], r.get("timing")
        settle = f"{r['settle_s']:.2f}" if r["settle_s"] is not None else "never"
        tick = f"{t['tick_ms_p50']:.3f}/{t['tick_ms_p99']:.3f}" if t else "-"
        rows.append(f"{r['robot']:<10}{r['fk_error_m']:>9.1e}{r['hold_drift_rad']:>10.1e}"
                    f"{r['tracking_error_rad']:>10.4f}"
                    f"{settle:>9}{h['speed_of_plan_limit']:>8.3f}{h['speed_of_urdf_limit']:>8.3f}"
                    f"{h['workspace_excess_m']:>8.3f}{h['min_link_or_floor_distance_m']:>9.4f}{tick:>17}  "
                    + ("pass" if not r["failures"] else "FAIL: " + "; ".join(r["failures"])))
    return "\n".join(rows)


def run(args: argparse.Namespace) -> int:
    from robot_rl.robot.conformance import check_robot

    results = [check_robot(robot, args.hostile_seconds) for robot in (args.robots or shipped_robots())]
    print(table(results))
    if args.json:
        emit("check-robot", {"robots": results, "load_average_1min": os.getloadavg()[0]}, args.json)
    return 1 if any(r["failures"] for r in results) else 0
