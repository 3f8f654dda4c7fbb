"""``robot-rl bringup``: start the robot_rl node graph as separate processes (no ``ros2 launch`` needed)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from robot_rl.bringup.graph import SOURCES, TELEOP_DEVICES, bringup_graph
from robot_rl.bringup.session import CONTROL_STATS, run_graph
from robot_rl.control.report import write_json_atomic
from robot_rl.errors import ConfigError
from robot_rl.hil.labels import GRIPPER_LABELS


def register(subparsers) -> None:
    """Add the ``bringup`` subcommand."""
    p = subparsers.add_parser("bringup", help="start the node graph (control, safety filter, command source)")
    p.add_argument("--robot", default="panda", help="shipped robot name or robot YAML path")
    p.add_argument("--hardware", default="mujoco",
                   help="hardware interface of the control node (mujoco, serial, feetech, ros2_control)")
    p.add_argument("--hardware-config", default="", help="the bridge's YAML of --hardware ros2_control "
                   "(config/hardware/*.yaml, docs/ros2_control.md)")
    p.add_argument("--hardware-port", default="", help="serial device of --hardware serial, e.g. /dev/ttyACM0")
    p.add_argument("--hardware-key-file", default="", help="firmware link key of --hardware serial "
                   "(robot-rl firmware provision)")
    p.add_argument("--hardware-calibration", default="", help="servo calibration YAML of --hardware feetech "
                   "(robot-rl calibrate feetech)")
    p.add_argument("--policy", default=None, help="ONNX policy; the policy node becomes the command source")
    p.add_argument("--source", choices=SOURCES, default=None, help="command source (default: policy or demo)")
    p.add_argument("--teleop", choices=TELEOP_DEVICES, default=None,
                   help="add a teleop device and the command mux: the human takes over from the source at will")
    p.add_argument("--teleop-device", default=None,
                   help="keyboard: the terminal it reads (default: this command's terminal); spacemouse: a hidraw "
                        "path, gamepad: an event device (default: the first one found); leader: the leader arm's servo "
                        "port; docs/teleop.md")
    p.add_argument("--leader-calibration", default="",
                   help="--teleop leader: the leader arm's calibration YAML (robot-rl calibrate feetech)")
    p.add_argument("--hil-out", default="",
                   help="add the human-in-the-loop learner (needs --policy and --teleop): it stores transitions and "
                        "residuals here and hot-swaps each new residual into the policy node")
    p.add_argument("--hil-gripper-labels", choices=GRIPPER_LABELS, default="",
                   help="with --hil-out: which executed gripper states label the gripper (default: the learner's; "
                        "docs/hil.md)")
    p.add_argument("--record", default="", help="record the session to this new MCAP file (docs/recording.md)")
    p.add_argument("--record-image-period", type=float, default=0.0,
                   help="with --record: also record the camera's images, at most one per this many s (0: none)")
    p.add_argument("--duration", type=float, default=None, help="run this many seconds, then stop (default: until Ctrl-C)")
    p.add_argument("--report", default=None, help="write a JSON report here")
    p.add_argument("--log-dir", default=None, help="node logs and parameter files (default: a temp dir)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the graph; exit 0 only if every node ran to the end and shut down cleanly."""
    log_dir = Path(args.log_dir or tempfile.mkdtemp(prefix="robot_rl_bringup_"))
    log_dir.mkdir(parents=True, exist_ok=True)
    specs = bringup_graph(args.robot, args.hardware, args.policy, args.source,
                          overrides={"control_node": {"stats_path": str(log_dir / CONTROL_STATS)},
                                     **({"recorder": {"image_period_s": args.record_image_period}}
                                        if args.record else {})},
                          hardware_port=args.hardware_port, hardware_key_file=args.hardware_key_file,
                          hardware_config=args.hardware_config, hardware_calibration=args.hardware_calibration,
                          leader_calibration=args.leader_calibration, teleop=args.teleop,
                          teleop_device=_teleop_device(args), hil_out=args.hil_out,
                          record=args.record, hil_gripper_labels=args.hil_gripper_labels)
    print(f"bringup: {[s.name for s in specs]}, logs in {log_dir}", file=sys.stderr)
    result = run_graph(specs, log_dir, args.duration)
    report = {"robot": args.robot, "hardware": args.hardware, "nodes": [s.name for s in specs], **result}
    _summarize(report)
    if args.report:
        write_json_atomic(args.report, report)
    failed = bool(result["exited_early"]) or any(code != 0 for code in result["exit_codes"].values())
    return 1 if failed or result["control"] is None else 0


def _teleop_device(args: argparse.Namespace) -> str:
    """The device for ``--teleop``: ``--teleop-device``, else for the keyboard this process's stdin terminal (nodes
    run in sessions of their own, where /dev/tty names no terminal), for the others "" (the first one found).

    Raises:
        ConfigError: if teleop is asked for without a device and stdin is not a terminal.
    """
    if args.teleop_device or args.teleop != "keyboard":
        return args.teleop_device or ""
    if not sys.stdin.isatty():
        raise ConfigError("--teleop keyboard reads keys from a terminal: run from one or pass --teleop-device")
    return os.ttyname(sys.stdin.fileno())


def _summarize(report: dict) -> None:
    control = report["control"]
    if report["exited_early"]:
        print(f"bringup: nodes exited early: {report['exited_early']} (see {report['log_dir']})", file=sys.stderr)
    for name, code in report["exit_codes"].items():  # a node that could not start says why in its log
        log = Path(report["log_dir"]) / f"{name}.log"
        fatal = [line for line in log.read_text().splitlines() if "cannot start:" in line] if log.is_file() else []
        if code and fatal:
            print(f"bringup: {name} exited {code}: {fatal[-1].split('cannot start: ', 1)[1]}", file=sys.stderr)
    if control is None:
        print("bringup: the control node wrote no statistics", file=sys.stderr)
        return
    loop = control["loop"]
    print(f"bringup: {loop['rate_hz']:.1f} Hz, period error p50 {loop['period_error_ms']['p50']:.3f} ms "
          f"p99 {loop['period_error_ms']['p99']:.3f} ms, overruns {loop['overrun_fraction']:.4%}, "
          f"final tracking error {control['final_tracking_error_rad']['max']:.2e} rad", file=sys.stderr)
