"""Writer and reader of the demonstration format (see :mod:`robot_rl_sim.dataset.format`).

Crash safety: an episode is written with :func:`robot_rl.atomic.write_atomic` (temporary
``*.tmp`` file, fsync, ``os.replace``, fsync of the directory), then its index line is
appended and fsynced.
The episode files are the truth: a reader (or a resuming writer) rebuilds the
metadata of any episode whose index line was lost, ignores a torn last index
line, and never sees a half-written episode.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from pathlib import Path

import numpy as np

from robot_rl.atomic import write_atomic
from robot_rl.errors import ConfigError
from robot_rl_sim.dataset.format import (EPISODE_DIR, FORMAT_NAME, FORMAT_VERSION, INDEX_FILE, META_FILE, Episode,
                                         episode_arrays, episode_filename, episode_from_arrays, spec_mismatches)
from robot_rl_sim.tasks.spec import TaskSpec


def _read_index(root: Path) -> dict[str, dict]:
    """Index entries by file name; a torn (unparseable) line is skipped."""
    path = root / INDEX_FILE
    entries: dict[str, dict] = {}
    if not path.is_file():
        return entries
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and "file" in entry:
            entries[entry["file"]] = entry
    return entries


def _entry_from_file(root: Path, rel: str) -> dict:
    """Index entry rebuilt from an episode file (used when its index line was lost)."""
    data = (root / rel).read_bytes()
    with np.load(io.BytesIO(data)) as z:
        success = z["success"]
        return {"file": rel, "length": int(success.shape[0]), "success": bool(success.any()), "seed": None,
                "sha256": hashlib.sha256(data).hexdigest(), "recovered": True}


def _load_meta(root: Path) -> dict:
    path = root / META_FILE
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable dataset meta file: {exc}") from exc
    if meta.get("format") != FORMAT_NAME or meta.get("version") != FORMAT_VERSION:
        raise ConfigError(f"{path}: format {meta.get('format')!r} v{meta.get('version')} is not "
                          f"{FORMAT_NAME!r} v{FORMAT_VERSION}")
    return meta


class DemoWriter:
    """Appends episodes to a dataset directory; creates it, or resumes it if its task spec matches.

    Raises:
        ConfigError: the directory holds a dataset of another task or spec.
    """

    def __init__(self, root: str | Path, spec: TaskSpec, info: dict | None = None):
        self.root, self.spec = Path(root), spec
        (self.root / EPISODE_DIR).mkdir(parents=True, exist_ok=True)
        for stale in (self.root / EPISODE_DIR).glob("*.tmp"):
            stale.unlink()
        if (self.root / META_FILE).is_file():
            diffs = spec_mismatches(_load_meta(self.root)["task"], spec)
            if diffs:
                raise ConfigError(f"{self.root}: dataset was collected for a different task spec: " + "; ".join(diffs))
        else:
            meta = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "task": spec.to_dict(),
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "info": info or {}}
            write_atomic(self.root / META_FILE, json.dumps(meta, indent=2).encode())
        self.entries = self._repair_index()
        self.next_index = 1 + max((int(Path(f).stem.split("_")[-1]) for f in self.entries), default=-1)

    def _repair_index(self) -> dict[str, dict]:
        entries = _read_index(self.root)
        files = sorted(f"{EPISODE_DIR}/{p.name}" for p in (self.root / EPISODE_DIR).glob("episode_*.npz"))
        repaired = {f: entries.get(f) or _entry_from_file(self.root, f) for f in files}
        if list(repaired) != list(entries):
            text = "".join(json.dumps(e) + "\n" for e in repaired.values())
            write_atomic(self.root / INDEX_FILE, text.encode())
        return repaired

    def write(self, episode: Episode) -> Path:
        """Store one finished episode durably; returns its path."""
        episode.check(self.spec)
        rel = episode_filename(self.next_index)
        buffer = io.BytesIO()
        np.savez(buffer, **episode_arrays(episode, self.spec))
        data = buffer.getvalue()
        write_atomic(self.root / rel, data)
        entry = {"file": rel, "length": len(episode), "success": episode.success, "seed": episode.seed,
                 "sha256": hashlib.sha256(data).hexdigest(), **episode.info}
        with open(self.root / INDEX_FILE, "a") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.entries[rel] = entry
        self.next_index += 1
        return self.root / rel


class DemoDataset:
    """Read-only view of a dataset directory: ``len``, ``episode(i)``, iteration, spec check."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not (self.root / META_FILE).is_file():
            raise ConfigError(f"{self.root}: no {META_FILE}; not a robot_rl demonstration dataset")
        self.meta = _load_meta(self.root)
        index = _read_index(self.root)
        files = sorted(f"{EPISODE_DIR}/{p.name}" for p in (self.root / EPISODE_DIR).glob("episode_*.npz"))
        self.entries = [index.get(f) or _entry_from_file(self.root, f) for f in files]

    @property
    def task_spec(self) -> dict:
        """The stored task spec (``TaskSpec.to_dict()`` at collection time)."""
        return self.meta["task"]

    @property
    def task_name(self) -> str:
        """Name of the task the demonstrations were collected on."""
        return str(self.meta["task"]["name"])

    def __len__(self) -> int:
        return len(self.entries)

    def episode(self, i: int) -> Episode:
        """Load episode ``i`` (0-based over the finished episodes)."""
        entry = self.entries[i]
        path = self.root / entry["file"]
        try:
            with np.load(path) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: unreadable episode file: {exc}") from exc
        info = {k: v for k, v in entry.items() if k not in ("file", "length", "success", "seed", "sha256")}
        return episode_from_arrays(arrays, entry.get("seed"), info)

    def __iter__(self):
        return (self.episode(i) for i in range(len(self)))

    def check_spec(self, spec: TaskSpec) -> None:
        """ConfigError naming every field where the dataset's task spec differs from ``spec``."""
        diffs = spec_mismatches(self.task_spec, spec)
        if diffs:
            raise ConfigError(f"{self.root}: dataset does not match task {spec.name!r}: " + "; ".join(diffs))


def open_dataset(root: str | Path, spec: TaskSpec | None = None) -> DemoDataset:
    """Open a dataset; with ``spec``, also check it matches (ConfigError naming the differences)."""
    dataset = DemoDataset(root)
    if spec is not None:
        dataset.check_spec(spec)
    return dataset
