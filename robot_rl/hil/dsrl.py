"""DSRL: steer a frozen diffusion base through its initial noise (Wagenmaker et al. 2025), torch.

The actor does not touch the base's actions: per chunk it chooses the base's initial DDIM noise, a latent
``w`` of the noise input's shape (H, A), flattened to ``d = H * A``::

    w = LATENT_SCALE * tanh(mean(s) + std(s) * eps),  eps ~ N(0, I) while exploring, 0 when acting

so ``w`` stays inside (-1.5, 1.5)^d, the bulk of the base's standard normal noise (87 % of its mass per
entry; DSRL's ``action_magnitude`` 1.5), and the base, run as a black box through its noise-input ONNX
export, turns (s, w) into an action chunk on the demonstrations' manifold.

Critics (DSRL-NA's two-critic recipe, adapted to data without latent labels; see docs/distillation.md):

* **Q^A(s, a)** over the executed action chunk ``a`` (the first ``n_action_steps`` rows, raw units; the
  human's executed steps where they drove). TD on every stored chunk, the human's included::

      y = R + discount * min_{j in random subset} Q^W'_j(s', w'),   w' ~ pi(s')

* **Q^W(s, w)** over the latent, regressed onto Q^A where the executed chunk *is* the base's output for the
  stored latent (policy-driven chunks)::

      L = mean_E (Q^W(s, w) - mean_E Q^A(s, a))^2

  DSRL-NA draws fresh latents and runs the base inside the update; the base here is an ONNX file with a
  batch of 1, so the pairs are those the robot executed (noted as a limitation in the docs).
* **Actor**: SAC on Q^W: ``mean_B(alpha * log pi(w|s) - mean_E Q^W(s, w))``, plus
  ``anchor_weight * mean_B mean_d tanh(mean(s))^2``: a pull of the deterministic latent towards 0, the base at
  its mean noise (0 by default, DSRL's recipe; docs/distillation.md measures it). The temperature is tuned to
  ``target_entropy_per_dim * d`` (DSRL: 0 in all).

Batches (numpy, B leading) come from the learner's store (:mod:`robot_rl.hil.dsrl_online`): ``obs``
(B, *obs_shape) the chunk-start window, ``action`` (B, d) the stored latent / LATENT_SCALE in [-1, 1],
``base_action`` (B, d) the executed chunk (first k * A entries, zero padded), ``intervened``, ``reward``,
``done``, ``next_obs`` and optionally ``discount`` (B,).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from robot_rl.errors import ConfigError
from robot_rl.hil.residual_net import LOG_STD_RANGE, EnsembleCritic, InputNorm, NetConfig, mlp

LATENT_SCALE = 1.5
"""Bound of each latent entry, in units of the base's noise std (DSRL's ``action_magnitude``)."""


@dataclass(frozen=True)
class DsrlConfig:
    """Sizes and rates. ``obs_dim`` flattened window, ``latent_dim`` H * A, ``executed_dim`` k * A (raw action
    chunk the critic Q^A sees); ``gamma`` per chunk; ``tau`` Polyak rate; ``lr`` Adam rate."""

    obs_dim: int
    latent_dim: int
    executed_dim: int
    hidden: int = 128
    layers: int = 2
    critics: int = 10
    critic_subset: int = 2
    gamma: float = 0.97 ** 8
    tau: float = 0.005
    lr: float = 3e-4
    batch_size: int = 256
    initial_temperature: float = 0.01
    temperature_lr: float = 3e-3
    target_entropy_per_dim: float = 0.0
    initial_log_std: float = 0.0  # pre-tanh std 1 at start: exploring latents spread over (-1.5, 1.5)
    anchor_weight: float = 0.0  # pull of the deterministic latent towards 0 (the base's mean noise)

    def __post_init__(self) -> None:
        if min(self.obs_dim, self.latent_dim, self.executed_dim, self.hidden, self.layers) < 1:
            raise ConfigError(f"DsrlConfig: obs_dim {self.obs_dim}, latent_dim {self.latent_dim}, executed_dim "
                              f"{self.executed_dim}, hidden {self.hidden}, layers {self.layers} must be >= 1")
        if not 1 <= self.critic_subset <= self.critics or self.critics < 2:
            raise ConfigError(f"DsrlConfig: need critics >= 2 and 1 <= critic_subset <= critics, got "
                              f"{self.critics}, {self.critic_subset}")
        if not (np.isfinite(self.anchor_weight) and self.anchor_weight >= 0):
            raise ConfigError(f"DsrlConfig: anchor_weight must be finite and >= 0, got {self.anchor_weight}")
        if not (0.0 <= self.gamma < 1.0 and 0.0 < self.tau <= 1.0 and self.lr > 0 and self.batch_size >= 2):
            raise ConfigError(f"DsrlConfig: gamma {self.gamma} in [0, 1), tau {self.tau} in (0, 1], lr {self.lr} "
                              f"> 0 and batch_size {self.batch_size} >= 2 needed")
        if not LOG_STD_RANGE[0] <= self.initial_log_std <= LOG_STD_RANGE[1]:
            raise ConfigError(f"DsrlConfig: initial_log_std {self.initial_log_std} outside {LOG_STD_RANGE}")


class NoiseActor(nn.Module):
    """Tanh Gaussian over the squashed latent u in (-1, 1)^d given obs (B, obs_dim); latent = LATENT_SCALE * u."""

    def __init__(self, config: DsrlConfig):
        super().__init__()
        self.config = config
        self.obs_norm = InputNorm(config.obs_dim)
        self.body = mlp(config.obs_dim, 2 * config.latent_dim, config.hidden, config.layers)
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)  # a fresh actor's deterministic latent is 0: the base's mean noise
        with torch.no_grad():
            self.body[-1].bias[config.latent_dim:] = config.initial_log_std

    def distribution(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log_std), each (B, d), of the pre-tanh Gaussian."""
        mean, log_std = self.body(self.obs_norm(obs)).chunk(2, dim=-1)
        return mean, torch.clamp(log_std, *LOG_STD_RANGE)

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(u (B, d) in (-1, 1), log-probability (B,)) by the reparameterisation trick."""
        u, log_prob, _ = self.sample_and_mean(obs)
        return u, log_prob

    def sample_and_mean(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`sample`'s (u (B, d), log-probability (B,)) and the deterministic tanh(mean) (B, d), one pass."""
        mean, log_std = self.distribution(obs)
        std = log_std.exp()
        pre = mean + std * torch.randn_like(mean)
        u = torch.tanh(pre)
        log_prob = torch.distributions.Normal(mean, std).log_prob(pre) - torch.log1p(-u.pow(2) + 1e-6)
        return u, log_prob.sum(dim=-1), torch.tanh(mean)

    def forward(self, obs: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """The latent LATENT_SCALE * tanh(mean + std * eps) (B, d); eps zeros: the deterministic latent."""
        mean, log_std = self.distribution(obs)
        return LATENT_SCALE * torch.tanh(mean + log_std.exp() * eps)


class FlatCritic(nn.Module):
    """An ensemble Q(s, x) -> (E, B) over the concatenation [obs, x] (x: latent or executed chunk).

    It is :class:`~robot_rl.hil.residual_net.EnsembleCritic` with the whole input as its observation and a
    constant zero (B, 1) in its two per-step slots (base action, residual), which carry nothing here."""

    def __init__(self, in_dim: int, config: DsrlConfig):
        super().__init__()
        self.ensemble = EnsembleCritic(NetConfig(in_dim, 1, hidden=config.hidden, layers=config.layers,
                                                 critics=config.critics), config.critics)
        self.members = config.critics

    def forward(self, obs: torch.Tensor, x: torch.Tensor, members: torch.Tensor | None = None) -> torch.Tensor:
        zero = obs.new_zeros(obs.shape[0], 1)
        return self.ensemble(torch.cat([obs, x], dim=-1), zero, zero, members=members)

    def fit(self, values: np.ndarray, fixed_tail: int = 0) -> None:
        """Freeze the input statistics from ``values`` (N, in_dim); the last ``fixed_tail`` inputs (latents,
        already O(1)) keep mean 0, std 1."""
        norm = self.ensemble.obs_norm
        norm.fit(values)
        if fixed_tail:
            norm.mean[-fixed_tail:], norm.std[-fixed_tail:] = 0.0, 1.0


def _tensors(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    out = {k: torch.as_tensor(np.asarray(v), dtype=torch.float32) for k, v in batch.items()}
    for key in ("obs", "next_obs"):
        out[key] = out[key].reshape(out[key].shape[0], -1)
    return out


class DsrlLearner:
    """The noise actor, Q^A and Q^W (+ Q^W's target) and the temperature; :meth:`update` runs one step."""

    def __init__(self, config: DsrlConfig, seed: int = 0):
        torch.manual_seed(seed)
        self.config = config
        self.actor = NoiseActor(config)
        self.action_critic = FlatCritic(config.obs_dim + config.executed_dim, config)
        self.critic = FlatCritic(config.obs_dim + config.latent_dim, config)  # Q^W
        self.target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_temperature = torch.tensor(np.log(config.initial_temperature), requires_grad=True)
        self.target_entropy = config.target_entropy_per_dim * config.latent_dim
        self.optimisers = [torch.optim.Adam(self.actor.parameters(), lr=config.lr),
                           torch.optim.Adam(self.action_critic.parameters(), lr=config.lr),
                           torch.optim.Adam(self.critic.parameters(), lr=config.lr),
                           torch.optim.Adam([self.log_temperature], lr=config.temperature_lr)]
        self.updates, self.fitted, self.warm_started = 0, False, False

    _MODULES = ("actor", "action_critic", "critic", "target")

    def state_dict(self) -> dict:
        """A snapshot of everything a restarted learner needs (no tensor aliases the live ones)."""
        return copy.deepcopy({"dsrl": dataclasses.asdict(self.config), "updates": self.updates,
                              "fitted": self.fitted, "warm_started": self.warm_started,
                              "log_temperature": self.log_temperature.detach(),
                              "optimisers": [o.state_dict() for o in self.optimisers],
                              **{m: getattr(self, m).state_dict() for m in self._MODULES}})

    def load_state_dict(self, state: dict) -> None:
        """Continue from :meth:`state_dict`; ConfigError if it was saved for another configuration."""
        if state.get("dsrl") != dataclasses.asdict(self.config):
            raise ConfigError(f"DSRL learner checkpoint has configuration {state.get('dsrl')}, this learner "
                              f"{dataclasses.asdict(self.config)} (a residual learner's checkpoint is refused too)")
        for module in self._MODULES:
            getattr(self, module).load_state_dict(state[module])
        with torch.no_grad():
            self.log_temperature.copy_(state["log_temperature"])
        for optimiser, saved in zip(self.optimisers, state["optimisers"]):
            optimiser.load_state_dict(saved)
        self.updates, self.fitted = int(state["updates"]), bool(state["fitted"])
        self.warm_started = bool(state["warm_started"])

    def fit_normalisation(self, obs: np.ndarray, executed: np.ndarray) -> None:
        """Freeze input statistics from chunk-start windows (N, *obs_shape) and executed chunks (N, d)."""
        c = self.config
        flat = np.asarray(obs).reshape(len(obs), -1)
        self.actor.obs_norm.fit(flat)
        self.action_critic.fit(np.concatenate([flat, np.asarray(executed)[:, :c.executed_dim]], axis=1))
        latent_pad = np.zeros((len(flat), c.latent_dim))
        for critic in (self.critic, self.target):
            critic.fit(np.concatenate([flat, latent_pad], axis=1), fixed_tail=c.latent_dim)
        self.fitted = True

    def update(self, batch: dict[str, np.ndarray]) -> dict[str, float]:
        """One step of Q^A, Q^W, the actor and the temperature on ``batch``; returns losses and Q statistics."""
        if not self.fitted:
            raise ConfigError("DsrlLearner.update before fit_normalisation")
        b = _tensors(batch)
        stats = self._action_critic_step(b)
        stats.update(self._latent_critic_step(b))
        stats.update(self._actor_step(b))
        loss = self.log_temperature.exp() * (stats["entropy"] - self.target_entropy)
        self._step(self.optimisers[3], loss)
        stats["temperature"] = float(self.log_temperature.detach().exp())
        with torch.no_grad():
            for target, source in zip(self.target.parameters(), self.critic.parameters()):
                target.lerp_(source, self.config.tau)
        self.updates += 1
        return stats

    @staticmethod
    def _step(optimiser: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    def _action_critic_step(self, b: dict[str, torch.Tensor]) -> dict[str, float]:
        c = self.config
        with torch.no_grad():
            u, _ = self.actor.sample(b["next_obs"])
            subset = torch.randperm(c.critics)[: c.critic_subset]
            next_q = self.target(b["next_obs"], LATENT_SCALE * u, members=subset).min(dim=0).values
            discount = b["discount"] if "discount" in b else c.gamma * (1.0 - b["done"])
            target = b["reward"] + discount * next_q
        q = self.action_critic(b["obs"], b["base_action"][:, :c.executed_dim])
        self._step(self.optimisers[1], ((q - target[None]) ** 2).mean(dim=1).sum())
        return {"critic": float(((q.detach() - target[None]) ** 2).mean()), "q_data": float(q.detach().mean()),
                "q_target": float(target.mean())}

    def _latent_critic_step(self, b: dict[str, torch.Tensor]) -> dict[str, float]:
        policy = b["intervened"] < 0.5  # the executed chunk is the base's output for the stored latent
        if not policy.any():
            return {"latent_critic": 0.0}
        obs = b["obs"][policy]
        with torch.no_grad():
            target = self.action_critic(obs, b["base_action"][policy][:, :self.config.executed_dim]).mean(dim=0)
        q = self.critic(obs, LATENT_SCALE * b["action"][policy])
        loss = ((q - target[None]) ** 2).mean(dim=1).sum()
        self._step(self.optimisers[2], loss)
        return {"latent_critic": float(loss.detach()) / self.config.critics}

    def _actor_step(self, b: dict[str, torch.Tensor]) -> dict[str, float]:
        u, log_prob, u_mean = self.actor.sample_and_mean(b["obs"])
        self.critic.requires_grad_(False)  # dQ/dw only
        q = self.critic(b["obs"], LATENT_SCALE * u).mean(dim=0)
        self.critic.requires_grad_(True)
        anchor = (u_mean ** 2).mean()
        loss = (self.log_temperature.exp().detach() * log_prob - q).mean() + self.config.anchor_weight * anchor
        self._step(self.optimisers[0], loss)
        return {"actor": float(loss.detach()), "q_pi": float(q.detach().mean()),
                "entropy": float(-log_prob.detach().mean()), "anchor": float(anchor.detach())}
