"""rsl_rl PPO runner config for the robot_rl Isaac Lab tasks (needs isaaclab_rl)."""

from __future__ import annotations

from isaaclab.utils import configclass
from isaaclab_rl.rsl_rl import RslRlOnPolicyRunnerCfg, RslRlPpoActorCriticCfg, RslRlPpoAlgorithmCfg


@configclass
class PandaPpoRunnerCfg(RslRlOnPolicyRunnerCfg):
    """PPO on state observations; small MLPs (the deployed base policy is the diffusion policy)."""

    num_steps_per_env = 24
    max_iterations = 1500
    save_interval = 100
    experiment_name = "robot_rl_panda"
    policy = RslRlPpoActorCriticCfg(init_noise_std=1.0, actor_hidden_dims=[256, 128, 64],
                                    critic_hidden_dims=[256, 128, 64], activation="elu")
    algorithm = RslRlPpoAlgorithmCfg(value_loss_coef=1.0, use_clipped_value_loss=True, clip_param=0.2,
                                     entropy_coef=0.005, num_learning_epochs=5, num_mini_batches=4,
                                     learning_rate=1.0e-3, schedule="adaptive", gamma=0.99, lam=0.95,
                                     desired_kl=0.01, max_grad_norm=1.0)
