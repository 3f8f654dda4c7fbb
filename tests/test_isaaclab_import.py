"""Isaac Lab interoperability: a LEAPP bundle (made by the real leapp package) and an rsl_rl export + env.yaml,
each imported into a contract-carrying policy that loads against the Panda and computes the trained targets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from isaaclab_exports import (
    FRANKA_INIT_JOINT_POS, FRANKA_JOINTS, REACH_BODY, dump_yaml, make_isaaclab_leapp_bundle, make_reach_franka_run,
    make_rsl_rl_run, scene_entity,
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
def reach_bundle(tmp_path_factory):
    return make_isaaclab_leapp_bundle(tmp_path_factory.mktemp("leapp"), "ee_pose")


def _copy_bundle(bundle: Path, dest: Path, edit=None) -> Path:
    """A copy of ``bundle`` whose YAML is passed through ``edit(dict)``."""
    dest.mkdir(parents=True)
    for f in bundle.iterdir():
        (dest / f.name).write_bytes(f.read_bytes())
    if edit is not None:
        path = dest / f"{bundle.name}.yaml"
        raw = yaml.safe_load(path.read_text())
        edit(raw, next(iter(raw["models"].values())))
        path.write_text(yaml.safe_dump(raw))
    return dest


def test_isaaclab_leapp_bundle_imports_unchanged(reach_bundle, tmp_path, panda):
    text = (reach_bundle / f"{reach_bundle.name}.yaml").read_text()
    assert "last_action_in" in text and "feedback_flow" in text and "arm_action_kd_gains" in text  # real format
    assert (reach_bundle / f"{reach_bundle.name}_initial_values.safetensors").is_file()
    contract = import_leapp(reach_bundle, tmp_path / "reach.onnx", robot="panda")
    assert contract.obs_joint_names == FRANKA_JOINTS and contract.action_joint_names == panda.joint_names
    assert [(t.name, t.source, t.size) for t in contract.observations] == [
        ("robot_joint_pos", "joint_pos", 9), ("robot_joint_vel", "joint_vel", 9), ("ee_pose", "goal", 7)]
    assert contract.observations[2].units == "command/body/pose: x y z qx qy qz qw"
    assert [(f.output, f.input) for f in contract.feedback] == [("last_action_out", "last_action_in")]
    assert [t.name for t in contract.outputs if t.role == "info"] == ["arm_action_kp_gains", "arm_action_kd_gains"]
    assert contract.timing.policy_hz == pytest.approx(30.0) and contract.action.type == "joint_pos_abs"


def test_leapp_parity_with_inference_manager_over_120_steps(reach_bundle, tmp_path, panda):
    """The policy runtime (merged obs input, feedback carried by OnnxPolicy) against leapp's own InferenceManager
    on the unmodified bundle: same targets and gains at every step, through a reset half-way."""
    from leapp import InferenceManager

    import_leapp(reach_bundle, tmp_path / "reach.onnx", robot="panda")
    runtime = PolicyRuntime(load_policy(tmp_path / "reach.onnx", robot=panda), robot_model=panda)
    manager = InferenceManager(str(reach_bundle / f"{reach_bundle.name}.yaml"))
    node, rng = reach_bundle.name, np.random.default_rng(0)
    default = np.array(list(FRANKA_INIT_JOINT_POS.values())[:7] + [0.04, 0.04])
    worst, last_seen = 0.0, 0.0
    for step in range(120):
        if step == 60:
            runtime.reset(), manager.reset()
        q, v = default + rng.normal(0, 0.1, 9), rng.normal(0, 0.3, 9)
        goal = np.r_[rng.uniform([0.3, -0.2, 0.2], [0.6, 0.2, 0.5]), 0.0, 1.0, 0.0, 0.0]
        chunk = runtime.act(ObservationInputs(step * 0.02, FRANKA_JOINTS, q, v, goal=goal))
        feed = {f"{node}/robot_joint_pos": q, f"{node}/robot_joint_vel": v, f"{node}/ee_pose": goal}
        out = manager.run_policy({k: torch.as_tensor(x, dtype=torch.float32)[None] for k, x in feed.items()})
        worst = max(worst, float(np.abs(chunk.positions[0] - out[f"{node}/arm_action"].numpy()[0]).max()))
        for gain in ("kp", "kd"):
            np.testing.assert_allclose(runtime.base.info[f"arm_action_{gain}_gains"],
                                       out[f"{node}/arm_action_{gain}_gains"].numpy())
        last_seen = max(last_seen, float(np.abs(runtime.base.state["last_action_in"]).max()))
    print(f"max |runtime - leapp.InferenceManager| over 120 steps: {worst:.3g} rad")
    assert worst < 1e-5 and last_seen > 0.1  # the feedback input carried a real, non-zero last action


@pytest.mark.parametrize("edit, message", [
    (lambda raw, m: m["inputs"][2].update(kind="state/body/angular_velocity"),
     r"inputs\['ee_pose'\]: kind 'state/body/angular_velocity' has no robot_rl observation source"),
    (lambda raw, m: m["inputs"][2].update(dtype="float64"), r"inputs\['ee_pose'\]: dtype 'float64' is not supported"),
    (lambda raw, m: m["inputs"][1].update(element_names=[list(FRANKA_JOINTS[:7])]),
     r"inputs\['robot_joint_vel'\]: element_names .* differ from an earlier joint input's"),
    (lambda raw, m: m["inputs"][0].pop("element_names"), r"inputs\['robot_joint_pos'\]: needs element_names"),
    (lambda raw, m: m["outputs"][2].update(kind="target/joint/effort"),
     r"exactly one joint target output.*'arm_action'.*'arm_action_kp_gains'"),
    (lambda raw, m: m["outputs"][0].update(kind="target/joint/torques"),
     r"outputs\['arm_action'\]: kind 'target/joint/torques' is not a supported joint target"),
    (lambda raw, m: raw["pipeline"].update(initial_values="gone.safetensors"),
     r"pipeline.initial_values file .*gone.safetensors not found"),
    (lambda raw, m: raw["pipeline"]["feedback_flow"].update({"other/x_out": ["other/x_in"]}),
     r"feedback other/x_out -> other/x_in does not connect"),
    (lambda raw, m: raw["models"].update(second=m), r"multi-model pipelines are not supported"),
])
def test_leapp_refusals_name_the_input_or_output(reach_bundle, tmp_path, edit, message):
    with pytest.raises(ConfigError, match=message):
        import_leapp(_copy_bundle(reach_bundle, tmp_path / "edited", edit), tmp_path / "x.onnx")


def test_leapp_pose_goal_layout_names_its_body_and_is_what_the_gate_sends(reach_bundle, tmp_path, panda):
    """``goal_body`` puts the body (which the bundle does not record) into the goal term's units; the gate's
    ee-pose task builds goals in that layout (Isaac Lab 3: x y z qx qy qz qw) and judges them by FK."""
    from robot_rl.policy.pose_goal import parse_pose_goal
    from robot_rl_sim.gate.tasks import EE_POSE, GateTask

    contract = import_leapp(reach_bundle, tmp_path / "reach.onnx", robot="panda", goal_body=REACH_BODY)
    units = contract.observations[2].units
    assert units == "command/body/pose: target pose of body panda_hand in the robot base frame, m: x y z qx qy qz qw"
    layout = parse_pose_goal(units)
    task = GateTask(EE_POSE, panda.config, goal_units=units)
    q = panda.config.default_pose + 0.2
    goal = layout.values(panda.frame_pose(q, REACH_BODY))
    assert task.measure(panda, q, goal)["success"] == 1.0 and task.measure(panda, q, goal)["error"] < 1e-9
    wxyz = np.r_[goal[:3], goal[6], goal[3:6]]  # the 2.x order sent to a 3.x policy: a different rotation
    assert task.measure(panda, q, wxyz)["orientation_error_rad"] > 0.5
    assert task.measure(panda, panda.config.default_pose, goal)["success"] == 0.0
    with pytest.raises(ConfigError, match="needs a goal term whose units state a pose layout"):
        GateTask(EE_POSE, panda.config, goal_units="command/body/pose: x y z qx qy qz qw")


def test_leapp_bundle_imports_from_the_command_line(reach_bundle, tmp_path, panda):
    from robot_rl.cli import main as robot_rl_main

    with pytest.raises(SystemExit) as done:
        robot_rl_main(["export", "--leapp-bundle", str(reach_bundle), "--out", str(tmp_path / "reach.onnx"),
                       "--task", "ee-pose", "--goal-body", REACH_BODY])
    assert done.value.code == 0
    contract = load_policy(tmp_path / "reach.onnx", robot=panda).contract
    assert contract.provenance.task == "ee-pose" and "body panda_hand" in contract.observations[2].units


@pytest.mark.parametrize("edit, message", [
    (lambda raw, m: m["inputs"][2].update(kind="command/joint/position"),
     r"goal_body 'panda_hand' given, but no input has kind 'command/body/pose'"),
    (lambda raw, m: m["inputs"][2].update(element_names=[["x", "y", "z", "roll", "pitch", "yaw", "w"]]),
     r"inputs\['ee_pose'\]: pose goal of 'panda_hand': element order .* must name each of"),
])
def test_leapp_goal_body_refusals_name_the_problem(reach_bundle, tmp_path, edit, message):
    with pytest.raises(ConfigError, match=message):
        import_leapp(_copy_bundle(reach_bundle, tmp_path / "edited", edit), tmp_path / "x.onnx", goal_body=REACH_BODY)


def test_leapp_bundle_with_modified_model_refused(reach_bundle, tmp_path):
    bad = _copy_bundle(reach_bundle, tmp_path / "bad")
    onnx_file = bad / f"{reach_bundle.name}.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes() + b"\0")
    with pytest.raises(ConfigError, match="sha256 differs from the bundle's sha256sum"):
        import_leapp(bad, tmp_path / "x.onnx")


def test_joint_goal_bundle_with_feedback_reaches_its_goal_in_process(tmp_path, panda):
    bundle = make_isaaclab_leapp_bundle(tmp_path / "b", "joint_goal")
    import_leapp(bundle, tmp_path / "goal.onnx", task="joint-target", robot="panda")
    runtime = PolicyRuntime(load_policy(tmp_path / "goal.onnx", robot=panda), robot_model=panda)
    q, goal = np.r_[panda.config.default_pose, 0.04, 0.04], panda.config.default_pose + TARGET_OFFSET
    for step in range(30):  # the low-pass actor settles through its last-action feedback
        target = runtime.act(ObservationInputs(step * 0.02, FRANKA_JOINTS, q, np.zeros(9), goal=goal)).positions[0]
    np.testing.assert_allclose(target, goal, atol=1e-3)


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
    assert contract.observations[2].units.endswith("panda_hand in the robot base frame, m: x y z qx qy qz qw")
    assert contract.timing.decimation == 4 and contract.timing.policy_hz == pytest.approx(30.0)  # dt 1/120 s
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


def test_contract_refuses_a_state_input_without_its_feedback(reach_bundle, tmp_path):
    import dataclasses

    contract = import_leapp(reach_bundle, tmp_path / "reach.onnx")
    with pytest.raises(ConfigError, match=r"feedback feeds inputs \[\]; the state inputs are \['last_action_in'\]"):
        dataclasses.replace(contract, feedback=())
    bad = dataclasses.replace(contract.feedback[0], initial=(0.0,) * 3)
    with pytest.raises(ConfigError, match=r"feedback 'last_action_in': 3 initial values, the input has 7"):
        dataclasses.replace(contract, feedback=(bad,))


def test_rsl_rl_checkpoint_of_an_unregistered_task_exports_from_env_yaml(tmp_path, panda):
    """`robot-rl export --rsl-rl-checkpoint` with no --task: an Isaac-Reach-Franka run dir (env.yaml as dump_yaml
    writes it) and a checkpoint in rsl-rl-lib 5.x's layout (keys as OnPolicyRunner.save writes them)."""
    from robot_rl.cli import main as robot_rl_main

    _, _, actor = make_reach_franka_run(tmp_path / "run")
    state = {f"mlp.{i}.{k}": v for i, layer in ((0, actor[0]), (2, actor[2]))
             for k, v in layer.state_dict().items()}
    torch.save({"actor_state_dict": {**state, "distribution.std_param": torch.ones(7)}, "iter": 3},
               tmp_path / "run" / "model_3.pt")
    with pytest.raises(SystemExit) as done:
        robot_rl_main(["export", "--rsl-rl-checkpoint", str(tmp_path / "run" / "model_3.pt"),
                       "--out", str(tmp_path / "reach.onnx")])
    assert done.value.code == 0
    policy = load_policy(tmp_path / "reach.onnx", robot=panda)
    assert [t.size for t in policy.contract.observations] == [9, 9, 7, 7]
