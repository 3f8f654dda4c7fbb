"""The simulated world of ``robot-rl hil sim``: sim-to-real gaps (real MuJoCo), the simulated human (a scripted
stand-in for the person, simulation only), the multi-seed runner's resume and the report (rliable, PNGs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from robot_rl.errors import ConfigError
from robot_rl_sim.hil.gaps import DEFAULT_GAPS, GAPS, make_gap_env, resolve_gap
from robot_rl_sim.hil.human import HumanConfig, SimulatedHuman, make_human
from robot_rl_sim.tasks import get_task, make_env

PICK, REACH = get_task("panda-pick-cube"), get_task("panda-reach")
BASE = Path(__file__).parent / "data" / "panda_reach_small" / "policy.onnx"


def test_gaps_are_named_composable_and_each_task_has_a_default():
    name, perturbations = resolve_gap("camera-bias+slow-gripper", PICK.name)
    assert name == "camera-bias+slow-gripper"
    assert perturbations == GAPS["camera-bias"].perturbations + GAPS["slow-gripper"].perturbations
    assert resolve_gap("", REACH.name)[0] == DEFAULT_GAPS[REACH.name]
    with pytest.raises(ConfigError, match="unknown gap.*'nope'.*declared gaps are"):
        resolve_gap("camera-bias+nope", PICK.name)
    with pytest.raises(ConfigError, match="no object whose mass"):
        make_gap_env(REACH, "heavy-cube")


def test_object_pose_bias_shifts_the_observation_with_seeded_noise():
    bias = GAPS["camera-bias"].perturbations[0]
    env = make_gap_env(PICK, "camera-bias", seed=7)
    measured = [env.reset(seed=3)["object_pose"]] + [env.step(_hold(env))[0]["object_pose"] for _ in range(3)]
    true = env.true_obs()["object_pose"]
    error = np.stack(measured)[:, :3] - true[:3]  # the cube rests: its true pose does not change
    np.testing.assert_allclose(error.mean(axis=0), bias.bias_m, atol=4 * bias.noise_m)
    assert np.all(np.std(error, axis=0) > 0)  # fresh noise every observation
    yaw = [2 * np.arctan2(q[3], q[0]) for q in (measured[-1][3:], true[3:])]
    assert yaw[0] - yaw[1] == pytest.approx(bias.yaw_bias_rad, abs=1e-9)
    again = make_gap_env(PICK, "camera-bias", seed=7)
    np.testing.assert_array_equal(again.reset(seed=3)["object_pose"], measured[0])  # reproducible
    assert not np.array_equal(make_gap_env(PICK, "camera-bias", seed=8).reset(seed=3)["object_pose"], measured[0])


def _hold(env):
    """Raw action holding the arm where it (truly) is, gripper open, in the policy's coordinates."""
    q = env.true_obs()["joint_pos"]
    return env.to_measured(np.concatenate([q, [-1.0] * (env.spec.action_dim - len(q))]))


def test_cube_mass_and_friction_change_the_model():
    plain, heavy = make_env(PICK).model, make_gap_env(PICK, "heavy-cube").env.model
    physics = GAPS["heavy-cube"].perturbations[0]
    geom = plain.geom("cube").id
    body = plain.geom_bodyid[geom]
    assert heavy.body_mass[body] == pytest.approx(physics.mass_scale * plain.body_mass[body])
    assert heavy.geom_friction[geom, 0] == pytest.approx(physics.friction_scale * plain.geom_friction[geom, 0])


def test_actuation_gain_scales_the_applied_torque_and_its_error_depends_on_the_state():
    env = make_gap_env(REACH, "weak-actuators")
    gain = GAPS["weak-actuators"].perturbations[0].gain[0]
    sags = []
    for seed in (0, 11):
        env.reset(seed=seed)
        start = env.true_obs()["joint_pos"]
        for _ in range(5):
            env.step(start)  # hold the reset pose
        data, hw = env.env.data, env.env.hardware
        np.testing.assert_allclose(data.qfrc_actuator[hw._dof], gain * data.ctrl[hw._act], rtol=1e-9)
        sags.append(env.true_obs()["joint_pos"] - start)
    assert np.abs(sags[0]).max() > 5e-3  # half the torque: the arm sags under gravity
    assert np.abs(sags[0] - sags[1]).max() > 2e-3  # by a different amount at another pose: no constant shift fixes it


def test_a_slow_gripper_closes_later():
    openings = {}
    for gap in ("none", "slow-gripper"):
        env = make_gap_env(PICK, gap)
        env.reset(seed=0)
        close = _hold(env)
        close[-1] = 1.0
        openings[gap] = [env.step(close)[0]["gripper_pos"][0] for _ in range(3)]
    assert openings["none"][0] < 0.005  # closed (on nothing) within one policy step
    assert openings["slow-gripper"][0] > 0.03 and openings["slow-gripper"][2] > 0.015


class _Expert:
    """A fixed action: the human's hands, seen from the outside."""

    def reset(self):
        pass

    def act(self, obs):
        return np.full(7, 0.5)


def _obs(ee, goal=(0.5, 0.0, 0.3)):
    return {"ee_pos": np.asarray(ee, float), "goal": np.asarray(goal, float), "joint_pos": np.zeros(7)}


def test_the_human_reacts_after_its_delay_drives_within_its_budget_with_noise():
    config = HumanConfig(patience_steps=3, max_takeover_steps=4, reaction_s=0.3, action_noise_rad=0.01,
                         budget_steps=6)
    human = SimulatedHuman(REACH, _Expert(), config, seed=0)
    assert human.delay_steps == 3
    stalled = [human.act(_obs([0.5, 0.0, 0.4])) for _ in range(12)]  # 10 cm off, not moving
    driven = [a is not None for a in stalled]
    # the stall is seen at step 3 (after 3 steps of patience); the human's first action comes 0.3 s later
    assert driven == [False] * 6 + [True] * 4 + [False] * 2
    noise = np.stack([a for a in stalled if a is not None]) - 0.5
    assert 0 < np.abs(noise).max() < 0.05 and human.steps == 4 and human.interventions == 1
    human.reset()  # a new episode: the budget carries over (2 steps left)
    later = [human.act(_obs([0.5, 0.0, 0.4])) is not None for _ in range(20)]
    assert sum(later) == 2 and human.steps == 6 and human.budget_left == 0


def test_the_pick_human_watches_the_remaining_distance_and_lifts_the_cube_under_the_default_gap():
    env = make_gap_env(PICK, "")
    human = make_human(PICK, env.env.robot, seed=0)
    env.reset(seed=5)
    human.reset()
    true = env.true_obs()
    cube = true["object_pose"][:3]
    assert human.remaining(true) == pytest.approx(np.linalg.norm(true["ee_pos"] - cube) + PICK.success.threshold)
    success = False
    for _ in range(PICK.max_steps):  # the policy would hold still; the human sees the stall and takes over
        action = human.act(env.true_obs())
        _, _, success, _ = env.step(_hold(env) if action is None else env.to_measured(action))
        if success:
            break
    assert success and human.interventions == 1 and human.steps > 20


def _synthetic_run(path, seed, successes, shares, steps_per_round=100):
    path.mkdir(parents=True)
    rounds = [{"round": i, "eval_success": s, "human_step_fraction": h, "env_steps": steps_per_round * (i + 1),
               "human_steps": 20 * (i + 1), "updates": 50 * (i + 1)}
              for i, (s, h) in enumerate(zip(successes, shares))]
    report = {"config": {"task": "panda-pick-cube", "eval_episodes": 20}, "gap": "camera-bias", "seconds": 60.0 + seed,
              "base_eval": {"success": 0.4}, "rounds": rounds}
    (path / "report.json").write_text(json.dumps(report))


@pytest.fixture
def few_resamples(monkeypatch):
    """Fewer bootstrap resamples than the report's 2000: the test checks the plumbing, not the interval."""
    from robot_rl_sim.hil import report

    monkeypatch.setattr(report, "BOOTSTRAP_REPS", 200)


def test_the_report_aggregates_seeds_with_iqm_and_ci_and_writes_pngs(tmp_path, few_resamples):
    from robot_rl_sim.hil.report import load_runs, summarise, write_report

    for seed in range(5):
        _synthetic_run(tmp_path / "bc" / f"seed_{seed}", seed, [0.6, 0.8 + 0.01 * seed, 0.96], [0.3, 0.2, 0.1])
        _synthetic_run(tmp_path / "residual-rl" / f"seed_{seed}", seed, [0.7, 0.9, 1.0], [0.3, 0.1, 0.0])
    _synthetic_run(tmp_path / "bc" / "seed_5.interrupted0", 5, [0.0, 0.0, 0.0], [1.0, 1.0, 1.0])  # not a run
    summary = summarise(load_runs(tmp_path, "bc"))
    assert [r["seed"] for r in summary["runs"]] == list(range(5))
    iqm, low, high = summary["success"][2]
    assert iqm == pytest.approx(0.82) and low <= iqm <= high  # IQM of 0.80..0.84: the mean of the middle three
    assert summary["steps_to_target_iqm"] == 300 and summary["runs"][0]["steps_to_target"] == 300
    path = write_report(tmp_path, ["bc", "residual-rl"])
    text = path.read_text()
    assert "IQM [95 % CI]" in text and "| 0.82 [" in text and "### residual-rl" in text
    for png in ("success.png", "human_share.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"


def test_the_seed_runner_skips_finished_runs_and_sets_interrupted_ones_aside(tmp_path, few_resamples):
    from robot_rl_sim.hil.seeds import run_seeds
    from robot_rl_sim.hil.session import HilSimConfig

    _synthetic_run(tmp_path / "bc" / "seed_0", 0, [0.9], [0.1])
    (tmp_path / "bc" / "seed_1").mkdir(parents=True)  # interrupted: no report.json
    (tmp_path / "bc" / "seed_1" / "partial").write_text("kept")
    launched = []

    class Done:
        def poll(self):
            return 0

    def launch(config_path, log_path, nice):
        config = json.loads(config_path.read_text())
        launched.append((config["method"], config["seed"], config["threads"]))
        _synthetic_run(config_path.parent / "unused", config["seed"], [0.95], [0.05])
        (config_path.parent / "unused" / "report.json").rename(config_path.parent / "report.json")
        return Done()

    config = HilSimConfig(base="base.onnx", out=str(tmp_path), task="panda-pick-cube")
    report = run_seeds(config, ["bc"], seeds=3, parallel=2, log=lambda *_: None, launch=launch, poll_s=0)
    assert launched == [("bc", 1, 1), ("bc", 2, 1)]
    assert (tmp_path / "bc" / "seed_1.interrupted0" / "partial").read_text() == "kept"
    assert "| 0 | 0.90 |" in report.read_text() and "| 2 | 0.95 |" in report.read_text()


def test_eval_runs_a_policy_behind_a_gap_in_process_only(tmp_path):
    from robot_rl.learning.eval import evaluate_policies

    report = evaluate_policies([BASE], REACH.name, episodes=1, seeds=1, gap="", progress=False)
    assert report["gap"] == "weak-actuators" and report["episodes"] == 1
    with pytest.raises(ConfigError, match="in-process only"):
        evaluate_policies([BASE], REACH.name, episodes=1, seeds=1, mode="gate", gap="camera-bias")


def test_the_pick_cube_measurement_carries_the_fingers_a_pick_policy_observes():
    """hil sim's measurement holds the finger joints at the measured opening, so a contract observing
    ``gripper_pos`` assembles from it (it once lacked them and every pick-cube run failed)."""
    from robot_rl.learning.contract_map import PolicyShape, contract_for
    from robot_rl.policy.observation import ObservationAssembler
    from robot_rl_sim.hil.episode import measurement

    spec = get_task("panda-pick-cube")
    env = make_gap_env(spec, "none")
    obs = env.reset(seed=0)
    inputs = measurement(spec, env.env.config, obs, 0.0)
    fingers = env.env.config.gripper.joints
    assert set(fingers) <= set(inputs.joint_names)
    contract = contract_for(spec, PolicyShape(spec.obs_dim, spec.action_dim), "obs", "action", 0.0)
    frame = ObservationAssembler(contract, env.env.robot, fingers).frame(inputs)
    assert np.allclose(frame, np.concatenate([obs[t.name] for t in spec.obs_terms]))
