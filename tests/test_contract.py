"""Policy contract: round trip, embedding, sidecar, and each mismatch refused with a message naming it."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import onnx
import pytest

from policy_helpers import panda_contract, write_joint_target_policy
from robot_rl.errors import ConfigError
from robot_rl.policy.contract import (
    METADATA_KEY, ActionSpec, Timing, contract_from_json, contract_to_json, load_policy, sha256_bytes,
    sidecar_path, write_policy,
)
from robot_rl.robot.model import load_robot_model


@pytest.fixture(scope="module")
def panda():
    return load_robot_model("panda")


def test_round_trip_json_is_identity():
    contract = panda_contract(horizon=4, n_action_steps=2)
    again = contract_from_json(contract_to_json(contract))
    assert again == contract
    assert contract_to_json(again) == contract_to_json(contract)


def test_written_file_embeds_contract_and_sidecar_binds_hash(tmp_path, panda):
    path = tmp_path / "p.onnx"
    stored = write_joint_target_policy(path)
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert contract_from_json(meta[METADATA_KEY]) == stored
    side = json.loads(sidecar_path(path).read_text())
    assert side["onnx_sha256"] == sha256_bytes(path.read_bytes())
    assert stored.provenance.opset == 17 and len(stored.golden) == 2
    loaded = load_policy(path, robot=panda)
    assert loaded.contract == stored and loaded.sha256 == side["onnx_sha256"]


def _rewrite(path, contract):
    """Re-export the same graph with a changed contract (golden vectors recorded afresh)."""
    model = onnx.load(str(path))
    return write_policy(model, dataclasses.replace(contract, golden=()), path)


def test_permuted_joints_refused(tmp_path, panda):
    path = tmp_path / "p.onnx"
    stored = write_joint_target_policy(path)
    names = list(stored.action_joint_names)
    names[3], names[4] = names[4], names[3]
    # an exporter that wrote the names in the wrong order: every per-joint table follows the wrong names
    defaults = {name: stored.default_joint_pos[true] for name, true in zip(names, stored.obs_joint_names)}
    _rewrite(path, dataclasses.replace(stored, action_joint_names=tuple(names), obs_joint_names=tuple(names),
                                       default_joint_pos=defaults))
    with pytest.raises(ConfigError, match=r"default_joint_pos for joint .panda_joint4. is 0 rad, outside the "
                                          r"robot.s limits.*permuted"):
        load_policy(path, robot=panda)


def test_missing_joint_refused(tmp_path, panda):
    path = tmp_path / "p.onnx"
    stored = write_joint_target_policy(path)
    names = stored.action_joint_names[:-1] + ("panda_joint8",)
    _rewrite(path, dataclasses.replace(stored, action_joint_names=names, obs_joint_names=names,
                                       default_joint_pos=None))
    with pytest.raises(ConfigError, match=r"joints \['panda_joint8'\] are missing on robot 'panda'"):
        load_policy(path, robot=panda)


def test_inconsistent_rate_refused():
    with pytest.raises(ConfigError, match=r"policy_hz 50 Hz does not equal 1/\(physics_dt 0.005 s \* decimation 2\)"):
        Timing(physics_dt=0.005, decimation=2, policy_hz=50.0)


def test_rate_above_robot_control_rate_refused(tmp_path, panda):
    path = tmp_path / "p.onnx"
    stored = write_joint_target_policy(path)
    fast = Timing(physics_dt=0.0002, decimation=1, policy_hz=5000.0, max_latency_ms=10.0)
    _rewrite(path, dataclasses.replace(stored, timing=fast))
    with pytest.raises(ConfigError, match=r"policy_hz 5000 Hz exceeds robot 'panda' control rate 1000 Hz"):
        load_policy(path, robot=panda)


def test_tampered_file_refused(tmp_path):
    path = tmp_path / "p.onnx"
    write_joint_target_policy(path)
    model = onnx.load(str(path))
    weight = next(i for i in model.graph.initializer if len(i.dims) == 2)
    array = onnx.numpy_helper.to_array(weight).copy()
    array[0, 0] += 1.0
    weight.CopyFrom(onnx.numpy_helper.from_array(array, weight.name))
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ConfigError, match="does not match its sidecar.*tampered"):
        load_policy(path)


def test_wrong_golden_output_refused(tmp_path):
    path = tmp_path / "p.onnx"
    stored = write_joint_target_policy(path)
    vector = stored.golden[1]
    bad = np.asarray(vector.outputs["actions"]) + 0.5
    golden = (stored.golden[0], dataclasses.replace(vector, outputs={"actions": bad.tolist()}))
    model = onnx.load(str(path))
    model.metadata_props[0].value = contract_to_json(dataclasses.replace(stored, golden=golden))
    path.write_bytes(model.SerializeToString())
    sidecar_path(path).unlink()
    with pytest.raises(ConfigError, match=r"golden vector 1 output 'actions'.*differs .* by up to 0.5"):
        load_policy(path)


def test_contract_io_must_match_graph(tmp_path):
    path = tmp_path / "p.onnx"
    stored = write_joint_target_policy(path)
    renamed = dataclasses.replace(stored.inputs[0], name="observation")
    with pytest.raises(ConfigError, match=r"graph inputs \['obs'\] differ from the contract's \['observation'\]"):
        _rewrite(path, dataclasses.replace(stored, inputs=(renamed,)))


def test_bad_contract_fields_named():
    with pytest.raises(ConfigError, match=r"action.type: 'torque'"):
        ActionSpec("torque", scale=1.0, offset=0.0)
    with pytest.raises(ConfigError, match=r"action.scale: expected 7 values"):
        panda_contract(action=ActionSpec("joint_pos_abs", scale=[1.0, 2.0], offset=0.0))
    text = contract_to_json(panda_contract()).replace('"schema_version": 1', '"schema_version": 99')
    with pytest.raises(ConfigError, match="schema_version 99 is not supported"):
        contract_from_json(text)
    with pytest.raises(ConfigError, match=r"unknown fields \['colour'\]"):
        contract_from_json(text.replace('"schema_version": 99', '"schema_version": 1, "colour": 1'))


def test_file_without_contract_refused(tmp_path):
    path = tmp_path / "plain.onnx"
    write_joint_target_policy(path)
    model = onnx.load(str(path))
    del model.metadata_props[:]
    path.write_bytes(model.SerializeToString())
    sidecar_path(path).unlink()
    with pytest.raises(ConfigError, match="carries no policy contract"):
        load_policy(path)
