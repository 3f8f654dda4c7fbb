"""The residual learner (torch): a fresh residual changes nothing, corrections are learned (BC on
interventions), the critic-driven actor improves a reward, and the exported residual runs in the
policy runtime next to its base (real torch.onnx export, real onnxruntime)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from policy_helpers import write_joint_target_policy

from robot_rl.errors import ConfigError
from robot_rl.hil.export import export_residual
from robot_rl.hil.learner import LearnerConfig, ResidualLearner
from robot_rl.hil.residual_net import NetConfig
from robot_rl.policy.contract import load_policy
from robot_rl.policy.runtime import PolicyRuntime, RuntimeConfig
from helpers_hil import batch, one_torch_thread  # noqa: F401 - a fixture

OBS, ACT = 6, 3


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _learner(**config) -> ResidualLearner:
    learner = ResidualLearner(NetConfig(OBS, ACT, hidden=64, critics=2), LearnerConfig(batch_size=128, **config),
                              seed=0)  # 2 critics: fast; the ensemble is tested in test_hil_rl.py
    rng = np.random.default_rng(0)
    learner.fit_normalisation(rng.normal(size=(500, OBS)), rng.normal(size=(500, ACT)))
    return learner


def _residual(learner: ResidualLearner, obs: np.ndarray, base: np.ndarray) -> np.ndarray:
    """The deterministic residual (k, a) for one observation and k base actions (k, a)."""
    obs_t = torch.as_tensor(np.asarray(obs, dtype=np.float32).reshape(1, -1)).expand(len(base), -1)
    with torch.no_grad():
        return learner.actor(obs_t, torch.as_tensor(np.asarray(base, dtype=np.float32))).numpy().astype(float)


def test_a_fresh_residual_leaves_the_base_unchanged():
    learner = _learner()
    rng = np.random.default_rng(1)
    out = _residual(learner, rng.normal(size=OBS) * 10, rng.normal(size=(4, ACT)) * 10)
    np.testing.assert_array_equal(out, 0.0)


def test_corrections_are_learned_from_intervened_steps():
    """Human residual = tanh-range function of the observation; after training the actor reproduces it."""
    learner, rng = _learner(bc_weight=5.0, q_weight=0.0, anchor_weight=0.0), np.random.default_rng(2)  # bc
    target = lambda obs: 0.6 * np.tanh(obs[:, :ACT])  # noqa: E731 - the simulated correction
    errors = []
    for step in range(600):
        b = batch(rng, 128, OBS, ACT, intervened_fraction=0.5)
        human = b["intervened"]
        b["action"][human] = target(b["obs"][human])
        learner.update(b)
        if step in (0, 599):
            test = rng.normal(size=(256, OBS))
            pred = learner.actor(torch.as_tensor(test, dtype=torch.float32),
                                 torch.zeros(256, ACT)).detach().numpy()
            errors.append(float(np.abs(pred - target(test)).mean()))
    print(f"mean |residual - correction|: {errors[0]:.3f} -> {errors[1]:.3f}")
    assert errors[1] < 0.25 * errors[0]


def test_bc_leaves_the_temperature_alone_so_it_cannot_run_off():
    """With q_weight 0 nothing trains the std, so the entropy stays below its target; tuning the temperature then
    drove it to inf and the actor loss to NaN after ~7 000 updates of a pick-cube ``bc`` run (docs/hil.md). bc
    now leaves it at its initial value, and its actor loss is the BC term alone."""
    learner, rng = _learner(bc_weight=2.0, q_weight=0.0, anchor_weight=0.0), np.random.default_rng(4)
    before = float(learner.log_temperature.detach())
    for _ in range(50):
        stats = learner.update(batch(rng, 128, OBS, ACT, intervened_fraction=0.5))
    assert float(learner.log_temperature.detach()) == before and stats["temperature_loss"] == 0.0
    assert stats["actor"] == pytest.approx(2.0 * stats["bc"], rel=1e-5)


def test_the_critic_steers_the_actor_to_higher_reward():
    """A one-step bandit with no human: reward -|a - a*|^2, gamma 0; the actor's mean approaches a*."""
    learner, rng = _learner(gamma=0.0, bc_weight=0.0, q_weight=1.0, anchor_weight=0.0), np.random.default_rng(3)
    best = np.array([0.5, -0.4, 0.2])
    for _ in range(800):
        b = batch(rng, 128, OBS, ACT, intervened_fraction=0.0)
        for key in ("obs", "base_action", "next_obs", "next_base_action"):
            b[key][:] = 0.0  # one state: a pure bandit
        b["action"] = rng.uniform(-1, 1, size=(128, ACT)).astype(np.float32)
        b["reward"] = -np.sum((b["action"] - best) ** 2, axis=1).astype(np.float32)
        b["done"][:] = True
        learner.update(b)
    final = _residual(learner, np.zeros(OBS), np.zeros((1, ACT)))[0]
    print(f"actor mean {np.round(final, 3)} vs best {best}")
    assert np.abs(final - best).max() < 0.1


def test_update_refuses_before_normalisation_and_config_is_validated():
    learner = ResidualLearner(NetConfig(OBS, ACT))
    with pytest.raises(ConfigError, match="fit_normalisation"):
        learner.update(batch(np.random.default_rng(0), 8, OBS, ACT, 0.5))
    with pytest.raises(ConfigError, match="gamma"):
        LearnerConfig(gamma=1.0)
    with pytest.raises(ConfigError, match="obs_dim"):
        NetConfig(0, ACT)


def _trained_residual(tmp_path, panda_model):
    """(base LoadedPolicy, exported residual LoadedPolicy, its learner, rng): a residual moved away from zero."""
    write_joint_target_policy(tmp_path / "base.onnx", horizon=4, n_action_steps=2)
    base = load_policy(tmp_path / "base.onnx", robot=panda_model)
    obs_dim, n = base.contract.obs_dim, base.contract.action_dim
    learner = ResidualLearner(NetConfig(obs_dim, n, hidden=32), LearnerConfig(batch_size=32, bc_weight=5.0))
    rng = np.random.default_rng(4)
    learner.fit_normalisation(rng.normal(size=(100, obs_dim)), rng.normal(size=(100, n)))
    for _ in range(50):  # move the residual away from zero
        b = batch(rng, 32, obs_dim, n, intervened_fraction=1.0)
        b["action"][:] = 0.5
        learner.update(b)
    golden_obs, golden_base = rng.normal(size=(2, obs_dim)), rng.normal(size=(2, n))
    export_residual(learner.actor, base, 0.2, tmp_path / "residual.onnx", golden_obs, golden_base)
    return base, load_policy(tmp_path / "residual.onnx", robot=panda_model), learner, rng  # golden vectors replayed


def test_exported_residual_composes_with_its_base_in_the_runtime(tmp_path, panda_model):
    base, residual, learner, rng = _trained_residual(tmp_path, panda_model)
    runtime = PolicyRuntime(base, residual=residual, robot_model=panda_model)
    obs = rng.normal(size=base.contract.obs_dim).astype(np.float32)
    composed, alone = runtime.compose(obs)
    np.testing.assert_array_equal(alone, runtime.base.run(obs))
    expected = np.stack([0.2 * _residual(learner, obs, a[None])[0] for a in alone])
    np.testing.assert_allclose(composed - alone, expected, atol=1e-5)
    assert np.abs(composed - alone).max() > 0.01


def test_explore_scale_shrinks_the_sampled_residual_around_its_mean(tmp_path, panda_model):
    base, residual, _, rng = _trained_residual(tmp_path, panda_model)
    obs, base_raw = rng.normal(size=base.contract.obs_dim).astype(np.float32), rng.normal(size=base.contract.action_dim)

    def deviations(**config) -> tuple[np.ndarray, np.ndarray]:
        """(noise inputs (200, a), |sampled - mean| raw action (200, a)) with the same seeded draws."""
        runtime = PolicyRuntime(base, residual=residual, robot_model=panda_model,
                                config=RuntimeConfig(seed=7, **config))
        mean = PolicyRuntime(base, residual=residual, robot_model=panda_model).residual_step(obs, base_raw)
        steps = [runtime.residual_step(obs, base_raw) for _ in range(200)]
        return np.array([runtime.residual.noise_value() for _ in range(200)]), np.abs(np.array(steps) - mean)

    noise_full, dev_full = deviations(explore_residual=True)
    noise_small, dev_small = deviations(explore_residual=True, explore_scale=0.1)
    noise_off, dev_off = deviations(explore_scale=0.1)  # not exploring: the mean, whatever the scale
    assert 0.8 < noise_full.std() < 1.2 and 0.08 < noise_small.std() < 0.12
    assert np.all(noise_off == 0.0) and np.all(dev_off == 0.0)
    assert dev_small.mean() < 0.3 * dev_full.mean() and dev_small.max() > 0.0
    from robot_rl_sim.hil.session import HilSimConfig

    for bad in (0.0, 1.5, float("nan")):
        with pytest.raises(ConfigError, match="explore_scale"):
            RuntimeConfig(explore_scale=bad)
        with pytest.raises(ConfigError, match="explore_scale"):
            HilSimConfig(base="b.onnx", out="x", explore_scale=bad)


def test_a_residual_of_a_residual_is_refused(tmp_path, panda_model):
    write_joint_target_policy(tmp_path / "base.onnx")
    base = load_policy(tmp_path / "base.onnx")
    learner = ResidualLearner(NetConfig(base.contract.obs_dim, base.contract.action_dim, hidden=16))
    obs, act = np.zeros((1, base.contract.obs_dim)), np.zeros((1, base.contract.action_dim))
    export_residual(learner.actor, base, 0.1, tmp_path / "r1.onnx", obs, act)
    with pytest.raises(ConfigError, match="itself a residual"):
        export_residual(learner.actor, load_policy(tmp_path / "r1.onnx"), 0.1, tmp_path / "r2.onnx", obs, act)
    with pytest.raises(ConfigError, match="scale"):
        export_residual(learner.actor, base, 0.0, tmp_path / "r3.onnx", obs, act)


def test_a_saved_learner_goes_on_where_it_stopped_and_refuses_other_sizes():
    learner, rng = _learner(), np.random.default_rng(5)
    for _ in range(3):
        learner.update(batch(rng, 128, OBS, ACT, intervened_fraction=0.5))
    state = learner.state_dict()
    copy = ResidualLearner(NetConfig(OBS, ACT, hidden=64, critics=2), LearnerConfig(batch_size=128), seed=9)
    copy.load_state_dict(state)
    assert copy.updates == 3 and copy.fitted
    b = batch(np.random.default_rng(6), 128, OBS, ACT, intervened_fraction=0.5)
    torch.manual_seed(0)
    first = learner.update(b)
    torch.manual_seed(0)
    assert copy.update(b) == pytest.approx(first, rel=1e-5)  # same networks, optimiser moments, temperature
    with pytest.raises(ConfigError, match="networks"):
        ResidualLearner(NetConfig(OBS, ACT, hidden=32)).load_state_dict(state)


@pytest.mark.parametrize("anchor_target, expected", [("executed", 0.5), ("zero", 0.0)])
def test_the_anchor_pulls_policy_steps_to_its_target(anchor_target, expected):
    """Anchor alone on policy-driven samples whose executed residual is 0.5 everywhere (exploration around an older
    residual): "executed" follows it, "zero" holds the base (the actor starts at 0.5 and returns)."""
    learner, rng = _learner(bc_weight=0.0, q_weight=0.0, anchor_weight=1.0, anchor_target=anchor_target), \
        np.random.default_rng(4)
    start = _learner(bc_weight=0.0, q_weight=0.0, anchor_weight=1.0)  # trained to 0.5 first: a drifted residual
    for b in (batch(rng, 128, OBS, ACT, intervened_fraction=0.0) for _ in range(150)):
        b["action"][:] = 0.5
        (start if anchor_target == "zero" else learner).update(b)
    if anchor_target == "zero":
        learner.actor.load_state_dict(start.actor.state_dict())
        for b in (batch(rng, 128, OBS, ACT, intervened_fraction=0.0) for _ in range(150)):
            b["action"][:] = 0.5
            learner.update(b)
    out = _residual(learner, rng.normal(size=OBS), rng.normal(size=(8, ACT)))
    print(f"anchor {anchor_target}: mean residual {out.mean():.3f}")
    np.testing.assert_allclose(out, expected, atol=0.1)


def test_an_unknown_anchor_target_is_refused():
    with pytest.raises(ConfigError, match="anchor_target"):
        LearnerConfig(anchor_target="older")


def test_spread_shows_the_exploration_the_squashed_entropy_hides():
    """Pre-tanh std 2.7 has no more tanh-squashed entropy than std 0.14 (both near the -0.5 nats per dimension
    target; the wide one less, its mass piled at +-1), yet acts as +-1 noise: ``spread`` (mean |sampled -
    deterministic residual|) tells them apart."""
    rng, stats = np.random.default_rng(5), {}
    for log_std in (-2.0, 1.0):
        learner = _learner()
        with torch.no_grad():
            learner.actor.body[-1].bias[ACT:] = log_std
        stats[log_std] = learner.update(batch(rng, 128, OBS, ACT, intervened_fraction=0.5))
    narrow, wide = stats[-2.0], stats[1.0]
    print({k: (round(v["entropy"] / ACT, 2), round(v["spread"], 2)) for k, v in stats.items()})
    assert wide["entropy"] < narrow["entropy"] and narrow["entropy"] / ACT < -0.4
    assert narrow["spread"] < 0.15 and wide["spread"] > 0.6
