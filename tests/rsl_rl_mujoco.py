"""Real rsl_rl PPO (rsl-rl-lib's OnPolicyRunner) on our MuJoCo tasks, to make genuine rsl_rl checkpoints in tests.

:class:`MujocoVecEnv` is rsl_rl's ``VecEnv`` interface over a few :class:`robot_rl_sim.tasks.env.TaskEnv`
instances (CPU, sequential): observation group ``policy`` = the task's terms concatenated in declared
order, exactly what the Isaac Lab config of the task concatenates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from rsl_rl.env import VecEnv
from rsl_rl.runners import OnPolicyRunner
from tensordict import TensorDict

from robot_rl_sim.tasks import get_task, make_env


class MujocoVecEnv(VecEnv):
    """``num_envs`` MuJoCo envs of one task behind rsl_rl's VecEnv API (reset on success or time limit)."""

    def __init__(self, task: str, num_envs: int = 2, seed: int = 0):
        self.spec = get_task(task)
        self.envs = [make_env(task, seed=seed + i) for i in range(num_envs)]
        self.num_envs, self.num_actions = num_envs, self.spec.action_dim
        self.max_episode_length = self.spec.max_steps
        self.episode_length_buf = torch.zeros(num_envs, dtype=torch.long)
        self.device, self.cfg = "cpu", {"task": task}
        self._seed = seed + num_envs
        self._obs = [env.observe() for env in self.envs]

    def _flat(self) -> TensorDict:
        rows = [np.concatenate([o[t.name] for t in self.spec.obs_terms]) for o in self._obs]
        return TensorDict({"policy": torch.tensor(np.asarray(rows), dtype=torch.float32)}, batch_size=[self.num_envs])

    def get_observations(self) -> TensorDict:
        return self._flat()

    def step(self, actions: torch.Tensor):
        rewards, dones, time_outs = torch.zeros(self.num_envs), torch.zeros(self.num_envs), torch.zeros(self.num_envs)
        for i, env in enumerate(self.envs):
            obs, reward, success, info = env.step(actions[i].double().numpy())
            self.episode_length_buf[i] += 1
            rewards[i], time_outs[i] = reward, float(info["time_limit"])
            if success or info["time_limit"]:
                dones[i], self._seed = 1.0, self._seed + 1
                obs, self.episode_length_buf[i] = env.reset(seed=self._seed), 0
            self._obs[i] = obs
        return self._flat(), rewards, dones, {"time_outs": time_outs}


def runner_cfg(activation: str = "tanh", hidden: tuple[int, ...] = (32, 16)) -> dict:
    """A small PPO config in rsl-rl-lib 5.x's dict layout (actor/critic MLPModel, Gaussian actor)."""
    model = {"class_name": "MLPModel", "hidden_dims": list(hidden), "activation": activation,
             "obs_normalization": True}
    return {"num_steps_per_env": 8, "save_interval": 100, "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
            "algorithm": {"class_name": "PPO", "num_learning_epochs": 1, "num_mini_batches": 2, "learning_rate": 1e-3,
                          "schedule": "fixed", "entropy_coef": 0.005},
            "actor": {**model, "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 0.3,
                                                    "std_type": "scalar"}},
            "critic": dict(model)}


def train_checkpoint(task: str, out: Path, iterations: int = 2, activation: str = "tanh"):
    """Run ``iterations`` PPO iterations on 2 MuJoCo envs, save ``out/model_<it>.pt`` as the runner does.

    Returns (checkpoint path, rsl_rl's inference policy (torch module taking a TensorDict), the env).
    """
    torch.manual_seed(0)
    env = MujocoVecEnv(task)
    runner = OnPolicyRunner(env, runner_cfg(activation), log_dir=None, device="cpu")
    runner.learn(num_learning_iterations=iterations)
    path = out / f"model_{runner.current_learning_iteration}.pt"
    out.mkdir(parents=True, exist_ok=True)
    runner.save(str(path))
    return path, runner.get_inference_policy(), env
