"""Isaac Lab interoperability: a LEAPP bundle (made by the real leapp package) and an rsl_rl export + env.yaml,
each imported into a contract-carrying policy that loads against the Panda and computes the trained targets."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from isaaclab_exports import make_leapp_bundle, make_rsl_rl_run
from policy_helpers import panda_inputs
from robot_rl.errors import ConfigError
from robot_rl.policy.contract import load_policy
from robot_rl.policy.isaaclab_import import import_rsl_rl, load_env_yaml
from robot_rl.policy.leapp_import import import_leapp
from robot_rl.policy.runtime import PolicyRuntime
from robot_rl.robot.model import load_robot_model

TARGET_OFFSET = np.array([0.3, -0.2, 0.2, 0.3, -0.2, 0.2, 0.3])


@pytest.fixture(scope="module")
def panda():
    return load_robot_model("panda")


@pytest.fixture(scope="module")
def leapp_bundle(tmp_path_factory):
    return make_leapp_bundle(tmp_path_factory.mktemp("leapp"))


def test_leapp_bundle_becomes_a_checked_policy(leapp_bundle, tmp_path, panda):
    contract = import_leapp(leapp_bundle, tmp_path / "leapp.onnx", task="joint-target", robot="panda")
    assert contract.action_joint_names == panda.joint_names
    assert contract.timing.policy_hz == 50.0 and contract.timing.decimation == 4
    assert [t.source for t in contract.observations] == ["joint_pos", "joint_vel", "goal"]
    runtime = PolicyRuntime(load_policy(tmp_path / "leapp.onnx", robot=panda), robot_model=panda)
    goal = panda.config.default_pose + TARGET_OFFSET
    chunk = runtime.act(panda_inputs(panda.config.default_pose, goal))
    np.testing.assert_allclose(chunk.positions[0], goal, atol=1e-5)


def test_leapp_bundle_with_modified_model_refused(leapp_bundle, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in leapp_bundle.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    onnx_file = bad / "policy.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes() + b"\0")
    with pytest.raises(ConfigError, match="sha256 differs from the bundle's sha256sum"):
        import_leapp(bad, tmp_path / "x.onnx")


def test_rsl_rl_export_with_env_yaml_becomes_a_checked_policy(tmp_path, panda):
    target = panda.config.default_pose + TARGET_OFFSET
    onnx_path, env_path = make_rsl_rl_run(tmp_path / "run", target)
    contract = import_rsl_rl(onnx_path, env_path, tmp_path / "rsl.onnx", joint_order=panda.joint_names)
    assert contract.timing.physics_dt == 0.01 and contract.timing.decimation == 2
    assert contract.timing.policy_hz == pytest.approx(50.0)
    assert contract.action.scale == (0.5,) * 7
    np.testing.assert_allclose(contract.action.offset, panda.config.default_pose)
    assert [t.source for t in contract.observations] == ["joint_pos", "joint_vel", "last_action"]
    runtime = PolicyRuntime(load_policy(tmp_path / "rsl.onnx", robot=panda), robot_model=panda)
    chunk = runtime.act(panda_inputs(panda.config.default_pose, None))
    np.testing.assert_allclose(chunk.positions[0], target, atol=1e-5)


def test_env_yaml_problems_are_named(tmp_path, panda):
    onnx_path, env_path = make_rsl_rl_run(tmp_path / "run", panda.config.default_pose)
    env = load_env_yaml(env_path)
    env["actions"]["arm_action"]["joint_names"] = ["kuka_joint_.*"]
    bad = tmp_path / "bad_env.yaml"
    bad.write_text(yaml.safe_dump(env))
    with pytest.raises(ConfigError, match=r"joint_names \['kuka_joint_.\*'\] match none"):
        import_rsl_rl(onnx_path, bad, tmp_path / "x.onnx", joint_order=panda.joint_names)
    env["actions"]["arm_action"]["joint_names"] = ["panda_joint.*"]
    env["observations"]["policy"]["joint_pos"]["func"] = "isaaclab.envs.mdp.observations:root_lin_vel_b"
    bad.write_text(yaml.safe_dump(env))
    with pytest.raises(ConfigError, match="root_lin_vel_b.*has no robot_rl source"):
        import_rsl_rl(onnx_path, bad, tmp_path / "x.onnx", joint_order=panda.joint_names)
