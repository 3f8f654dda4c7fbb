"""Policy runtime: torch/onnxruntime parity, observation assembly, residual composition, stale-step dropping."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from policy_helpers import (
    JointTargetPolicy, export_onnx, panda_contract, panda_inputs, write_joint_target_policy, write_residual_policy,
)
from robot_rl.errors import CommandError, ConfigError
from robot_rl.policy.chunking import ActionChunk, ChunkExecutor, drop_stale
from robot_rl.policy.contract import ObsTerm, TensorSpec, load_policy, write_policy
from robot_rl.policy.observation import ObservationAssembler
from robot_rl.policy.runtime import PolicyRuntime, RuntimeConfig
from robot_rl.robot.model import load_robot_model


@pytest.fixture(scope="module")
def panda():
    return load_robot_model("panda")


def test_torch_and_onnxruntime_agree(tmp_path):
    torch.manual_seed(3)
    mlp = torch.nn.Sequential(torch.nn.Linear(21, 64), torch.nn.ELU(), torch.nn.Linear(64, 64), torch.nn.ELU(),
                              torch.nn.Linear(64, 7))
    contract = panda_contract()
    write_policy(export_onnx(mlp, (torch.zeros(1, 21),), ["obs"], ["actions"]), contract, tmp_path / "m.onnx")
    runtime = PolicyRuntime(load_policy(tmp_path / "m.onnx"), config=RuntimeConfig(intra_op_threads=2))
    obs = np.random.default_rng(0).standard_normal((50, 21))
    with torch.no_grad():
        expected = mlp(torch.as_tensor(obs, dtype=torch.float32)).numpy()
    got = np.stack([runtime.base.run(o)[0] for o in obs])
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-4)


def test_joint_target_policy_targets_the_goal(tmp_path, panda):
    write_joint_target_policy(tmp_path / "p.onnx")
    runtime = PolicyRuntime(load_policy(tmp_path / "p.onnx", robot=panda), robot_model=panda)
    goal = panda.config.default_pose + np.array([0.3, -0.2, 0.1, 0.2, 0.0, 0.1, -0.3])
    chunk = runtime.act(panda_inputs(panda.config.default_pose, goal, stamp=5.0))
    assert chunk.stamp == 5.0 and chunk.deadlines.tolist() == pytest.approx([0.02])
    np.testing.assert_allclose(chunk.positions[0], goal, atol=1e-5)


def test_observation_history_order_and_fill():
    base = panda_contract()
    history = dataclasses.replace(base.observations[0], history=3)
    contract = dataclasses.replace(base, observations=(history,), inputs=(TensorSpec("obs", ("batch", 21)),),
                                   default_joint_pos=None)
    assemble = ObservationAssembler(contract)
    q0, q1 = np.full(7, 0.1), np.full(7, 0.2)
    offset = np.asarray(history.offset)
    first = assemble(panda_inputs(q0, None))
    np.testing.assert_allclose(first, np.tile(q0 - offset, 3))
    second = assemble(panda_inputs(q1, None))
    np.testing.assert_allclose(second, np.concatenate([q0 - offset, q0 - offset, q1 - offset]))


def test_observation_matches_joints_by_name_and_names_missing():
    contract = panda_contract()
    assemble = ObservationAssembler(contract)
    inputs = panda_inputs(np.arange(7) * 0.1, np.zeros(7))
    reversed_inputs = dataclasses.replace(inputs, joint_names=inputs.joint_names[::-1],
                                          position=inputs.position[::-1], velocity=inputs.velocity[::-1])
    np.testing.assert_allclose(assemble(inputs), ObservationAssembler(contract)(reversed_inputs))
    partial = dataclasses.replace(inputs, joint_names=inputs.joint_names[:6], position=inputs.position[:6],
                                  velocity=inputs.velocity[:6])
    with pytest.raises(CommandError, match=r"lacks joints \['panda_joint7'\]"):
        assemble(partial)
    with pytest.raises(CommandError, match="needs 'goal' but none was received"):
        ObservationAssembler(contract)(dataclasses.replace(inputs, goal=None))


def test_ee_pos_term_uses_pinocchio_fk(panda):
    base = panda_contract()
    term = ObsTerm("ee", "ee_pos", 3, "m")
    contract = dataclasses.replace(base, observations=(term,), inputs=(TensorSpec("obs", ("batch", 3)),))
    with pytest.raises(ConfigError, match="observes 'ee_pos' but no robot model"):
        ObservationAssembler(contract)
    q = panda.config.default_pose
    np.testing.assert_allclose(ObservationAssembler(contract, panda)(panda_inputs(q, None)), panda.fk(q))


def test_residual_is_composed_per_step_on_a_base_chunk(tmp_path, panda):
    base = write_joint_target_policy(tmp_path / "base.onnx", horizon=8, n_action_steps=4)
    loaded = load_policy(tmp_path / "base.onnx", robot=panda)
    write_residual_policy(tmp_path / "res.onnx", base, loaded.sha256, constant=0.1, scale=0.5)
    residual = load_policy(tmp_path / "res.onnx")
    plain = PolicyRuntime(loaded, robot_model=panda)
    composed = PolicyRuntime(loaded, residual=residual, robot_model=panda)
    goal = panda.config.default_pose + 0.1
    inputs = panda_inputs(panda.config.default_pose, goal, stamp=1.0)
    a, b = plain.act(inputs), composed.act(inputs)
    assert a.num_steps == b.num_steps == 8  # the whole horizon: later steps bridge the next inference
    np.testing.assert_allclose(b.raw - a.raw, 0.05, atol=1e-6)  # scale 0.5 * residual 0.1 on every step
    np.testing.assert_allclose(b.positions - a.positions, np.tile(0.05 * np.asarray(base.action.scale), (8, 1)), atol=1e-6)


def test_residual_for_another_base_is_refused(tmp_path, panda):
    base = write_joint_target_policy(tmp_path / "base.onnx")
    write_residual_policy(tmp_path / "res.onnx", base, "0" * 64, constant=0.1, scale=0.5)
    with pytest.raises(ConfigError, match="residual is for base policy 000000000000"):
        PolicyRuntime(load_policy(tmp_path / "base.onnx"), residual=load_policy(tmp_path / "res.onnx"))


def _chunk(stamp: float, k: int = 5, dt: float = 0.1) -> ActionChunk:
    positions = np.arange(k, dtype=float)[:, None] * np.ones((1, 2)) + stamp
    return ActionChunk(stamp=stamp, joint_names=("a", "b"), deadlines=dt * np.arange(1, k + 1),
                       positions=positions, velocities=np.zeros((k, 2)), gripper=None, raw=np.zeros((k, 2)),
                       saturated=np.zeros((k, 2), dtype=bool))


def test_stale_steps_are_dropped():
    chunk = _chunk(stamp=10.0)
    fresh = drop_stale(chunk, now=10.25, max_latency=1.0)
    assert fresh.deadlines.tolist() == pytest.approx([0.3, 0.4, 0.5])  # deadlines 10.1, 10.2 already passed
    assert fresh.positions[0, 0] == 12.0
    assert drop_stale(chunk, now=10.6, max_latency=1.0) is None  # every step stale
    assert drop_stale(chunk, now=10.05, max_latency=0.01) is None  # observation too old


def test_new_chunk_replaces_the_remainder_of_the_old_one():
    executor = ChunkExecutor(max_latency=1.0)
    executor.accept(_chunk(stamp=0.0), now=0.01)
    assert executor.target_at(0.15)[0] == 1.0
    executor.accept(_chunk(stamp=100.0 - 99.8), now=0.33)  # new chunk from the obs at 0.2 s, ready at 0.33 s
    assert executor.dropped_steps == 1  # its step 0 (deadline 0.3 s) was stale
    assert executor.target_at(0.35)[0] == pytest.approx(0.2 + 1.0)  # new chunk's step 1, not old step 3
    assert executor.target_at(5.0)[0] == pytest.approx(0.2 + 4.0)  # holds its last target
    assert executor.accept(_chunk(stamp=0.0), now=3.0) is None and executor.dropped_chunks == 1
