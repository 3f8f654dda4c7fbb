"""In-memory replay sampler of the HIL learner (numpy only): FIFO, uniform and RLPD-style mixed sampling.

Offline data are the human-driven transitions (demonstrations and every intervention); online data are all
held transitions, so an intervention is in both buffers. :meth:`ReplaySampler.sample_mixed` draws them
symmetrically (RLPD). :meth:`ReplaySampler.sample_n_step` adds n-step returns: transition t is followed
by the next held row while that row starts where t ended (``obs`` and ``base_action`` equal t's
``next_obs`` and ``next_base_action``: the same episode, one policy step later) and t is not terminal.
Every policy step is one transition (the residual acts per step), so the discount is gamma per step,
whatever the base's chunk boundaries.
"""

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
        return self._take(self._rows_all(rng, self._check_batch(batch_size)))

    def _rows_all(self, rng: np.random.Generator, batch_size: int) -> np.ndarray:
        if self._size == 0:
            raise EmptyReplayError("replay sampler is empty: nothing to sample")
        # rows [0, size) are exactly the held ones (start != 0 only once size == alloc)
        return rng.integers(0, self._size, size=batch_size)

    def sample_intervened(self, rng: np.random.Generator, batch_size: int) -> dict[str, np.ndarray]:
        """``batch_size`` transitions drawn uniformly (with replacement) from the human-controlled ones.

        Costs O(len(self)) per call (finds the intervened rows).

        Raises:
            EmptyReplayError: no held transition has ``intervened`` set.
        """
        return self._take(self._rows_intervened(rng, self._check_batch(batch_size)))

    def _rows_intervened(self, rng: np.random.Generator, batch_size: int) -> np.ndarray:
        rows = np.flatnonzero(self._data["intervened"][:self._size])
        if rows.size == 0:
            raise EmptyReplayError(f"replay sampler holds no intervened transitions (of {self._size})")
        return rows[rng.integers(0, rows.size, size=batch_size)]

    def sample_mixed(self, rng: np.random.Generator, batch_size: int,
                     intervened_fraction: float = 0.5) -> dict[str, np.ndarray]:
        """RLPD-style symmetric batch: ``round(batch_size * intervened_fraction)`` intervened transitions
        after the rest drawn from all held ones; all of them from all held ones while none is intervened.

        Raises:
            ConfigError: ``intervened_fraction`` outside [0, 1]. EmptyReplayError: the sampler is empty.
        """
        return self._take(self._rows_mixed(rng, batch_size, intervened_fraction))

    def _rows_mixed(self, rng: np.random.Generator, batch_size: int, fraction: float) -> np.ndarray:
        batch_size, fraction = self._check_batch(batch_size), float(fraction)
        if not 0.0 <= fraction <= 1.0:
            raise ConfigError(f"ReplaySampler.sample_mixed: intervened_fraction must be in [0, 1], got {fraction}")
        n_human = int(round(batch_size * fraction)) if self.n_intervened else 0
        return np.concatenate([self._rows_all(rng, batch_size - n_human) if n_human < batch_size else [],
                               self._rows_intervened(rng, n_human) if n_human else []]).astype(np.int64)

    def sample_n_step(self, rng: np.random.Generator, batch_size: int, intervened_fraction: float, n_step: int,
                      gamma: float) -> dict[str, np.ndarray]:
        """A :meth:`sample_mixed` batch whose ``reward`` is the n-step return sum_k gamma^k r_{t+k} (k < m),
        ``next_obs``/``next_base_action`` those after step t+m-1, and ``discount`` (B,) gamma^m, or 0 if the
        return ended in a terminal step; m <= ``n_step`` stops at a terminal step or where the chain breaks."""
        n_step = int_at_least("ReplaySampler.sample_n_step", "n_step", n_step, 1)
        rows = self._rows_mixed(rng, batch_size, intervened_fraction)
        batch = self._take(rows)
        d = self._data
        ret, discount = batch["reward"].astype(np.float64), np.full(len(rows), float(gamma))
        alive, last = ~batch["done"], rows.copy()
        for _ in range(n_step - 1):
            nxt = (last + 1) % self._alloc
            newest = (last - self._start) % self._alloc == self._size - 1
            chained = alive & ~newest & np.all((d["obs"][nxt] == d["next_obs"][last]).reshape(len(rows), -1), axis=1) \
                & np.all(d["base_action"][nxt] == d["next_base_action"][last], axis=1)
            ret += np.where(chained, discount * d["reward"][nxt], 0.0)
            discount = np.where(chained, discount * gamma, discount)
            alive = np.where(chained, ~d["done"][nxt], alive)
            last = np.where(chained, nxt, last)
        batch.update(reward=ret.astype(np.float32), next_obs=d["next_obs"][last],
                     next_base_action=d["next_base_action"][last],
                     discount=np.where(alive, discount, 0.0).astype(np.float32))
        return batch
