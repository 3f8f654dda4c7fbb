"""``robot-rl hil sim``: human-in-the-loop residual learning in MuJoCo, round by round; one run, or several
seeds (and methods) in parallel processes with a markdown report (``--seeds N``, ``--compare M ...``)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``hil`` subcommand (``hil sim``)."""
    p = subparsers.add_parser("hil", help="human-in-the-loop residual RL")
    sub = p.add_subparsers(dest="hil_command", required=True)
    s = sub.add_parser("sim", help="learn a residual on a base policy from a simulated human's corrections "
                                   "(MuJoCo, under a named sim-to-real gap)")
    s.add_argument("--base", required=True, help="contract-carrying base ONNX policy trained on --task")
    s.add_argument("--out", required=True, help="run directory: transitions/, residual_round<k>.onnx, report.json "
                                                "(with --seeds: <method>/seed_<s>/ per run and report.md)")
    s.add_argument("--task", default="panda-reach")
    s.add_argument("--gap", default="", help="sim-to-real gap (robot_rl_sim.hil.gaps, docs/hil.md); names joined "
                                             "by '+' compose; default: the task's default gap")
    s.add_argument("--rounds", type=int, default=4)
    s.add_argument("--episodes-per-round", type=int, default=10)
    s.add_argument("--method", default="residual-rl", choices=("bc", "residual-rl", "rlpd-scratch", "dsrl"),
                   help="bc: clone the corrections (HG-DAgger); residual-rl: RL over the frozen base (default); "
                        "rlpd-scratch: the same RL acting alone over a hold-position base (docs/hil.md); "
                        "dsrl: steer the base's initial noise (a --noise-input base, docs/distillation.md)")
    s.add_argument("--utd", type=float, default=10.0, help="learner updates per collected env step")
    s.add_argument("--updates-per-round", type=int, default=0, help="fixed updates per round (0: --utd x steps)")
    s.add_argument("--demo-episodes", type=int, default=0,
                   help="episodes the simulated human drives alone before round 0 (offline data)")
    s.add_argument("--eval-episodes", type=int, default=20, help="episodes without the human after each round")
    s.add_argument("--eval-every", type=int, default=1, help="evaluate after every K-th round only (and always "
                                                             "after the last); `robot-rl hil eval` re-reads one")
    s.add_argument("--residual-scale", type=float, default=None,
                   help="raw action units (rad) per unit residual (default: 0.1, rlpd-scratch 0.2)")
    s.add_argument("--human-budget", type=int, default=3000, help="most steps the simulated human may drive per run")
    s.add_argument("--human-waits-for-grasp", action="store_true",
                   help="pick-cube: the simulated human does not take over while the hand is at the cube and the "
                        "fingers still close (docs/hil.md)")
    s.add_argument("--human-anticipates", action="store_true",
                   help="pick-cube: the simulated human also corrects a misaligned descent or an empty lift "
                        "briefly, before the failure (docs/hil.md)")
    s.add_argument("--human-correction-steps", type=int, default=8,
                   help="--human-anticipates: the most steps one correction drives")
    s.add_argument("--human-corrects-until", default="phase", choices=("phase", "grasp"),
                   help="--human-anticipates: hand back once re-centred / the fingers settled (phase), or only "
                        "after the whole grasp, at the lift (grasp)")
    s.add_argument("--bc-weight", type=float, default=None, help="behaviour cloning weight (default: the method's)")
    s.add_argument("--q-weight", type=float, default=None, help="Q weight in the actor loss (default: the method's)")
    s.add_argument("--anchor-weight", type=float, default=None,
                   help="weight pulling the residual towards --anchor-target on policy steps (default: the method's)")
    s.add_argument("--anchor-target", default="executed", choices=("executed", "zero"),
                   help="the anchor's target: the executed residual, or zero (the base) (docs/hil.md)")
    s.add_argument("--explore", default=None, choices=("sample", "mean"),
                   help="collection acts with the residual sampled or its mean (default: the method's)")
    s.add_argument("--explore-scale", type=float, default=1.0,
                   help="sampled: the residual's noise times this, a fraction in (0, 1] of its learned std")
    s.add_argument("--gripper-labels", default="both", choices=("both", "close", "none"),
                   help="which executed gripper states label the residual's gripper entry (docs/hil.md)")
    s.add_argument("--seed", type=int, default=0, help="the run's seed (single run)")
    s.add_argument("--reward", default="success", choices=("success", "classifier"),
                   help="the learner's reward: the sim's true success (default) or --classifier's verdict")
    s.add_argument("--classifier", default="", help="success classifier ONNX (robot-rl hil train-classifier)")
    s.add_argument("--seeds", type=int, default=0, help="run seeds 0..N-1 as parallel 1-thread processes, resumable, "
                                                        "and write <out>/report.md")
    s.add_argument("--compare", nargs="+", default=None, metavar="METHOD",
                   help="with --seeds: run every METHOD (instead of --method) and put them on one plot")
    s.add_argument("--parallel", type=int, default=2, help="with --seeds: runs at a time")
    s.add_argument("--nice", type=int, default=0, help="with --seeds: niceness added to each run's process")
    s.set_defaults(func=run_sim)
    from robot_rl_sim.hil.classifier_data import register as register_classifier

    register_classifier(sub)
    from robot_rl_sim.hil.seed_cli import register as register_seed

    register_seed(sub)
    from robot_rl_sim.hil.evaluate import register as register_eval

    register_eval(sub)


def run_sim(args: argparse.Namespace) -> int:
    """One run (exit 0: the numbers are the result, see report.json), or the multi-seed runner and report."""
    from robot_rl.errors import ConfigError
    from robot_rl_sim.hil.session import HilSimConfig, run_hil_sim

    config = HilSimConfig(base=args.base, out=args.out, task=args.task, gap=args.gap, method=args.method,
                          rounds=args.rounds, episodes_per_round=args.episodes_per_round,
                          updates_per_round=args.updates_per_round, utd=args.utd, demo_episodes=args.demo_episodes,
                          eval_episodes=args.eval_episodes, eval_every=args.eval_every,
                          residual_scale=args.residual_scale,
                          human_budget=args.human_budget, human_waits_for_grasp=args.human_waits_for_grasp,
                          human_anticipates=args.human_anticipates,
                          human_correction_steps=args.human_correction_steps,
                          human_corrects_until=args.human_corrects_until,
                          bc_weight=args.bc_weight, q_weight=args.q_weight,
                          anchor_weight=args.anchor_weight, anchor_target=args.anchor_target,
                          explore=None if args.explore is None else args.explore == "sample",
                          explore_scale=args.explore_scale,
                          gripper_labels=args.gripper_labels, seed=args.seed, reward=args.reward,
                          classifier=args.classifier)
    if args.compare and not args.seeds:
        raise ConfigError("hil sim: --compare needs --seeds N")
    if args.seeds:
        from robot_rl_sim.hil.seeds import run_seeds

        report = run_seeds(config, args.compare or [args.method], args.seeds, args.parallel, args.nice)
        print(f"[hil] report: {report}")
        return 0
    run_hil_sim(config)
    print(f"[hil] report: {args.out}/report.json")
    return 0
