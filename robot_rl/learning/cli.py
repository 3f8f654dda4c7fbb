"""Command-line parsers of the learning path: ``robot-rl train bc``, ``export``, ``eval``, ``demo``.

Registration is light (no torch import); each command imports its module when run.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _train_bc(args: argparse.Namespace) -> int:
    from robot_rl.learning.train_bc import run_training
    from robot_rl.learning.trainer import TrainConfig

    overrides = {k: v for k, v in (("horizon", args.horizon), ("n_action_steps", args.n_action_steps),
                                   ("obs_history", args.obs_history), ("denoising_steps", args.denoising_steps),
                                   ("channels", tuple(args.channels) if args.channels else None))
                 if v is not None}
    config = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                         threads=args.threads, checkpoint_every=args.checkpoint_every, warmup=args.warmup,
                         log_every=args.log_every,
                         max_seconds=args.max_minutes * 60.0 if args.max_minutes else None)
    checkpoint = run_training(args.task, args.dataset, args.out, config, overrides, resume=args.resume)
    print(f"trained {checkpoint.step} steps in {checkpoint.train.get('seconds', 0):.0f} s; final loss "
          f"{checkpoint.losses[-1][1]:.4f}; checkpoint {Path(args.out) / 'checkpoint.pt'}")
    return 0


def _train_distill(args: argparse.Namespace) -> int:
    from robot_rl.learning.distill import DistillConfig, run_distill

    config = DistillConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, pool=args.pool,
                           seed=args.seed, threads=args.threads, noise_seed=args.noise_seed,
                           baked_fraction=args.baked_fraction, rollout_share=args.rollout_share,
                           channels=tuple(args.channels) if args.channels else None,
                           max_seconds=args.max_minutes * 60.0 if args.max_minutes else None)
    checkpoint = run_distill(args.teacher, args.dataset, args.out, config, rollout_policies=args.rollout_policy,
                             rollout_episodes=args.rollout_episodes, init=args.init)
    error = checkpoint.train["distill"]["holdout_error"]
    print(f"distilled {checkpoint.step} steps in {checkpoint.train['seconds']:.0f} s (+ "
          f"{checkpoint.train['distill']['teacher_seconds']:.0f} s of teacher trajectories); one-step vs teacher on "
          f"{checkpoint.train['distill']['holdout']} held-out trajectories: mean |diff| {error['mean_abs']:.4f}, "
          f"max {error['max_abs']:.3f} (normalised actions); checkpoint {Path(args.out) / 'checkpoint.pt'}")
    return 0


def _export(args: argparse.Namespace) -> int:
    if args.rsl_rl_checkpoint is not None:
        return _export_rsl_rl(args)
    if args.leapp_bundle is not None:
        return _import_leapp(args)
    from robot_rl.learning.checkpoint import load_checkpoint
    from robot_rl.learning.export import export_policy
    from robot_rl_sim.tasks import get_task

    if args.ensemble and not args.replan_hz:
        from robot_rl.errors import ConfigError

        raise ConfigError("--ensemble applies to --replan-hz exports only (a chunk replanned every period)")
    checkpoint = load_checkpoint(args.checkpoint)
    if args.replan_hz:
        from robot_rl.learning.replan import export_replanning

        contract = export_replanning(checkpoint, get_task(checkpoint.task["name"]), args.out, args.replan_hz,
                                     min_success_rate=args.min_success, noise_seed=args.noise_seed,
                                     baked=args.baked_noise, ensemble=args.ensemble)
        print(f"wrote {args.out} (+ {args.out}.contract.json): {contract.timing.policy_hz:g} Hz replanning, "
              f"horizon {contract.chunking.horizon}, {contract.chunking.denoising_steps} DDIM steps, "
              f"ensemble {contract.chunking.ensemble:g}")
        return 0
    contract = export_policy(checkpoint, get_task(checkpoint.task["name"]), args.out,
                             min_success_rate=args.min_success, noise_seed=args.noise_seed,
                             noise_input=args.noise_input, baked=args.baked_noise)
    print(f"wrote {args.out} (+ {args.out}.contract.json): task {contract.provenance.task}, "
          f"{len(contract.golden)} golden vectors, horizon {contract.chunking.horizon}, "
          f"{contract.chunking.denoising_steps} DDIM steps unrolled"
          + (", initial noise as input 'noise'" if args.noise_input else ""))
    return 0


def _import_leapp(args: argparse.Namespace) -> int:
    from robot_rl.policy.leapp_import import import_leapp

    contract = import_leapp(args.leapp_bundle, args.out, task=args.task or "", robot=args.robot,
                            goal_body=args.goal_body or "")
    print(f"wrote {args.out} (+ {args.out}.contract.json): LEAPP bundle {args.leapp_bundle}, robot {args.robot}, "
          f"inputs {[t.name for t in contract.observations]}, action {contract.action_joint_names}, "
          f"{len(contract.feedback)} feedback state(s), {contract.timing.policy_hz:g} Hz")
    return 0


def _export_rsl_rl(args: argparse.Namespace) -> int:
    from robot_rl.errors import ConfigError
    from robot_rl.learning import export_rsl_rl as rsl
    from robot_rl.learning.rsl_rl_checkpoint import load_rsl_rl_checkpoint
    from robot_rl_sim.tasks import get_task

    params = args.rsl_rl_checkpoint.parent / "params"  # where Isaac Lab's train script dumps its configs
    env_yaml = args.env_yaml or (params / "env.yaml" if (params / "env.yaml").is_file() else None)
    activation = args.activation or rsl.activation_from_agent_yaml(params / "agent.yaml") or "elu"
    if args.task is None:  # a task robot_rl does not register: everything from the run's env.yaml
        if env_yaml is None:
            raise ConfigError("--rsl-rl-checkpoint needs --task (a registered task) or the run's params/env.yaml "
                              "(next to the checkpoint, or --env-yaml)")
        contract = rsl.export_rsl_rl_from_env_yaml(load_rsl_rl_checkpoint(args.rsl_rl_checkpoint), env_yaml,
                                                   args.out, args.robot, activation, args.sim_backend)
        print(f"wrote {args.out} (+ {args.out}.contract.json): from {env_yaml}, robot {args.robot}, "
              f"{len(contract.observations)} observation terms, {len(contract.golden)} golden vectors")
        return 0
    spec = get_task(args.task)
    golden = (rsl.golden_obs_from_dataset(args.golden_dataset, spec) if args.golden_dataset is not None
              else rsl.golden_obs_from_env(spec))
    checkpoint = load_rsl_rl_checkpoint(args.rsl_rl_checkpoint)
    contract = rsl.export_rsl_rl_policy(checkpoint, spec, args.out, golden, activation=activation,
                                       min_success_rate=args.min_success, sim_backend=args.sim_backend,
                                       env_yaml=env_yaml)
    print(f"wrote {args.out} (+ {args.out}.contract.json): task {spec.name}, rsl_rl {checkpoint.layout}, iteration "
          f"{checkpoint.iteration}, MLP {list(checkpoint.hidden_dims)} {activation}, normalisation "
          f"{contract.normalization.kind}, {len(contract.golden)} golden vectors verified against torch"
          + (f", checked against {env_yaml}" if env_yaml else ""))
    return 0


def _register_train(subparsers) -> None:
    train = subparsers.add_parser("train", help="train a policy in simulation")
    sub = train.add_subparsers(dest="trainer", required=True)
    p = sub.add_parser("bc", help="behaviour cloning of a diffusion policy on demonstrations")
    p.add_argument("--task", required=True, help="registered task, e.g. panda-reach")
    p.add_argument("--dataset", required=True, type=Path, help="demonstration directory (robot-rl collect)")
    p.add_argument("--out", required=True, type=Path, help="run directory: checkpoint.pt, tensorboard/")
    p.add_argument("--steps", type=int, default=3000, help="total optimiser steps")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--log-every", type=int, default=25, help="steps between loss logs (TensorBoard, history)")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="training wall-time budget: the LR schedule anneals by it and training stops when it is spent")
    p.add_argument("--warmup", type=int, default=100, help="linear learning-rate warm-up steps")
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.pt")
    p.add_argument("--horizon", type=int, help="action steps per chunk (default 16)")
    p.add_argument("--n-action-steps", type=int, help="steps executed per chunk (default 8)")
    p.add_argument("--obs-history", type=int, help="observation frames (default 2)")
    p.add_argument("--denoising-steps", type=int, help="DDIM steps at inference (default 10)")
    p.add_argument("--channels", type=int, nargs="+", help="U-Net channels per level (default 64 128)")
    p.set_defaults(func=_train_bc)
    d = sub.add_parser("distill", help="distil a diffusion checkpoint into a one-step student (consistency "
                                       "distillation on the teacher's DDIM trajectories)")
    d.add_argument("--teacher", required=True, type=Path, help="teacher checkpoint.pt (robot-rl train bc)")
    d.add_argument("--dataset", type=Path, help="observations to distil on (default: the teacher's training set)")
    d.add_argument("--out", required=True, type=Path, help="run directory for the student's checkpoint.pt")
    d.add_argument("--steps", type=int, default=1500, help="student optimiser steps")
    d.add_argument("--batch-size", type=int, default=256)
    d.add_argument("--lr", type=float, default=3e-4)
    d.add_argument("--pool", type=int, default=8192, help="teacher trajectories computed up front")
    d.add_argument("--channels", type=int, nargs="+", help="student U-Net widths (default: the teacher's, "
                                                          "initialised from it)")
    d.add_argument("--noise-seed", type=int, default=0, help="the export's baked-noise seed (part of the pool)")
    d.add_argument("--baked-fraction", type=float, default=0.25, help="share of the pool from the baked noise")
    d.add_argument("--rollout-policy", type=Path, nargs="+", help="exports (teacher, an earlier student) whose "
                   "closed-loop rollouts on the task give part of the pool's windows (DAgger's states)")
    d.add_argument("--rollout-episodes", type=int, default=0, help="in-process episodes per rollout policy")
    d.add_argument("--rollout-share", type=float, default=0.5, help="share of the pool from the rollouts")
    d.add_argument("--init", type=Path, help="start from this earlier student's checkpoint (a further round)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    d.add_argument("--max-minutes", type=float, help="wall-time budget of the student's training")
    d.set_defaults(func=_train_distill)


def _register_export(subparsers) -> None:
    p = subparsers.add_parser("export", help="export a trained policy (diffusion, or Isaac Lab rsl_rl PPO) to "
                                             "contract-carrying ONNX")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="checkpoint.pt from robot-rl train bc")
    source.add_argument("--rsl-rl-checkpoint", type=Path, help="model_<iter>.pt from rsl_rl (Isaac Lab train script)")
    source.add_argument("--leapp-bundle", type=Path, help="directory (or YAML) `isaaclab leapp export` wrote; "
                                                          "--task and --robot apply (docs/isaaclab.md)")
    p.add_argument("--out", required=True, type=Path, help="destination .onnx (sidecar written next to it)")
    p.add_argument("--min-success", type=float, default=0.8, help="gate pass criterion stored in the contract")
    p.add_argument("--noise-seed", type=int, default=0, help="seed of the fixed initial DDIM noise")
    p.add_argument("--baked-noise", default="seeded", choices=("seeded", "zero"),
                   help="the fixed initial DDIM noise: a standard-normal draw seeded by --noise-seed, or zero "
                        "(its mean; docs/hil.md)")
    p.add_argument("--noise-input", action="store_true", help="take the initial DDIM noise as a graph input "
                                                              "(contract role 'noise') instead of baking it in")
    p.add_argument("--replan-hz", type=float, help="replan at this rate (a multiple of the task's): the chunk "
                                                   "resampled in the graph, n_action_steps 1 (learning/replan.py)")
    p.add_argument("--ensemble", type=float, default=0.0,
                   help="with --replan-hz: weight in [0, 1) of the current chunk's targets where a new chunk "
                        "overlaps it (temporal ensembling, contract chunking.ensemble; 0: off)")
    rsl = p.add_argument_group("rsl_rl checkpoints")
    rsl.add_argument("--task", help="registered task the rsl_rl policy was trained on, e.g. panda-reach (omit: "
                                    "derive the contract from the run's params/env.yaml)")
    rsl.add_argument("--robot", default="panda", help="robot the env.yaml's joint names resolve against (no --task)")
    rsl.add_argument("--activation", help="actor activation (default: the run's params/agent.yaml, else elu)")
    rsl.add_argument("--env-yaml", type=Path, help="Isaac Lab params/env.yaml to check against the task "
                                                  "(default: next to the checkpoint, if present)")
    rsl.add_argument("--golden-dataset", type=Path, help="demo dataset to take golden observations from "
                                                        "(default: MuJoCo env reset states)")
    rsl.add_argument("--sim-backend", default="isaaclab", help="simulator the policy was trained in (provenance)")
    p.add_argument("--goal-body", help="LEAPP bundles: the body a command/body/pose input sets (the training "
                                       "env's command body_name, e.g. panda_hand); the bundle does not record it")
    p.set_defaults(func=_export)


def register(subparsers) -> None:
    """Add ``train``, ``export``, ``eval`` and ``demo``."""
    from robot_rl.learning import demo, eval as evaluation

    _register_train(subparsers)
    _register_export(subparsers)
    evaluation.register(subparsers)
    demo.register(subparsers)
