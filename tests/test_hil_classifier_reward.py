"""``robot-rl hil sim --reward classifier``: a learned success classifier (onnxruntime), not the sim's true
success, gives the learner's reward; its verdicts are audited against the true success (report.json).

The classifier here is trained to fire within 8 cm of the goal, four times the task's 2 cm success radius,
so it disagrees with the truth on purpose: the stored rewards must follow it, not the truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from robot_rl.cli import build_parser
from robot_rl.errors import ConfigError
from robot_rl.hil.replay import load_transitions
from robot_rl_sim.hil.session import HilSimConfig

BASE = Path(__file__).parent / "data" / "panda_reach_small" / "policy.onnx"
WIDE_M = 0.08  # m: the classifier's success radius (the task's: 0.02)


@pytest.fixture(scope="module")
def wide_classifier(tmp_path_factory):
    """A classifier of panda-reach on the derived term ee_goal_dist, fitted to 'within 8 cm'."""
    import torch

    from robot_rl.hil.classifier_train import ClassifierConfig, export_classifier, train_classifier
    from robot_rl.learning.contract_map import PolicyShape, contract_for
    from robot_rl_sim.tasks import get_task

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    distance = rng.uniform(0.0, 0.4, (2000, 1))
    model, threshold, _ = train_classifier(distance, distance[:, 0] < WIDE_M, np.arange(2000) // 20,
                                           ClassifierConfig(hidden=16, steps=400, lr=3e-3))
    spec = get_task("panda-reach")
    template = contract_for(spec, PolicyShape(spec.obs_dim, spec.action_dim), "obs", "action", 0.0)
    path = tmp_path_factory.mktemp("clf") / "wide.onnx"
    export_classifier(model, template, threshold, path, distance[:2], ("ee_goal_dist",))
    return path


def _run(out: Path, *extra: str) -> int:
    args = build_parser().parse_args(["hil", "sim", "--base", str(BASE), "--out", str(out), "--rounds", "1",
                                      "--episodes-per-round", "4", "--updates-per-round", "20",
                                      "--eval-episodes", "2", "--seed", "0", *extra])
    return args.func(args)


def test_the_classifier_not_the_true_success_gives_the_stored_reward(tmp_path, wide_classifier):
    assert _run(tmp_path, "--reward", "classifier", "--classifier", str(wide_classifier)) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    audit = report["reward"]
    print(json.dumps(audit))
    assert audit["source"] == "classifier" and audit["episodes"] == 4
    t = load_transitions(tmp_path / "transitions")
    # Stored successes are exactly the classifier's, each one ends its episode's record
    assert t["reward"].sum() == audit["episodes_ended_by_classifier"] > 0
    np.testing.assert_array_equal(t["done"], t["reward"] == 1.0)
    for episode in np.unique(t["episode"]):
        done = t["done"][t["episode"] == episode]
        assert not done[:-1].any()
    # an 8 cm classifier fires before the 2 cm truth: false successes, stored as rewards
    assert audit["false_success"] > 0
    assert audit["states"] >= len(t["reward"]) - audit["episodes"]
    assert audit["state_disagreement"] == pytest.approx(
        (audit["false_success"] + audit["missed_success"]) / audit["states"])


def test_a_classifier_reward_needs_a_classifier_and_a_classifier_file(tmp_path):
    with pytest.raises(ConfigError, match="classifier path is given exactly for 'classifier'"):
        HilSimConfig(base=str(BASE), out=str(tmp_path), reward="classifier")
    with pytest.raises(ConfigError, match="reward must be one of"):
        HilSimConfig(base=str(BASE), out=str(tmp_path), reward="key")
    with pytest.raises(ConfigError, match="not a reward classifier"):
        _run(tmp_path / "run", "--reward", "classifier", "--classifier", str(BASE))
