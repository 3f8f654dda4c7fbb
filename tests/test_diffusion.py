"""Diffusion policy pieces: config validation, U-Net shapes, normaliser, DDIM bounds, windows, training resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from robot_rl.errors import ConfigError
from robot_rl.learning.checkpoint import load_checkpoint
from robot_rl.learning.diffusion import DiffusionConfig, DiffusionPolicy, parameter_count
from robot_rl.learning.normalizer import RangeNormalizer, RangeStats, compute_range_stats
from robot_rl.learning.stats import across_seeds, wilson_interval
from robot_rl.learning.trainer import TrainConfig, _lr_factor, new_checkpoint, train
from robot_rl.learning.windows import Episode, WindowSampler

torch.set_num_threads(2)


def _stats(d: int, low: float = -2.0, high: float = 3.0) -> RangeStats:
    return RangeStats(np.full(d, low), np.full(d, high))


@pytest.mark.parametrize("field,value,needle", [
    ("horizon", 15, "horizon"), ("n_action_steps", 17, "n_action_steps"), ("kernel", 4, "kernel"),
    ("channels", (60, 128), "channels"), ("denoising_steps", 7, "denoising_steps"), ("obs_dim", 0, "obs_dim")])
def test_config_rejects_bad_values_naming_the_field(field, value, needle):
    with pytest.raises(ConfigError, match=needle):
        DiffusionConfig(**{"obs_dim": 20, "action_dim": 7, field: value})


def test_default_model_is_small_and_shapes_are_right():
    config = DiffusionConfig(obs_dim=20, action_dim=7)
    policy = DiffusionPolicy(config, _stats(20), _stats(7))
    assert 1_000_000 <= parameter_count(policy) <= 3_000_000
    noise = policy.unet(torch.randn(3, 16, 7), torch.tensor([0, 50, 99]), torch.randn(3, config.obs_features))
    assert noise.shape == (3, 16, 7)
    assert policy.ddim_timesteps() == [90, 80, 70, 60, 50, 40, 30, 20, 10, 0]


def test_normalizer_maps_the_range_to_unit_interval_and_back():
    data = np.array([[0.0, 5.0, 1.0], [2.0, 7.0, 1.0], [1.0, 6.0, 1.0]])
    norm = RangeNormalizer(compute_range_stats(data))
    y = norm.normalize(torch.tensor(data, dtype=torch.float32))
    assert torch.allclose(y[:, :2].min(0).values, torch.tensor([-1.0, -1.0]))
    assert torch.allclose(y[:, :2].max(0).values, torch.tensor([1.0, 1.0]))
    assert torch.allclose(y[:, 2], torch.zeros(3))  # a constant dimension is centred, not divided by ~0
    assert torch.allclose(norm.unnormalize(y), torch.tensor(data, dtype=torch.float32), atol=1e-5)
    with pytest.raises(ConfigError, match="NaN"):
        compute_range_stats(np.array([[np.nan, 1.0]]))


def test_ddim_samples_stay_inside_the_demonstrated_action_range():
    config = DiffusionConfig(obs_dim=4, action_dim=3, obs_history=2, channels=(16, 32), obs_features=16, time_dim=16)
    policy = DiffusionPolicy(config, _stats(4), RangeStats(np.array([-1.0, 0.0, 2.0]), np.array([1.0, 0.5, 4.0])))
    with torch.no_grad():
        actions = policy.eval().sample(torch.randn(5, 2, 4), 10 * torch.randn(5, 16, 3))
    assert actions.shape == (5, 16, 3)
    assert torch.all(actions >= torch.tensor([-1.0, 0.0, 2.0]) - 1e-5)
    assert torch.all(actions <= torch.tensor([1.0, 0.5, 4.0]) + 1e-5)


def test_windows_pad_with_first_observation_and_last_action():
    episodes = [Episode(np.arange(3.0)[:, None], 10 + np.arange(3.0)[:, None]),
                Episode(100 + np.arange(2.0)[:, None], 200 + np.arange(2.0)[:, None])]
    sampler = WindowSampler(episodes, obs_history=2, horizon=4)
    obs, actions = sampler.windows(np.array([0, 2, 3]))
    assert obs[:, :, 0].tolist() == [[0, 0], [1, 2], [100, 100]]
    assert actions[:, :, 0].tolist() == [[10, 11, 12, 12], [12, 12, 12, 12], [200, 201, 201, 201]]


def test_training_resumes_from_an_atomic_checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    episodes = [Episode(rng.normal(size=(12, 4)), rng.normal(size=(12, 3))) for _ in range(4)]
    diffusion = DiffusionConfig(obs_dim=4, action_dim=3, channels=(16, 32), obs_features=16, time_dim=16)
    path = tmp_path / "checkpoint.pt"
    first = TrainConfig(steps=4, batch_size=8, log_every=2, checkpoint_every=2, threads=2)
    checkpoint = train(first, new_checkpoint(first, diffusion, episodes, {"name": "t"}, {}), episodes, path)
    first_weights = checkpoint.model["unet.final.1.weight"].clone()
    assert not list(tmp_path.glob("*.tmp"))
    resumed = load_checkpoint(path)
    assert resumed.step == 4 and resumed.optimizer and [s for s, _ in resumed.losses] == [2, 4]
    final = train(TrainConfig(steps=6, batch_size=8, log_every=2, checkpoint_every=2), resumed, episodes, path)
    assert final.step == 6 and [s for s, _ in load_checkpoint(path).losses] == [2, 4, 6]
    assert not torch.equal(final.model["unet.final.1.weight"], first_weights)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="bad.pt"):
        load_checkpoint(tmp_path / "bad.pt")


def test_training_stops_at_its_wall_time_budget_with_an_annealed_checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    episodes = [Episode(rng.normal(size=(12, 4)), rng.normal(size=(12, 3))) for _ in range(4)]
    diffusion = DiffusionConfig(obs_dim=4, action_dim=3, channels=(16, 32), obs_features=16, time_dim=16)
    config = TrainConfig(steps=100_000, batch_size=8, log_every=1000, checkpoint_every=1000, warmup=2,
                         max_seconds=1.0)
    checkpoint = train(config, new_checkpoint(config, diffusion, episodes, {"name": "t"}, {}), episodes,
                       tmp_path / "checkpoint.pt")
    assert 1 <= checkpoint.step < 100_000 and checkpoint.train["seconds"] >= 1.0
    assert load_checkpoint(tmp_path / "checkpoint.pt").step == checkpoint.step  # saved when time ran out
    assert _lr_factor(50, config, seconds=0.5) == pytest.approx(0.5, abs=1e-3)  # half the time: half-way down
    assert _lr_factor(50, config, seconds=1.0) == pytest.approx(0.0)
    assert _lr_factor(1, config, seconds=9.0) == pytest.approx(1.0)  # warm-up is by steps
    with pytest.raises(ConfigError, match="max_seconds"):
        TrainConfig(max_seconds=0.0)


def test_wilson_interval_and_rliable_aggregates():
    low, high = wilson_interval(95, 100)
    assert low == pytest.approx(0.8882, abs=1e-3) and high == pytest.approx(0.9785, abs=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    agg = across_seeds(np.array([0.8, 0.9, 1.0, 0.7, 0.95]), reps=500)
    assert agg["iqm_ci95"][0] <= agg["iqm"] <= agg["iqm_ci95"][1]
    assert json.dumps(agg)
    with pytest.raises(ConfigError):
        across_seeds(np.array([0.5]))


def test_success_plot_of_a_perfect_score(tmp_path):
    """10/10: the Wilson upper bound rounds to 0.9999999999999999 < the rate; the plot must still be drawn."""
    from robot_rl.learning.eval import plot_success

    low, high = wilson_interval(10, 10)
    assert high < 1.0  # the rounding this guards against
    report = {"success_rate": 1.0, "ci95": [low, high], "task": "t", "mode": "inprocess", "episodes": 10,
              "across_seeds": {"iqm": 1.0, "iqm_ci95": [0.9, 0.99]}}
    assert plot_success([report], tmp_path / "s.png").stat().st_size > 0
