"""The sped-up 1 kHz control path simulates what the original did: a recorded trajectory is reproduced.

``tests/data/control_trajectory.npz`` was recorded with the control core as it was before the speedup
(commit d7c818f: per-tick numpy in ``robot_rl/control``) by ``python tests/test_control_equivalence.py``:
for each case below, a TaskEnv (behind the task's default HIL gap, as ``robot-rl hil sim`` runs it) is reset
and driven through a fixed action sequence that mixes smooth moves (the reference follows the safety
filter's plan), jumps (ruckig chases the plan), gripper toggles and a rest; after every policy step the
full MuJoCo state, the last tick's torques, the reference and the limit / chase counters are stored.
Pick-cube chases for ~300 ticks and clamps reference velocities; reach also saturates torques (56 ticks)
and brakes overspeeding joints (84 ticks), so every branch of the torque law's limits is in the record.
The test replays the same actions on today's code and asks for the same numbers: positions and
velocities to 1e-9 (float rounding; contact dynamics would amplify a real change in a torque far
beyond that within a few steps), torques to 1e-7 Nm, counters exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

FIXTURE = Path(__file__).parent / "data" / "control_trajectory.npz"
CASES = (("panda-pick-cube", 3), ("panda-reach", 5))  # (task, reset seed)
STEPS = 30


def actions(action_dim: int, gripper: bool, rng: np.random.Generator) -> np.ndarray:
    """(STEPS, action_dim) raw actions: smooth random walk, two jumps, a hold, the gripper toggling."""
    out = np.zeros((STEPS, action_dim))
    a = np.zeros(action_dim)
    for k in range(STEPS):
        a = np.clip(0.85 * a + 0.25 * rng.normal(size=action_dim), -1.0, 1.0)
        if k in (8, 19):
            a = rng.uniform(-1.0, 1.0, action_dim)  # a jump: the reference has to chase the new plan
        if 24 <= k < 27:
            a = out[k - 1]  # the same action again
        out[k] = a
    if gripper:
        out[:, -1] = np.where((np.arange(STEPS) // 6) % 2 == 0, -1.0, 1.0)
    return out


def rollout(task: str, seed: int) -> dict[str, np.ndarray]:
    """The recorded quantities of one case, (STEPS, ...) each."""
    from robot_rl_sim.hil.gaps import make_gap_env

    env = make_gap_env(task)
    env.reset(seed=seed)
    inner, core = env.env, env.env.core
    acts = actions(env.spec.action_dim, bool(env.spec.action.gripper), np.random.default_rng(seed))
    rec: dict[str, list] = {k: [] for k in ("qpos", "qvel", "torque", "reference", "counts")}
    for a in acts:
        env.step(a)
        c = core.limits.counts
        rec["qpos"].append(inner.data.qpos.copy())
        rec["qvel"].append(inner.data.qvel.copy())
        rec["torque"].append(np.asarray(core.last_torque, float).copy())
        rec["reference"].append(np.concatenate(core.follower.reference))
        rec["counts"].append([c.position, c.velocity, c.effort, c.overspeed, core.follower.chase_ticks,
                              core.follower.failures, inner.interventions])
    return {k: np.asarray(v) for k, v in rec.items()}


def record() -> None:
    """Write the fixture (run with the code the fixture is to describe)."""
    arrays = {f"{task}/{key}": value for task, seed in CASES for key, value in rollout(task, seed).items()}
    np.savez_compressed(FIXTURE, **arrays)


@pytest.mark.parametrize("task,seed", CASES)
def test_control_path_reproduces_recorded_trajectory(task, seed):
    expected = np.load(FIXTURE)
    got = rollout(task, seed)
    counts = expected[f"{task}/counts"]
    assert counts[-1, 4] > 0 and np.any(np.diff(counts[:, 4]) == 0)  # steps with chase ticks and plan-only steps
    np.testing.assert_array_equal(got["counts"], counts)
    np.testing.assert_allclose(got["qpos"], expected[f"{task}/qpos"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(got["qvel"], expected[f"{task}/qvel"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(got["torque"], expected[f"{task}/torque"], rtol=0, atol=1e-7)
    np.testing.assert_allclose(got["reference"], expected[f"{task}/reference"], rtol=0, atol=1e-9)


if __name__ == "__main__":
    record()
