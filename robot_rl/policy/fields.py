"""Validation helpers for contract fields: finite float tuples, clip pairs, unique names."""

from __future__ import annotations

import numpy as np

from robot_rl.errors import ConfigError


def _floats(where: str, value, n: int) -> tuple[float, ...]:
    """A finite float tuple of length n (a scalar is broadcast); ConfigError naming ``where``."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"contract {where}: expected numbers, got {value!r}") from exc
    if arr.ndim == 0 or arr.shape == (1,):
        arr = np.full(n, float(arr.reshape(-1)[0]))
    if arr.shape != (n,):
        raise ConfigError(f"contract {where}: expected {n} values, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"contract {where}: values must be finite, got {arr.tolist()}")
    return tuple(float(x) for x in arr)


def _clip_pair(where: str, clip, n: int) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """(lo (n,), hi (n,)) or None; lo must be < hi."""
    if clip is None:
        return None
    if len(clip) != 2:
        raise ConfigError(f"contract {where}: expected [lo, hi], got {clip!r}")
    lo, hi = _floats(f"{where}[0]", clip[0], n), _floats(f"{where}[1]", clip[1], n)
    if any(a >= b for a, b in zip(lo, hi)):
        raise ConfigError(f"contract {where}: lo {lo} must be < hi {hi}")
    return lo, hi


def _names(where: str, names) -> tuple[str, ...]:
    names = tuple(str(n) for n in names)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if not names or dupes:
        raise ConfigError(f"contract {where}: must be non-empty and unique, duplicates: {dupes}")
    return names
