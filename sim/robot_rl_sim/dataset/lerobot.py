"""Export a robot_rl demonstration dataset to the LeRobotDataset v3.0 on-disk layout (``robot-rl dataset to-lerobot``).

Layout written (path templates and default features as in LeRobot's ``lerobot/datasets/utils.py``)::

    meta/info.json                                codebase_version v3.0, fps, features, path templates, totals
    meta/stats.json                               per feature: min, max, mean, std, count, q01 q10 q50 q90 q99
    meta/tasks.parquet                            task string (pandas index) -> task_index
    meta/episodes/chunk-000/file-000.parquet      one row per episode: length, tasks, data file, from/to index,
                                                  stats/<feature>/<stat>
    data/chunk-000/file-000.parquet               one row per frame (episodes never split across files)
    meta/robot_rl.json                            where it came from (source dataset, task spec); LeRobot ignores it

Frame t of an episode: ``observation.state`` = the task's observation terms concatenated in declared order
(the dataset's ``obs.flat``), ``action`` = the raw action chosen from it, ``next.reward`` / ``next.success``
= reward and success after the step, ``next.done`` on the last frame; ``timestamp`` = t / fps, fps = policy Hz.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robot_rl.errors import ConfigError

CODEBASE_VERSION = "v3.0"
INFO_PATH, STATS_PATH, TASKS_PATH = "meta/info.json", "meta/stats.json", "meta/tasks.parquet"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
CHUNKS_SIZE, VIDEO_FILE_SIZE_IN_MB = 1000, 500
QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}
DEFAULT_FEATURES = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}
_COMPONENTS = {3: ("x", "y", "z"), 7: ("x", "y", "z", "qw", "qx", "qy", "qz")}


@dataclass(frozen=True)
class LeRobotExportConfig:
    """``dataset``: robot_rl demo directory; ``out``: new LeRobot root; ``task_text``: the language task
    (default: the task's description); ``data_file_size_in_mb``: data file size (MB, estimated from the
    feature widths) at which a new data file starts; LeRobot's default is 100."""

    dataset: Path
    out: Path
    task_text: str | None = None
    overwrite: bool = False
    data_file_size_in_mb: float = 100

    def __post_init__(self) -> None:
        object.__setattr__(self, "dataset", Path(self.dataset))
        object.__setattr__(self, "out", Path(self.out))
        if self.out.resolve() == self.dataset.resolve():
            raise ConfigError("LeRobotExportConfig.out: must differ from the source dataset directory")
        if not self.data_file_size_in_mb > 0:
            raise ConfigError(f"LeRobotExportConfig.data_file_size_in_mb must be > 0, got {self.data_file_size_in_mb}")
        if self.task_text is not None and not self.task_text.strip():
            raise ConfigError("LeRobotExportConfig.task_text must not be empty")


def state_names(task: dict) -> list[str]:
    """One name per ``observation.state`` entry: ``<term>.<joint>``, ``<term>.x`` ..., or ``<term>.<i>``."""
    names = []
    for term in task["obs_terms"]:
        size = int(term["size"])
        if term["source"] in ("joint_pos", "joint_vel") and size == len(task["joint_names"]):
            parts = task["joint_names"]
        else:
            parts = _COMPONENTS.get(size, [str(i) for i in range(size)]) if size > 1 else [None]
        names += [term["name"] if p is None else f"{term['name']}.{p}" for p in parts]
    return names


def features(task: dict) -> dict:
    """The ``features`` of info.json for a dataset of ``task`` (a stored TaskSpec dict)."""
    action = list(task["action"]["joint_names"]) + (["gripper"] if task["action"]["gripper"] else [])
    return {
        "observation.state": {"dtype": "float32", "shape": [int(task["obs_dim"])], "names": state_names(task)},
        "action": {"dtype": "float32", "shape": [len(action)], "names": action},
        "next.reward": {"dtype": "float32", "shape": [1], "names": None},
        "next.success": {"dtype": "bool", "shape": [1], "names": None},
        "next.done": {"dtype": "bool", "shape": [1], "names": None},
        **DEFAULT_FEATURES,
    }


def episode_columns(episode, task: dict, episode_index: int, first_index: int, fps: int) -> dict[str, np.ndarray]:
    """Per-frame columns of one episode: feature name -> (T,) or (T, d) array."""
    length = len(episode)
    frames = np.arange(length, dtype=np.int64)
    done = np.zeros(length, dtype=bool)
    done[-1] = True
    return {
        "observation.state": np.concatenate([episode.obs[t["name"]].reshape(length, -1) for t in task["obs_terms"]],
                                            axis=1).astype(np.float32),
        "action": np.asarray(episode.actions, dtype=np.float32),
        "next.reward": np.asarray(episode.rewards, dtype=np.float32),
        "next.success": np.asarray(episode.successes, dtype=bool),
        "next.done": done,
        "timestamp": (frames / fps).astype(np.float32),
        "frame_index": frames,
        "episode_index": np.full(length, episode_index, dtype=np.int64),
        "index": frames + first_index,
        "task_index": np.zeros(length, dtype=np.int64),
    }


def feature_stats(values: np.ndarray) -> dict[str, list]:
    """LeRobot's per-feature statistics over frames: values (N,) or (N, d) -> lists of length d (count: [N])."""
    x = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    stats = {"min": x.min(0), "max": x.max(0), "mean": x.mean(0), "std": x.std(0)}
    stats.update({key: np.quantile(x, q, axis=0) for key, q in QUANTILES.items()})
    out = {key: value.tolist() for key, value in stats.items()}
    out["count"] = [int(len(x))]
    return out


def _table(columns: dict[str, np.ndarray]):
    """pyarrow table: vectors as fixed_size_list<float32>[d] (as LeRobot's Sequence(length=d)), scalars as values."""
    import pyarrow as pa

    arrays = {}
    for name, value in columns.items():
        if value.ndim == 2:
            flat = pa.array(value.reshape(-1), type=pa.from_numpy_dtype(value.dtype))
            arrays[name] = pa.FixedSizeListArray.from_arrays(flat, value.shape[1])
        else:
            arrays[name] = pa.array(value)
    return pa.table(arrays)


def _bytes_per_frame(feats: dict) -> int:
    sizes = {"float32": 4, "int64": 8, "bool": 1}
    return sum(sizes[f["dtype"]] * int(np.prod(f["shape"])) for f in feats.values())


class _Writer:
    """Writes data files (rolling over at the size limit) and collects episode rows and global columns."""

    def __init__(self, root: Path, feats: dict, file_size_mb: float):
        self.root, self.feats = root, feats
        self.frames_per_file = max(1, int(file_size_mb * 1024 * 1024) // _bytes_per_frame(feats))
        self.chunk, self.file, self.pending, self.pending_frames = 0, 0, [], 0
        self.episode_rows, self.all_columns = [], {name: [] for name in feats}

    def add(self, columns: dict[str, np.ndarray], episode_index: int, task_text: str) -> None:
        length = len(columns["index"])
        if self.pending and self.pending_frames + length > self.frames_per_file:
            self.flush()
            self.chunk, self.file = (self.chunk + 1, 0) if self.file == CHUNKS_SIZE - 1 else (self.chunk, self.file + 1)
        row = {"episode_index": episode_index, "tasks": [task_text], "length": length,
               "data/chunk_index": self.chunk, "data/file_index": self.file,
               "dataset_from_index": int(columns["index"][0]), "dataset_to_index": int(columns["index"][-1]) + 1,
               "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0}
        for name, value in columns.items():
            self.all_columns[name].append(value)
            row.update({f"stats/{name}/{key}": stat for key, stat in feature_stats(value).items()})
        self.episode_rows.append(row)
        self.pending.append(columns)
        self.pending_frames += length

    def flush(self) -> None:
        import pyarrow.parquet as pq

        if not self.pending:
            return
        merged = {name: np.concatenate([c[name] for c in self.pending]) for name in self.feats}
        path = self.root / DATA_PATH.format(chunk_index=self.chunk, file_index=self.file)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(_table(merged), path)
        self.pending, self.pending_frames = [], 0


def _write_meta(root: Path, writer: _Writer, info: dict, task_text: str, provenance: dict) -> None:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    (root / "meta").mkdir(parents=True, exist_ok=True)
    (root / INFO_PATH).write_text(json.dumps(info, indent=4))
    stats = {name: feature_stats(np.concatenate(parts)) for name, parts in writer.all_columns.items()}
    (root / STATS_PATH).write_text(json.dumps(stats, indent=4))
    pd.DataFrame({"task_index": [0]}, index=[task_text]).to_parquet(root / TASKS_PATH)
    episodes = root / EPISODES_PATH.format(chunk_index=0, file_index=0)
    episodes.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(writer.episode_rows), episodes)
    (root / "meta" / "robot_rl.json").write_text(json.dumps(provenance, indent=1))


def export_lerobot(config: LeRobotExportConfig) -> dict:
    """Write ``config.out`` (atomically: built in a temporary sibling directory, then renamed); return a summary."""
    from robot_rl_sim.dataset import open_dataset

    dataset = open_dataset(config.dataset)
    task = dataset.task_spec
    fps = float(task["policy_hz"])
    if len(dataset) == 0:
        raise ConfigError(f"{config.dataset}: no episodes to export")
    if abs(fps - round(fps)) > 1e-9:
        raise ConfigError(f"task {task['name']!r}: policy rate {fps} Hz is not an integer fps, which LeRobot needs")
    if config.out.exists() and not config.overwrite:
        raise ConfigError(f"{config.out} exists; pass --overwrite to replace it")
    task_text = config.task_text or task.get("description") or task["name"]
    tmp = config.out.parent / f".{config.out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    feats = features(task)
    writer = _Writer(tmp, feats, config.data_file_size_in_mb)
    total = 0
    for i, episode in enumerate(dataset):
        writer.add(episode_columns(episode, task, i, total, int(round(fps))), i, task_text)
        total += len(episode)
    writer.flush()
    info = {"codebase_version": CODEBASE_VERSION, "robot_type": task["robot"], "total_episodes": len(dataset),
            "total_frames": total, "total_tasks": 1, "chunks_size": CHUNKS_SIZE,
            "data_files_size_in_mb": config.data_file_size_in_mb, "video_files_size_in_mb": VIDEO_FILE_SIZE_IN_MB,
            "fps": int(round(fps)), "splits": {"train": f"0:{len(dataset)}"}, "data_path": DATA_PATH,
            "video_path": None, "features": feats}
    _write_meta(tmp, writer, info, task_text, {"source": str(config.dataset.resolve()), "task": task,
                                               "format": dataset.meta.get("format"),
                                               "version": dataset.meta.get("version")})
    if config.out.exists():
        shutil.rmtree(config.out)
    os.replace(tmp, config.out)
    return {"out": str(config.out), "episodes": len(dataset), "frames": total, "fps": info["fps"],
            "data_files": writer.chunk * CHUNKS_SIZE + writer.file + 1, "task": task_text}
