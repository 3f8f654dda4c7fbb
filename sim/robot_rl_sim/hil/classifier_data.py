"""Labelled states for the success classifier, from MuJoCo rollouts; ``robot-rl hil train-classifier``.

Rollouts of the task's scripted expert (the demonstrations) and of variants that fail or nearly succeed,
so the classifier sees the states next to the success boundary (a stand-in for the person's labelled
rollouts on the robot):

* ``expert``: the scripted expert with its usual noise;
* ``noisy``: the expert at twice the noise;
* ``biased``: the expert's joint targets shifted by a per-episode offset (up to ``bias_rad`` on two random
  joints): near misses, knocked cubes;
* ``stalled``: the expert until a random step, then holding still (an episode stopped short);
* ``open_gripper`` (tasks with a gripper): the expert with the gripper never closing (lifts nothing);
* ``release`` (tasks with a gripper): the expert, opening the gripper after success (the cube drops).

Every state is labelled with the task's true success (the env's rule: end effector within 2 cm of the
goal, cube lifted 10 cm and held). Episodes go on for ``after_success`` steps past the first success, so
success states are seen held, not only entered. Frames are assembled by the classifier's own contract
(:func:`robot_rl.hil.classifier.classifier_contract`) from the measurement, as the learner node assembles
them. Episodes are split by seed: ``--episodes`` train (20% of them choose the threshold), then
``--held-out`` further episodes of every variant measure precision and recall.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl_sim.hil.episode import measurement

VARIANTS = ("expert", "noisy", "biased", "stalled", "open_gripper", "release")
GRIPPER_VARIANTS = ("open_gripper", "release")


def _act(variant: str, expert, obs, step: int, since_success: int, rng_state: dict, spec) -> np.ndarray:
    """The variant's raw action at ``step`` (``since_success``: steps since the first success, -1 before)."""
    if variant == "stalled" and step >= rng_state["stall_at"]:
        return rng_state.setdefault("held", expert.act(obs))
    action = np.array(expert.act(obs), dtype=float)
    n = len(spec.joint_names)
    if variant == "biased":
        action[:n] += rng_state["bias"]
    if spec.action.gripper and (variant == "open_gripper" or (variant == "release" and since_success >= 2)):
        action[-1] = -1.0  # open (closed if > 0: TaskSpec.action.gripper_target)
    return action


def rollouts(task: str, variants: tuple[str, ...], episodes: int, seed: int, after_success: int = 10,
             bias_rad: float = 0.08, sources: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """``episodes`` episodes of each variant (seeds ``seed``...): frames (N, d), success (N,), episode (N,),
    variant (N,) index into ``variants``, and the template contract as ``contract``."""
    from robot_rl.hil.classifier import classifier_contract, frame_assembler
    from robot_rl.learning.contract_map import PolicyShape, contract_for
    from robot_rl_sim.experts import make_expert
    from robot_rl_sim.tasks import get_task, make_env

    spec = get_task(task)
    env = make_env(spec)
    template = contract_for(spec, PolicyShape(spec.obs_dim, spec.action_dim), "obs", "action", 0.0)
    assemble = frame_assembler(classifier_contract(template, sources=sources), env.robot)
    out = {k: [] for k in ("frames", "success", "episode", "variant")}
    for v, variant in enumerate(variants):
        for e in range(episodes):
            rng = np.random.default_rng([seed, v, e])
            expert = make_expert(spec, seed=int(rng.integers(2 ** 31)), noise=2.0 if variant == "noisy" else 1.0,
                                 model=env.robot)
            state = {"bias": np.zeros(len(spec.joint_names)), "stall_at": int(rng.integers(3, spec.max_steps))}
            state["bias"][rng.choice(len(spec.joint_names), 2, replace=False)] = rng.uniform(-bias_rad, bias_rad, 2)
            obs, since = env.reset(seed=int(rng.integers(2 ** 31))), -1
            expert.reset()
            for step in range(spec.max_steps):
                obs, _, success, _ = env.step(_act(variant, expert, obs, step, since, state, spec))
                assemble.reset()
                out["frames"].append(assemble.frame(measurement(spec, env.config, obs, 0.0)))
                out["success"].append(success)
                out["episode"].append(seed * 1_000_000 + v * 10_000 + e)
                out["variant"].append(v)
                since = since + 1 if since >= 0 or success else -1
                if since >= after_success:
                    break
    arrays = {k: np.asarray(x) for k, x in out.items()}
    arrays["contract"] = template
    return arrays


def _labelled_states(args: argparse.Namespace, variants: tuple[str, ...], sources) -> tuple[dict, dict]:
    """(train, test) states: rolled out and saved to OUT.states.npz, or read back from ``args.states`` (an
    earlier run's file with the same task, variants and terms: ConfigError if its frames do not fit)."""
    from robot_rl.hil.classifier import classifier_contract
    from robot_rl.learning.contract_map import PolicyShape, contract_for
    from robot_rl_sim.tasks import get_task

    if not args.states:
        train = rollouts(args.task, variants, args.episodes, args.seed, sources=sources)
        test = rollouts(args.task, variants, args.held_out, args.seed + 1, sources=sources)
        np.savez(str(args.out) + ".states.npz", variants=np.array(variants), **{
            f"{split}_{k}": v for split, data in (("train", train), ("test", test)) for k, v in data.items()
            if k != "contract"})
        return train, test
    spec = get_task(args.task)
    template = contract_for(spec, PolicyShape(spec.obs_dim, spec.action_dim), "obs", "action", 0.0)
    with np.load(args.states) as saved:
        split = [{k: saved[f"{name}_{k}"] for k in ("frames", "success", "episode", "variant")}
                 for name in ("train", "test")]
        saved_variants = tuple(saved["variants"]) if "variants" in saved else variants
    width = classifier_contract(template, sources=sources).obs_dim
    if saved_variants != variants or any(part["frames"].shape[1] != width for part in split):
        raise ConfigError(f"{args.states}: states of variants {saved_variants} with {split[0]['frames'].shape[1]} "
                          f"inputs; this run takes variants {variants} with {width} (task, --terms, --variants)")
    return ({**split[0], "contract": template}, {**split[1], "contract": template})


def run_train_classifier(args: argparse.Namespace) -> int:
    """Generate, train, choose the threshold, export, measure on held-out rollouts; writes OUT.json."""
    import torch

    from robot_rl.hil.classifier import load_classifier, precision_recall, sigmoid
    from robot_rl.hil.classifier_train import ClassifierConfig, export_classifier, train_classifier
    from robot_rl.robot.model import load_robot_model

    torch.set_num_threads(1)
    started = time.monotonic()
    from robot_rl_sim.tasks import get_task

    gripper = get_task(args.task).action.gripper
    unknown = sorted(set(args.variants) - set(VARIANTS))
    if unknown:
        raise ConfigError(f"unknown rollout variants {unknown}; known: {list(VARIANTS)}")
    variants = tuple(v for v in args.variants if gripper or v not in GRIPPER_VARIANTS)
    sources = tuple(args.terms) if args.terms else None
    train, test = _labelled_states(args, variants, sources)
    config = ClassifierConfig(hidden=args.hidden, steps=args.steps, seed=args.seed)
    model, threshold, validation = train_classifier(train["frames"], train["success"], train["episode"], config)
    export_classifier(model, train["contract"], threshold, args.out, train["frames"][:2], sources)
    classifier = load_classifier(args.out, robot=load_robot_model(get_task(args.task).robot))  # as the node does
    predicted = sigmoid(classifier.logits(test["frames"])) >= threshold
    held_out = precision_recall(predicted, test["success"])
    per_variant = {name: precision_recall(predicted[test["variant"] == i], test["success"][test["variant"] == i])
                   for i, name in enumerate(variants)}
    report = {"task": args.task, "classifier": str(args.out), "threshold": threshold, "variants": variants,
              "terms": [t.name for t in classifier.contract.observations],
              "train_states": int(len(train["success"])), "train_successes": int(train["success"].sum()),
              "episodes": {"train": len(np.unique(train["episode"])), "held_out": len(np.unique(test["episode"]))},
              "states_file": args.states or str(args.out) + ".states.npz",
              "validation": validation, "held_out": held_out, "held_out_per_variant": per_variant,
              "wall_s": round(time.monotonic() - started, 1)}
    Path(str(args.out) + ".json").write_text(json.dumps(report, indent=1))
    print(json.dumps({k: report[k] for k in ("task", "threshold", "held_out", "wall_s")}))
    return 0


def register(sub) -> None:
    """Add ``hil train-classifier`` to the ``hil`` subparsers ``sub``."""
    p = sub.add_parser("train-classifier", help="train the success classifier (a reward source of the learner) "
                                                "on labelled states of MuJoCo rollouts; report held-out "
                                                "precision and recall")
    p.add_argument("--task", default="panda-reach")
    p.add_argument("--out", required=True, help="classifier ONNX (+ contract sidecar, + OUT.json report)")
    p.add_argument("--episodes", type=int, default=40, help="training episodes per variant")
    p.add_argument("--held-out", type=int, default=20, help="held-out episodes per variant (other seeds)")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS),
                   help=f"rollout variants (of {VARIANTS}; gripper variants only where the task has a gripper)")
    p.add_argument("--terms", nargs="+", default=None,
                   help="observation sources the classifier takes (e.g. ee_pos goal); default: every state term")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--steps", type=int, default=3000, help="Adam steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--states", default="", help="labelled states of an earlier run (its OUT.states.npz) instead of "
                                                "new rollouts (same task, --terms, --variants; --episodes, "
                                                "--held-out and the rollout seeds are then the file's)")
    p.set_defaults(func=run_train_classifier)
