"""Crash-safe on-disk transition store of the HIL learner (numpy only); fields: :mod:`robot_rl.hil.transitions`.


On-disk format (version 1)::

    <root>/meta.json                     format name/version, obs_shape, action_dim, created, policy (free-form)
    <root>/segments/segment_000000.npz   one flushed segment per file (consecutive steps of one episode)
    <root>/index.jsonl                   one JSON line per segment (file, sha256, episode, part, steps, return, ...)
    <root>/writer.lock                   advisory lock held by the one process writing the store

Segment files hold the fields of :mod:`robot_rl.hil.transitions` for T steps, plus ``episode`` (T,) int64
(a store-wide episode counter) and ``info`` (), the JSON of the segment's index entry (without file and
sha256). Every file is readable with plain ``numpy.load`` (no pickles).

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
from pathlib import Path

import numpy as np

from robot_rl.atomic import TMP_SUFFIX, write_atomic
from robot_rl.errors import ConfigError, DataError
from robot_rl.hil.transitions import (ACTION_LIMIT, FIELDS, ReplayConfig, empty_arrays, field_dtype, validate_arrays,
                                      validate_step)

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
_SEGMENT_RE = re.compile(r"segment_(\d+)\.npz")


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
                "fields": {name: {"shape": ["T", *shape], "dtype": np.dtype(field_dtype(name)).name}
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
