"""The residual policy and its critics (torch): small MLPs over (observation, base action).

A residual acts per executed step ``i`` of the base policy's chunk::

    raw_i = base_raw_i + scale * residual(obs, base_raw_i),   residual in [-1, 1]

(the composition of :mod:`robot_rl.policy.runtime`). ``obs`` is the base policy's observation input,
flattened: (B, To * O). Inputs are normalised with statistics frozen from the first data the learner
sees (:class:`InputNorm`), and baked into the exported graph. The actor's output layer starts at zero,
so a fresh residual leaves the base policy unchanged, and its exploration starts small
(``NetConfig.initial_log_std``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from robot_rl.errors import ConfigError

LOG_STD_RANGE = (-5.0, 1.0)


@dataclass(frozen=True)
class NetConfig:
    """Sizes: flattened observation ``obs_dim``, action ``action_dim``, ``hidden`` units x ``layers``."""

    obs_dim: int
    action_dim: int
    hidden: int = 128
    layers: int = 2
    initial_log_std: float = -2.0  # pre-tanh exploration at start: std 0.14, a residual of about +-0.1
    critics: int = 10  # members of the critic ensemble

    def __post_init__(self) -> None:
        if self.critics < 2:
            raise ConfigError(f"NetConfig: critics must be >= 2 (an ensemble), got {self.critics}")
        if min(self.obs_dim, self.action_dim, self.hidden, self.layers) < 1:
            raise ConfigError(f"NetConfig: obs_dim {self.obs_dim}, action_dim {self.action_dim}, hidden "
                              f"{self.hidden} and layers {self.layers} must all be >= 1")
        if not LOG_STD_RANGE[0] <= self.initial_log_std <= LOG_STD_RANGE[1]:
            raise ConfigError(f"NetConfig: initial_log_std {self.initial_log_std} outside {LOG_STD_RANGE}")


class InputNorm(nn.Module):
    """(x - mean) / std per dimension, clipped to +-5; identity until :meth:`fit` is called."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def fit(self, values: np.ndarray) -> None:
        """Freeze the statistics of ``values`` (N, dim); dimensions that barely vary keep unit std."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != self.mean.numel() or len(values) == 0:
            raise ConfigError(f"InputNorm.fit needs (N, {self.mean.numel()}) values, got {values.shape}")
        std = values.std(axis=0)
        self.mean.copy_(torch.as_tensor(values.mean(axis=0), dtype=torch.float32))
        self.std.copy_(torch.as_tensor(np.where(std < 1e-6, 1.0, std), dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp((x - self.mean) / self.std, -5.0, 5.0)


def mlp(inputs: int, outputs: int, hidden: int, layers: int) -> nn.Sequential:
    """Linear -> LayerNorm -> ReLU, ``layers`` times, then a linear head (LayerNorm as in RLPD's critics)."""
    parts: list[nn.Module] = []
    width = inputs
    for _ in range(layers):
        parts += [nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.ReLU()]
        width = hidden
    parts.append(nn.Linear(width, outputs))
    return nn.Sequential(*parts)


class ResidualActor(nn.Module):
    """Tanh-squashed Gaussian over residual actions (B, a) given obs (B, obs_dim) and base actions (B, a)."""

    def __init__(self, config: NetConfig):
        super().__init__()
        self.config = config
        self.obs_norm, self.base_norm = InputNorm(config.obs_dim), InputNorm(config.action_dim)
        self.body = mlp(config.obs_dim + config.action_dim, 2 * config.action_dim, config.hidden, config.layers)
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)
        with torch.no_grad():
            self.body[-1].bias[config.action_dim:] = config.initial_log_std

    def distribution(self, obs: torch.Tensor, base: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log_std), each (B, a), of the pre-tanh Gaussian."""
        out = self.body(torch.cat([self.obs_norm(obs), self.base_norm(base)], dim=-1))
        mean, log_std = out.chunk(2, dim=-1)
        return mean, torch.clamp(log_std, *LOG_STD_RANGE)

    def sample(self, obs: torch.Tensor, base: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(residual in (-1, 1) (B, a), its log-probability (B,)) by the reparameterisation trick."""
        action, log_prob, _ = self.sample_and_mean(obs, base)
        return action, log_prob

    def sample_and_mean(self, obs: torch.Tensor, base: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """:meth:`sample`'s (action (B, a), log-probability (B,)) and the deterministic residual tanh(mean)
        (B, a) of :meth:`forward`, from one pass of the network."""
        mean, log_std = self.distribution(obs, base)
        std = log_std.exp()
        pre = mean + std * torch.randn_like(mean)
        action = torch.tanh(pre)
        normal = torch.distributions.Normal(mean, std)
        log_prob = normal.log_prob(pre) - torch.log1p(-action.pow(2) + 1e-6)
        return action, log_prob.sum(dim=-1), torch.tanh(mean)

    def forward(self, obs: torch.Tensor, base: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Residual tanh(mean + std * noise) (B, a); deterministic tanh(mean) without ``noise`` (B, a) (or
        with zeros): what is exported; the runtime feeds standard normal noise only while exploring."""
        mean, log_std = self.distribution(obs, base)
        return torch.tanh(mean if noise is None else mean + log_std.exp() * noise)


class EnsembleCritic(nn.Module):
    """``members`` Q functions Q(obs, base, residual) -> (E, B) as one batched module (REDQ / RLPD).

    Each layer holds the weights of every member, (E, in, out), and runs as one batched matmul
    (``torch.baddbmm``), followed by a per-member LayerNorm and ReLU; inputs are normalised like the
    actor's. One update of E members costs about one matmul of E times the width, not E modules.
    """

    def __init__(self, config: NetConfig, members: int):
        super().__init__()
        if members < 2:
            raise ConfigError(f"EnsembleCritic needs at least 2 members, got {members}")
        self.members = members
        self.obs_norm, self.base_norm = InputNorm(config.obs_dim), InputNorm(config.action_dim)
        widths = [config.obs_dim + 2 * config.action_dim] + [config.hidden] * config.layers + [1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            bound = 1.0 / np.sqrt(fan_in)  # nn.Linear's default initialisation, per member
            self.weights.append(nn.Parameter(torch.empty(members, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(members, 1, fan_out).uniform_(-bound, bound)))
        self.norm_scales = nn.ParameterList([nn.Parameter(torch.ones(members, 1, config.hidden))
                                             for _ in range(config.layers)])
        self.norm_shifts = nn.ParameterList([nn.Parameter(torch.zeros(members, 1, config.hidden))
                                             for _ in range(config.layers)])

    def forward(self, obs: torch.Tensor, base: torch.Tensor, action: torch.Tensor,
                members: torch.Tensor | None = None) -> torch.Tensor:
        """obs (B, obs_dim), base (B, a), action (B, a) -> Q (E, B); or (E, B, *) inputs per member.

        ``members`` (k,) long: run only those members (their weights indexed out), -> (k, B); the same values
        as ``forward(...)[members]`` at k/E of the cost (the target's random subset)."""
        x = torch.cat([self.obs_norm(obs), self.base_norm(base), action], dim=-1)
        pick = (lambda p: p) if members is None else (lambda p: p[members])
        if x.dim() == 2:
            x = x.expand(self.members if members is None else len(members), *x.shape)
        for layer, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(pick(bias), x, pick(weight))
            if layer < len(self.norm_scales):  # LayerNorm with a per-member affine, then ReLU
                x = torch.addcmul(pick(self.norm_shifts[layer]), nn.functional.layer_norm(x, x.shape[-1:]),
                                  pick(self.norm_scales[layer]))
                x = torch.relu(x)
        return x.squeeze(-1)
