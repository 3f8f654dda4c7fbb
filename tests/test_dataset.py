"""Demonstration dataset: round trip, standard-tool readability, spec check, interrupted collection."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from robot_rl.errors import ConfigError
from robot_rl_sim.dataset import DemoWriter, open_dataset
from robot_rl_sim.dataset.collect import CollectConfig, collect
from robot_rl_sim.tasks import get_task

REPO = Path(__file__).resolve().parent.parent


def test_collect_round_trip_and_plain_numpy_read(tmp_path):
    spec = get_task("panda-reach")
    summary = collect(CollectConfig(task="panda-reach", episodes=3, out=tmp_path / "d", seed=4))
    assert summary["stored"] == 3
    ds = open_dataset(tmp_path / "d", spec)
    assert len(ds) == 3 and ds.task_name == "panda-reach"
    for ep in ds:
        assert ep.success and ep.actions.shape == (len(ep), spec.action_dim)
        assert ep.flat_obs(spec).shape == (len(ep), spec.obs_dim)
    # standard tools only: json + zipfile/numpy, no robot_rl code
    lines = [json.loads(x) for x in (tmp_path / "d" / "index.jsonl").read_text().splitlines()]
    assert [x["seed"] for x in lines] == [4_000_000, 4_000_001, 4_000_002]
    path = tmp_path / "d" / lines[0]["file"]
    assert zipfile.is_zipfile(path)
    with np.load(path) as z:
        assert z["obs.flat"].shape == (lines[0]["length"], spec.obs_dim)
        np.testing.assert_allclose(z["obs.goal"], ds.episode(0).obs["goal"])


def test_resume_continues_seeds_and_wrong_task_is_refused(tmp_path):
    out = tmp_path / "d"
    collect(CollectConfig(task="panda-reach", episodes=2, out=out))
    collect(CollectConfig(task="panda-reach", episodes=4, out=out))
    ds = open_dataset(out)
    assert [e["seed"] for e in ds.entries] == [0, 1, 2, 3]
    with pytest.raises(ConfigError, match="different task spec.*name"):
        DemoWriter(out, get_task("panda-pick-cube"))
    with pytest.raises(ConfigError, match="does not match task 'panda-pick-cube'.*obs_terms"):
        open_dataset(out, get_task("panda-pick-cube"))


def test_lost_index_line_and_torn_line_are_recovered(tmp_path):
    out = tmp_path / "d"
    collect(CollectConfig(task="panda-reach", episodes=3, out=out))
    index = out / "index.jsonl"
    lines = index.read_text().splitlines()
    index.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])  # line 2 torn, line 3 lost
    ds = open_dataset(out)
    assert len(ds) == 3 and all(e["success"] for e in ds.entries)
    assert ds.entries[2].get("recovered") is True
    writer = DemoWriter(out, get_task("panda-reach"))  # repairs the index on open
    assert writer.next_index == 3 and len(index.read_text().splitlines()) == 3


def test_interrupted_collection_keeps_finished_episodes(tmp_path):
    out = tmp_path / "d"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "robot_rl.cli", "collect", "--task", "panda-pick-cube",
                             "--episodes", "500", "--out", str(out)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        index = out / "index.jsonl"
        if index.is_file() and len(index.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # no chance to clean up
    proc.wait(timeout=30)
    ds = open_dataset(out, get_task("panda-pick-cube"))
    assert 3 <= len(ds) < 500
    for ep in ds:  # every stored episode is complete and readable
        assert ep.success and len(ep) >= 5
    writer = DemoWriter(out, get_task("panda-pick-cube"))
    assert not list((out / "episodes").glob("*.tmp")) and writer.next_index == len(ds)
