"""The HIL learner node's parameters reach its core's settings (``learner_config``), validated before anything runs:
``gripper_labels`` from config/nodes/hil_learner.yaml, the bringup graph, ``robot-rl bringup`` and the launch file."""

from __future__ import annotations

import pytest

from robot_rl.bringup.graph import bringup_graph
from robot_rl.cli import build_parser
from robot_rl.errors import ConfigError
from robot_rl.hil.labels import GRIPPER_LABELS
from robot_rl.hil.online import OnlineConfig
from robot_rl.nodes.hil_learner_node import learner_config
from robot_rl.params import load_param_specs, validate_params


def _params(**values):
    return validate_params(load_param_specs("hil_learner"), values)


def test_gripper_labels_is_a_learner_node_parameter_passed_to_its_core(tmp_path):
    assert learner_config(_params(out_dir=str(tmp_path))).gripper_labels == OnlineConfig(str(tmp_path)).gripper_labels
    for mode in GRIPPER_LABELS:
        assert learner_config(_params(out_dir=str(tmp_path), gripper_labels=mode)).gripper_labels == mode
    with pytest.raises(ConfigError, match=r"gripper_labels 'sometimes' unknown; known: \('both', 'close', 'none'\)"):
        learner_config(_params(out_dir=str(tmp_path), gripper_labels="sometimes"))


def test_the_other_learner_parameters_still_reach_the_core(tmp_path):
    config = learner_config(_params(out_dir=str(tmp_path), method="bc", bc_weight=-1.0, q_weight=0.5, critics=4,
                                    hidden_units=32, updates_per_step=3.0))
    assert (config.method, config.bc_weight, config.q_weight, config.critics, config.hidden, config.updates_per_step) \
        == ("bc", 2.0, 0.5, 4, 32, 3.0)  # bc_weight -1: the method's


def test_bringup_passes_gripper_labels_to_the_learner_and_refuses_a_bad_one(tmp_path):
    from policy_helpers import write_joint_target_policy

    policy = str(tmp_path / "policy.onnx")
    write_joint_target_policy(tmp_path / "policy.onnx")
    hil = {"policy": policy, "teleop": "keyboard", "hil_out": str(tmp_path / "hil")}
    learner = {s.name: s for s in bringup_graph(**hil, hil_gripper_labels="close")}["hil_learner"]
    assert learner.parameters["gripper_labels"] == "close"
    default = {s.name: s for s in bringup_graph(**hil)}["hil_learner"]
    assert default.parameters["gripper_labels"] == ""  # the learner's default
    with pytest.raises(ConfigError, match="gripper_labels 'open' unknown"):
        bringup_graph(**hil, hil_gripper_labels="open")
    with pytest.raises(ConfigError, match="hil_gripper_labels is a setting of the HIL learner: it needs hil_out"):
        bringup_graph(policy=policy, teleop="keyboard", hil_gripper_labels="close")
    args = build_parser().parse_args(["bringup", "--policy", policy, "--teleop", "keyboard", "--hil-out", "x",
                                        "--hil-gripper-labels", "none"])
    assert args.hil_gripper_labels == "none"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bringup", "--hil-gripper-labels", "sometimes"])
