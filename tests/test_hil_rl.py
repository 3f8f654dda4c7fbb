"""The RL mechanics of the HIL learner (torch, numpy; no sim): the critic ensemble and its subset-min target,
no entropy in the sparse-reward backup, n-step returns across chunk boundaries and terminals, symmetric
offline/online sampling, the actor and std head training on policy steps, a temperature that reaches its
target, the gripper label, the hold-position base of rlpd-scratch and the methods' settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers_hil import batch, one_torch_thread  # noqa: F401 - a fixture

from robot_rl.errors import ConfigError
from robot_rl.hil.labels import raw_from_targets, residual_label
from robot_rl.hil.learner import LearnerConfig, ResidualLearner, _tensors
from robot_rl.hil.methods import METHODS, method_defaults
from robot_rl.hil.residual_net import EnsembleCritic, NetConfig
from robot_rl.hil.sampler import ReplaySampler
from robot_rl.hil.transitions import ReplayConfig
from robot_rl.policy.runtime import GRIPPER_RESIDUAL_SCALE, residual_scales

OBS, ACT = 6, 3


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _learner(**config) -> ResidualLearner:
    learner = ResidualLearner(NetConfig(OBS, ACT, hidden=32, critics=10), LearnerConfig(batch_size=64, **config))
    rng = np.random.default_rng(0)
    learner.fit_normalisation(rng.normal(size=(200, OBS)), rng.normal(size=(200, ACT)))
    return learner


def test_the_ensemble_is_one_batched_module_of_independent_layernorm_critics():
    critic = EnsembleCritic(NetConfig(OBS, ACT, hidden=16), members=10)
    x = [torch.randn(5, d) for d in (OBS, ACT, ACT)]
    q = critic(*x)
    assert q.shape == (10, 5) and len(torch.unique(q[:, 0])) == 10  # ten different functions
    q[3].sum().backward()  # one member's loss trains that member only
    grads = critic.weights[0].grad.abs().sum(dim=(1, 2))
    assert grads[3] > 0 and torch.count_nonzero(grads) == 1
    with pytest.raises(ConfigError, match="critics"):
        NetConfig(OBS, ACT, critics=1)


def test_the_target_is_the_min_over_a_random_pair_of_target_critics_and_has_no_entropy():
    learner = _learner()
    b = _tensors(batch(np.random.default_rng(1), 64, OBS, ACT, 0.5))
    b["discount"] = torch.full((64,), 0.9)
    torch.manual_seed(7)
    target = learner.critic_target(b)
    torch.manual_seed(7)
    action, _ = learner.actor.sample(b["next_obs"], b["next_base_action"])
    subset = torch.randperm(10)[:2]
    with torch.no_grad():
        q_all = learner.target(b["next_obs"], b["next_base_action"], action)
    torch.testing.assert_close(target, b["reward"] + 0.9 * q_all[subset].min(dim=0).values)
    assert not torch.equal(q_all[subset].min(dim=0).values, q_all.min(dim=0).values)  # a subset, not all 10
    with torch.no_grad():  # the sparse-reward backup does not depend on the temperature ...
        learner.log_temperature.fill_(3.0)
    torch.manual_seed(7)
    torch.testing.assert_close(learner.critic_target(b), target)
    entropic = _learner(backup_entropy=True)  # ... unless asked
    with torch.no_grad():
        entropic.log_temperature.fill_(3.0)
    torch.manual_seed(7)
    assert not torch.allclose(entropic.critic_target(b), entropic.target(  # noqa: the soft target differs
        b["next_obs"], b["next_base_action"], action)[subset].min(dim=0).values * 0.9 + b["reward"])


def _episode_rows(rewards, done_last: bool, start: float, action_dim: int = 2) -> dict[str, np.ndarray]:
    """One episode of len(rewards) consecutive steps: obs of step t = start + t, next_obs = start + t + 1."""
    t = len(rewards)
    obs = (start + np.arange(t, dtype=np.float32))[:, None]
    done = np.zeros(t, bool)
    done[-1] = done_last
    return {"obs": obs, "next_obs": obs + 1, "base_action": np.repeat(obs, action_dim, 1),
            "next_base_action": np.repeat(obs + 1, action_dim, 1), "action": np.zeros((t, action_dim)),
            "intervened": np.arange(t) % 4 == 0, "reward": np.asarray(rewards, np.float32), "done": done}


def test_n_step_returns_run_across_chunk_boundaries_and_stop_at_terminals_and_episode_ends():
    """Steps are policy steps whatever the base's chunk (8 steps): a 3-step return from step 6 spans steps
    6, 7 | 8 of two chunks with gamma per step; a terminal cuts it and zeroes the bootstrap; the next
    episode's first step (a different state) is never chained."""
    gamma = 0.9
    sampler = ReplaySampler(ReplayConfig((1,), 2, capacity=64))
    first = _episode_rows([0.0] * 9 + [1.0], done_last=True, start=0.0)  # steps 0..9, success at step 9
    second = _episode_rows([0.5, 0.25, 0.0], done_last=False, start=100.0)  # ends on a time limit
    for rows in (first, second):
        sampler.extend(rows)

    class Rows:  # draw chosen rows: the sampler's randomness only picks rows
        def __init__(self, rows):
            self.rows = np.asarray(rows)

        def integers(self, low, high, size):
            return self.rows[:size]

    out = sampler.sample_n_step(Rows([6, 8, 9, 11, 12]), 5, 0.0, n_step=3, gamma=gamma)
    np.testing.assert_allclose(out["reward"], [0.0, gamma * 1.0, 1.0, 0.25, 0.0])
    np.testing.assert_allclose(out["discount"], [gamma ** 3, 0.0, 0.0, gamma ** 2, gamma])
    np.testing.assert_array_equal(out["next_obs"][:, 0], [9, 10, 10, 103, 103])
    np.testing.assert_array_equal(out["next_base_action"][:, 0], [9, 10, 10, 103, 103])
    one = sampler.sample_n_step(Rows([6]), 1, 0.0, n_step=1, gamma=gamma)
    assert one["discount"][0] == pytest.approx(gamma) and one["next_obs"][0, 0] == 7


def test_batches_are_symmetric_and_interventions_are_in_both_buffers():
    sampler = ReplaySampler(ReplayConfig((1,), 2, capacity=4096))
    sampler.extend(_episode_rows(np.zeros(400), False, 0.0))  # a quarter of the steps human-driven
    out = sampler.sample_n_step(np.random.default_rng(0), 2000, 0.5, n_step=1, gamma=0.9)
    online, offline = out["intervened"][:1000], out["intervened"][1000:]
    assert offline.all()  # half the batch: offline (human) data only
    assert 0.2 < online.mean() < 0.3  # the other half: all data, interventions at their share
    with pytest.raises(ConfigError, match="intervened_fraction"):
        sampler.sample_n_step(np.random.default_rng(0), 8, 1.5, n_step=1, gamma=0.9)


def test_policy_steps_train_the_actor_and_std_head_and_the_temperature_reaches_its_target():
    """A one-step bandit (reward -|a - a*|^2, no human): the mean and log-std heads learn from the policy's
    own samples, and the temperature moves the entropy from -1.7 most of the way to a target of -6."""
    learner, rng = _learner(gamma=0.0, bc_weight=0.0, anchor_weight=0.0, target_entropy_per_dim=-2.0), \
        np.random.default_rng(2)
    head, best = learner.actor.body[-1], np.array([0.5, -0.4, 0.2])
    before = head.bias.detach().clone()
    entropies = []
    for _ in range(600):
        b = batch(rng, 64, OBS, ACT, intervened_fraction=0.0)
        for key in ("obs", "base_action", "next_obs", "next_base_action"):
            b[key][:] = 0.0
        b["reward"] = -np.sum((b["action"] - best) ** 2, axis=1).astype(np.float32)
        b["done"][:] = True
        entropies.append(learner.update(b)["entropy"])
    moved = (head.bias.detach() - before).abs()
    assert moved[:ACT].min() > 0.01 and moved[ACT:].min() > 0.01  # mean and log-std heads both learn
    target, final = learner.target_entropy, np.mean(entropies[-50:])
    print(f"entropy {entropies[0]:.2f} -> {final:.2f}, target {target:.2f}")
    assert abs(final - target) < 0.4 * abs(entropies[0] - target)


def test_methods_set_the_actor_loss_and_exploration():
    assert METHODS["bc"]["q_weight"] == 0.0 and not METHODS["bc"]["explore"]
    assert METHODS["residual-rl"]["q_weight"] > 0 and not METHODS["residual-rl"]["explore"]  # measured: docs/hil.md
    assert method_defaults("rlpd-scratch")["explore"]
    with pytest.raises(ConfigError, match="unknown HIL method"):
        method_defaults("ppo")


def test_the_gripper_label_can_close_or_open_the_gripper():
    from dataclasses import replace
    from types import SimpleNamespace

    from policy_helpers import panda_contract

    arm = panda_contract()
    n = len(arm.action_joint_names)  # the action semantics of a gripper contract (what labels read)
    contract = SimpleNamespace(action=replace(arm.action, gripper=True), action_joint_names=arm.action_joint_names,
                               action_dim=n + 1)
    base = np.zeros(n + 1)
    base[n] = -1.0  # the base keeps the gripper open
    targets = np.zeros(n)
    closed = raw_from_targets(contract, targets, np.zeros(n), base, gripper_closed=True)
    kept = raw_from_targets(contract, targets, np.zeros(n), base, gripper_closed=False)
    scales = residual_scales(contract, 0.1)
    assert scales[n] == GRIPPER_RESIDUAL_SCALE and np.all(scales[:n] == 0.1)
    assert residual_label(closed, base, scales)[n] == 1.0  # the human closed it: a full residual
    assert residual_label(kept, base, scales)[n] == 0.0
    assert base[n] + GRIPPER_RESIDUAL_SCALE * 1.0 > 0.0  # and that residual does close it


def test_gripper_labels_close_keeps_only_the_human_closing_early_and_none_keeps_the_base():
    from robot_rl.hil.labels import gripper_evidence
    from robot_rl.hil.online import OnlineConfig

    assert [gripper_evidence(c, "both") for c in (True, False, None)] == [True, False, None]
    # "close": a human closing where the base would not is grasp timing; an executed open keeps the base's entry
    assert [gripper_evidence(c, "close") for c in (True, False, None)] == [True, None, None]
    assert [gripper_evidence(c, "none") for c in (True, False, None)] == [None, None, None]
    with pytest.raises(ConfigError, match="gripper_labels 'sometimes' unknown"):
        gripper_evidence(True, "sometimes")
    with pytest.raises(ConfigError, match="gripper_labels"):
        OnlineConfig(out_dir="x", gripper_labels="sometimes")
    assert OnlineConfig(out_dir="x").gripper_labels == "both"
    from robot_rl_sim.hil.session import HilSimConfig

    with pytest.raises(ConfigError, match="gripper_labels"):
        HilSimConfig(base="b.onnx", out="x", gripper_labels="sometimes")
