"""Residual RL from human corrections and a sparse reward (RLPD / HIL-SERL over a frozen base).

One :meth:`ResidualLearner.update` is one critic, actor and temperature step on a batch:

* **Critic**: an ensemble of ``critics`` LayerNorm Q functions run as one batched module
  (:class:`~robot_rl.hil.residual_net.EnsembleCritic`). Target (REDQ / RLPD)::

      y = reward + discount * min_{j in random subset of critic_subset} Q'_j(next_obs, next_base, a'),  a' ~ pi

  with ``reward`` the n-step return and ``discount`` gamma^m (0 after a terminal) from the sampler's n-step
  batches (``gamma * (1 - done)`` for one-step batches). The entropy bonus is **not** backed up into the
  sparse 0/1 reward (``backup_entropy`` False, as HIL-SERL): the true Q stays in [0, 1].
* **Actor**: a tanh Gaussian over the residual, loss::

      q_weight * mean_B(alpha * log pi(a|s) - mean_E Q(s, a)),  a ~ pi          (every sample)
    + bc_weight * mean_human mean_a (mu(s) - a_human)^2                               (intervened samples)
    + anchor_weight * mean_policy mean_a (mu(s) - a_anchor)^2                         (the other samples)

  The Q term is not divided by |Q|: with a 0/1 reward Q lies in [0, 1] and its gradient is as strong as
  what the critic knows. The anchor (on non-human samples) keeps the actor near ``a_anchor``, so it cannot run
  off where the critic extrapolates: ``anchor_target`` "executed" is the residual that was executed (TD3+BC-like;
  once collection samples the residual, that is its exploration noise), "zero" the base itself.
* **Temperature**: log alpha is tuned so the policy entropy meets ``target_entropy_per_dim`` x a, with its
  own learning rate (``temperature_lr``) so it reaches the target in a few hundred updates. With ``q_weight`` 0
  there is no entropy term, nothing trains the std, and the temperature is not tuned (it ran off to inf and made
  the actor loss NaN after ~7 000 ``bc`` updates, docs/hil.md).

``q_weight`` 0 with ``bc_weight`` > 0 is HG-DAgger (``--method bc``): the actor learns only from the
corrections, the critic still trains. :data:`robot_rl.hil.methods.METHODS` gives each method's actor-loss weights; the
choice for ``residual-rl`` is measured in docs/hil.md.

Batches are dicts of numpy arrays (B leading): ``obs`` (B, *obs_shape), ``base_action`` (B, a),
``action`` (B, a) residual in [-1, 1], ``intervened`` (B,), ``reward`` (B,), ``done`` (B,),
``next_obs``, ``next_base_action``, optionally ``discount`` (B,).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from robot_rl.errors import ConfigError
from robot_rl.hil.methods import ANCHOR_TARGETS
from robot_rl.hil.residual_net import EnsembleCritic, NetConfig, ResidualActor

@dataclass(frozen=True)
class LearnerConfig:
    """Hyper-parameters. ``gamma`` per policy step; ``tau`` target-critic Polyak rate; ``lr`` Adam rate.

    critic_subset: ensemble members whose minimum is the target (2: REDQ / RLPD).
    backup_entropy: add -alpha * log pi to the target (off: the reward is a sparse 0/1).
    target_entropy_per_dim: nats per action dimension (HIL-SERL: -a/2 in all).
    anchor_target: what the anchor pulls the mean residual towards on non-human samples (:data:`ANCHOR_TARGETS`).
    """

    gamma: float = 0.97
    tau: float = 0.005
    lr: float = 3e-4
    batch_size: int = 256
    q_weight: float = 1.0
    bc_weight: float = 1.0
    anchor_weight: float = 0.1
    critic_subset: int = 2
    backup_entropy: bool = False
    initial_temperature: float = 0.01
    temperature_lr: float = 3e-3
    target_entropy_per_dim: float = -0.5
    anchor_target: str = "executed"

    def __post_init__(self) -> None:
        if not (0.0 <= self.gamma < 1.0) or not (0.0 < self.tau <= 1.0):
            raise ConfigError(f"LearnerConfig: gamma {self.gamma} must be in [0, 1) and tau {self.tau} in (0, 1]")
        for name in ("q_weight", "bc_weight", "anchor_weight"):
            if not (np.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ConfigError(f"LearnerConfig: {name} must be finite and >= 0, got {getattr(self, name)}")
        if self.lr <= 0 or self.temperature_lr <= 0 or self.batch_size < 2 or self.initial_temperature <= 0:
            raise ConfigError(f"LearnerConfig: lr {self.lr} and temperature_lr {self.temperature_lr} > 0, batch_size "
                              f"{self.batch_size} >= 2 and initial_temperature {self.initial_temperature} > 0 needed")
        if self.anchor_target not in ANCHOR_TARGETS:
            raise ConfigError(f"LearnerConfig: anchor_target {self.anchor_target!r} unknown; known: {ANCHOR_TARGETS}")
        if self.critic_subset < 1:
            raise ConfigError(f"LearnerConfig: critic_subset must be >= 1, got {self.critic_subset}")


def _tensors(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """float32 tensors, observations flattened to (B, obs_dim)."""
    out = {k: torch.as_tensor(np.asarray(v), dtype=torch.float32) for k, v in batch.items()}
    for key in ("obs", "next_obs"):
        out[key] = out[key].reshape(out[key].shape[0], -1)
    return out


class ResidualLearner:
    """Owns the actor, the critic ensemble (+ target) and the temperature; :meth:`update` runs one step."""

    def __init__(self, net: NetConfig, config: LearnerConfig = LearnerConfig(), seed: int = 0):
        if config.critic_subset > net.critics:
            raise ConfigError(f"critic_subset {config.critic_subset} > critics {net.critics}")
        torch.manual_seed(seed)
        self.config = config
        self.actor, self.critic = ResidualActor(net), EnsembleCritic(net, net.critics)
        self.target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_temperature = torch.tensor(np.log(config.initial_temperature), requires_grad=True)
        self.target_entropy = config.target_entropy_per_dim * net.action_dim
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=config.lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=config.lr)
        self.temperature_opt = torch.optim.Adam([self.log_temperature], lr=config.temperature_lr)
        self.updates = 0
        self.fitted = False
        self.warm_started = False

    def state_dict(self) -> dict:
        """Everything an interrupted learner needs to go on: networks, optimisers, temperature, counters. A
        snapshot: nothing in it aliases the live tensors (a learner loaded from it shares no state)."""
        return copy.deepcopy({
            "net": dataclasses.asdict(self.actor.config), "updates": self.updates, "fitted": self.fitted,
            "warm_started": self.warm_started, "actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
            "target": self.target.state_dict(), "log_temperature": self.log_temperature.detach(),
            "optimisers": [o.state_dict() for o in (self.actor_opt, self.critic_opt, self.temperature_opt)]})

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
        self.warm_started = bool(state.get("warm_started", False))

    def fit_normalisation(self, obs: np.ndarray, base_action: np.ndarray) -> None:
        """Freeze input statistics (actor and critics) from obs (N, *obs_shape) and base actions (N, a)."""
        flat = np.asarray(obs).reshape(len(obs), -1)
        for net in (self.actor, self.critic, self.target):
            net.obs_norm.fit(flat)
            net.base_norm.fit(base_action)
        self.fitted = True

    def update(self, batch: dict[str, np.ndarray]) -> dict[str, float]:
        """One critic, actor and temperature step on ``batch``; returns the losses and Q statistics (floats).
        ``spread``: mean |sampled - deterministic residual| over the batch (residual units), the exploration
        that acts; the tanh-squashed ``entropy`` alone hides it (a wide Gaussian piled at +-1 has low entropy)."""
        if not self.fitted:
            raise ConfigError("ResidualLearner.update before fit_normalisation")
        b = _tensors(batch)
        stats = self._critic_step(b)
        stats.update(self._actor_step(b))
        # with q_weight 0 (bc) nothing trains the std, so a tuned temperature would only run off to inf (and then
        # 0 * inf = NaN in the actor loss): it is left where it is
        stats["temperature_loss"] = self._temperature_step(stats["entropy"]) if self.config.q_weight > 0 else 0.0
        stats["temperature"] = float(self.log_temperature.detach().exp())
        self._update_target()
        self.updates += 1
        return stats

    def critic_target(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
        """y (B,): reward + discount * min over a random ``critic_subset`` of the target critics at (s', a' ~ pi)."""
        with torch.no_grad():
            next_action, next_log_prob = self.actor.sample(b["next_obs"], b["next_base_action"])
            subset = torch.randperm(self.critic.members)[: self.config.critic_subset]
            next_q = self.target(b["next_obs"], b["next_base_action"], next_action, members=subset).min(dim=0).values
            if self.config.backup_entropy:
                next_q = next_q - self.log_temperature.exp() * next_log_prob
            discount = b["discount"] if "discount" in b else self.config.gamma * (1.0 - b["done"])
            return b["reward"] + discount * next_q

    def _critic_step(self, b: dict[str, torch.Tensor]) -> dict[str, float]:
        target = self.critic_target(b)
        q = self.critic(b["obs"], b["base_action"], b["action"])
        loss = ((q - target[None]) ** 2).mean(dim=1).sum()
        self.critic_opt.zero_grad()
        loss.backward()
        self.critic_opt.step()
        return {"critic": float(loss.detach()) / self.critic.members, "q_data": float(q.detach().mean()),
                "q_target": float(target.mean())}

    def _actor_step(self, b: dict[str, torch.Tensor]) -> dict[str, float]:
        c = self.config
        action, log_prob, mean = self.actor.sample_and_mean(b["obs"], b["base_action"])
        self.critic.requires_grad_(False)  # dQ/da only: no gradients for the critic's parameters
        q = self.critic(b["obs"], b["base_action"], action).mean(dim=0)
        self.critic.requires_grad_(True)
        rl = (self.log_temperature.exp().detach() * log_prob - q).mean() if c.q_weight > 0 else torch.zeros(())
        human = b["intervened"] > 0.5
        squared = ((mean - b["action"]) ** 2).mean(dim=-1)
        if c.anchor_target == "zero":
            squared = torch.where(human, squared, (mean ** 2).mean(dim=-1))
        bc = squared[human].mean() if human.any() else torch.zeros(())
        anchor = squared[~human].mean() if (~human).any() else torch.zeros(())
        loss = c.q_weight * rl + c.bc_weight * bc + c.anchor_weight * anchor
        self.actor_opt.zero_grad()
        loss.backward()
        self.actor_opt.step()
        return {"actor": float(loss.detach()), "bc": float(bc.detach()), "anchor": float(anchor.detach()),
                "q_pi": float(q.detach().mean()), "entropy": float(-log_prob.detach().mean()),
                "spread": float((action - mean).detach().abs().mean())}

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
