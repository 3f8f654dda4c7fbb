"""Conditional 1D temporal U-Net over action chunks (after Chi et al., Diffusion Policy).

Shapes: B batch, H horizon (action steps per chunk), A action dim, C conditioning
features. The network predicts the noise added to a normalised action chunk,
conditioned (FiLM: per-channel scale and bias) on the diffusion timestep and on
the observation features from :class:`ObsEncoder`.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class SinusoidalTimeEmbedding(nn.Module):
    """Diffusion timestep (B,) -> (B, dim) sinusoidal features."""

    def __init__(self, dim: int):
        super().__init__()
        half = dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / max(half - 1, 1))
        self.register_buffer("freqs", freqs)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        args = t.float()[:, None] * self.freqs[None, :]
        return torch.cat([args.sin(), args.cos()], dim=-1)


class ConvBlock(nn.Module):
    """Conv1d -> GroupNorm -> Mish over (B, channels, H)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, groups: int):
        super().__init__()
        self.net = nn.Sequential(nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2),
                                 nn.GroupNorm(groups, c_out), nn.Mish())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class FiLMResBlock(nn.Module):
    """Two conv blocks with FiLM conditioning between them and a residual connection.

    forward(x (B, c_in, H), cond (B, cond_dim)) -> (B, c_out, H)
    """

    def __init__(self, c_in: int, c_out: int, cond_dim: int, kernel: int, groups: int):
        super().__init__()
        self.block1 = ConvBlock(c_in, c_out, kernel, groups)
        self.block2 = ConvBlock(c_out, c_out, kernel, groups)
        self.film = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, 2 * c_out))
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.c_out = c_out

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.block1(x)
        scale, bias = self.film(cond).unsqueeze(-1).chunk(2, dim=1)
        h = self.block2(h * (1.0 + scale) + bias)
        return h + self.skip(x)


class FiLMStack(nn.Module):
    """Consecutive FiLM residual blocks sharing one conditioning vector: (B, c_in, H) -> (B, c_out, H)."""

    def __init__(self, blocks: list[FiLMResBlock]):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, cond)
        return x


def _stack(c_in: int, c_out: int, cond_dim: int, kernel: int, groups: int, blocks: int) -> FiLMStack:
    return FiLMStack([FiLMResBlock(c_in if i == 0 else c_out, c_out, cond_dim, kernel, groups) for i in range(blocks)])


class ConditionalUnet1D(nn.Module):
    """Noise predictor eps(x_t, t, obs_features).

    Args:
        action_dim: A.
        cond_features: C, size of the observation features.
        channels: channel count per U-Net level, e.g. (64, 128); every level but the last halves H.
        kernel: temporal convolution width (odd).
        blocks: FiLM residual blocks per level.
        groups: GroupNorm groups (must divide every channel count).
        time_dim: size of the timestep embedding.
    """

    def __init__(self, action_dim: int, cond_features: int, channels: tuple[int, ...] = (64, 128),
                 kernel: int = 5, groups: int = 8, time_dim: int = 64, blocks: int = 2):
        super().__init__()
        self.time_embed = nn.Sequential(SinusoidalTimeEmbedding(time_dim), nn.Linear(time_dim, 4 * time_dim),
                                        nn.Mish(), nn.Linear(4 * time_dim, time_dim))
        cond_dim = time_dim + cond_features
        widths = [action_dim, *channels]
        self.down = nn.ModuleList()
        for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])):
            last = i == len(channels) - 1
            self.down.append(nn.ModuleList([
                _stack(c_in, c_out, cond_dim, kernel, groups, blocks),
                nn.Conv1d(c_out, c_out, 3, stride=2, padding=1) if not last else nn.Identity()]))
        self.mid = _stack(channels[-1], channels[-1], cond_dim, kernel, groups, blocks)
        self.up = nn.ModuleList()
        for c_out, c_skip in zip(reversed(channels[:-1]), reversed(channels[1:])):
            self.up.append(nn.ModuleList([
                _stack(2 * c_skip, c_out, cond_dim, kernel, groups, blocks),
                nn.ConvTranspose1d(c_out, c_out, 4, stride=2, padding=1)]))
        self.final = nn.Sequential(ConvBlock(channels[0], channels[0], kernel, groups),
                                   nn.Conv1d(channels[0], action_dim, 1))

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, obs_features: torch.Tensor) -> torch.Tensor:
        """sample (B, H, A) noisy normalised actions, timestep (B,), obs_features (B, C) -> noise (B, H, A)."""
        cond = torch.cat([self.time_embed(timestep), obs_features], dim=-1)
        x = sample.transpose(1, 2)
        skips = []
        for block, downsample in self.down:
            x = block(x, cond)
            skips.append(x)
            x = downsample(x)
        x = self.mid(x, cond)
        for block, upsample in self.up:  # the shallowest skip is unused, as in Diffusion Policy
            x = upsample(block(torch.cat([x, skips.pop()], dim=1), cond))
        return self.final(x).transpose(1, 2)
