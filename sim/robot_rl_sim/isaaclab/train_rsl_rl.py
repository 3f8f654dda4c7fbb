"""Train a robot_rl task in Isaac Lab with rsl_rl PPO (GPU machine with Isaac Lab installed).

    python -m robot_rl_sim.isaaclab.train_rsl_rl --task panda-reach --num_envs 4096 --headless
"""

from __future__ import annotations

import argparse

from isaaclab.app import AppLauncher  # must start the app before other isaaclab imports


def parse() -> argparse.Namespace:
    """CLI: task, env count, iterations, seed, log dir, plus AppLauncher's options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="panda-reach", help="robot_rl task name")
    parser.add_argument("--num_envs", type=int, default=4096)
    parser.add_argument("--max_iterations", type=int, default=None)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--log_dir", default="logs/rsl_rl")
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
    runner = OnPolicyRunner(env, agent.to_dict(), log_dir=args.log_dir, device=agent.device)
    runner.learn(num_learning_iterations=agent.max_iterations, init_at_random_ep_len=True)
    env.close()
    app.close()


if __name__ == "__main__":
    main()
