"""HIL transitions (robot_rl.hil.transitions, .replay, .sampler): round trip, crash safety, validation, sampling."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_rl.errors import ConfigError, DataError
from robot_rl.hil.replay import (INDEX_FILE, META_FILE, SEGMENT_DIR, TransitionStore, load_transitions, read_entries,
                                 read_meta)
from robot_rl.hil.sampler import EmptyReplayError, ReplaySampler
from robot_rl.hil.transitions import FIELDS, ReplayConfig

REPO = Path(__file__).resolve().parents[1]
CFG = ReplayConfig(obs_shape=(3,), action_dim=2, capacity=100, flush_every=3)


def make_step(rng: np.random.Generator, cfg: ReplayConfig = CFG, intervened: bool = False,
              done: bool = False) -> dict:
    a = cfg.action_dim
    return {"obs": rng.normal(size=cfg.obs_shape), "base_action": rng.normal(size=a),
            "action": rng.uniform(-1, 1, size=a), "intervened": intervened, "reward": float(rng.normal()),
            "done": done, "next_obs": rng.normal(size=cfg.obs_shape), "next_base_action": rng.normal(size=a)}


def stacked(steps: list[dict], cfg: ReplayConfig = CFG) -> dict[str, np.ndarray]:
    """What the store should give back for ``steps``: float32 / bool arrays, (T, ...)."""
    out = {}
    for name, shape in cfg.field_shapes().items():
        dtype = bool if name in ("intervened", "done") else np.float32
        out[name] = np.array([s[name] for s in steps], dtype=dtype).reshape(len(steps), *shape)
    return out


def assert_same(loaded: dict, expected: dict) -> None:
    for name in FIELDS:
        assert loaded[name].dtype == expected[name].dtype, name
        np.testing.assert_array_equal(loaded[name], expected[name], err_msg=name)


def write_steps(root: Path, steps: list[dict], cfg: ReplayConfig = CFG) -> None:
    with TransitionStore(root, cfg, policy={"base_sha256": "ab" * 32}) as store:
        for s in steps:
            store.add(**s)


def test_round_trip_with_segments_episodes_and_index(tmp_path):
    rng = np.random.default_rng(0)
    steps = [make_step(rng, intervened=i in (1, 2, 6), done=i == 4) for i in range(8)]
    root = tmp_path / "store"
    with TransitionStore(root, CFG, policy={"base_sha256": "ab" * 32}) as store:
        for s in steps[:7]:
            store.add(**s)
        assert store.buffered == 2 and store.episode == 1  # [0 1 2] and [3 4](done) written; 5, 6 buffered
        assert len(store.load()["reward"]) == 5  # only what is on disk
        store.add(**steps[7])
    loaded = load_transitions(root)
    assert_same(loaded, stacked(steps))
    assert loaded["episode"].tolist() == [0, 0, 0, 0, 0, 1, 1, 1]
    entries = read_entries(root)
    assert [(e["episode"], e["part"], e["steps"], e["interventions"], e["intervened_steps"], e["terminal"])
            for e in entries] == [(0, 0, 3, 1, 2, False), (0, 1, 2, 0, 0, True), (1, 0, 3, 1, 1, False)]
    rewards = stacked(steps)["reward"].astype(np.float64)
    assert entries[1]["return"] == pytest.approx(rewards[3:5].sum())
    assert entries[1]["episode_return"] == pytest.approx(rewards[:5].sum())
    assert all(e["wall_start"] <= e["wall_end"] for e in entries)
    meta = read_meta(root)
    assert meta["obs_shape"] == [3] and meta["action_dim"] == 2 and meta["policy"] == {"base_sha256": "ab" * 32}
    with np.load(root / entries[0]["file"]) as z:  # plain numpy, no pickles
        assert z["obs"].shape == (3, 3) and z["obs"].dtype == np.float32 and z["done"].dtype == bool
        assert json.loads(str(z["info"]))["steps"] == 3
    # a resumed store starts a new episode and continues the file numbering
    with TransitionStore(root, CFG) as store:
        store.add(**make_step(rng))
    assert read_entries(root)[-1]["file"] == f"{SEGMENT_DIR}/segment_000003.npz"
    assert load_transitions(root)["episode"].tolist()[-1] == 2
    assert read_meta(root)["policy"] == {"base_sha256": "ab" * 32}  # written once, at creation


def test_everything_finished_survives_a_crash(tmp_path):
    rng = np.random.default_rng(1)
    steps = [make_step(rng, intervened=i % 4 == 0) for i in range(12)]
    root = tmp_path / "store"
    write_steps(root, steps)  # 4 segments of 3
    index = root / INDEX_FILE
    lines = index.read_text().splitlines()
    assert len(lines) == 4
    index.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])  # line 2 torn, lines 3 and 4 lost
    segments = root / SEGMENT_DIR
    (segments / "segment_000004.npz.tmp").write_bytes(b"PK\x03\x04 half a zip")
    (segments / ".segment_000004.npz.123-abcd.tmp").write_bytes(b"")
    loaded = load_transitions(root)
    assert_same(loaded, stacked(steps))
    entries = read_entries(root)
    assert [e.get("recovered", False) for e in entries] == [False, True, True, True]
    assert sum(e["steps"] for e in entries) == 12 and entries[3]["part"] == 3
    with TransitionStore(root, CFG) as store:  # a writer repairs the index and drops the leftovers
        assert len(index.read_text().splitlines()) == 4 and not list(segments.glob("*.tmp"))
        more = [make_step(rng) for _ in range(2)]
        for s in more:
            store.add(**s)
    assert_same(load_transitions(root), stacked(steps + more))
    assert len(index.read_text().splitlines()) == 5


CRASHING_WRITER = """
import os, sys, numpy as np
from robot_rl.hil.replay import TransitionStore
from robot_rl.hil.transitions import ReplayConfig
store = TransitionStore(sys.argv[1], ReplayConfig(obs_shape=(3,), action_dim=2, flush_every=5))
for i in range(23):
    v = float(i)
    store.add(obs=[v, v, v], base_action=[v, -v], action=[0.0, 0.5], intervened=i % 2 == 0, reward=v, done=False,
              next_obs=[v + 1] * 3, next_base_action=[v + 1, -v - 1])
print("added", flush=True)
os.kill(os.getpid(), 9)
"""


def test_a_killed_writer_loses_at_most_the_unflushed_steps(tmp_path):
    root = tmp_path / "store"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(root)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL and "added" in proc.stdout, proc.stderr
    loaded = load_transitions(root)
    assert loaded["reward"].tolist() == [float(i) for i in range(20)]  # 4 segments of 5; 3 buffered steps lost
    with TransitionStore(root, CFG) as store:  # the dead writer's lock is gone with it
        assert store.episode == 1


def test_mismatched_meta_is_refused(tmp_path):
    root = tmp_path / "store"
    write_steps(root, [make_step(np.random.default_rng(2))])
    with pytest.raises(ConfigError, match=r"obs_shape: store has \(3,\), config has \(4,\)"):
        TransitionStore(root, ReplayConfig(obs_shape=(4,), action_dim=2))
    with pytest.raises(ConfigError, match="action_dim: store has 2, config has 7"):
        TransitionStore(root, ReplayConfig(obs_shape=(3,), action_dim=7))
    with pytest.raises(ConfigError, match="action_dim"):
        load_transitions(root, ReplayConfig(obs_shape=(3,), action_dim=7))
    meta = json.loads((root / META_FILE).read_text())
    (root / META_FILE).write_text(json.dumps({**meta, "version": 99}))
    with pytest.raises(ConfigError, match="v99"):
        load_transitions(root)
    with pytest.raises(ConfigError, match="meta.json"):
        load_transitions(tmp_path / "nothing-here")


def test_one_writer_at_a_time(tmp_path):
    root = tmp_path / "store"
    store = TransitionStore(root, CFG)
    with pytest.raises(ConfigError, match="another process"):
        TransitionStore(root, CFG)
    store.close()
    with pytest.raises(ConfigError, match="closed"):
        store.add(**make_step(np.random.default_rng(0)))
    TransitionStore(root, CFG).close()


@pytest.mark.parametrize("field, value, problem", [
    ("obs", np.zeros(4), r"'obs' has shape \(4,\), expected \(3,\)"),
    ("next_base_action", np.zeros((1, 2)), r"'next_base_action' has shape \(1, 2\), expected \(2,\)"),
    ("reward", float("nan"), "'reward' has 1 non-finite"),
    ("next_obs", [0.0, np.inf, 1.0], r"'next_obs' has 1 non-finite .* index \(1,\)"),
    ("base_action", [1e39, 0.0], "'base_action' has 1 non-finite value.* in float32"),
    ("action", [0.5, 1.5], r"'action' must be a residual action in \[-1.0, 1.0\]"),
    ("intervened", 0.5, "'intervened' must be bool"),
    ("done", "yes", "'done' must be bool"),
    ("obs", ["a", "b", "c"], "'obs' must be numeric"),
])
def test_a_bad_step_is_refused_naming_the_field_and_earlier_steps_survive(tmp_path, field, value, problem):
    rng = np.random.default_rng(3)
    good = [make_step(rng) for _ in range(4)]
    root = tmp_path / "store"
    with TransitionStore(root, CFG) as store:
        for s in good:
            store.add(**s)
        assert store.buffered == 1
        with pytest.raises(DataError, match=problem):
            store.add(**{**make_step(rng), field: value})
        assert store.buffered == 1
        store.add(**good[0])
    assert_same(load_transitions(root), stacked(good + good[:1]))


def test_the_caller_may_reuse_its_buffers(tmp_path):
    obs = np.zeros(3)
    with TransitionStore(tmp_path / "s", CFG) as store:
        step = store.add(**{**make_step(np.random.default_rng(4)), "obs": obs})
        obs[:] = 7.0
    assert not step["obs"].any() and not load_transitions(tmp_path / "s")["obs"].any()


def test_a_corrupt_segment_is_reported_by_name(tmp_path):
    root = tmp_path / "store"
    write_steps(root, [make_step(np.random.default_rng(5)) for _ in range(9)])
    segment = root / SEGMENT_DIR / "segment_000001.npz"
    data = segment.read_bytes()
    segment.write_bytes(data[: len(data) // 2])  # indexed: sha256 no longer matches
    with pytest.raises(DataError, match="segment_000001.npz.*sha256"):
        load_transitions(root)
    (root / INDEX_FILE).write_text("")  # unindexed: the zip itself is unreadable
    with pytest.raises(DataError, match="segment_000001.npz.*unreadable"):
        load_transitions(root)
    segment.write_bytes(b"garbage")
    with pytest.raises(DataError, match="segment_000001.npz"):
        read_entries(root)


def _op():
    step = st.tuples(st.just("add"), st.integers(0, 2 ** 32 - 1), st.booleans(), st.integers(0, 5))
    return st.one_of(step, step, step, st.just(("flush",)), st.just(("end",)), st.just(("reopen",)))


@settings(max_examples=60)
@given(ops=st.lists(_op(), max_size=25), flush_every=st.integers(0, 4))
def test_loaded_arrays_equal_what_was_appended(ops, flush_every):
    cfg = ReplayConfig(obs_shape=(2, 2), action_dim=1, flush_every=flush_every)
    appended, episodes, episode = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "store"
        store = TransitionStore(root, cfg)
        started = False  # the current episode has steps
        for op in ops:
            if op[0] == "add":
                _, seed, intervened, done_roll = op
                step = make_step(np.random.default_rng(seed), cfg, intervened=intervened, done=done_roll == 0)
                store.add(**step)
                appended.append(step)
                episodes.append(episode)
                started = True
                if step["done"]:
                    episode, started = episode + 1, False
            elif op[0] == "flush":
                store.flush()
            elif op[0] == "end":
                store.end_episode()
                if started and store.buffered == 0:
                    episode, started = episode + 1, False
            else:
                store.close()
                store = TransitionStore(root, cfg)
                if started:
                    episode, started = episode + 1, False
        store.close()
        loaded = load_transitions(root, cfg)
        if appended:
            assert_same(loaded, stacked(appended, cfg))
        else:
            assert all(len(loaded[name]) == 0 for name in FIELDS)
        assert loaded["obs"].shape == (len(appended), 2, 2)
        assert loaded["episode"].tolist() == episodes
        assert sum(e["steps"] for e in read_entries(root)) == len(appended)


def test_config_is_validated():
    assert ReplayConfig(obs_shape=5, action_dim=1).obs_shape == (5,)
    for kwargs, name in [({"obs_shape": (3, 0)}, "obs_shape"), ({"obs_shape": ()}, "obs_shape"),
                         ({"action_dim": 0}, "action_dim"), ({"capacity": 0}, "capacity"),
                         ({"flush_every": -1}, "flush_every"), ({"capacity": 2.5}, "capacity")]:
        with pytest.raises(ConfigError, match=f"ReplayConfig.{name}"):
            ReplayConfig(**{"obs_shape": (3,), "action_dim": 2, **kwargs})


def _sampler_with(n: int, intervened_every: int = 0, capacity: int = 100) -> ReplaySampler:
    cfg = ReplayConfig(obs_shape=(3,), action_dim=2, capacity=capacity)
    sampler = ReplaySampler(cfg)
    rng = np.random.default_rng(6)
    steps = [make_step(rng, cfg, intervened=bool(intervened_every) and i % intervened_every == 0)
             for i in range(n)]
    for i, s in enumerate(steps):
        s["reward"] = float(i)  # the reward identifies the step
    sampler.extend(stacked(steps, cfg))
    return sampler


def test_sample_intervened_returns_only_human_steps():
    sampler = _sampler_with(50, intervened_every=7)
    rng = np.random.default_rng(0)
    batch = sampler.sample_intervened(rng, 256)
    assert batch["intervened"].all() and set(batch["reward"].tolist()) == {0.0, 7.0, 14.0, 21.0, 28.0, 35.0, 42.0, 49.0}
    assert batch["obs"].shape == (256, 3) and batch["action"].shape == (256, 2)
    everything = sampler.sample(rng, 2000)
    assert len(set(everything["reward"].tolist())) == 50
    mixed = sampler.sample_mixed(rng, 64)
    assert mixed["intervened"][32:].all() and mixed["obs"].shape == (64, 3)
    assert sampler.sample_mixed(rng, 10, intervened_fraction=1.0)["intervened"].all()
    with pytest.raises(ConfigError, match="intervened_fraction"):
        sampler.sample_mixed(rng, 10, intervened_fraction=1.5)


def test_mixed_sampling_falls_back_while_no_human_step_exists():
    sampler = _sampler_with(20)
    rng = np.random.default_rng(1)
    with pytest.raises(EmptyReplayError, match="no intervened"):
        sampler.sample_intervened(rng, 4)
    batch = sampler.sample_mixed(rng, 32)
    assert batch["reward"].shape == (32,) and not batch["intervened"].any()
    with pytest.raises(EmptyReplayError, match="empty"):
        ReplaySampler(CFG).sample_mixed(rng, 4)


def test_capacity_is_first_in_first_out():
    cfg = ReplayConfig(obs_shape=(3,), action_dim=2, capacity=5)
    sampler = ReplaySampler(cfg)
    rng = np.random.default_rng(2)
    steps = [make_step(rng, cfg, intervened=i == 4) for i in range(12)]
    for i, s in enumerate(steps[:8]):
        sampler.add(s)
        assert len(sampler) == min(i + 1, 5)
    assert sampler.n_intervened == 1
    sampler.extend(stacked(steps[8:], cfg))
    assert_same(sampler.arrays(), stacked(steps[7:], cfg))
    assert sampler.n_intervened == 0  # steps 3..6 went first, the human step 4 with them
    sampler.extend(stacked(steps, cfg))  # more than the capacity at once: the newest 5 stay
    assert_same(sampler.arrays(), stacked(steps[7:], cfg))
    assert set(sampler.sample(rng, 500)["reward"].tolist()) == set(stacked(steps[7:], cfg)["reward"].tolist())


@settings(max_examples=30)
@given(chunks=st.lists(st.integers(0, 1500), max_size=6), capacity=st.integers(1, 3000))
def test_sampler_keeps_the_newest_capacity_steps_in_order(chunks, capacity):
    cfg = ReplayConfig(obs_shape=(1,), action_dim=1, capacity=capacity)
    sampler = ReplaySampler(cfg)
    total = 0
    for n in chunks:
        r = np.arange(total, total + n, dtype=np.float32)
        sampler.extend({"obs": r[:, None], "base_action": r[:, None], "action": np.zeros((n, 1)),
                        "intervened": r % 3 == 0, "reward": r, "done": np.zeros(n, bool), "next_obs": r[:, None],
                        "next_base_action": r[:, None]})
        total += n
    held = sampler.arrays()["reward"]
    assert held.tolist() == list(range(max(0, total - capacity), total))
    assert sampler.n_intervened == int(np.count_nonzero(held % 3 == 0))
    if len(sampler):
        assert np.isin(sampler.sample(np.random.default_rng(0), 64)["reward"], held).all()


def test_a_store_reloads_into_a_sampler(tmp_path):
    rng = np.random.default_rng(7)
    steps = [make_step(rng, intervened=i % 2 == 0) for i in range(10)]
    write_steps(tmp_path / "s", steps)
    sampler = ReplaySampler(ReplayConfig(obs_shape=(3,), action_dim=2, capacity=6))
    sampler.extend(load_transitions(tmp_path / "s"))
    assert_same(sampler.arrays(), stacked(steps[4:]))


def test_the_numpy_core_imports_neither_torch_nor_rclpy():
    code = ("import sys, robot_rl.hil.replay, robot_rl.hil.sampler, robot_rl.hil.online; "
            "bad = [m for m in ('torch', 'rclpy') if m in sys.modules]; assert not bad, bad")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
