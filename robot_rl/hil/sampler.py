"""In-memory replay sampler of the HIL learner (numpy only): FIFO, uniform and RLPD-style mixed sampling."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from robot_rl.errors import ConfigError, RobotRLError
from robot_rl.hil.transitions import FIELDS, ReplayConfig, field_dtype, int_at_least, validate_arrays, validate_step


class EmptyReplayError(RobotRLError, LookupError):
    """Sampling from a replay sampler that holds no (intervened) transitions."""


class ReplaySampler:
    """In-memory replay of transitions for the learner: FIFO up to ``config.capacity``, uniform sampling.

    Holds arrays shaped like :func:`validate_arrays`'s output; fill it with :meth:`extend` (e.g. from
    :func:`load_transitions`) and :meth:`add` (each step the store accepted). Memory grows by doubling
    up to ``capacity`` rows. Sampling is uniform with replacement; every returned array is a copy with a
    leading batch dimension B: obs (B, *obs_shape) float32, action (B, a) float32, reward (B,) float32, ...
    """

    def __init__(self, config: ReplayConfig):
        self.config = config
        self._alloc = min(config.capacity, 1024)
        self._data = {name: np.zeros((self._alloc, *shape), dtype=field_dtype(name))
                      for name, shape in config.field_shapes().items()}
        self._start = 0  # physical row of the oldest transition (non-zero only once full)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def n_intervened(self) -> int:
        """Held transitions during which a human was in control."""
        return int(np.count_nonzero(self._data["intervened"][:self._size]))

    def add(self, step: Mapping[str, np.ndarray]) -> None:
        """Append one transition (a dict of :data:`FIELDS`, e.g. what :meth:`TransitionStore.add` returned)."""
        checked = validate_step(self.config, **{name: step[name] for name in FIELDS})
        self._append({name: value[None] for name, value in checked.items()})

    def extend(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Append T transitions (every field ``(T, *shape)``; other keys ignored), oldest first."""
        self._append(validate_arrays(self.config, arrays))

    def _grow(self, needed: int) -> None:
        alloc = min(self.config.capacity, max(2 * self._alloc, needed))
        ordered = self.arrays()
        self._data = {name: np.zeros((alloc, *arr.shape[1:]), dtype=arr.dtype) for name, arr in self._data.items()}
        for name, arr in ordered.items():
            self._data[name][:self._size] = arr
        self._alloc, self._start = alloc, 0

    def _append(self, rows: dict[str, np.ndarray]) -> None:
        k = len(rows["reward"])
        if k == 0:
            return
        cap = self.config.capacity
        if k >= cap:  # only the newest `cap` rows survive
            if self._alloc < cap:
                self._size = 0
                self._grow(cap)
            for name, arr in rows.items():
                self._data[name][:] = arr[k - cap:]
            self._start, self._size = 0, cap
            return
        if self._size + k > self._alloc and self._alloc < cap:
            self._grow(self._size + k)
        idx = (self._start + self._size + np.arange(k)) % self._alloc
        for name, arr in rows.items():
            self._data[name][idx] = arr
        overflow = max(0, self._size + k - self._alloc)  # > 0 only when full: the oldest rows were overwritten
        self._size = min(self._size + k, self._alloc)
        self._start = (self._start + overflow) % self._alloc

    def arrays(self) -> dict[str, np.ndarray]:
        """Copies of the held transitions, oldest first."""
        order = (self._start + np.arange(self._size)) % max(self._alloc, 1)
        return {name: arr[order] for name, arr in self._data.items()}

    def _take(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {name: arr[rows] for name, arr in self._data.items()}

    @staticmethod
    def _check_batch(batch_size: int) -> int:
        return int_at_least("ReplaySampler", "batch_size", batch_size, 1)

    def sample(self, rng: np.random.Generator, batch_size: int) -> dict[str, np.ndarray]:
        """``batch_size`` transitions drawn uniformly (with replacement) from all held ones.

        Raises:
            EmptyReplayError: the sampler holds nothing.
        """
        batch_size = self._check_batch(batch_size)
        if self._size == 0:
            raise EmptyReplayError("replay sampler is empty: nothing to sample")
        # rows [0, size) are exactly the held ones (start != 0 only once size == alloc)
        return self._take(rng.integers(0, self._size, size=batch_size))

    def sample_intervened(self, rng: np.random.Generator, batch_size: int) -> dict[str, np.ndarray]:
        """``batch_size`` transitions drawn uniformly (with replacement) from the human-controlled ones.

        Costs O(len(self)) per call (finds the intervened rows).

        Raises:
            EmptyReplayError: no held transition has ``intervened`` set.
        """
        batch_size = self._check_batch(batch_size)
        rows = np.flatnonzero(self._data["intervened"][:self._size])
        if rows.size == 0:
            raise EmptyReplayError(f"replay sampler holds no intervened transitions (of {self._size})")
        return self._take(rows[rng.integers(0, rows.size, size=batch_size)])

    def sample_mixed(self, rng: np.random.Generator, batch_size: int,
                     intervened_fraction: float = 0.5) -> dict[str, np.ndarray]:
        """RLPD-style symmetric batch: ``round(batch_size * intervened_fraction)`` intervened transitions
        after the rest drawn from all held ones; all of them from all held ones while none is intervened.

        Raises:
            ConfigError: ``intervened_fraction`` outside [0, 1]. EmptyReplayError: the sampler is empty.
        """
        batch_size = self._check_batch(batch_size)
        fraction = float(intervened_fraction)
        if not 0.0 <= fraction <= 1.0:
            raise ConfigError(f"ReplaySampler.sample_mixed: intervened_fraction must be in [0, 1], got {fraction}")
        n_human = int(round(batch_size * fraction)) if self.n_intervened else 0
        if n_human == 0:
            return self.sample(rng, batch_size)
        if n_human == batch_size:
            return self.sample_intervened(rng, batch_size)
        online, human = self.sample(rng, batch_size - n_human), self.sample_intervened(rng, n_human)
        return {name: np.concatenate([online[name], human[name]]) for name in online}
