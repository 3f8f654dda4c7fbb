"""Per-dimension range normalisation from dataset statistics.

Observations and actions are mapped affinely to [-1, 1] with the dataset's
min/max per dimension (diffusion models sample in a bounded space, and clipping
the predicted clean sample to [-1, 1] then keeps actions inside the range seen
in the demonstrations). Dimensions that barely vary get a unit range so they are
centred without being blown up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from robot_rl.errors import ConfigError


@dataclass(frozen=True)
class RangeStats:
    """Per-dimension min and max of a dataset field, (d,) float arrays in the field's units."""

    low: np.ndarray
    high: np.ndarray

    def __post_init__(self):
        low, high = np.asarray(self.low, dtype=np.float64), np.asarray(self.high, dtype=np.float64)
        if low.ndim != 1 or low.shape != high.shape:
            raise ConfigError(f"RangeStats: low {low.shape} and high {high.shape} must be equal 1-D shapes")
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            raise ConfigError("RangeStats: low/high contain NaN or Inf")
        if np.any(high < low):
            raise ConfigError(f"RangeStats: high < low at dims {np.flatnonzero(high < low).tolist()}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def to_dict(self) -> dict:
        """JSON-friendly form (lists)."""
        return {"low": self.low.tolist(), "high": self.high.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> "RangeStats":
        """Inverse of :meth:`to_dict`."""
        return cls(np.asarray(data["low"]), np.asarray(data["high"]))


def compute_range_stats(values: np.ndarray, margin: float = 0.0) -> RangeStats:
    """Min/max per dimension of ``values`` (N, d), widened by ``margin`` times the range on each side."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] == 0:
        raise ConfigError(f"compute_range_stats needs a non-empty (N, d) array, got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ConfigError("compute_range_stats: dataset contains NaN or Inf")
    low, high = values.min(axis=0), values.max(axis=0)
    pad = (high - low) * margin
    return RangeStats(low - pad, high + pad)


class RangeNormalizer(nn.Module):
    """Affine map x -> x * scale + offset with [low, high] -> [-1, 1]; exported into the ONNX graph.

    Args:
        stats: per-dimension range, (d,).
        min_range: dimensions with ``high - low`` below this (field units) use a unit-wide range
            centred on their mean, so constant inputs do not divide by ~0.
    """

    def __init__(self, stats: RangeStats, min_range: float = 1e-3):
        super().__init__()
        span = stats.high - stats.low
        centre = 0.5 * (stats.high + stats.low)
        span = np.where(span < min_range, 2.0, span)
        scale = 2.0 / span
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))
        self.register_buffer("offset", torch.as_tensor(-centre * scale, dtype=torch.float32))
        self.stats = stats

    @property
    def dim(self) -> int:
        """Number of dimensions d."""
        return int(self.scale.shape[0])

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """(..., d) field units -> (..., d) normalised."""
        return x * self.scale + self.offset

    def unnormalize(self, y: torch.Tensor) -> torch.Tensor:
        """(..., d) normalised -> (..., d) field units."""
        return (y - self.offset) / self.scale
