"""Isaac Lab interoperability: a LEAPP bundle (made by the real leapp package) and an rsl_rl export + env.yaml,
each imported into a contract-carrying policy that loads against the Panda and computes the trained targets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from isaaclab_exports import (
    FRANKA_INIT_JOINT_POS, dump_yaml, make_leapp_bundle, make_reach_franka_run, make_rsl_rl_run, scene_entity,
)
from policy_helpers import panda_inputs
from robot_rl.errors import ConfigError
from robot_rl.policy.contract import load_policy
from robot_rl.policy.isaaclab_import import import_rsl_rl, load_env_yaml
from robot_rl.policy.leapp_import import import_leapp
from robot_rl.policy.observation import ObservationInputs
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
    text = env_path.read_text()
    assert "!!python/object/apply:builtins.slice" in text and "!!python/tuple" in text  # as dump_yaml writes it
    contract = import_rsl_rl(onnx_path, env_path, tmp_path / "rsl.onnx", robot="panda")
    assert contract.timing.physics_dt == 0.01 and contract.timing.decimation == 2
    assert contract.timing.policy_hz == pytest.approx(50.0)
    assert contract.action.scale == (0.5,) * 7
    np.testing.assert_allclose(contract.action.offset, panda.config.default_pose)
    assert [t.source for t in contract.observations] == ["joint_pos", "joint_vel", "last_action"]
    assert contract.obs_joint_names == panda.joint_names  # asset_cfg.joint_names panda_joint.* against the URDF
    runtime = PolicyRuntime(load_policy(tmp_path / "rsl.onnx", robot=panda), robot_model=panda)
    chunk = runtime.act(panda_inputs(panda.config.default_pose, None))
    np.testing.assert_allclose(chunk.positions[0], target, atol=1e-5)


def test_reach_franka_layout_imports_unchanged_and_splits_the_observation_right(tmp_path, panda):
    onnx_path, env_path, actor = make_reach_franka_run(tmp_path / "run")
    contract = import_rsl_rl(onnx_path, env_path, tmp_path / "reach.onnx")
    names = panda.joint_names + ("panda_finger_joint1", "panda_finger_joint2")
    assert contract.obs_joint_names == names and contract.action_joint_names == panda.joint_names
    assert [(t.name, t.source, t.size) for t in contract.observations] == [
        ("joint_pos", "joint_pos", 9), ("joint_vel", "joint_vel", 9), ("pose_command", "goal", 7),
        ("actions", "last_action", 7)]
    assert "panda_hand" in contract.observations[2].units
    runtime = PolicyRuntime(load_policy(tmp_path / "reach.onnx", robot=panda), robot_model=panda)
    default = np.array([FRANKA_INIT_JOINT_POS[n] for n in panda.joint_names] + [0.04, 0.04])
    rng, last = np.random.default_rng(0), np.zeros(7)
    for step in range(3):  # by hand: Isaac Lab's observation, actor in torch, then scale 0.5 + default offset
        q, v = default + np.r_[rng.uniform(-0.2, 0.2, 7), 0.0, 0.0], rng.uniform(-0.5, 0.5, 9)
        goal = np.array([0.5, 0.1 * step, 0.3, 0.0, 1.0, 0.0, 0.0])
        inputs = ObservationInputs(float(step), names, q, v, goal=goal)
        obs = np.concatenate([q - default, v, goal, last])
        with torch.no_grad():
            raw = actor(torch.as_tensor(obs, dtype=torch.float32)[None]).numpy()[0]
        np.testing.assert_allclose(runtime.act(inputs).positions[0], raw * 0.5 + default[:7], atol=1e-5)
        last = raw
    assert np.abs(last).max() > 0.01  # the last-action term carried a real action


def test_env_yaml_python_tags_other_than_tuple_and_slice_are_refused(tmp_path):
    _, env_path = make_rsl_rl_run(tmp_path / "run", np.zeros(7))
    bad = tmp_path / "env.yaml"
    bad.write_text(env_path.read_text() + "evil: !!python/object/apply:os.system [echo hi]\n")
    with pytest.raises(ConfigError, match=r"env.yaml.*python/object/apply:os.system"):
        load_env_yaml(bad)


def _edited(tmp_path, env_path, edit) -> Path:
    env = load_env_yaml(env_path)
    edit(env)
    return dump_yaml(tmp_path / "edited" / "env.yaml", env)


@pytest.mark.parametrize("edit, message", [
    (lambda e: e["actions"]["arm_action"].update(joint_names=["kuka_joint_.*"]),
     r"actions.arm_action: joint_names \['kuka_joint_.\*'\] match none"),
    (lambda e: e["observations"]["policy"]["joint_pos"].update(func="isaaclab.envs.mdp.observations:root_lin_vel_b"),
     r"observations.policy.joint_pos: func .*root_lin_vel_b.* has no robot_rl source"),
    (lambda e: e["commands"]["ee_pose"].update(class_type="isaaclab.envs.mdp.commands:UniformVelocityCommand"),
     r"observations.policy.pose_command: command 'ee_pose' of type 'UniformVelocityCommand' has no robot_rl goal"),
    (lambda e: e["observations"]["policy"]["joint_vel"]["params"].update(asset_cfg=scene_entity(["panda_joint.*"])),
     r"observation terms observe different joint sets"),
    (lambda e: e["observations"]["policy"].update(history_order="time"), r"history_order 'time' is not supported"),
    (lambda e: e["observations"]["policy"]["actions"].update(modifiers=[{"func": "x:y"}]),
     r"observations.policy.actions: observation modifiers"),
])
def test_env_yaml_problems_are_named(tmp_path, panda, edit, message):
    onnx_path, env_path, _ = make_reach_franka_run(tmp_path / "run")
    with pytest.raises(ConfigError, match=message):
        import_rsl_rl(onnx_path, _edited(tmp_path, env_path, edit), tmp_path / "x.onnx")


def test_observation_width_mismatch_names_every_term(tmp_path):
    onnx_path, env_path, _ = make_reach_franka_run(tmp_path / "run")
    bad = _edited(tmp_path, env_path, lambda e: e["observations"]["policy"].update(history_length=2))
    with pytest.raises(ConfigError, match=r"input 'obs' has 32 values, but env.yaml's policy observations make 64: "
                                          r"joint_pos=18, joint_vel=18, pose_command=14, actions=14"):
        import_rsl_rl(onnx_path, bad, tmp_path / "x.onnx")
