"""Residual learning from human corrections: SAC on the residual, plus behaviour cloning on interventions.

The update follows RLPD / HIL-SERL: batches mix online transitions with human-controlled ones 50/50
(the sampler's ``sample_mixed``), twin LayerNorm critics, an entropy temperature tuned to a target
entropy. The actor loss is TD3+BC's: ``q_weight`` times the soft-Q term divided by the batch's mean |Q|
(so its weight does not depend on the reward scale) plus ``bc_weight`` times the squared error between
the deterministic residual and the human's residual on the intervened samples of the batch.

``q_weight`` defaults to 0 (the actor learns from the corrections alone, as HG-DAgger; the critic is
still trained on the task reward): measured in ``robot-rl hil sim`` over 5 rounds of 10 episodes, the
soft-Q term made the residual worse at that data scale (docs/hil.md has the table). A pull towards zero
on the steps the policy drove was tried and dropped: it erased corrections the residual had learned.

Batches are dicts of numpy arrays (B leading): ``obs`` (B, *obs_shape), ``base_action`` (B, a),
``action`` (B, a) residual in [-1, 1], ``intervened`` (B,), ``reward`` (B,), ``done`` (B,),
``next_obs``, ``next_base_action``.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from robot_rl.errors import ConfigError
from robot_rl.hil.residual_net import NetConfig, ResidualActor, TwinCritic


@dataclass(frozen=True)
class LearnerConfig:
    """Hyper-parameters. ``gamma`` per policy step; ``tau`` target-critic Polyak rate; ``lr`` Adam rate."""

    gamma: float = 0.97
    tau: float = 0.005
    lr: float = 3e-4
    batch_size: int = 256
    bc_weight: float = 2.0
    q_weight: float = 0.0  # weight of the (|Q|-normalised) soft-Q term in the actor loss; 0: pure BC (docs/hil.md)
    initial_temperature: float = 0.01
    target_entropy_per_dim: float = -2.0  # nats per action dimension

    def __post_init__(self) -> None:
        if not (0.0 <= self.gamma < 1.0) or not (0.0 < self.tau <= 1.0):
            raise ConfigError(f"LearnerConfig: gamma {self.gamma} must be in [0, 1) and tau {self.tau} in (0, 1]")
        if self.q_weight < 0:
            raise ConfigError(f"LearnerConfig: q_weight must be >= 0, got {self.q_weight}")
        if self.lr <= 0 or self.batch_size < 2 or self.bc_weight < 0 or self.initial_temperature <= 0:
            raise ConfigError(f"LearnerConfig: lr {self.lr} > 0, batch_size {self.batch_size} >= 2, bc_weight "
                              f"{self.bc_weight} >= 0 and initial_temperature {self.initial_temperature} > 0 needed")


def _tensors(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """float32 tensors, observations flattened to (B, obs_dim)."""
    out = {k: torch.as_tensor(np.asarray(v), dtype=torch.float32) for k, v in batch.items()}
    for key in ("obs", "next_obs"):
        out[key] = out[key].reshape(out[key].shape[0], -1)
    return out


class ResidualLearner:
    """Owns the actor, twin critics (+ target) and temperature; :meth:`update` runs one gradient step."""

    def __init__(self, net: NetConfig, config: LearnerConfig = LearnerConfig(), seed: int = 0):
        torch.manual_seed(seed)
        self.config = config
        self.actor, self.critic = ResidualActor(net), TwinCritic(net)
        self.target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_temperature = torch.tensor(np.log(config.initial_temperature), requires_grad=True)
        self.target_entropy = config.target_entropy_per_dim * net.action_dim
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=config.lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=config.lr)
        self.temperature_opt = torch.optim.Adam([self.log_temperature], lr=config.lr)
        self.updates = 0
        self.fitted = False

    def state_dict(self) -> dict:
        """Everything an interrupted learner needs to go on: networks, optimisers, temperature, counters."""
        return {"net": dataclasses.asdict(self.actor.config), "updates": self.updates, "fitted": self.fitted,
                "actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
                "target": self.target.state_dict(), "log_temperature": self.log_temperature.detach().clone(),
                "optimisers": [o.state_dict() for o in (self.actor_opt, self.critic_opt, self.temperature_opt)]}

    def load_state_dict(self, state: dict) -> None:
        """Continue from :meth:`state_dict`; ConfigError if it was saved for other network sizes."""
        if state["net"] != dataclasses.asdict(self.actor.config):
            raise ConfigError(f"learner checkpoint has networks {state['net']}, this learner "
                              f"{dataclasses.asdict(self.actor.config)}")
        for module in ("actor", "critic", "target"):
            getattr(self, module).load_state_dict(state[module])
        with torch.no_grad():
            self.log_temperature.copy_(state["log_temperature"])
        for optimiser, saved in zip((self.actor_opt, self.critic_opt, self.temperature_opt), state["optimisers"]):
            optimiser.load_state_dict(saved)
        self.updates, self.fitted = int(state["updates"]), bool(state["fitted"])

    def fit_normalisation(self, obs: np.ndarray, base_action: np.ndarray) -> None:
        """Freeze input statistics (actor and critics) from obs (N, *obs_shape) and base actions (N, a)."""
        flat = np.asarray(obs).reshape(len(obs), -1)
        for net in (self.actor, self.critic, self.target):
            net.obs_norm.fit(flat)
            net.base_norm.fit(base_action)
        self.fitted = True

    def update(self, batch: dict[str, np.ndarray]) -> dict[str, float]:
        """One critic, actor and temperature step on ``batch``; returns the losses (floats)."""
        if not self.fitted:
            raise ConfigError("ResidualLearner.update before fit_normalisation")
        b = _tensors(batch)
        critic_loss = self._critic_step(b)
        actor_loss, bc_loss, entropy = self._actor_step(b)
        temperature_loss = self._temperature_step(entropy)
        self._update_target()
        self.updates += 1
        return {"critic": critic_loss, "actor": actor_loss, "bc": bc_loss, "temperature_loss": temperature_loss,
                "temperature": float(self.log_temperature.detach().exp()), "entropy": entropy}

    def _critic_step(self, b: dict[str, torch.Tensor]) -> float:
        with torch.no_grad():
            next_action, next_log_prob = self.actor.sample(b["next_obs"], b["next_base_action"])
            next_q = self.target(b["next_obs"], b["next_base_action"], next_action).min(dim=0).values
            soft = next_q - self.log_temperature.exp() * next_log_prob
            target = b["reward"] + self.config.gamma * (1.0 - b["done"]) * soft
        q = self.critic(b["obs"], b["base_action"], b["action"])
        loss = ((q - target[None]) ** 2).mean()
        self.critic_opt.zero_grad()
        loss.backward()
        self.critic_opt.step()
        return float(loss.detach())

    def _actor_step(self, b: dict[str, torch.Tensor]) -> tuple[float, float, float]:
        action, log_prob = self.actor.sample(b["obs"], b["base_action"])
        q = self.critic(b["obs"], b["base_action"], action).mean(dim=0)
        q_scale = q.abs().mean().detach().clamp_min(1e-6)
        sac = (self.log_temperature.exp().detach() * log_prob - q).mean() / q_scale
        human = b["intervened"] > 0.5
        bc = torch.zeros(())
        if human.any():
            bc = ((self.actor(b["obs"][human], b["base_action"][human]) - b["action"][human]) ** 2).mean()
        loss = self.config.q_weight * sac + self.config.bc_weight * bc
        self.actor_opt.zero_grad()
        loss.backward()
        self.actor_opt.step()
        return float(loss.detach()), float(bc.detach()), float(-log_prob.detach().mean())

    def _temperature_step(self, entropy: float) -> float:
        loss = self.log_temperature.exp() * (entropy - self.target_entropy)
        self.temperature_opt.zero_grad()
        loss.backward()
        self.temperature_opt.step()
        return float(loss.detach())

    def _update_target(self) -> None:
        with torch.no_grad():
            for target, source in zip(self.target.parameters(), self.critic.parameters()):
                target.lerp_(source, self.config.tau)
