"""Export: torch vs onnxruntime parity on recorded observations; the contract equals the task's declaration."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from robot_rl.errors import ConfigError
from robot_rl.learning.diffusion import DiffusionConfig
from robot_rl.learning.export import UnrolledDDIM, export_policy
from robot_rl.learning.train_bc import golden_windows, load_episodes
from robot_rl.learning.trainer import TrainConfig, new_checkpoint, train
from robot_rl.learning.windows import WindowSampler
from robot_rl.policy.contract import load_policy
from robot_rl.policy.runtime import OnnxPolicy, RuntimeConfig
from robot_rl_sim.dataset.collect import CollectConfig, collect
from robot_rl_sim.tasks import get_task

torch.set_num_threads(2)
TASK = "panda-reach"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A briefly trained default-size policy on 4 recorded reach demonstrations, exported to ONNX."""
    root = tmp_path_factory.mktemp("export")
    collect(CollectConfig(task=TASK, episodes=4, out=root / "demos"))
    spec = get_task(TASK)
    episodes, summary = load_episodes(root / "demos", spec)
    diffusion = DiffusionConfig(obs_dim=spec.obs_dim, action_dim=spec.action_dim)
    summary["golden_obs"] = golden_windows(episodes, diffusion.obs_history, diffusion.horizon)
    config = TrainConfig(steps=10, batch_size=16, warmup=2, log_every=5)
    checkpoint = new_checkpoint(config, diffusion, episodes, json.loads(json.dumps(spec.to_dict())), summary)
    checkpoint = train(config, checkpoint, episodes, root / "checkpoint.pt")
    path = root / "policy.onnx"
    contract = export_policy(checkpoint, spec, path)
    return {"path": path, "contract": contract, "checkpoint": checkpoint, "episodes": episodes, "spec": spec}


def test_onnxruntime_matches_torch_on_recorded_observations(exported):
    checkpoint = exported["checkpoint"]
    sampler = WindowSampler(exported["episodes"], checkpoint.config.obs_history, checkpoint.config.horizon)
    obs, _ = sampler.windows(np.linspace(0, len(sampler) - 1, 12).astype(int))  # spread over every episode
    with torch.no_grad():
        expected = UnrolledDDIM(checkpoint.policy()).eval()(torch.from_numpy(obs)).numpy()
    runtime = OnnxPolicy(load_policy(exported["path"]), RuntimeConfig(intra_op_threads=1))
    got = np.stack([runtime.run(o if checkpoint.config.obs_history > 1 else o[-1]) for o in obs])
    assert got.shape == expected.shape == (12, 16, exported["spec"].action_dim)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)
    demonstrated = np.concatenate([e.actions for e in exported["episodes"]])
    assert np.all(got >= demonstrated.min(0) - 1e-4) and np.all(got <= demonstrated.max(0) + 1e-4)


def test_contract_is_the_task_declaration_and_loads_on_the_panda(exported, panda_model):
    contract, spec = exported["contract"], exported["spec"]
    loaded = load_policy(exported["path"], robot=panda_model)
    assert loaded.contract == contract
    assert contract.obs_joint_names == contract.action_joint_names == tuple(spec.joint_names)
    assert [(t.name, t.source, t.size) for t in contract.observations] == \
        [(t.name, t.source, t.size) for t in spec.obs_terms]
    assert contract.action.type == spec.action.type and contract.action.clip[0] == spec.action.clip_low
    assert (contract.timing.physics_dt, contract.timing.decimation) == (spec.physics_dt, spec.decimation)
    assert contract.chunking.horizon == 16 and contract.chunking.denoising_steps == 10
    assert contract.normalization.kind == "baked" and contract.provenance.task == TASK
    golden = np.asarray(contract.golden[0].inputs["obs"])
    assert golden.shape == (1, spec.obs_dim) and contract.chunking.obs_history == 1
    assert any(np.allclose(golden, w) for w in np.asarray(exported["checkpoint"].dataset["golden_obs"]))


def test_export_refuses_a_checkpoint_trained_on_another_spec(exported, tmp_path):
    spec = exported["spec"]
    changed = dataclasses.replace(spec, decimation=spec.decimation // 2)
    with pytest.raises(ConfigError, match="decimation"):
        export_policy(exported["checkpoint"], changed, tmp_path / "x.onnx")
    with pytest.raises(ConfigError, match="panda-pick-cube"):
        load_episodes(exported["path"].parent / "demos", get_task("panda-pick-cube"))


def test_the_baked_initial_noise_can_be_zero_its_mean(exported, tmp_path):
    checkpoint, spec = exported["checkpoint"], exported["spec"]
    zero = UnrolledDDIM(checkpoint.policy(), baked="zero").eval()
    assert not zero.initial_noise.any() and UnrolledDDIM(checkpoint.policy()).initial_noise.abs().sum() > 0
    path = tmp_path / "zero.onnx"
    export_policy(checkpoint, spec, path, baked="zero")
    obs = np.asarray(checkpoint.dataset["golden_obs"], dtype=np.float32)[:2].reshape(2, -1)
    with torch.no_grad():
        expected = zero(torch.from_numpy(obs)).numpy()
    runtime = OnnxPolicy(load_policy(path), RuntimeConfig(intra_op_threads=1))
    got = np.stack([runtime.run(o) for o in obs])
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)
    seeded = OnnxPolicy(load_policy(exported["path"]), RuntimeConfig(intra_op_threads=1))
    assert np.abs(got - np.stack([seeded.run(o) for o in obs])).max() > 1e-3  # another initial noise, another chunk
    with pytest.raises(ConfigError, match="baked noise 'mean' not in"):
        UnrolledDDIM(checkpoint.policy(), baked="mean")
