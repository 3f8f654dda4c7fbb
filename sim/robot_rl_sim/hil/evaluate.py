"""Success without the human: the evaluation ``robot-rl hil sim`` runs after a round, and ``robot-rl hil eval``,
the same evaluation of a saved residual of a finished run, after the fact and with as many episodes as asked.

Episodes reset with seeds ``EVAL_SEED + i`` (disjoint from the demonstrations' and collection's), the gap
seeded by the run's seed, base (+ residual) composed by onnxruntime as the policy node composes them. So
``hil eval --episodes N`` repeats the run's own evaluation episodes first and adds new ones.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from robot_rl.errors import ConfigError

EVAL_SEED = 3_000_000  # evaluation reset seeds: disjoint from the demonstrations' (2 000 000 + e) and collection's


def eval_seeds(episodes: int) -> list[int]:
    """The reset seeds of ``episodes`` evaluation episodes."""
    return [EVAL_SEED + i for i in range(episodes)]


def evaluate_episodes(policy, env, remaining, seeds: list[int]) -> tuple[list[bool], list[float]]:
    """(success per episode, final true remaining distance per episode, m) of ``policy`` (a ChunkPolicy) in
    ``env`` (a GapEnv), no human; ``remaining(true_obs) -> m`` is the simulated human's measure."""
    successes, distances = [], []
    for seed in seeds:
        successes.append(bool(policy.run_episode(env, seed).success))
        distances.append(float(remaining(env.true_obs())))
    return successes, distances


def _run_config(run: Path) -> dict:
    """The run's HilSimConfig fields: from report.json (a finished run) or config.json (the --seeds runner's)."""
    report, config = run / "report.json", run / "config.json"
    if report.is_file():
        return json.loads(report.read_text())["config"]
    if config.is_file():
        return json.loads(config.read_text())
    raise ConfigError(f"hil eval: {run} has neither report.json nor config.json: not a hil sim run directory")


def _residual(run: Path, round_index: int) -> Path:
    """The residual exported after round ``round_index`` (negative: from the end) of the finished run ``run``."""
    report = run / "report.json"
    if not report.is_file():
        raise ConfigError(f"hil eval: {run} has no report.json (the run has not finished); pass --residual")
    rounds = json.loads(report.read_text())["rounds"]
    if not -len(rounds) <= round_index < len(rounds):
        raise ConfigError(f"hil eval: round {round_index} not in the run's {len(rounds)} rounds")
    path = rounds[round_index]["residual"]
    if not path:
        raise ConfigError(f"hil eval: round {round_index} of {run} exported no residual")
    local = run / Path(path).name  # the run dir may have been moved or copied
    return local if local.is_file() else Path(path)


def evaluate_saved(run: Path, round_index: int = -1, episodes: int = 100, residual: Path | None = None) -> dict:
    """Evaluate round ``round_index``'s residual (or ``residual``) of the run in ``run`` on its task, gap and seed;
    writes and returns ``run/eval_<residual name>_<episodes>.json``."""
    from robot_rl.atomic import write_atomic
    from robot_rl.learning.rollout import ChunkPolicy
    from robot_rl_sim.hil.gaps import make_gap_env
    from robot_rl_sim.hil.human import make_human
    from robot_rl_sim.tasks import get_task

    if episodes < 1:
        raise ConfigError(f"hil eval: episodes must be >= 1, got {episodes}")
    run = Path(run)
    config = _run_config(run)
    residual = Path(residual) if residual else _residual(run, round_index)
    if not residual.is_file():
        raise ConfigError(f"hil eval: residual {residual} not found")
    spec = get_task(config["task"])
    base = run / "hold_base.onnx" if config["method"] == "rlpd-scratch" else Path(config["base"])
    env = make_gap_env(spec, config["gap"], seed=config["seed"])
    human = make_human(spec, env.env.robot, seed=config["seed"])  # only its remaining-distance measure is used
    policy = ChunkPolicy(base, spec, 1, residual_path=str(residual))
    successes, distances = evaluate_episodes(policy, env, human.remaining, eval_seeds(episodes))
    result = {"run": str(run), "residual": str(residual), "base": str(base), "task": spec.name, "gap": env.name,
              "seed": config["seed"], "episodes": episodes, "first_reset_seed": EVAL_SEED,
              "success": float(np.mean(successes)), "final_distance_m": float(np.mean(distances)),
              "successes": successes}
    write_atomic(run / f"eval_{residual.stem}_{episodes}.json", json.dumps(result, indent=1).encode())
    return result


def register(hil_subparsers) -> None:
    """Add ``eval`` under ``robot-rl hil``."""
    e = hil_subparsers.add_parser("eval", help="success without the human of a saved residual of a hil sim run, "
                                               "on the run's task, gap and seed (after the fact, N episodes)")
    e.add_argument("--run", type=Path, required=True, help="one run's directory (<out>/<method>/seed_<s> "
                                                           "with --seeds)")
    e.add_argument("--round", type=int, default=-1, help="whose residual: round index, negative from the end "
                                                         "(default -1: the final one)")
    e.add_argument("--residual", type=Path, help="evaluate this residual ONNX instead of a round's")
    e.add_argument("--episodes", type=int, default=100)
    e.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    """Print the result's summary; it is also written to the run directory. Exit 0."""
    result = evaluate_saved(args.run, args.round, args.episodes, args.residual)
    print(f"[hil] {result['residual']}: success {result['success']:.3f} over {result['episodes']} episodes "
          f"(gap {result['gap']!r}, seed {result['seed']}), final distance "
          f"{result['final_distance_m'] * 100:.1f} cm")
    return 0
