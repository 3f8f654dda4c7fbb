"""Transitions of the human-in-the-loop (HIL) learner: fields, shapes, validation (numpy only).

The fields of T transitions (step t: ``obs[t]`` -> ``action[t]`` -> ``reward[t]``, ``next_obs[t]``):

==================  =================  ========  ==========================================================
name                shape              dtype     meaning
==================  =================  ========  ==========================================================
obs                 (T, *obs_shape)    float32   observation the action was chosen from (policy input units)
base_action         (T, a)             float32   the base policy's raw action at ``obs``
action              (T, a)             float32   residual action actually executed, residual units [-1, 1]
                                                 (while a human was in control: their command as a residual)
intervened          (T,)               bool      a human was in control for this step
reward              (T,)               float32   reward received after the step
done                (T,)               bool      terminal: the episode ended after this step (no bootstrap)
next_obs            (T, *obs_shape)    float32   observation after the step
next_base_action    (T, a)             float32   the base policy's raw action at ``next_obs``
==================  =================  ========  ==========================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from robot_rl.errors import ConfigError, DataError

FIELDS = ("obs", "base_action", "action", "intervened", "reward", "done", "next_obs", "next_base_action")
"""The transition fields, in storage order."""
BOOL_FIELDS = ("intervened", "done")
ACTION_LIMIT = 1.0
"""Bound of the residual action ``action`` (residual units)."""
ACTION_TOLERANCE = 1e-5
"""Slack on :data:`ACTION_LIMIT` for rounding."""

def int_at_least(owner: str, name: str, value, minimum: int) -> int:
    """``value`` as an int; ConfigError naming ``owner.name`` unless it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{owner}.{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class ReplayConfig:
    """Shapes of a transition and sizes of the learner's buffers.

    obs_shape: shape of one observation (e.g. ``(obs_dim,)``); action_dim: size ``a`` of the base and
    residual actions; capacity: most transitions a :class:`ReplaySampler` holds (the oldest go first);
    flush_every: steps a :class:`TransitionStore` buffers before writing them as a segment (a crash
    loses fewer than this many steps; 0: write only at episode ends and on :meth:`TransitionStore.flush`).
    """

    obs_shape: tuple[int, ...]
    action_dim: int
    capacity: int = 200_000
    flush_every: int = 100

    def __post_init__(self):
        shape = (self.obs_shape,) if isinstance(self.obs_shape, (int, np.integer)) else tuple(self.obs_shape)
        if not shape:
            raise ConfigError("ReplayConfig.obs_shape must have at least one dimension, got ()")
        object.__setattr__(self, "obs_shape", tuple(int_at_least("ReplayConfig", "obs_shape", d, 1) for d in shape))
        object.__setattr__(self, "action_dim", int_at_least("ReplayConfig", "action_dim", self.action_dim, 1))
        object.__setattr__(self, "capacity", int_at_least("ReplayConfig", "capacity", self.capacity, 1))
        object.__setattr__(self, "flush_every", int_at_least("ReplayConfig", "flush_every", self.flush_every, 0))

    def field_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of one step of each field in :data:`FIELDS` (no batch dimension)."""
        a = (self.action_dim,)
        return {"obs": self.obs_shape, "base_action": a, "action": a, "intervened": (), "reward": (), "done": (),
                "next_obs": self.obs_shape, "next_base_action": a}


def field_dtype(name: str) -> type:
    """Storage dtype of transition field ``name``: bool for the flags, float32 otherwise."""
    return np.bool_ if name in BOOL_FIELDS else np.float32


def empty_arrays(config: ReplayConfig) -> dict[str, np.ndarray]:
    """Zero-length arrays of every field (plus ``episode``), shaped ``(0, *shape)``."""
    out = {name: np.zeros((0, *shape), dtype=field_dtype(name)) for name, shape in config.field_shapes().items()}
    out["episode"] = np.zeros(0, dtype=np.int64)
    return out


def _convert(name: str, value, expected: tuple[int, ...], where: str) -> np.ndarray:
    """``value`` as a fresh array of the field's dtype; DataError naming the field if it is not that."""
    raw = np.asarray(value)
    if raw.shape != expected:
        raise DataError(f"{where}field {name!r} has shape {raw.shape}, expected {expected}")
    if name in BOOL_FIELDS:
        if raw.dtype == np.bool_:
            return raw.copy()
        if raw.dtype.kind in "iu" and np.all((raw == 0) | (raw == 1)):
            return raw.astype(np.bool_)
        raise DataError(f"{where}field {name!r} must be bool (or 0/1), got dtype {raw.dtype} value(s) {raw!r}")
    if raw.dtype.kind not in "iuf":
        raise DataError(f"{where}field {name!r} must be numeric, got dtype {raw.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):
        out = raw.astype(np.float32)  # always a copy: the caller may reuse its buffers
    bad = ~np.isfinite(out)
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(f"{where}field {name!r} has {int(bad.sum())} non-finite value(s) in float32 "
                        f"(first: {raw[at]!r} at index {at})")
    if name == "action":
        over = np.abs(out) > ACTION_LIMIT + ACTION_TOLERANCE
        if over.any():
            at = tuple(int(i) for i in np.argwhere(over)[0])
            raise DataError(f"{where}field 'action' must be a residual action in [-{ACTION_LIMIT}, {ACTION_LIMIT}], "
                            f"got {out[at]!r} at index {at}")
    return out


def validate_step(config: ReplayConfig, *, obs, base_action, action, intervened, reward, done, next_obs,
                  next_base_action) -> dict[str, np.ndarray]:
    """Check one transition and return it as fresh arrays (float32 / bool, shapes of ``config.field_shapes()``).

    Raises:
        DataError: naming the field and the problem (wrong shape, non-finite value, non-bool flag,
            ``action`` outside the residual's [-1, 1]).
    """
    values = {"obs": obs, "base_action": base_action, "action": action, "intervened": intervened, "reward": reward,
              "done": done, "next_obs": next_obs, "next_base_action": next_base_action}
    shapes = config.field_shapes()
    return {name: _convert(name, values[name], shapes[name], "") for name in FIELDS}


def validate_arrays(config: ReplayConfig, arrays: Mapping[str, np.ndarray], where: str = "") -> dict[str, np.ndarray]:
    """Check a batch of T transitions (every field ``(T, *shape)``) and return fresh float32 / bool arrays.

    Keys other than :data:`FIELDS` are ignored. ``where`` prefixes the error messages (e.g. a file name).

    Raises:
        DataError: a field is missing, has another length or shape, or holds invalid values.
    """
    prefix = f"{where}: " if where else ""
    missing = [name for name in FIELDS if name not in arrays]
    if missing:
        raise DataError(f"{prefix}missing field(s) {missing}")
    length = np.shape(arrays["obs"])[0] if np.ndim(arrays["obs"]) else 0
    shapes = config.field_shapes()
    return {name: _convert(name, arrays[name], (length, *shapes[name]), prefix) for name in FIELDS}
