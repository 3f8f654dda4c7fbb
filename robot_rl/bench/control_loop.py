"""``robot-rl bench control-loop``: timing of the MuJoCo robot's loop under the real control node.

Runs control_node (+ the demo command source, so the loop follows a moving
trajectory) as separate processes for ``--seconds``, once per ``--modes`` (its ``loop_mode``: the loop in its own
process, or in a thread of the node), then reads the loop statistics the node writes at shutdown. For comparison
it also runs the same control core in a bare loop in this process (no ROS) and reports node/bare ratios per mode.
With ``--hogs N``, N CPU-burning processes run throughout both measurements (one run,
one load), and the load averages before and after are reported.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from robot_rl import topics
from robot_rl.bench.hogs import CpuHogs, load_average
from robot_rl.bench.output import emit
from robot_rl.bringup.graph import NodeSpec
from robot_rl.bringup.session import CONTROL_STATS, run_graph
from robot_rl.control import ControlCore, FixedRateLoop
from robot_rl.control.loop import summarize
from robot_rl.errors import ConfigError
from robot_rl.hardware import create_hardware, loop_catch_up
from robot_rl.robot import load_robot_model
from robot_rl.robot.config import robot_yaml_path


BARE_WARMUP_S = 1.0
"""s of the bare loop's start left out, like the node's warm-up."""


def register(subparsers) -> None:
    """Add ``bench control-loop``."""
    p = subparsers.add_parser("control-loop", help="control loop rate and period jitter under the control node")
    p.add_argument("--robot", default="panda")
    p.add_argument("--rate", type=float, default=1000.0, help="loop rate, Hz")
    p.add_argument("--seconds", type=float, default=30.0, help="measured duration under the node, s")
    p.add_argument("--baseline-seconds", type=float, default=10.0,
                   help="duration of the bare loop, s, half before and half after the node (0: skip)")
    p.add_argument("--hogs", type=int, default=0, help="CPU-burning processes running throughout (0: none)")
    p.add_argument("--modes", default="process,thread",
                   help="comma-separated loop_mode values of the node, each run for --seconds (process, thread)")
    p.add_argument("--loop-cpu", type=int, default=-1, help="the node's loop_cpu (process mode; -1: no pinning)")
    p.add_argument("--json", default=None, help="write the results here")
    p.set_defaults(func=run)


def _robot_at_rate(robot: str, rate: float, directory: Path) -> str:
    """A copy of the robot YAML with ``control_rate_hz = rate`` (URDF path made absolute)."""
    from robot_rl.robot import load_robot_config

    source = robot_yaml_path(robot)
    raw = yaml.safe_load(source.read_text())
    raw["control_rate_hz"] = rate
    raw["urdf"] = str(load_robot_config(robot).urdf_path)
    path = directory / f"{raw['name']}_{int(rate)}hz.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def bare_loop(robot_yaml: str, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """The control core in a real-time loop in this process, with no ROS, for ``seconds`` (+ 1 s warm-up, left
    out); its (tick starts (k,) s, step durations (k,) s)."""
    model = load_robot_model(robot_yaml)
    hardware = create_hardware("mujoco", model.config)
    core = ControlCore(model, hardware, clock=time.time)
    loop = FixedRateLoop(model.config.control_period, core.tick,
                         max_ticks=int((seconds + BARE_WARMUP_S) * model.config.control_rate_hz), rt_priority=80,
                         catch_up=loop_catch_up(hardware)).start()
    loop.join()
    return loop.timings(skip_s=BARE_WARMUP_S)


def run(args: argparse.Namespace) -> int:
    """Measure (next to ``--hogs`` busy processes) and emit JSON; exit 1 if the node run failed."""
    before = load_average()
    with CpuHogs(args.hogs):
        out = _measure(args)
    if out is None:
        return 1
    out.update(hogs=args.hogs, load_average={"before": before, "after": load_average()}, cpus=os.cpu_count())
    emit("control-loop", out, args.json)
    return 0


def _measure(args: argparse.Namespace) -> dict | None:
    """The node's figures per mode, then the bare loop's and the ratios (None, with the error emitted, if a node run
    failed)."""
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or set(modes) - {"process", "thread"}:
        raise ConfigError(f"--modes must name process and/or thread, got {args.modes!r}")
    work = Path(tempfile.mkdtemp(prefix="robot_rl_bench_loop_"))
    robot_yaml = _robot_at_rate(args.robot, args.rate, work)
    # The bare loop runs half its time before and half after the node (pooled), so a load that drifts while the
    # shared machine runs other work weighs on both alike.
    bare_runs = [bare_loop(robot_yaml, args.baseline_seconds / 2)] if args.baseline_seconds > 0 else []
    out = {"robot": args.robot, "rate_hz_nominal": args.rate, "seconds": args.seconds, "loop_cpu": args.loop_cpu,
           "overrun_definition": "a period longer than 1.5 nominal periods", "node": {}}
    for mode in modes:
        node = _node_run(args, robot_yaml, work / mode, mode)
        if "error" in node:
            emit("control-loop", node, args.json)
            return None
        out["node"][mode] = node
    if bare_runs:
        bare_runs.append(bare_loop(robot_yaml, args.baseline_seconds / 2))
        bare = summarize(1.0 / args.rate, sum(starts.size for starts, _ in bare_runs), bare_runs).as_dict()
        out["bare_loop_no_ros"] = bare
        out["ratio_node_over_bare"] = {mode: {
            "period_error_p99": node["period_error_ms"]["p99"] / max(bare["period_error_ms"]["p99"], 1e-9),
            "step_time_p50": node["step_time_ms"]["p50"] / max(bare["step_time_ms"]["p50"], 1e-9),
        } for mode, node in out["node"].items()}
    return out


def _node_run(args: argparse.Namespace, robot_yaml: str, work: Path, mode: str) -> dict:
    """The control node's loop figures in ``loop_mode`` ``mode`` over ``args.seconds`` (a dict with "error" if it
    wrote no statistics)."""
    work.mkdir(parents=True)
    specs = [
        NodeSpec("control_node", "control_node", "robot_rl.nodes.control_node",
                 {"robot": robot_yaml, "stats_path": str(work / CONTROL_STATS), "loop_mode": mode,
                  "loop_cpu": args.loop_cpu if mode == "process" else -1}),
        NodeSpec("demo_trajectory_node", "demo_trajectory_node", "robot_rl.nodes.demo_trajectory_node",
                 {"robot": robot_yaml, "command_topic": topics.SAFE_COMMAND}),
    ]
    result = run_graph(specs, work, args.seconds + 2.0)  # + start-up, left out of the statistics
    if result["control"] is None:
        return {"error": f"control node (loop_mode {mode}) wrote no statistics", **result}
    loop = result["control"]["loop"]
    return {"rate_hz": loop["rate_hz"], "period_error_ms": loop["period_error_ms"],
            "overrun_fraction": loop["overrun_fraction"], "step_time_ms": loop["step_time_ms"],
            "final_tracking_error_rad": result["control"]["final_tracking_error_rad"],
            "rt_scheduling": result["control"].get("rt_scheduling"),
            "commands_accepted": result["control"]["commands_accepted"]}
