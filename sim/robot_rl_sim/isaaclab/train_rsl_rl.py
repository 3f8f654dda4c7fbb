"""Train a robot_rl task in Isaac Lab with rsl_rl PPO (GPU machine with Isaac Lab installed), then export it.

    python -m robot_rl_sim.isaaclab.train_rsl_rl --task panda-reach --num_envs 4096 --headless

The run directory gets ``model_<iter>.pt`` (rsl_rl), ``params/env.yaml`` and ``params/agent.yaml`` (as Isaac
Lab's own train script writes them) and, unless ``--no_export``, the contract-carrying ONNX policy written by
the same exporter as ``robot-rl export --rsl-rl-checkpoint`` (golden vectors from Isaac Lab observations).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from isaaclab.app import AppLauncher  # must start the app before other isaaclab imports


def parse() -> argparse.Namespace:
    """CLI: task, env count, iterations, seed, log dir, plus AppLauncher's options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="panda-reach", help="robot_rl task name")
    parser.add_argument("--num_envs", type=int, default=4096)
    parser.add_argument("--max_iterations", type=int, default=None)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--log_dir", default="logs/rsl_rl")
    parser.add_argument("--export", default=None, help="ONNX destination (default <log_dir>/exported/<task>.onnx)")
    parser.add_argument("--no_export", action="store_true", help="skip the ONNX export after training")
    parser.add_argument("--min_success", type=float, default=0.8, help="gate pass criterion stored in the contract")
    AppLauncher.add_app_launcher_args(parser)
    return parser.parse_args()


def main() -> None:
    """Build the env from the shared declaration, wrap it for rsl_rl, train, save checkpoints in log_dir."""
    args = parse()
    app = AppLauncher(args).app
    import gymnasium as gym
    from isaaclab_rl.rsl_rl import RslRlVecEnvWrapper
    from rsl_rl.runners import OnPolicyRunner

    from robot_rl_sim.isaaclab import GYM_IDS, register_gym_ids
    from robot_rl_sim.isaaclab.agents import PandaPpoRunnerCfg
    from robot_rl_sim.isaaclab.env_cfg import make_env_cfg

    register_gym_ids()
    env_cfg = make_env_cfg(args.task, num_envs=args.num_envs)
    env_cfg.seed = args.seed
    agent = PandaPpoRunnerCfg()
    agent.seed = args.seed
    if args.max_iterations:
        agent.max_iterations = args.max_iterations
    env = RslRlVecEnvWrapper(gym.make(GYM_IDS[args.task], cfg=env_cfg))
    dump_params(Path(args.log_dir), env_cfg, agent)
    runner = OnPolicyRunner(env, agent.to_dict(), log_dir=args.log_dir, device=agent.device)
    runner.learn(num_learning_iterations=agent.max_iterations, init_at_random_ep_len=True)
    golden = policy_observations(env)
    env.close()
    if not args.no_export:
        out = Path(args.export or Path(args.log_dir) / "exported" / f"{args.task}.onnx")
        export_final(Path(args.log_dir) / f"model_{runner.current_learning_iteration}.pt", args.task, golden,
                     agent.policy.activation, out, args.min_success)
    app.close()


def dump_params(log_dir: Path, env_cfg, agent) -> None:
    """``params/env.yaml`` and ``params/agent.yaml`` in the run directory, as Isaac Lab's train script writes them."""
    from isaaclab.utils.io import dump_yaml

    dump_yaml(str(log_dir / "params" / "env.yaml"), env_cfg)
    dump_yaml(str(log_dir / "params" / "agent.yaml"), agent)


def policy_observations(env, count: int = 8):
    """(count, O) numpy observations of the policy group from the first envs (rsl_rl 2.x returns (obs, extras),
    later versions a TensorDict of groups)."""
    obs = env.get_observations()
    obs = obs[0] if isinstance(obs, tuple) else obs["policy"]
    return obs[:count].detach().cpu().numpy()


def export_final(checkpoint: Path, task: str, golden, activation: str, out: Path, min_success: float) -> None:
    """Export ``checkpoint`` with robot_rl's exporter: the registered task's contract, checked against the run's
    params/env.yaml, golden vectors verified against torch."""
    from robot_rl.learning.export_rsl_rl import export_rsl_rl_policy
    from robot_rl.learning.rsl_rl_checkpoint import load_rsl_rl_checkpoint
    from robot_rl_sim.tasks import get_task

    env_yaml = checkpoint.parent / "params" / "env.yaml"
    contract = export_rsl_rl_policy(load_rsl_rl_checkpoint(checkpoint), get_task(task), out, golden,
                                    activation=activation, min_success_rate=min_success,
                                    env_yaml=env_yaml if env_yaml.is_file() else None)
    print(f"exported {out}: {len(contract.golden)} golden vectors, contract of task {task}")


if __name__ == "__main__":
    main()
