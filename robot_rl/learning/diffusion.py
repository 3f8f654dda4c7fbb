"""Diffusion policy over action chunks: observation encoder, DDPM training loss, DDIM sampling.

Shapes: B batch, To observation history, O observation dim, H horizon, A action dim.
Observations and actions enter in their physical units and are normalised inside
the model (the normalisers are buffers, so the exported ONNX graph carries them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from robot_rl.errors import ConfigError
from robot_rl.learning.normalizer import RangeNormalizer, RangeStats
from robot_rl.learning.unet import ConditionalUnet1D


@dataclass(frozen=True)
class DiffusionConfig:
    """Sizes of a diffusion policy.

    obs_dim: O, concatenated observation terms per step; action_dim: A.
    obs_history: To whole observation frames at the policy rate (default 1: the task observations include
    joint velocities; To > 1 needs a runtime that pushes a frame every policy period, see docs/training.md);
    horizon: H predicted action steps per chunk;
    n_action_steps: steps of a chunk the runtime executes before replanning.
    channels / kernel / blocks_per_level / groups: U-Net widths, conv width, residual blocks per
    level, GroupNorm groups.
    obs_features: size of the observation encoder output; time_dim: timestep embedding size.
    train_timesteps: DDPM diffusion steps T; denoising_steps: DDIM steps used at inference.
    start_timestep: the timestep sampling starts from (None: the DDIM default (K-1) * T/K, 90 for T=100, K=10);
    a one-step distilled student (robot_rl.learning.distill) keeps its teacher's start with K = 1.
    """

    obs_dim: int
    action_dim: int
    obs_history: int = 1
    horizon: int = 16
    n_action_steps: int = 8
    channels: tuple[int, ...] = (64, 128)
    kernel: int = 5
    blocks_per_level: int = 2
    groups: int = 8
    obs_features: int = 128
    time_dim: int = 64
    train_timesteps: int = 100
    denoising_steps: int = 10
    start_timestep: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        for name in ("obs_dim", "action_dim", "obs_history", "horizon", "n_action_steps", "kernel", "blocks_per_level",
                     "groups", "obs_features", "time_dim", "train_timesteps", "denoising_steps"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"DiffusionConfig.{name} must be >= 1, got {getattr(self, name)}")
        levels = len(self.channels)
        if levels < 1 or any(c % self.groups for c in self.channels):
            raise ConfigError(f"DiffusionConfig.channels {self.channels} must be non-empty multiples of groups={self.groups}")
        if self.horizon % (2 ** (levels - 1)):
            raise ConfigError(f"DiffusionConfig.horizon {self.horizon} must be divisible by 2**(levels-1)={2 ** (levels - 1)}")
        if self.n_action_steps > self.horizon:
            raise ConfigError(f"DiffusionConfig.n_action_steps {self.n_action_steps} > horizon {self.horizon}")
        if self.kernel % 2 == 0:
            raise ConfigError(f"DiffusionConfig.kernel must be odd, got {self.kernel}")
        if self.train_timesteps % self.denoising_steps:
            raise ConfigError(f"DiffusionConfig.denoising_steps {self.denoising_steps} must divide "
                              f"train_timesteps {self.train_timesteps}")
        if self.start_timestep is not None and not 0 <= self.start_timestep < self.train_timesteps:
            raise ConfigError(f"DiffusionConfig.start_timestep {self.start_timestep} must be in "
                              f"[0, train_timesteps={self.train_timesteps})")

    def to_dict(self) -> dict:
        """JSON-friendly form."""
        data = asdict(self)
        data["channels"] = list(self.channels)
        return data


class ObsEncoder(nn.Module):
    """Observation history -> conditioning features.

    Each modality has its own encoder producing (B, F_i) features; they are
    concatenated and fused by an MLP. Only the state encoder exists today; an image
    encoder (e.g. a small ResNet per camera) is added as another entry of
    ``self.modalities`` with its own input, without changing the U-Net.

    forward(obs_norm (B, To, O)) -> (B, obs_features)
    """

    def __init__(self, obs_dim: int, obs_history: int, features: int):
        super().__init__()
        state = nn.Sequential(nn.Flatten(1), nn.Linear(obs_dim * obs_history, 256), nn.Mish(),
                              nn.Linear(256, features))
        self.modalities = nn.ModuleDict({"state": state})
        self.fuse = nn.Sequential(nn.Mish(), nn.Linear(features * len(self.modalities), features))

    def forward(self, obs_norm: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([self.modalities["state"](obs_norm)], dim=-1))


def cosine_alphas_cumprod(timesteps: int, s: float = 0.008) -> torch.Tensor:
    """Squared-cosine DDPM schedule (Nichol & Dhariwal): cumulative alpha-bar per step, (T,)."""
    steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((steps + s) / (1 + s) * torch.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, dim=0).float()


class DiffusionPolicy(nn.Module):
    """eps-prediction diffusion policy with range normalisation of observations and actions."""

    def __init__(self, config: DiffusionConfig, obs_stats: RangeStats, action_stats: RangeStats):
        super().__init__()
        if obs_stats.low.shape != (config.obs_dim,) or action_stats.low.shape != (config.action_dim,):
            raise ConfigError(f"normaliser stats {obs_stats.low.shape}/{action_stats.low.shape} do not match "
                              f"obs_dim={config.obs_dim}, action_dim={config.action_dim}")
        self.config = config
        self.obs_norm = RangeNormalizer(obs_stats)
        self.action_norm = RangeNormalizer(action_stats)
        self.encoder = ObsEncoder(config.obs_dim, config.obs_history, config.obs_features)
        self.unet = ConditionalUnet1D(config.action_dim, config.obs_features, config.channels,
                                      config.kernel, config.groups, config.time_dim,
                                      config.blocks_per_level)
        self.register_buffer("alphas_cumprod", cosine_alphas_cumprod(config.train_timesteps))

    def compute_loss(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """DDPM loss: MSE between true and predicted noise. obs (B, To, O), actions (B, H, A), units."""
        features = self.encoder(self.obs_norm.normalize(obs))
        x0 = self.action_norm.normalize(actions)
        t = torch.randint(0, self.config.train_timesteps, (x0.shape[0],), device=x0.device)
        noise = torch.randn_like(x0)
        a = self.alphas_cumprod[t].view(-1, 1, 1)
        noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
        return F.mse_loss(self.unet(noisy, t, features), noise)

    def ddim_timesteps(self) -> list[int]:
        """The DDIM schedule, descending from the start timestep to 0 in K evenly spaced steps: e.g.
        [90, 80, ..., 0] for T=100 and K=10; [90] for a one-step student with start_timestep 90."""
        k, ratio = self.config.denoising_steps, self.config.train_timesteps // self.config.denoising_steps
        start = self.config.start_timestep if self.config.start_timestep is not None else (k - 1) * ratio
        return [start] if k == 1 else [start * (k - 1 - i) // (k - 1) for i in range(k)]

    def sample(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Deterministic DDIM (eta=0): obs (B, To, O) units, noise (B, H, A) -> actions (B, H, A) units."""
        features = self.encoder(self.obs_norm.normalize(obs))
        return self.action_norm.unnormalize(self.ddim_states(features, noise)[-1])

    def ddim_states(self, features: torch.Tensor, noise: torch.Tensor) -> list[torch.Tensor]:
        """The DDIM (eta=0) trajectory in normalised action space from ``noise`` (B, H, A) at the first
        timestep: [x at each timestep of :meth:`ddim_timesteps`, ..., the final sample], K + 1 tensors (B, H, A).
        features: (B, obs_features) from the encoder."""
        x, states = noise, [noise]
        steps = self.ddim_timesteps()
        for i, t in enumerate(steps):
            a_t = self.alphas_cumprod[t]
            a_prev = self.alphas_cumprod[steps[i + 1]] if i + 1 < len(steps) else torch.ones_like(a_t)
            eps = self.unet(x, torch.full((x.shape[0],), t, dtype=torch.long, device=x.device), features)
            x0 = self.predict_x0(x, t, eps).clamp(-1.0, 1.0)
            x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
            states.append(x)
        return states

    def predict_x0(self, x: torch.Tensor, t: int | torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """The clean sample implied by noise prediction ``eps`` at ``x`` (B, H, A) and timestep(s) ``t``
        (an int or (B,) long), unclipped."""
        a_t = self.alphas_cumprod[t]
        if a_t.ndim:
            a_t = a_t.view(-1, 1, 1)
        return (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()


def parameter_count(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)

