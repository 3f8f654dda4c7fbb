"""``robot-rl gate --policy P.onnx --robot panda --episodes N --report out.json``: exit 1 when criteria fail."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from robot_rl.errors import RobotRLError


def register(subparsers) -> None:
    """Add the ``gate`` subcommand."""
    p = subparsers.add_parser("gate", help="sim2sim gate: run a policy through the real node graph on MuJoCo")
    p.add_argument("--policy", required=True, help="contract-carrying ONNX policy")
    p.add_argument("--robot", default="panda", help="shipped robot name or robot YAML")
    p.add_argument("--episodes", type=int, default=5)
    p.add_argument("--episode-s", type=float, default=None,
                   help="episode length, s (default: the task's episode length; 3 s for the test task)")
    p.add_argument("--latency-ms", type=float, default=0.0, help="injected extra latency, ms")
    p.add_argument("--jitter-ms", type=float, default=0.0, help="injected uniform latency jitter, ms")
    p.add_argument("--position-noise", type=float, default=0.0, help="joint position noise std, rad")
    p.add_argument("--velocity-noise", type=float, default=0.0, help="joint velocity noise std, rad/s")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--report", default="", help="write the JSON report here")
    p.add_argument("--log-dir", default="", help="node logs (default: a temporary directory)")
    p.add_argument("--camera", nargs="?", const="cube", default="", metavar="OBJECT",
                   help="the policy observes the object pose from the camera pipeline (simulated RealSense, "
                        "object_pose_node with the object YAML OBJECT: cube, the top marker, by default; "
                        "cube_sides: also the side markers), not the simulator (docs/perception.md)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the gate; 0 = passed, 1 = criteria failed, 2 = could not run."""
    from robot_rl_sim.gate.run import GateConfig, run_gate

    log_dir = Path(args.log_dir or tempfile.mkdtemp(prefix="robot_rl_gate_"))
    try:
        config = GateConfig(policy=args.policy, robot=args.robot, episodes=args.episodes,
                            episode_s=args.episode_s, latency_ms=args.latency_ms, jitter_ms=args.jitter_ms,
                            position_noise=args.position_noise, velocity_noise=args.velocity_noise, seed=args.seed)
        report = run_gate(config, log_dir, camera=args.camera)
    except RobotRLError as exc:
        print(f"gate could not run: {exc}", file=sys.stderr)
        return 2
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=1))
    lo, hi = report["success_ci95"]
    print(f"success {report['success_rate']:.2f} (95% CI {lo:.2f}-{hi:.2f}), tracking error "
          f"{report['tracking_error_rad']}, saturation {report['saturation_fraction']}, "
          f"interventions/episode {report['interventions_per_episode']}")
    if not report["passed"]:
        print("GATE FAILED: " + "; ".join(report["reasons"]), file=sys.stderr)
        return 1
    print("GATE PASSED")
    return 0
