"""The HIL learner's core without ROS: executed joint targets map back to the raw actions the policy runtime
would have turned into them (property test against PolicyRuntime.process/targets), commands are read by
joint name at the step's deadline, and OnlineLearner turns a live stream (a real ONNX base, corrections
while a human intervenes, an episode outcome, a goal change) into stored transitions whose labels are the
corrections in residual units, learns from them and exports a residual bound to that base."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from helpers_hil import one_torch_thread  # noqa: F401 - a fixture
from policy_helpers import panda_inputs, write_joint_target_policy

from robot_rl.command import JointTrajectoryCommand
from robot_rl.errors import CommandError, ConfigError
from robot_rl.hil.labels import command_target, raw_from_targets, residual_label
from robot_rl.hil.online import OnlineConfig, OnlineLearner
from robot_rl.hil.replay import load_transitions
from robot_rl.policy.contract import ActionSpec, load_policy
from robot_rl.policy.runtime import OnnxPolicy, PolicyRuntime, RuntimeConfig, check_residual
from robot_rl.robot.config import load_robot_config

PANDA = load_robot_config("panda")
N = PANDA.dof
DEFAULT = PANDA.default_pose
SCALES = (0.5, -0.25, 0.5, 0.3, 0.5, 0.5, 2.0)  # one negative entry: the inverse must not assume a sign
ACTIONS = {
    "joint_pos_abs": ActionSpec("joint_pos_abs", scale=SCALES, offset=DEFAULT.tolist(),
                                clip=((DEFAULT - 0.4).tolist(), (DEFAULT + 0.4).tolist())),
    "joint_pos_delta": ActionSpec("joint_pos_delta", scale=SCALES, offset=0.01, clip=(-0.15, 0.2)),
}
_RUNTIMES: dict[str, PolicyRuntime] = {}




def _runtime(kind: str, tmp_path_factory) -> PolicyRuntime:
    """A real policy runtime (ONNX base) whose contract has action semantics ``ACTIONS[kind]``, built once."""
    if kind not in _RUNTIMES:
        path = tmp_path_factory.mktemp(kind) / "base.onnx"
        write_joint_target_policy(path, action=ACTIONS[kind])
        _RUNTIMES[kind] = PolicyRuntime(load_policy(path))
    return _RUNTIMES[kind]


vectors = st.lists(st.floats(-3.0, 3.0, allow_nan=False), min_size=N, max_size=N).map(np.array)


@pytest.mark.parametrize("kind", sorted(ACTIONS))
@given(raw=vectors, base=vectors, q=vectors)
def test_executed_targets_map_back_to_a_raw_action_the_runtime_turns_into_them(kind, raw, base, q,
                                                                              tmp_path_factory):
    """Joints inside the clip: the raw action itself. At a bound (ambiguous): a raw action the runtime maps to
    the same target, no farther from the base's raw action than the true one."""
    runtime = _runtime(kind, tmp_path_factory)
    processed, _ = runtime.process(raw[None])
    targets, _ = runtime.targets(processed, q)
    back = raw_from_targets(runtime.contract, targets[0], q, base)
    lo, hi = (np.asarray(bound) for bound in runtime.contract.action.clip)
    free = (processed[0] > lo + 1e-9) & (processed[0] < hi - 1e-9)
    np.testing.assert_allclose(back[free], raw[free], rtol=1e-9, atol=1e-9)
    again, _ = runtime.targets(runtime.process(back[None])[0], q)
    np.testing.assert_allclose(again[0], targets[0], rtol=0, atol=1e-9)
    assert np.all(np.abs(back - base)[~free] <= np.abs(raw - base)[~free] + 1e-9)


def test_a_target_beyond_the_clip_counts_as_the_bound_and_joint_vel_is_refused(tmp_path_factory):
    runtime = _runtime("joint_pos_abs", tmp_path_factory)
    base = np.zeros(N)
    hi_raw = (0.4 / np.asarray(SCALES))  # raw that reaches DEFAULT + 0.4 (the upper bound) per joint
    back = raw_from_targets(runtime.contract, DEFAULT + 1.0, DEFAULT, base)
    np.testing.assert_allclose(back, hi_raw)
    beyond = hi_raw * 2  # the base itself already saturates: no correction was needed
    np.testing.assert_allclose(raw_from_targets(runtime.contract, DEFAULT + 0.4, DEFAULT, beyond), beyond)
    np.testing.assert_allclose(residual_label(np.array([0.3, -5.0]), np.array([0.1, 0.0]), 0.1), [1.0, -1.0])
    velocity = dataclasses.replace(runtime.contract, action=ActionSpec("joint_vel", scale=1.0, offset=0.0))
    with pytest.raises(ConfigError, match="joint_vel"):
        raw_from_targets(velocity, DEFAULT, DEFAULT, base)


def test_the_command_target_is_read_by_joint_name_at_the_deadline():
    names = ("b", "a")
    command = JointTrajectoryCommand(joint_names=names, stamp=100.0, times=np.array([0.1, 0.2]),
                                     positions=np.array([[1.0, 10.0], [3.0, 30.0]]))
    np.testing.assert_allclose(command_target(command, ("a", "b"), 100.15), [20.0, 2.0])
    np.testing.assert_allclose(command_target(command, ("a", "b"), 99.0), [10.0, 1.0])  # before: first point
    np.testing.assert_allclose(command_target(command, ("a",), 101.0), [30.0])  # after: held at the end
    with pytest.raises(CommandError, match="'c'"):
        command_target(command, ("a", "c"), 100.1)


@pytest.mark.parametrize("field, value", [("residual_scale", 0.0), ("updates_per_step", -1.0),
                                          ("min_transitions", 1), ("export_every_updates", 0),
                                          ("batch_size", 1.5), ("out_dir", "")])
def test_online_config_names_the_bad_field(field, value):
    with pytest.raises(ConfigError, match=field):
        OnlineConfig(**{"out_dir": "out", field: value})


# ----- the online learner on a synthetic stream -------------------------------------------------------------
GOAL = DEFAULT + 0.2
CORRECTION = 0.03  # rad added to every joint target while the human intervenes
RESIDUAL_SCALE = 0.1  # raw units; the base's action scale is 1/gain = 0.5 rad per raw unit
LABEL = CORRECTION / 0.5 / RESIDUAL_SCALE  # 0.6: the correction in residual units


def _stream(learner: OnlineLearner, steps: range, goal: np.ndarray, intervened: range, outcome_at: int = -1):
    """Feed ``steps`` periods: the arm creeps, the base's target is the goal (JointTargetPolicy), the robot is
    commanded that target plus CORRECTION during ``intervened``; the outcome (success) arrives at
    ``outcome_at``. Returns the stored transitions."""
    period, stored = learner.base.contract.timing.period, []
    for t in steps:
        q = DEFAULT + 0.002 * t
        executed = goal + (CORRECTION if t in intervened else 0.0)
        step = learner.step(panda_inputs(q, goal, stamp=t * period), executed, t in intervened,
                            reward=float(t == outcome_at), done=t == outcome_at)
        stored += [step] if step is not None else []
    return stored


def _learner(tmp_path, base, **changes) -> OnlineLearner:
    config = dict(out_dir=str(tmp_path / "hil"), residual_scale=RESIDUAL_SCALE, updates_per_step=4.0,
                  min_transitions=20, export_every_updates=100, batch_size=32, hidden=64, flush_every=20)
    return OnlineLearner(base, OnlineConfig(**{**config, **changes}))


def test_online_learner_stores_corrections_as_labels_with_the_outcome_and_episode_ends(tmp_path, one_torch_thread):
    write_joint_target_policy(tmp_path / "base.onnx", horizon=4, n_action_steps=2)
    base = load_policy(tmp_path / "base.onnx")
    learner = _learner(tmp_path, base)
    stored = _stream(learner, range(0, 40), GOAL, intervened=range(5, 25), outcome_at=30)
    stored += [learner.end_episode()] + _stream(learner, range(40, 45), GOAL + 0.05, intervened=range(0))
    data = {k: np.stack([s[k] for s in stored]) for k in stored[0]}
    human = data["intervened"]
    assert human.sum() == 20 and np.allclose(data["action"][human], LABEL, atol=1e-5)
    assert np.allclose(data["action"][~human], 0.0, atol=1e-5)
    assert np.flatnonzero(data["done"]).tolist() == [29] and data["reward"][29] == 1.0 and data["reward"].sum() == 1
    # the residual acts per step: each step has its own window (the joints move every step), even within
    # a chunk of 2 executed steps; the chain links
    assert not np.array_equal(data["obs"][30], data["obs"][31]) and not np.array_equal(data["obs"][31], data["obs"][32])
    assert np.array_equal(data["next_obs"][:28], data["obs"][1:29])
    assert np.array_equal(data["next_obs"][39], data["obs"][39])  # goal change: bootstraps from its own state
    np.testing.assert_allclose(data["base_action"][:40], 0.4, atol=1e-6)  # gain 2 x (goal - default)
    np.testing.assert_allclose(data["base_action"][40:], 0.5, atol=1e-6)  # the new goal
    learner.close()
    on_disk = load_transitions(tmp_path / "hil" / "transitions")
    assert len(on_disk["reward"]) == len(stored) == 44
    assert np.unique(on_disk["episode"]).tolist() == [0, 1, 2]  # outcome, then goal change


def test_online_learner_learns_and_exports_a_residual_bound_to_its_base(tmp_path, one_torch_thread):
    write_joint_target_policy(tmp_path / "base.onnx", horizon=4, n_action_steps=2)
    write_joint_target_policy(tmp_path / "other.onnx", horizon=4, n_action_steps=2, seed=1)
    base, other = load_policy(tmp_path / "base.onnx"), load_policy(tmp_path / "other.onnx")
    learner = _learner(tmp_path, base)
    _stream(learner, range(0, 10), GOAL, intervened=range(0, 10))
    assert learner.learn(1000) == 0 and learner.maybe_export() is None  # 9 transitions < min_transitions
    _stream(learner, range(10, 60), GOAL, intervened=range(10, 40))
    assert learner.update_budget() == 4 * 59
    assert learner.learn(1000) == 4 * 59 and learner.update_budget() == 0
    path = learner.maybe_export()
    assert path == tmp_path / "hil" / "residual_0000.onnx" and learner.maybe_export() is None
    residual = load_policy(path)
    check_residual(base.contract, base.sha256, residual.contract)
    with pytest.raises(ConfigError, match="residual is for base policy"):
        check_residual(other.contract, other.sha256, residual.contract)
    composed = PolicyRuntime(base, residual)
    plain = PolicyRuntime(base)
    inputs = panda_inputs(DEFAULT + 0.05, GOAL)
    shift = composed.act(inputs).positions[0] - plain.act(inputs).positions[0]
    print(f"learned correction after {learner.learner.updates} updates: {shift.mean():.4f} rad "
          f"(human's {CORRECTION} rad)")
    assert shift.mean() > 0.3 * CORRECTION, shift  # toward the human's correction (a fresh residual: 0 exactly)
    learner.close()
    resumed = _learner(tmp_path, base)
    assert resumed.stats["resumed_transitions"] == 59 == len(resumed.sampler)
    assert resumed.learner.updates == 4 * 59 and resumed.learner.fitted  # the weights came back too
    for name, value in resumed.learner.actor.state_dict().items():
        assert torch.equal(value, learner.learner.actor.state_dict()[name]), name
    assert resumed.maybe_export() is None and resumed.update_budget() == 0  # nothing new to learn from
    _stream(resumed, range(60, 66), GOAL, intervened=range(60, 66))
    assert resumed.update_budget() == 4 * 5 and resumed.learn(1000) == 4 * 5  # only the new transitions
    resumed.close()
    with pytest.raises(ConfigError, match="residual_scale"):
        _learner(tmp_path, base, residual_scale=0.2)  # its labels would be in other units


def test_a_wsrl_warm_start_learns_from_the_offline_data_first_and_only_once(tmp_path, one_torch_thread):
    write_joint_target_policy(tmp_path / "base.onnx", horizon=4, n_action_steps=2)
    base = load_policy(tmp_path / "base.onnx")
    learner = _learner(tmp_path, base, warm_start_updates=30, updates_per_step=1.0)
    _stream(learner, range(0, 25), GOAL, intervened=range(0))  # no human data yet: no warm start
    assert learner.learn(1000) == 24 and learner.learner.updates == 24 and not learner.learner.warm_started
    _stream(learner, range(25, 35), GOAL, intervened=range(25, 35))
    assert learner.learn(1000) == 10 and learner.learner.updates == 24 + 30 + 10  # 30 offline-only first
    assert learner.learner.warm_started and learner.update_budget() == 0
    learner.close()
    resumed = _learner(tmp_path, base, warm_start_updates=30, updates_per_step=1.0)
    assert resumed.learner.warm_started  # saved with the learner: a restart does not warm-start again
    resumed.close()


def test_the_per_step_residual_the_runtime_runs_is_what_the_learner_labels(tmp_path, one_torch_thread):
    """The policy node's composition (a chunk, then each period its due step recomputed on that period's
    frame: PolicyRuntime.restep) and the learner's labels agree: a policy step's label is the residual
    evaluated on that step's own stored window and base action."""
    write_joint_target_policy(tmp_path / "base.onnx", horizon=4, n_action_steps=2)
    base = load_policy(tmp_path / "base.onnx")
    learner = _learner(tmp_path, base)
    _stream(learner, range(0, 30), GOAL, intervened=range(0, 30))
    learner.learn(100)
    path = learner.maybe_export()
    learner.end_episode()
    runtime, period, stored = PolicyRuntime(base, load_policy(path)), base.contract.timing.period, []
    for t in range(8):
        inputs = panda_inputs(DEFAULT + 0.01 * t, GOAL, stamp=t * period)
        obs = runtime.observe(inputs)
        if t % 2 == 0:
            chunk = runtime.act_on(obs, inputs)
        command = runtime.restep(chunk.select(np.arange(chunk.num_steps) >= t % 2), obs)
        if t % 2:  # the chunk's later step composed on the chunk-start frame differs from the per-step one
            assert np.abs(command.positions[0] - chunk.positions[1]).max() > 1e-5
        stored.append(learner.step(inputs, command.positions[0], False))
    data = {k: np.stack([s[k] for s in stored[1:]]) for k in stored[1]}
    residual = OnnxPolicy(load_policy(path), RuntimeConfig())
    expected = np.stack([residual.run(o, base_action=b)[0] for o, b in zip(data["obs"], data["base_action"])])
    assert np.abs(expected).max() > 0.05  # a residual that does something
    np.testing.assert_allclose(data["action"], expected, atol=1e-4)
    learner.close()


def test_a_trained_diffusion_base_is_followed_step_by_step(tmp_path, panda_model):
    """tests/data/panda_reach_small (diffusion, 16-step horizon, 8 executed, ee_pos observed): a runtime with
    the policy node's seed and schedule stands in for the policy node; the learner's base samples match its
    chunks step by step (policy steps labelled 0), corrections are labelled in residual units."""
    from pathlib import Path



    base = load_policy(Path(__file__).parent / "data" / "panda_reach_small" / "policy.onnx", robot=panda_model)
    learner = OnlineLearner(base, OnlineConfig(out_dir=str(tmp_path / "hil"), residual_scale=RESIDUAL_SCALE,
                                               min_transitions=20, batch_size=32, hidden=64), panda_model)
    policy_node = PolicyRuntime(base, robot_model=panda_model, config=RuntimeConfig(seed=0))
    goal, stored = np.array([0.45, 0.1, 0.35]), []
    for t in range(40):
        inputs = panda_inputs(DEFAULT + 0.003 * t, goal, stamp=0.1 * t)
        obs = policy_node.observe(inputs)
        if t % 8 == 0:
            chunk = policy_node.act_on(obs, inputs)
        executed = chunk.positions[t % 8] + (CORRECTION if 10 <= t < 20 else 0.0)
        stored.append(learner.step(inputs, executed, 10 <= t < 20))
    data = {k: np.stack([s[k] for s in stored[1:]]) for k in stored[1]}  # step t stored at t + 1
    human = data["intervened"]
    assert human.sum() == 10 and np.allclose(data["action"][human], CORRECTION / RESIDUAL_SCALE, atol=1e-5)
    assert np.allclose(data["action"][~human], 0.0, atol=1e-5)
    assert len(np.unique(data["base_action"], axis=0)) == 39  # a diffusion chunk: every step its own action
    learner.close()


def test_a_residual_hot_swap_takes_over_the_running_episode_of_the_same_base_only(tmp_path):
    write_joint_target_policy(tmp_path / "base.onnx")
    write_joint_target_policy(tmp_path / "other.onnx", seed=1)
    running = PolicyRuntime(load_policy(tmp_path / "base.onnx"))
    running.act(panda_inputs(DEFAULT, GOAL))
    swapped = PolicyRuntime(load_policy(tmp_path / "base.onnx")).take_over(running)
    assert swapped.observe is running.observe
    with pytest.raises(ConfigError, match="take over"):
        PolicyRuntime(load_policy(tmp_path / "other.onnx")).take_over(running)
