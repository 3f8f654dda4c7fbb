"""Transition store and replay sampler of the human-in-the-loop (HIL) RL learner (numpy only).

On-disk format (version 1)::

    <root>/meta.json                     format name/version, obs_shape, action_dim, created, policy (free-form)
    <root>/segments/segment_000000.npz   one flushed segment per file (consecutive steps of one episode)
    <root>/index.jsonl                   one JSON line per segment (file, sha256, episode, part, steps, return, ...)
    <root>/writer.lock                   advisory lock held by the one process writing the store

Segment arrays, T steps (step t: ``obs[t]`` -> ``action[t]`` -> ``reward[t]``, ``next_obs[t]``):

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
episode             (T,)               int64     episode id (a store-wide counter)
info                ()                 str       JSON of the segment's index entry (without file, sha256)
==================  =================  ========  ==========================================================

Every file is readable with plain ``numpy.load`` (no pickles).

Crash safety (as in the demonstration format): a segment is written with
:func:`robot_rl.atomic.write_atomic` (temporary ``*.tmp`` file, fsync,
``os.replace``, fsync of the directory), then its index line is appended and
fsynced. The segment files are the truth: readers rebuild the index entry of a
segment whose line was lost (from the file's ``info``), ignore torn index lines
and ``*.tmp`` leftovers, and never see a half-written segment. The learner
flushes every ``flush_every`` steps, so a crash loses fewer than that many steps.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robot_rl.atomic import TMP_SUFFIX, write_atomic
from robot_rl.errors import ConfigError, DataError, RobotRLError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no writer lock
    fcntl = None

FORMAT_NAME = "robot_rl-hil-transitions"
FORMAT_VERSION = 1
META_FILE = "meta.json"
INDEX_FILE = "index.jsonl"
SEGMENT_DIR = "segments"
LOCK_FILE = "writer.lock"
FIELDS = ("obs", "base_action", "action", "intervened", "reward", "done", "next_obs", "next_base_action")
"""The transition fields, in storage order."""
BOOL_FIELDS = ("intervened", "done")
ACTION_LIMIT = 1.0
"""Bound of the residual action ``action`` (residual units)."""
ACTION_TOLERANCE = 1e-5
"""Slack on :data:`ACTION_LIMIT` for rounding."""
_SEGMENT_RE = re.compile(r"segment_(\d+)\.npz")


class EmptyReplayError(RobotRLError, LookupError):
    """Sampling from a replay sampler that holds no (intervened) transitions."""


def _int_at_least(owner: str, name: str, value, minimum: int) -> int:
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
        object.__setattr__(self, "obs_shape", tuple(_int_at_least("ReplayConfig", "obs_shape", d, 1) for d in shape))
        object.__setattr__(self, "action_dim", _int_at_least("ReplayConfig", "action_dim", self.action_dim, 1))
        object.__setattr__(self, "capacity", _int_at_least("ReplayConfig", "capacity", self.capacity, 1))
        object.__setattr__(self, "flush_every", _int_at_least("ReplayConfig", "flush_every", self.flush_every, 0))

    def field_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of one step of each field in :data:`FIELDS` (no batch dimension)."""
        a = (self.action_dim,)
        return {"obs": self.obs_shape, "base_action": a, "action": a, "intervened": (), "reward": (), "done": (),
                "next_obs": self.obs_shape, "next_base_action": a}


def _dtype(name: str) -> type:
    return np.bool_ if name in BOOL_FIELDS else np.float32


def empty_arrays(config: ReplayConfig) -> dict[str, np.ndarray]:
    """Zero-length arrays of every field (plus ``episode``), shaped ``(0, *shape)``."""
    out = {name: np.zeros((0, *shape), dtype=_dtype(name)) for name, shape in config.field_shapes().items()}
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


def segment_filename(index: int) -> str:
    """Relative path of segment ``index``."""
    return f"{SEGMENT_DIR}/segment_{index:06d}.npz"


def _segment_files(root: Path) -> list[tuple[int, str]]:
    """(number, relative path) of every finished segment file, in write order (``*.tmp`` never match)."""
    folder = root / SEGMENT_DIR
    if not folder.is_dir():
        return []
    found = ((_SEGMENT_RE.fullmatch(p.name), p.name) for p in folder.iterdir())
    return sorted((int(m.group(1)), f"{SEGMENT_DIR}/{name}") for m, name in found if m)


def read_meta(root: str | Path) -> dict:
    """The store's ``meta.json``; ConfigError naming the file if absent, unreadable or of another format."""
    path = Path(root) / META_FILE
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable transition store meta file: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME or meta.get("version") != FORMAT_VERSION:
        got = (meta.get("format"), meta.get("version")) if isinstance(meta, dict) else (None, None)
        raise ConfigError(f"{path}: format {got[0]!r} v{got[1]} is not {FORMAT_NAME!r} v{FORMAT_VERSION}")
    return meta


def _config_from_meta(meta: dict, root: Path) -> ReplayConfig:
    try:
        return ReplayConfig(obs_shape=tuple(meta["obs_shape"]), action_dim=meta["action_dim"])
    except (KeyError, TypeError, ConfigError) as exc:
        raise ConfigError(f"{root / META_FILE}: bad obs_shape/action_dim: {exc}") from exc


def _meta_mismatches(meta: dict, config: ReplayConfig) -> list[str]:
    out = []
    if tuple(meta.get("obs_shape") or ()) != config.obs_shape:
        out.append(f"obs_shape: store has {tuple(meta.get('obs_shape') or ())}, config has {config.obs_shape}")
    if meta.get("action_dim") != config.action_dim:
        out.append(f"action_dim: store has {meta.get('action_dim')}, config has {config.action_dim}")
    return out


def _check_meta(root: Path, meta: dict, config: ReplayConfig) -> None:
    diffs = _meta_mismatches(meta, config)
    if diffs:
        raise ConfigError(f"{root}: transition store was recorded with other shapes: " + "; ".join(diffs))


def _read_index(root: Path) -> dict[str, dict]:
    """Index entries by file name; unparseable (torn) lines are skipped."""
    path = root / INDEX_FILE
    entries: dict[str, dict] = {}
    if not path.is_file():
        return entries
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("file"), str):
            entries[entry["file"]] = entry
    return entries


def _open_segment(path: Path, data: bytes) -> dict[str, np.ndarray]:
    """Every array of a segment file; DataError naming the file if it is not a readable .npz."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: unreadable transition segment: {exc}") from exc


def _entry_from_file(root: Path, rel: str) -> dict:
    """Index entry rebuilt from a segment file (used when its index line was lost)."""
    path = root / rel
    data = path.read_bytes()
    arrays = _open_segment(path, data)
    try:
        info = json.loads(str(arrays["info"]))
    except (KeyError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: transition segment has no readable 'info': {exc}") from exc
    return {"file": rel, "sha256": hashlib.sha256(data).hexdigest(), **info, "recovered": True}


def read_entries(root: str | Path) -> list[dict]:
    """Index entries of the finished segments, in write order; a lost line is rebuilt from its file
    (marked ``"recovered": True``). Each entry: file, sha256, episode, part, steps, return (sum of the
    segment's rewards), episode_return (through this segment), interventions (human take-overs that
    began in the segment), intervened_steps, terminal, wall_start / wall_end (unix s of the first / last step).
    """
    root = Path(root)
    index = _read_index(root)
    return [index.get(rel) or _entry_from_file(root, rel) for _, rel in _segment_files(root)]


def load_transitions(root: str | Path, config: ReplayConfig | None = None) -> dict[str, np.ndarray]:
    """Every stored transition, concatenated in write order: :data:`FIELDS` plus ``episode`` (T,) int64.

    Reads every finished segment file, whether or not its index line survived; ignores ``*.tmp``
    leftovers and torn index lines. With ``config``, its obs_shape/action_dim must match the store's.

    Raises:
        ConfigError: no or another format's meta.json, or shapes differing from ``config``.
        DataError: a corrupt segment (bad zip, sha256 not the indexed one, bad arrays), naming the file.
    """
    root = Path(root)
    meta = read_meta(root)
    stored = _config_from_meta(meta, root)
    if config is not None:
        _check_meta(root, meta, config)
    index = _read_index(root)
    parts = [empty_arrays(stored)]
    for _, rel in _segment_files(root):
        path = root / rel
        data = path.read_bytes()
        entry = index.get(rel)
        if entry is not None and entry.get("sha256") != hashlib.sha256(data).hexdigest():
            raise DataError(f"{path}: corrupt transition segment (sha256 differs from {INDEX_FILE})")
        arrays = _open_segment(path, data)
        checked = validate_arrays(stored, arrays, where=str(path))
        episode = arrays.get("episode")
        if episode is None or episode.shape != checked["reward"].shape or episode.dtype.kind not in "iu":
            raise DataError(f"{path}: field 'episode' is missing or not ({len(checked['reward'])},) integers")
        checked["episode"] = episode.astype(np.int64)
        parts.append(checked)
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _append_line(path: Path, entry: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(entry) + "\n")
        f.flush()
        os.fsync(f.fileno())


class TransitionStore:
    """Durable, append-only store of the learner's transitions; creates ``root`` or resumes it.

    Steps are buffered and written as one segment file every ``config.flush_every`` steps, at the end
    of an episode (a ``done`` step or :meth:`end_episode`), on :meth:`flush` and on :meth:`close`.
    A resumed store starts a new episode. One process writes a store at a time (``writer.lock``).
    ``policy`` (free-form, JSON-serialisable, e.g. the base policy's sha256) is recorded in meta.json
    when the store is created and ignored on resume: compare ``store.meta["policy"]`` if it matters.
    Attributes: ``meta`` (meta.json), ``entries`` (index entries written so far, see :func:`read_entries`),
    ``episode`` (id of the episode the next step belongs to).

    Usage::

        with TransitionStore(root, config, policy={"base_sha256": sha}) as store:
            step = store.add(obs=o, base_action=b, action=r, intervened=h, reward=rew, done=d,
                             next_obs=o2, next_base_action=b2)
            sampler.add(step)

    Raises:
        ConfigError: ``root`` holds a store of another format or other obs_shape/action_dim (the message
            names the mismatch), ``policy`` is not JSON-serialisable, or another process is writing it.
    """

    def __init__(self, root: str | Path, config: ReplayConfig, policy: dict | None = None):
        self.root, self.config = Path(root), config
        (self.root / SEGMENT_DIR).mkdir(parents=True, exist_ok=True)
        self._lock = self._acquire_lock()
        try:
            self.meta = self._open_meta(policy)
            for stale in (self.root / SEGMENT_DIR).glob("*" + TMP_SUFFIX):
                stale.unlink()
            self.entries: list[dict] = self._repair_index()
        except BaseException:
            self._release_lock()
            raise
        self._next_segment = 1 + max((n for n, _ in _segment_files(self.root)), default=-1)
        # id of the episode the next step belongs to (a resumed store starts a new one)
        self.episode = 1 + max((int(e.get("episode", -1)) for e in self.entries), default=-1)
        self._buffer: list[dict[str, np.ndarray]] = []
        self._wall = [0.0, 0.0]
        self._new_episode_state()

    def _acquire_lock(self):
        f = open(self.root / LOCK_FILE, "a")
        if fcntl is not None:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                f.close()
                raise ConfigError(f"{self.root}: another process is writing this transition store "
                                  f"({LOCK_FILE} is locked)") from exc
        return f

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases the flock
            self._lock = None

    def _open_meta(self, policy: dict | None) -> dict:
        if (self.root / META_FILE).is_file():
            meta = read_meta(self.root)
            _check_meta(self.root, meta, self.config)
            return meta
        meta = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "obs_shape": list(self.config.obs_shape),
                "action_dim": self.config.action_dim, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "policy": policy or {},
                "fields": {name: {"shape": ["T", *shape], "dtype": np.dtype(_dtype(name)).name}
                           for name, shape in self.config.field_shapes().items()},
                "action_units": f"residual, [-{ACTION_LIMIT}, {ACTION_LIMIT}]"}
        try:
            text = json.dumps(meta, indent=2)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{self.root}: policy info must be JSON-serialisable: {exc}") from exc
        write_atomic(self.root / META_FILE, text.encode())
        return meta

    def _repair_index(self) -> list[dict]:
        """Entries of the segment files present; rewrite index.jsonl if it is torn or lacks a line."""
        entries = read_entries(self.root)
        text = "".join(json.dumps(e) + "\n" for e in entries)
        path = self.root / INDEX_FILE
        if (path.read_text(errors="replace") if path.is_file() else "") != text:
            write_atomic(path, text.encode())
        return entries

    def _new_episode_state(self) -> None:
        self._part, self._episode_return, self._last_intervened = 0, 0.0, False

    @property
    def buffered(self) -> int:
        """Steps added but not yet written (lost in a crash)."""
        return len(self._buffer)

    def add(self, *, obs, base_action, action, intervened, reward, done, next_obs,
            next_base_action) -> dict[str, np.ndarray]:
        """Buffer one transition (see the module docstring for units and shapes); returns it as checked arrays.

        A ``done`` step ends the episode (its segment is written). A rejected step leaves the buffer as it was.
        If writing a segment fails (OSError), the step stays buffered and the error propagates.

        Raises:
            DataError: naming the field and the problem (shape, non-finite, flag not bool, action outside [-1, 1]).
        """
        if self._lock is None:
            raise ConfigError(f"{self.root}: transition store is closed")
        step = validate_step(self.config, obs=obs, base_action=base_action, action=action, intervened=intervened,
                             reward=reward, done=done, next_obs=next_obs, next_base_action=next_base_action)
        now = time.time()
        if not self._buffer:
            self._wall[0] = now
        self._wall[1] = now
        self._buffer.append(step)
        if step["done"]:
            self.end_episode()
        elif self.config.flush_every and len(self._buffer) >= self.config.flush_every:
            self.flush()
        return step

    def flush(self) -> Path | None:
        """Write the buffered steps as one segment (durably, then index it); returns its path, None if none."""
        if not self._buffer:
            return None
        arrays = {name: np.stack([s[name] for s in self._buffer]) for name in FIELDS}
        steps = len(self._buffer)
        arrays["episode"] = np.full(steps, self.episode, dtype=np.int64)
        iv = arrays["intervened"]
        onsets = int(iv[0] and not self._last_intervened) + int(np.count_nonzero(iv[1:] & ~iv[:-1]))
        seg_return = float(arrays["reward"].sum(dtype=np.float64))
        info = {"episode": self.episode, "part": self._part, "steps": steps, "return": seg_return,
                "episode_return": self._episode_return + seg_return, "interventions": onsets,
                "intervened_steps": int(iv.sum()), "terminal": bool(arrays["done"][-1]),
                "wall_start": self._wall[0], "wall_end": self._wall[1]}
        arrays["info"] = np.array(json.dumps(info))
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        data = buffer.getvalue()
        rel = segment_filename(self._next_segment)
        write_atomic(self.root / rel, data)
        # the segment is durable from here on: advance before indexing, so a failed index write never reuses its name
        entry = {"file": rel, "sha256": hashlib.sha256(data).hexdigest(), **info}
        self._next_segment += 1
        self._buffer = []
        self._part += 1
        self._episode_return += seg_return
        self._last_intervened = bool(iv[-1])
        self.entries.append(entry)
        _append_line(self.root / INDEX_FILE, entry)
        return self.root / rel

    def end_episode(self) -> Path | None:
        """Write the buffered steps and start a new episode (for a time-out or reset; a ``done`` step does this)."""
        path = self.flush()
        if self._part:
            self.episode += 1
            self._new_episode_state()
        return path

    def load(self) -> dict[str, np.ndarray]:
        """Every transition written so far (not the :attr:`buffered` ones); see :func:`load_transitions`."""
        return load_transitions(self.root, self.config)

    def close(self) -> None:
        """Write what is buffered and release the writer lock (idempotent)."""
        if self._lock is None:
            return
        try:
            self.flush()
        finally:
            self._release_lock()

    def __enter__(self) -> TransitionStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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
        self._data = {name: np.zeros((self._alloc, *shape), dtype=_dtype(name))
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
        return _int_at_least("ReplaySampler", "batch_size", batch_size, 1)

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
