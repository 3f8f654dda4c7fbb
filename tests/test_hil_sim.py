"""Human-in-the-loop residual learning in MuJoCo (real env, real onnxruntime, real torch):
the encoder-offset gap, the simulated human (a scripted stand-in for the person, simulation only),
episode transitions, and a short ``robot-rl hil sim`` run whose residual moves the robot where the human did."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from robot_rl.cli import build_parser
from robot_rl.errors import ConfigError
from robot_rl.hil.replay import load_transitions
from robot_rl.policy.contract import load_policy
from robot_rl.policy.runtime import OnnxPolicy, RuntimeConfig, check_residual
from robot_rl_sim.hil.gaps import GapEnv
from robot_rl_sim.hil.human import HumanConfig, SimulatedHuman, make_human
from robot_rl_sim.hil.perturbations import EncoderOffset
from robot_rl_sim.tasks import get_task, make_env

BASE = Path(__file__).parent / "data" / "panda_reach_small" / "policy.onnx"
SPEC = get_task("panda-reach")
OFFSET = np.array([0.0, 0.04, 0.0, -0.04, 0.0, 0.0, 0.0])


@pytest.fixture(scope="module")
def env():
    return GapEnv(make_env(SPEC), (EncoderOffset(tuple(OFFSET)),))


def test_the_policy_sees_offset_joints_and_commands_in_measured_coordinates(env):
    measured = env.reset(seed=3)
    true = env.true_obs()
    np.testing.assert_allclose(measured["joint_pos"] - true["joint_pos"], OFFSET)
    np.testing.assert_allclose(measured["ee_pos"], env.env.robot.fk(true["joint_pos"] + OFFSET))
    hold = measured["joint_pos"].copy()  # "stay where I measure I am" in measured coordinates
    for _ in range(3):
        env.step(hold)
    np.testing.assert_allclose(env.true_obs()["joint_pos"], true["joint_pos"], atol=2e-3)
    np.testing.assert_allclose(env.to_measured(true["joint_pos"]), hold)
    with pytest.raises(ConfigError, match="7 finite values"):
        GapEnv(env.env, (EncoderOffset((0.1, np.nan, 0, 0, 0, 0, 0)),))


def _obs(ee, goal=(0.5, 0.0, 0.3)):
    return {"ee_pos": np.asarray(ee, float), "goal": np.asarray(goal, float), "joint_pos": np.zeros(7)}


class _Expert:
    """Records resets and answers a fixed action: the human's hands, seen from the outside."""

    def __init__(self):
        self.resets = 0

    def reset(self):
        self.resets += 1

    def act(self, obs):
        return np.full(7, 0.5)


def test_the_simulated_human_takes_over_a_stalled_arm_and_hands_back_near_the_goal():
    expert = _Expert()
    human = SimulatedHuman(SPEC, expert, HumanConfig(patience_steps=3, max_takeover_steps=4, reaction_s=0,
                                                     action_noise_rad=0))
    far = [0.5, 0.0, 0.4]  # 10 cm from the goal, not moving
    actions = [human.act(_obs(far)) for _ in range(4)]
    assert actions[:3] == [None] * 3 and actions[3] is not None and human.in_control and expert.resets == 1
    assert human.act(_obs([0.5, 0.0, 0.305])) is None  # within half the 2 cm radius: released at once
    moving = [human.act(_obs([0.5, 0.0, 0.4 - 0.01 * k])) for k in range(6)]  # 1 cm per step: progress
    assert moving == [None] * 6 and human.interventions == 1


@pytest.mark.parametrize("wait_for_grasp", [False, True])
def test_the_pick_human_waits_while_the_fingers_close_at_the_cube_only_if_told(wait_for_grasp):
    """The hand dwells at the cube (no progress) while the fingers close 1 mm per step for 8 steps, then stay:
    the plain stall trigger takes over during the close; wait_for_grasp waits and gives a fresh patience window
    after the fingers stop (then a dwell with still fingers is a stall again)."""
    spec = get_task("panda-pick-cube")
    human = SimulatedHuman(spec, _Expert(), HumanConfig(patience_steps=3, max_takeover_steps=4, reaction_s=0,
                                                         action_noise_rad=0, wait_for_grasp=wait_for_grasp))
    cube = np.array([0.5, 0.0, spec.object.half_size, 1.0, 0.0, 0.0, 0.0])

    def obs(fingers):
        return {"ee_pos": cube[:3] + [0.01, 0.0, 0.01], "object_pose": cube, "gripper_pos": np.full(1, fingers),
                "joint_pos": np.zeros(7)}

    closing = [human.act(obs(0.04 - 0.001 * k)) for k in range(8)]
    assert (all(a is None for a in closing)) == wait_for_grasp
    if wait_for_grasp:
        still = [human.act(obs(0.032)) for _ in range(5)]
        assert still[:3] == [None] * 3 and still[4] is not None  # a fresh window of 3, then the stall


def test_an_episode_feeds_the_learner_node_core_what_reached_the_robot(tmp_path, panda_model):
    from robot_rl.hil.online import OnlineConfig, OnlineLearner
    from robot_rl.policy.runtime import PolicyRuntime
    from robot_rl_sim.hil.episode import run_episode

    env = GapEnv(make_env(SPEC), (EncoderOffset(tuple(OFFSET)),))
    base = load_policy(BASE, robot=panda_model)
    human = make_human(SPEC, env.env.robot)
    learner = OnlineLearner(base, OnlineConfig(out_dir=str(tmp_path), residual_scale=0.1), robot_model=panda_model)
    stats = run_episode(env, PolicyRuntime(base, robot_model=panda_model), learner, human, seed=5)
    learner.close()
    t = load_transitions(tmp_path / "transitions")
    assert len(t["reward"]) == stats.steps and t["intervened"].sum() == stats.human_steps > 0
    assert np.all(t["action"][~t["intervened"]] == 0.0)  # the base alone drove: no residual
    assert np.abs(t["action"][t["intervened"]]).max() > 0.1  # the human's steps: corrections
    np.testing.assert_array_equal(t["next_obs"][:-1], t["obs"][1:])
    assert t["done"][-1] == stats.success and not t["done"][:-1].any()
    assert t["reward"].sum() == float(stats.success)


@pytest.mark.parametrize("method", ["bc", "residual-rl", "rlpd-scratch"])
def test_a_short_hil_run_learns_a_residual_bound_to_its_base(tmp_path, method):
    """Each method: after one round, where the human drove, the residual has moved towards the correction.
    (rlpd-scratch's base is the hold-position base it writes next to the run.)"""
    out = tmp_path / "hil"
    args = build_parser().parse_args(["hil", "sim", "--base", str(BASE), "--out", str(out), "--rounds", "1",
                                      "--episodes-per-round", "6", "--updates-per-round", "300",
                                      "--eval-episodes", "6", "--seed", "0", "--method", method])
    assert args.func(args) == 0
    report = json.loads((out / "report.json").read_text())
    round0 = report["rounds"][0]
    print(json.dumps({"base": report["base_eval"], "round0": {k: v for k, v in round0.items() if k != "losses"}}))
    data = load_transitions(out / "transitions")
    assert len(data["reward"]) > 0 and data["intervened"].any()  # the human took over at least once
    assert round0["human_step_fraction"] == pytest.approx(data["intervened"].mean())
    base = load_policy(out / "hold_base.onnx" if method == "rlpd-scratch" else BASE)
    residual = load_policy(round0["residual"])
    check_residual(base.contract, base.sha256, residual.contract)
    assert round0["updates"] == 300 and all(np.isfinite(v) for v in round0["losses"].values())
    # Where the human drove, the exported residual (onnxruntime) moves the base towards what the human did.
    onnx = OnnxPolicy(residual, RuntimeConfig())
    human = np.flatnonzero(data["intervened"])
    obs_shape = residual.contract.input("obs").shape[1:]  # one sample: (To, O), or (O,) when To == 1
    predicted = np.stack([onnx.run(data["obs"][i].reshape(obs_shape), base_action=data["base_action"][i])[0]
                          for i in human])
    labels = data["action"][human]
    gap, untouched = np.abs(labels - predicted).mean(), np.abs(labels).mean()
    print(f"mean |human residual - learned residual| {gap:.3f}, with no residual {untouched:.3f}")
    assert gap < 0.6 * untouched
