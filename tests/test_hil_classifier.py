"""The success classifier: trained (torch), exported with a contract (role success_logit, threshold), loaded and
run by onnxruntime on the learner's measurement, refused as a policy, and used as the learner's reward source
(OnlineLearner's reward_fn hook). The sim rollouts and the measured precision / recall: docs/hil.md."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from policy_helpers import panda_contract, panda_inputs, write_joint_target_policy

from robot_rl.errors import ConfigError
from robot_rl.hil.classifier import classifier_contract, frame_assembler, load_classifier, precision_recall
from robot_rl.hil.classifier_train import ClassifierConfig, export_classifier, train_classifier
from robot_rl.hil.online import OnlineConfig, OnlineLearner
from robot_rl.policy.contract import RewardClassifier, contract_from_json, contract_to_json, load_policy
from robot_rl.policy.runtime import PolicyRuntime
from robot_rl.robot import load_robot_config

PANDA = load_robot_config("panda")
RADIUS = 0.15  # rad: "success" when joint 1 is within this of its goal (the other joints do not matter)
MARGIN = 0.05  # rad: states this close to the boundary are left out (a clear rule, learnt in a few hundred steps)


def _states(rng: np.random.Generator, episodes: int, steps: int = 20):
    """Episodes of an arm converging (or not) on a joint goal; labels: joint 1 within RADIUS of its goal."""
    contract = classifier_contract(panda_contract())
    assemble = frame_assembler(contract)
    frames, labels, ids, inputs = [], [], [], []
    for e in range(episodes):
        joint_1 = np.eye(PANDA.dof)[0]  # only joint 1 and its goal vary: 2 informative inputs of 21
        goal = PANDA.default_pose + rng.uniform(-0.5, 0.5) * joint_1
        start = PANDA.default_pose + rng.uniform(-0.5, 0.5) * joint_1
        end = goal + rng.uniform(-0.3, 0.3) * (e % 2) * joint_1  # odd episodes end near, not at, the goal
        for t in np.linspace(0, 1, steps):
            step = panda_inputs(start + t * (end - start), goal)
            if abs(abs(step.position[0] - goal[0]) - RADIUS) < MARGIN:
                continue
            frames.append(assemble.frame(step))
            labels.append(abs(step.position[0] - goal[0]) < RADIUS)
            ids.append(e)
            inputs.append(step)
    return np.array(frames), np.array(labels), np.array(ids), inputs


@pytest.fixture(scope="module")
def classifier_file(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    frames, labels, ids, _ = _states(np.random.default_rng(0), 120)
    model, threshold, validation = train_classifier(frames, labels, ids, ClassifierConfig(hidden=32, steps=400, lr=3e-3))
    path = tmp_path_factory.mktemp("clf") / "classifier.onnx"
    export_classifier(model, panda_contract(), threshold, path, frames[:2])
    return path, threshold, validation


def test_trained_classifier_is_a_contract_carrying_reward_source_with_held_out_precision_and_recall(classifier_file):
    path, threshold, validation = classifier_file
    classifier = load_classifier(path)
    assert classifier.contract.reward_classifier.threshold == threshold and 0.05 <= threshold <= 0.95
    assert [t.source for t in classifier.contract.observations] == ["joint_pos", "joint_vel", "goal"]
    frames, labels, _, inputs = _states(np.random.default_rng(1), 30)  # held-out episodes
    probabilities = np.array([classifier.probability(step) for step in inputs])
    scores = precision_recall(probabilities >= threshold, labels)
    print(f"threshold {threshold:.3f}; validation {validation}; held out {scores}")
    assert scores["precision"] >= 0.95 and scores["recall"] >= 0.95, scores
    assert [classifier(step) for step in inputs[:40]] == list(probabilities[:40] >= threshold)


def test_classifier_contract_round_trips_and_is_refused_as_a_policy(classifier_file, tmp_path):
    path, _, _ = classifier_file
    loaded = load_policy(path)
    assert contract_from_json(contract_to_json(loaded.contract)) == loaded.contract
    with pytest.raises(ConfigError, match="reward classifier's"):
        PolicyRuntime(loaded).act(panda_inputs(PANDA.default_pose, PANDA.default_pose))
    write_joint_target_policy(tmp_path / "policy.onnx")
    with pytest.raises(ConfigError, match="not a reward classifier"):
        load_classifier(tmp_path / "policy.onnx")
    with pytest.raises(ConfigError, match=r"threshold must be in \(0, 1\)"):
        RewardClassifier(threshold=1.0)
    with pytest.raises(ConfigError, match="success_logit"):
        dataclasses.replace(loaded.contract, outputs=loaded.contract.outputs * 2)
    assert [t.source for t in classifier_contract(panda_contract(), sources=("goal",)).observations] == ["goal"]
    with pytest.raises(ConfigError, match="no observation term"):
        classifier_contract(panda_contract(), sources=("object_pose",))
    with pytest.raises(ConfigError, match="both success and failure"):
        train_classifier(np.zeros((4, 3)), np.ones(4, bool), np.arange(4))


def test_the_classifier_ends_the_learners_episode_as_a_success(tmp_path):
    write_joint_target_policy(tmp_path / "base.onnx", horizon=4, n_action_steps=2)
    base, goal, calls = load_policy(tmp_path / "base.onnx"), PANDA.default_pose + 0.2, []

    def reward_fn(inputs) -> bool:
        calls.append(inputs.stamp)
        return np.abs(inputs.position - goal).max() < 0.01  # reached at t = 8

    learner = OnlineLearner(base, OnlineConfig(out_dir=str(tmp_path / "hil"), min_transitions=1000), reward_fn=reward_fn)
    stored = []
    for t in range(12):
        q = PANDA.default_pose + 0.2 * min(t / 8, 1.0)  # reaches the goal at t = 8
        stored.append(learner.step(panda_inputs(q, goal, stamp=0.05 * t), goal, False))
        if learner.terminal:
            break
    assert t == 8 and stored[-1]["done"] and stored[-1]["reward"] == 1.0
    assert not any(s["done"] for s in stored[1:-1]) and learner._pending is None  # nothing after the success
    learner.end_episode()
    learner.close()


def test_derived_distance_terms_and_a_threshold_in_the_middle_of_the_clean_range(panda_model):
    """ee_goal_dist is |goal - FK(q)| (m) of the measurement; the threshold sits mid-way between the classes."""
    from robot_rl.hil.classifier_train import choose_threshold
    from robot_rl.learning.contract_map import PolicyShape, contract_for
    from robot_rl.policy.observation import ObservationInputs
    from robot_rl_sim.tasks import get_task

    spec = get_task("panda-reach")
    template = contract_for(spec, PolicyShape(spec.obs_dim, spec.action_dim), "obs", "action", 0.0)
    contract = classifier_contract(template, sources=("ee_pos", "ee_goal_dist"))
    assert [(t.source, t.size) for t in contract.observations] == [("ee_pos", 3), ("ee_goal_dist", 1)]
    goal = np.array([0.5, 0.1, 0.3])
    inputs = ObservationInputs(0.0, tuple(panda_model.joint_names), PANDA.default_pose, np.zeros(PANDA.dof), goal)
    frame = frame_assembler(contract, panda_model).frame(inputs)
    ee = panda_model.fk(PANDA.default_pose)
    np.testing.assert_allclose(frame, np.r_[ee, np.linalg.norm(goal - ee)])
    with pytest.raises(ConfigError, match="needs the task's 'object_pose'"):
        classifier_contract(template, sources=("ee_object_dist",))
    with pytest.raises(ConfigError, match="needs the task's 'goal'"):  # a joint goal (7,) is no position
        classifier_contract(panda_contract(), sources=("ee_goal_dist",))
    with pytest.raises(ConfigError, match="forward kinematics"):
        frame_assembler(contract)
    # failures score at most 0.2, successes at least 0.9: every threshold in (0.2, 0.9] is perfect
    prob, labels = np.r_[0.01, 0.1, 0.2, 0.9, 0.99], np.r_[False, False, False, True, True]
    threshold = choose_threshold(prob, labels, 0.98)
    assert 0.2 < threshold <= 0.9 and abs(np.log(threshold / (1 - threshold)) - (np.log(0.25) + np.log(9)) / 2) < 0.1


def test_train_classifier_command_on_mujoco_rollouts_and_on_their_saved_states(tmp_path, panda_model):
    """``robot-rl hil train-classifier``: rollouts -> OUT.onnx (+ OUT.json, OUT.states.npz); ``--states`` retrains
    on the saved states without new rollouts, and refuses states of other terms."""
    import json

    from robot_rl.cli import build_parser

    common = ["hil", "train-classifier", "--task", "panda-reach", "--variants", "expert", "biased", "--steps", "200",
              "--hidden", "16"]

    def run(*extra):
        args = build_parser().parse_args(common + list(extra))
        return args.func(args)

    assert run("--terms", "ee_goal_dist", "--out", str(tmp_path / "a.onnx"), "--episodes", "2", "--held-out", "1") == 0
    first = json.loads((tmp_path / "a.onnx.json").read_text())
    assert first["terms"] == ["ee_goal_dist"] and first["episodes"] == {"train": 4, "held_out": 2}
    assert first["held_out"]["positives"] > 0 and first["held_out"]["negatives"] > 0
    states = str(tmp_path / "a.onnx.states.npz")
    assert run("--terms", "ee_goal_dist", "--out", str(tmp_path / "b.onnx"), "--states", states) == 0
    second = json.loads((tmp_path / "b.onnx.json").read_text())
    assert {k: second[k] for k in ("threshold", "held_out", "episodes")} == \
        {k: first[k] for k in ("threshold", "held_out", "episodes")}
    load_classifier(tmp_path / "b.onnx", robot=panda_model)
    with pytest.raises(ConfigError, match="this run takes"):
        run("--terms", "ee_pos", "--out", str(tmp_path / "c.onnx"), "--states", states)
