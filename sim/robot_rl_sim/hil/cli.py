"""``robot-rl hil sim --base P.onnx --out DIR``: human-in-the-loop residual learning in MuJoCo, round by round."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``hil`` subcommand (``hil sim``)."""
    p = subparsers.add_parser("hil", help="human-in-the-loop residual RL")
    sub = p.add_subparsers(dest="hil_command", required=True)
    s = sub.add_parser("sim", help="learn a residual on a base policy from a simulated human's corrections "
                                   "(MuJoCo, joint encoder offsets as the sim-to-real gap)")
    s.add_argument("--base", required=True, help="contract-carrying base ONNX policy trained on --task")
    s.add_argument("--out", required=True, help="run directory: transitions/, residual_round<k>.onnx, report.json")
    s.add_argument("--task", default="panda-reach")
    s.add_argument("--rounds", type=int, default=4)
    s.add_argument("--episodes-per-round", type=int, default=10)
    s.add_argument("--method", default="residual-rl", choices=("bc", "residual-rl", "rlpd-scratch"),
                   help="bc: clone the corrections (HG-DAgger); residual-rl: RL over the frozen base (default); "
                        "rlpd-scratch: the same RL acting alone over a hold-position base (docs/hil.md)")
    s.add_argument("--utd", type=float, default=10.0, help="learner updates per collected env step")
    s.add_argument("--updates-per-round", type=int, default=0, help="fixed updates per round (0: --utd x steps)")
    s.add_argument("--demo-episodes", type=int, default=0,
                   help="episodes the simulated human drives alone before round 0 (offline data)")
    s.add_argument("--eval-episodes", type=int, default=20, help="episodes without the human after each round")
    s.add_argument("--residual-scale", type=float, default=None,
                   help="raw action units (rad) per unit residual (default: 0.1, rlpd-scratch 0.2)")
    s.add_argument("--offset", type=float, nargs="+", default=None,
                   help="joint encoder offsets, rad, one per arm joint (default 0.04 on joints 2 and -0.04 on 4)")
    s.add_argument("--actuation-gain", type=float, nargs="+", default=None,
                   help="instead of the offsets: joints reach default + gain * (target - default) (one or per joint)")
    s.add_argument("--bc-weight", type=float, default=None, help="behaviour cloning weight (default: the method's)")
    s.add_argument("--q-weight", type=float, default=None, help="Q weight in the actor loss (default: the method's)")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=run_sim)
    from robot_rl_sim.hil.classifier_data import register as register_classifier

    register_classifier(sub)


def run_sim(args: argparse.Namespace) -> int:
    """Run every round; exit 0 (the numbers are the result: see report.json)."""
    from robot_rl_sim.hil.session import HilSimConfig, run_hil_sim

    extra = {"calibration_offset": tuple(args.offset)} if args.offset else {}
    if args.actuation_gain:
        extra["actuation_gain"] = tuple(args.actuation_gain)
    config = HilSimConfig(base=args.base, out=args.out, task=args.task, rounds=args.rounds,
                          episodes_per_round=args.episodes_per_round, updates_per_round=args.updates_per_round,
                          eval_episodes=args.eval_episodes, residual_scale=args.residual_scale,
                          bc_weight=args.bc_weight, q_weight=args.q_weight, method=args.method, utd=args.utd,
                          demo_episodes=args.demo_episodes,
                          seed=args.seed, **extra)
    run_hil_sim(config)
    print(f"[hil] report: {args.out}/report.json")
    return 0
