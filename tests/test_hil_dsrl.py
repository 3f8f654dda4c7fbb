"""DSRL in the HIL learner (real MuJoCo, onnxruntime, torch): a short ``robot-rl hil sim --method dsrl`` run on
panda-reach writes noise policies bound to the base's sha256, the learner stores the latents the base was
given, and the runtime (the policy node's composer) steers the base through its noise input and refuses a
noise policy for another base."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from robot_rl.cli import build_parser
from robot_rl.errors import ConfigError
from robot_rl.hil.dsrl import LATENT_SCALE
from robot_rl.hil.replay import load_transitions
from robot_rl.policy.contract import load_policy
from robot_rl.policy.runtime import OnnxPolicy, PolicyRuntime, RuntimeConfig
from robot_rl_sim.tasks import get_task

from policy_helpers import train_tiny_reach_diffusion

TASK = "panda-reach"
BAKED_BASE = Path(__file__).parent / "data" / "panda_reach_small" / "policy.onnx"  # initial noise baked in


@pytest.fixture(scope="module")
def dsrl_run(tmp_path_factory):
    """A tiny reach base exported with its noise as an input (U-Net 16/32, 40 steps on 3 demonstrations: not a
    good policy, a real one) and a 2-round dsrl run on it."""
    from robot_rl.learning.export import export_policy

    root = tmp_path_factory.mktemp("dsrl")
    checkpoint, _ = train_tiny_reach_diffusion(root, threads=1)
    base = root / "base" / "policy.onnx"
    export_policy(checkpoint, get_task(TASK), base, min_success_rate=0.0, noise_input=True)
    out = root / "run"
    args = build_parser().parse_args(
        ["hil", "sim", "--task", TASK, "--base", str(base), "--out", str(out), "--method", "dsrl", "--rounds", "2",
         "--episodes-per-round", "2", "--demo-episodes", "1", "--utd", "0.5", "--eval-episodes", "1"])
    assert args.func(args) == 0
    return {"base": base, "out": out, "report": json.loads((out / "report.json").read_text())}


def test_a_dsrl_run_writes_noise_policies_bound_to_the_base(dsrl_run, panda_model):
    base = load_policy(dsrl_run["base"], robot=panda_model)
    report = dsrl_run["report"]
    assert report["config"]["method"] == "dsrl" and report["base_policy_sha256"] == base.sha256
    assert [r["round"] for r in report["rounds"]] == [0, 1] and report["rounds"][-1]["updates"] > 0
    assert {"critic", "latent_critic", "actor", "q_pi", "entropy"} <= set(report["rounds"][-1]["losses"])
    exported = sorted(dsrl_run["out"].glob("residual_*.onnx"))
    assert len(exported) == 3  # the untrained actor round 0 acted with, then one per round
    for path in exported:
        noise = load_policy(path, robot=panda_model).contract
        assert noise.residual.kind == "noise" and noise.residual.base_policy_id == base.sha256
        assert noise.residual.scale == LATENT_SCALE
        assert noise.action_output.shape == base.contract.input("noise").shape  # (1, H, A)
    assert report["rounds"][-1]["residual"] == str(exported[-1])


def test_the_learner_stores_the_latent_the_base_was_given_with_the_executed_chunk(dsrl_run):
    base = load_policy(dsrl_run["base"])
    chunking, a = base.contract.chunking, base.contract.action_dim
    h, k = chunking.horizon, chunking.n_action_steps
    data = load_transitions(dsrl_run["out"] / "transitions")
    assert data["action"].shape[1] == h * a and np.all(np.abs(data["action"]) <= 1.0)
    assert data["intervened"].any() and (~data["intervened"]).any()  # the demonstration and the policy's chunks
    assert np.all(data["base_action"][:, k * a:] == 0.0) and np.all(data["next_base_action"] == 0.0)
    onnx = OnnxPolicy(base, RuntimeConfig())
    policy_rows = np.flatnonzero(~data["intervened"])
    latents = data["action"][policy_rows].reshape(-1, h, a) * LATENT_SCALE
    assert np.std(latents) > 0.1  # exploring latents, not the mean noise
    checked = 0
    for row, latent in zip(policy_rows[:6], latents[:6]):
        chunk = onnx.run(data["obs"][row], noise=latent)[:k]
        executed = data["base_action"][row, : k * a].reshape(k, a)
        full = ~np.all(executed == executed[-1], axis=1)  # rows an episode's end did not repeat
        np.testing.assert_allclose(executed[full], chunk[full], atol=2e-3)
        checked += 1
    assert checked > 0


def test_the_runtime_steers_the_base_through_its_noise_and_refuses_another_base(dsrl_run, panda_model):
    base = load_policy(dsrl_run["base"], robot=panda_model)
    noise_path = sorted(dsrl_run["out"].glob("residual_*.onnx"))[-1]
    noise = load_policy(noise_path, robot=panda_model)
    runtime = PolicyRuntime(base, noise, robot_model=panda_model)  # what the policy node builds on a hot swap
    window = np.asarray(base.contract.golden[0].inputs[base.contract.input("obs").name], np.float32)[0]
    raw, base_raw = runtime.compose(window)
    latent = OnnxPolicy(noise, RuntimeConfig()).run(window)
    assert np.all(np.abs(latent) < LATENT_SCALE) and latent.shape == tuple(base.contract.input("noise").shape[1:])
    np.testing.assert_allclose(raw, OnnxPolicy(base, RuntimeConfig()).run(window, noise=latent), atol=1e-5)
    np.testing.assert_array_equal(raw, base_raw)  # the base's actions, untouched
    np.testing.assert_array_equal(runtime.residual_step(window, raw[0]), raw[0])
    other = load_policy(BAKED_BASE, robot=panda_model)
    with pytest.raises(ConfigError, match="noise policy was trained for base policy sha256 .* steers only the exact"):
        PolicyRuntime(other, noise, robot_model=panda_model)


def test_dsrl_needs_a_base_with_a_noise_input(tmp_path, panda_model):
    from robot_rl.hil.dsrl_online import DsrlOnlineLearner
    from robot_rl.hil.online import OnlineConfig

    with pytest.raises(ConfigError, match="--noise-input"):
        DsrlOnlineLearner(load_policy(BAKED_BASE, robot=panda_model), OnlineConfig(out_dir=str(tmp_path),
                                                                                   method="dsrl"))


def test_the_node_core_records_the_latent_of_its_own_newest_export(dsrl_run, tmp_path, panda_model):
    """Without a caller-given latent (the learner node), each chunk's latent is the one the newest exported noise
    policy chooses on the chunk-start window; a new export takes over at the next chunk start."""
    from robot_rl.hil.dsrl_online import DsrlOnlineLearner
    from robot_rl.hil.online import OnlineConfig
    from robot_rl_sim.hil.episode import measurement
    from robot_rl_sim.tasks import make_env

    base = load_policy(dsrl_run["base"], robot=panda_model)
    k = base.contract.chunking.n_action_steps
    config = OnlineConfig(out_dir=str(tmp_path), method="dsrl", min_transitions=2, updates_per_step=10, batch_size=4,
                          export_every_updates=3, critics=2, hidden=16)
    learner = DsrlOnlineLearner(base, config, robot_model=panda_model)
    spec = get_task(TASK)
    env = make_env(spec)
    obs, stored = env.reset(seed=0), []

    def run(steps: int, start: int) -> None:
        nonlocal obs
        for t in range(start, start + steps):
            inputs = measurement(spec, env.config, obs, t * spec.policy_dt)
            stored.append(learner.step(inputs, inputs.position[:7], False))
            obs, *_ = env.step(inputs.position[:7])

    try:
        run(2 * k + 1, 0)
        first = [s for s in stored if s is not None]
        assert len(first) == 2 and all(np.all(s["action"] == 0.0) for s in first)  # the untrained actor: latent 0
        assert learner.learn(3) == 3 and learner.maybe_export() == tmp_path / "residual_0001.onnx"
        run(2 * k, 2 * k + 1)  # the chunk starting at 2k ran with residual_0000, the next with residual_0001
        later = [s for s in stored if s is not None][2:]
        noise = OnnxPolicy(load_policy(tmp_path / "residual_0001.onnx"), RuntimeConfig())
        np.testing.assert_array_equal(later[0]["action"], 0.0)
        latent = noise.run(later[1]["obs"])
        assert np.abs(latent).max() > 0.0
        np.testing.assert_allclose(later[1]["action"], latent.ravel() / LATENT_SCALE, atol=1e-6)
    finally:
        learner.close()


def test_the_noise_actor_learns_the_latents_whose_chunks_the_action_critic_values():
    """Synthetic: the "base" executes its latent (a = w), success iff a[0] > 0; the human's chunks (intervened, a
    latent the base was not given) are only in Q^A. The latent critic, distilled from Q^A at the policy's
    (w, a) pairs, turns the actor's deterministic latent towards w[0] > 0."""
    from robot_rl.hil.dsrl import DsrlConfig, DsrlLearner

    rng = np.random.default_rng(0)
    n, d = 512, 4
    obs = rng.normal(size=(n, 2)).astype(np.float32)
    u = rng.uniform(-1, 1, size=(n, d)).astype(np.float32)
    executed = (LATENT_SCALE * u).astype(np.float32)
    human = np.arange(n) % 4 == 0
    executed[human, 0] = 1.0  # the human's chunks all succeed
    reward = (executed[:, 0] > 0).astype(np.float32)
    batch = {"obs": obs, "action": u, "base_action": executed, "intervened": human, "reward": reward,
             "done": np.ones(n, np.float32), "next_obs": obs}
    torch.set_num_threads(1)
    learner = DsrlLearner(DsrlConfig(obs_dim=2, latent_dim=d, executed_dim=d, hidden=32, critics=2, batch_size=64,
                                     lr=3e-3), seed=0)
    learner.fit_normalisation(obs, executed)
    for _ in range(300):
        rows = rng.integers(0, n, 64)
        stats = learner.update({k: v[rows] for k, v in batch.items()})
    with torch.no_grad():
        latent = learner.actor(torch.from_numpy(obs), torch.zeros(n, d)).numpy()
        q_a = learner.action_critic(torch.from_numpy(obs), torch.from_numpy(executed)).mean(dim=0).numpy()
    assert np.mean(np.abs(q_a - reward)) < 0.2 and stats["latent_critic"] < 0.05
    assert np.mean(latent[:, 0] > 0.3) > 0.9 and np.all(np.abs(latent) < LATENT_SCALE)


def _random_batch(rng: np.random.Generator, config, size: int = 64) -> dict[str, np.ndarray]:
    """A DsrlLearner batch of ``size`` policy-driven chunks with random observations, latents and rewards."""
    obs = rng.normal(size=(size, config.obs_dim)).astype(np.float32)
    return {"obs": obs, "next_obs": obs + 0.1, "action": rng.uniform(-1, 1, (size, config.latent_dim)),
            "base_action": rng.normal(size=(size, config.latent_dim)), "intervened": np.zeros(size),
            "reward": rng.integers(0, 2, size).astype(np.float32), "done": np.zeros(size)}


@pytest.mark.parametrize("weight", [-1.0, float("nan")])
def test_the_dsrl_anchor_weight_is_checked(weight):
    from robot_rl.hil.dsrl import DsrlConfig

    with pytest.raises(ConfigError, match="anchor_weight"):
        DsrlConfig(4, 6, 6, anchor_weight=weight)


def test_the_dsrl_anchor_pulls_the_deterministic_latent_towards_the_base_mean_noise():
    """Started away from 0, the deterministic latent ends nearer 0 with the anchor than without it, on the same
    data and seed: the pull DSRL lacks when a few chunks' critic ranks latents by noise (docs/distillation.md)."""
    from robot_rl.hil.dsrl import DsrlConfig, DsrlLearner

    def final_latent_size(anchor_weight: float) -> float:
        config = DsrlConfig(4, 6, 6, hidden=32, critics=2, batch_size=64, anchor_weight=anchor_weight)
        learner, rng = DsrlLearner(config, seed=3), np.random.default_rng(3)
        batch = _random_batch(rng, config)
        learner.fit_normalisation(batch["obs"], batch["base_action"])
        with torch.no_grad():
            learner.actor.body[-1].bias[:config.latent_dim] = 1.0  # deterministic latent 1.5 * tanh(1) ~ 1.14
        for _ in range(150):
            learner.update(batch)
        with torch.no_grad():
            return float(learner.actor(torch.as_tensor(batch["obs"]), torch.zeros(64, 6)).abs().mean())

    free, anchored = final_latent_size(0.0), final_latent_size(10.0)
    assert anchored < 0.5 * free, (anchored, free)
