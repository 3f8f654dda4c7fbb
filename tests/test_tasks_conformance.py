"""Conformance over every registered task: compiles, steps, deterministic, matches its spec, expert succeeds."""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.errors import CommandError, ConfigError
from robot_rl_sim.experts import make_expert
from robot_rl_sim.tasks import get_task, make_env, task_names

TASKS = task_names()


@pytest.fixture(scope="module", params=TASKS)
def env(request):
    return make_env(request.param, seed=0)


def _rollout(env, seed: int, steps: int) -> tuple[list[np.ndarray], list[float]]:
    obs = env.reset(seed=seed)
    expert = make_expert(env.spec, seed=seed, noise=1.0, model=env.robot)
    flats, rewards = [env.spec.flatten_obs(obs)], []
    for _ in range(steps):
        obs, reward, _, _ = env.step(expert.act(obs))
        flats.append(env.spec.flatten_obs(obs))
        rewards.append(reward)
    return flats, rewards


def test_registry_lists_both_issue_tasks():
    assert {"panda-reach", "panda-pick-cube"} <= set(TASKS)
    with pytest.raises(ConfigError, match="unknown task 'nope'.*panda-reach"):
        get_task("nope")


def test_obs_and_action_match_declared_spec(env):
    spec = env.spec
    obs = env.reset(seed=3)
    assert list(obs) == [t.name for t in spec.obs_terms]
    for term in spec.obs_terms:
        assert obs[term.name].shape == (term.size,), term.name
        assert np.all(np.isfinite(obs[term.name]))
    assert spec.flatten_obs(obs).shape == (spec.obs_dim,)
    assert spec.action_dim == len(spec.joint_names) + int(spec.action.gripper)
    assert tuple(spec.joint_names) == env.config.joints
    assert abs(spec.policy_hz - 1.0 / (spec.physics_dt * spec.decimation)) < 1e-9
    assert env.model.opt.timestep == pytest.approx(spec.physics_dt)


def test_step_advances_physics_by_one_policy_period(env):
    obs = env.reset(seed=1)
    action = np.concatenate([obs["joint_pos"], np.full(env.spec.action_dim - len(env.spec.joint_names), -1.0)])
    obs, reward, success, info = env.step(action)
    assert info["time"] == pytest.approx(env.spec.policy_dt)
    assert np.isfinite(reward) and isinstance(success, bool)
    assert np.linalg.norm(obs["joint_vel"]) < 0.5  # holding the current pose stays still


def test_deterministic_for_a_seed(env):
    a_obs, a_rew = _rollout(env, seed=7, steps=8)
    b_obs, b_rew = _rollout(env, seed=7, steps=8)
    c_obs, _ = _rollout(env, seed=8, steps=8)
    np.testing.assert_array_equal(np.array(a_obs), np.array(b_obs))
    np.testing.assert_array_equal(a_rew, b_rew)
    assert not np.array_equal(a_obs[0], c_obs[0])


def test_reset_samples_inside_declared_distribution(env):
    spec = env.spec
    for seed in range(5):
        obs = env.reset(seed=seed)
        dev = np.abs(obs["joint_pos"] - env.config.default_pose)
        assert np.all(dev <= spec.reset.joint_noise + 1e-9)
        if spec.reset.goal_low is not None:
            assert np.all(obs["goal"] >= spec.reset.goal_low) and np.all(obs["goal"] <= spec.reset.goal_high)
        if spec.reset.object_xy_low is not None:
            xy = obs["object_pose"][:2]
            assert np.all(xy >= spec.reset.object_xy_low) and np.all(xy <= spec.reset.object_xy_high)


def test_bad_action_is_refused_with_its_shape(env):
    env.reset(seed=0)
    with pytest.raises(CommandError, match=f"expected {env.spec.action_dim}"):
        env.step(np.zeros(env.spec.action_dim + 1))
    with pytest.raises(CommandError, match="non-finite"):
        env.step(np.full(env.spec.action_dim, np.nan))


@pytest.mark.parametrize("task", TASKS)
def test_scripted_expert_succeeds(task):
    env = make_env(task)
    episodes, wins = 8, 0
    for seed in range(episodes):
        obs = env.reset(seed=100 + seed)
        expert = make_expert(env.spec, seed=100 + seed, noise=1.0, model=env.robot)
        for _ in range(env.spec.max_steps):
            obs, _, success, _ = env.step(expert.act(obs))
            if success:
                wins += 1
                break
    assert wins >= episodes - 1, f"{task}: expert solved {wins}/{episodes}"


def _grasp_held(env, seed: int) -> bool:
    """Run the expert on ``seed``; True if it lifts the cube and keeps it lifted to the episode's end."""
    obs = env.reset(seed=seed)
    expert = make_expert(env.spec, seed=seed, noise=1.0, model=env.robot)
    successes = []
    for _ in range(env.spec.max_steps):
        obs, _, success, _ = env.step(expert.act(obs))
        successes.append(success)
    lifted = obs["object_pose"][2] > env.spec.object.half_size + env.spec.success.threshold
    return True in successes and all(successes[successes.index(True):]) and lifted


def test_pick_grasp_holds_the_cube_until_the_episode_ends():
    """At most 1 of 20 grasps may lose the cube after the lift: as the fingers close, the cube sometimes rolls
    about 90 degrees onto an edge (measured on 1 of 20 seeds for the expert with and without the dwell), and
    a grasp on an edge can slip. Each seed's episode must first succeed."""
    env = make_env("panda-pick-cube")
    held = [seed for seed in range(20) if _grasp_held(env, seed)]
    assert len(held) >= 19, f"cube not lifted, or lost after the lift, on seeds {sorted(set(range(20)) - set(held))}"


def test_open_gripper_does_not_lift_the_cube():
    """Success needs a grasp: the same arm motion with the gripper kept open must fail."""
    env = make_env("panda-pick-cube")
    obs = env.reset(seed=5)
    expert = make_expert(env.spec, seed=5, noise=0.0, model=env.robot)
    for _ in range(env.spec.max_steps):
        action = expert.act(obs)
        action[-1] = -1.0
        obs, _, success, _ = env.step(action)
        assert not success
    assert obs["object_pose"][2] < env.spec.object.half_size + 0.01
