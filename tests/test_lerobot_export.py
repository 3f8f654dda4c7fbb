"""LeRobotDataset v3.0 export of demonstrations, read back with pyarrow/pandas only.

LeRobot itself is not installed here (``pip install lerobot`` would replace torch 2.13 with 2.10), so the
export is checked against LeRobot's documented v3.0 layout: path templates, default features, info.json
fields, tasks/episodes parquet columns and stats, and every value against the source .npz files.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from robot_rl.cli import main as robot_rl_main
from robot_rl.errors import ConfigError
from robot_rl_sim.dataset.collect import CollectConfig, collect
from robot_rl_sim.dataset.lerobot import LeRobotExportConfig, export_lerobot, feature_stats

INFO_KEYS = {"codebase_version": str, "robot_type": str, "total_episodes": int, "total_frames": int,
             "total_tasks": int, "chunks_size": int, "data_files_size_in_mb": (int, float),
             "video_files_size_in_mb": int, "fps": int, "splits": dict, "data_path": str,
             "video_path": type(None), "features": dict}
DEFAULT_FEATURES = {"timestamp": "float32", "frame_index": "int64", "episode_index": "int64", "index": "int64",
                    "task_index": "int64"}
ARROW = {"float32": pa.float32(), "int64": pa.int64(), "bool": pa.bool_()}


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    root = tmp_path_factory.mktemp("lerobot")
    for task, episodes in (("panda-reach", 3), ("panda-pick-cube", 2)):
        collect(CollectConfig(task=task, episodes=episodes, out=root / task, seed=1))
    return root


def _export(demos: Path, task: str, out: Path) -> Path:
    with pytest.raises(SystemExit) as exit_info:
        robot_rl_main(["dataset", "to-lerobot", "--dataset", str(demos / task), "--out", str(out)])
    assert exit_info.value.code == 0
    return out


def _frames(root: Path) -> pd.DataFrame:
    """All data files in path order, as LeRobot's load_nested_dataset concatenates them."""
    return pd.concat([pd.read_parquet(p) for p in sorted((root / "data").glob("*/*.parquet"))], ignore_index=True)


def _npz_episodes(demos: Path, task: str) -> list[dict]:
    """The source episodes read with numpy only."""
    out = []
    for path in sorted((demos / task / "episodes").glob("episode_*.npz")):
        assert zipfile.is_zipfile(path)
        with np.load(path) as z:
            out.append({k: z[k] for k in z.files})
    return out


@pytest.mark.parametrize("task", ["panda-reach", "panda-pick-cube"])
def test_every_frame_equals_the_source_episode(demos, tmp_path, task):
    root = _export(demos, task, tmp_path / "lr")
    info = json.loads((root / "meta/info.json").read_text())
    frames, source = _frames(root), _npz_episodes(demos, task)
    assert len(frames) == info["total_frames"] == sum(len(e["action"]) for e in source)
    np.testing.assert_array_equal(frames["index"], np.arange(len(frames)))
    start = 0
    for i, episode in enumerate(source):
        rows = frames.iloc[start:start + len(episode["action"])]
        start += len(rows)
        np.testing.assert_array_equal(np.stack(rows["observation.state"]), episode["obs.flat"])
        np.testing.assert_array_equal(np.stack(rows["action"]), episode["action"])
        np.testing.assert_array_equal(rows["next.reward"], episode["reward"])
        np.testing.assert_array_equal(rows["next.success"], episode["success"])
        assert rows["next.done"].tolist() == [False] * (len(rows) - 1) + [True]
        assert (rows["episode_index"] == i).all() and (rows["task_index"] == 0).all()
        np.testing.assert_array_equal(rows["frame_index"], np.arange(len(rows)))
        np.testing.assert_allclose(rows["timestamp"], np.arange(len(rows)) / info["fps"], atol=1e-6)
    assert not list(tmp_path.glob(".lr.tmp-*"))  # built aside, then renamed


def test_info_json_follows_the_v3_schema(demos, tmp_path):
    root = _export(demos, "panda-pick-cube", tmp_path / "lr")
    info = json.loads((root / "meta/info.json").read_text())
    assert set(info) == set(INFO_KEYS)
    for key, kind in INFO_KEYS.items():
        assert isinstance(info[key], kind), key
    assert info["codebase_version"] == "v3.0" and info["fps"] == 10 and info["robot_type"] == "panda"
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert (info["total_episodes"], info["total_tasks"], info["splits"]) == (2, 1, {"train": "0:2"})
    features = info["features"]
    assert {k: features[k]["dtype"] for k in DEFAULT_FEATURES} == DEFAULT_FEATURES
    assert features["observation.state"]["shape"] == [25] and features["action"]["shape"] == [8]
    assert features["action"]["names"][-1] == "gripper" and "object_pose.qw" in features["observation.state"]["names"]
    schema = pq.read_schema(root / info["data_path"].format(chunk_index=0, file_index=0))
    assert set(schema.names) == set(features)
    for name, feature in features.items():
        assert "/" not in name and set(feature) == {"dtype", "shape", "names"}
        if feature["names"] is not None:
            assert len(feature["names"]) == feature["shape"][0]
        expected = ARROW[feature["dtype"]]
        if feature["shape"] != [1]:
            expected = pa.list_(expected, feature["shape"][0])  # fixed-size list, as datasets' Sequence(length=d)
        assert schema.field(name).type == expected, name


def test_tasks_episodes_and_stats_tables(demos, tmp_path):
    root = _export(demos, "panda-reach", tmp_path / "lr")
    tasks = pd.read_parquet(root / "meta/tasks.parquet")
    assert tasks.index.tolist() == [json.loads((demos / "panda-reach/meta.json").read_text())["task"]["description"]]
    assert tasks["task_index"].tolist() == [0]
    episodes = pd.read_parquet(root / "meta/episodes/chunk-000/file-000.parquet")
    frames = _frames(root)
    assert episodes["episode_index"].tolist() == [0, 1, 2]
    assert (episodes["dataset_to_index"] - episodes["dataset_from_index"]).tolist() == episodes["length"].tolist()
    assert episodes["dataset_from_index"].tolist() == [0, *np.cumsum(episodes["length"])[:-1]]
    assert [list(t) for t in episodes["tasks"]] == [tasks.index.tolist()] * 3
    stats = json.loads((root / "meta/stats.json").read_text())
    assert set(stats) == set(json.loads((root / "meta/info.json").read_text())["features"])
    state = np.stack(frames["observation.state"]).astype(np.float64)
    np.testing.assert_allclose(stats["observation.state"]["mean"], state.mean(0), rtol=1e-6)
    np.testing.assert_allclose(stats["observation.state"]["q50"], np.median(state, 0), rtol=1e-6)
    assert stats["action"]["count"] == [len(frames)] and len(stats["action"]["std"]) == 7
    first = frames.iloc[:episodes["length"][0]]
    np.testing.assert_allclose(episodes["stats/action/max"][0], np.stack(first["action"]).max(0))
    assert feature_stats(np.array([1.0, 3.0]))["std"] == [1.0]


def test_large_datasets_roll_over_to_new_data_files(demos, tmp_path):
    summary = export_lerobot(LeRobotExportConfig(demos / "panda-reach", tmp_path / "lr", data_file_size_in_mb=0.004))
    root = tmp_path / "lr"
    paths = sorted((root / "data").glob("*/*.parquet"))
    assert summary["data_files"] == len(paths) > 1
    episodes = pd.read_parquet(root / "meta/episodes/chunk-000/file-000.parquet")
    for _, episode in episodes.iterrows():  # each episode lies whole in the file its row names
        path = root / "data/chunk-{:03d}/file-{:03d}.parquet".format(episode["data/chunk_index"],
                                                                     episode["data/file_index"])
        index = pd.read_parquet(path)["index"]
        assert {episode["dataset_from_index"], episode["dataset_to_index"] - 1} <= set(index)
    assert len(_frames(root)) == summary["frames"]


def test_bad_requests_are_refused(demos, tmp_path):
    out = _export(demos, "panda-reach", tmp_path / "lr")
    with pytest.raises(ConfigError, match="exists; pass --overwrite"):
        export_lerobot(LeRobotExportConfig(demos / "panda-reach", out))
    export_lerobot(LeRobotExportConfig(demos / "panda-reach", out, overwrite=True, task_text="reach it"))
    assert pd.read_parquet(out / "meta/tasks.parquet").index.tolist() == ["reach it"]
    with pytest.raises(ConfigError, match="not a robot_rl demonstration dataset"):
        export_lerobot(LeRobotExportConfig(tmp_path, tmp_path / "x"))
    with pytest.raises(ConfigError, match="data_file_size_in_mb"):
        LeRobotExportConfig(demos / "panda-reach", tmp_path / "y", data_file_size_in_mb=0)
