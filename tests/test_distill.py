"""One-step consistency distillation: the student learns the teacher's DDIM endpoints, exports with the same
contract (1 denoising step) and runs under the same runtime; bad inputs are refused."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from robot_rl.errors import ConfigError
from robot_rl.learning.checkpoint import load_checkpoint
from robot_rl.learning.distill import (ROLLOUT_BASE_SEED, DistillConfig, consistency_loss, distill, rollout_pool,
                                      run_distill, student_from, teacher_trajectories, training_windows)
from robot_rl.learning.export import UnrolledDDIM, export_policy
from robot_rl.policy.contract import load_policy
from robot_rl.policy.runtime import OnnxPolicy, RuntimeConfig
from robot_rl.learning.rollout import rollout_windows
from robot_rl_sim.tasks import get_task, make_env

from policy_helpers import train_tiny_reach_diffusion

TASK = "panda-reach"
TINY = DistillConfig(steps=60, batch_size=64, lr=1e-3, pool=192, holdout=32, teacher_batch=192, warmup=5,
                     log_every=30, checkpoint_every=30, threads=2)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """A small teacher (U-Net 16/32, 10 DDIM steps) briefly trained on 3 recorded reach demonstrations."""
    root = tmp_path_factory.mktemp("distill")
    checkpoint, path = train_tiny_reach_diffusion(root, threads=2)
    return {"root": root, "checkpoint": checkpoint, "path": path, "spec": get_task(TASK)}


def test_teacher_trajectories_end_at_the_teachers_sample(teacher):
    checkpoint = teacher["checkpoint"]
    obs, _ = training_windows(checkpoint, None, 8)
    pool = teacher_trajectories(checkpoint.policy(), obs, DistillConfig(pool=8, holdout=1, baked_fraction=0.5))
    assert pool.states.shape == (8, 10, 16, 7) and pool.timesteps == list(range(90, -1, -10))
    with torch.no_grad():
        sample = checkpoint.policy().sample(pool.obs, pool.states[:, 0])
    np.testing.assert_allclose(checkpoint.policy().action_norm.unnormalize(pool.target), sample, atol=1e-5)
    baked = UnrolledDDIM(checkpoint.policy()).initial_noise
    assert int((pool.states[:, 0] == baked).all(dim=(1, 2)).sum()) == 4  # the baked-noise share


def test_distilled_student_exports_with_one_step_and_runs_under_the_runtime(teacher, tmp_path, panda_model):
    student = run_distill(teacher["path"], None, tmp_path / "student", TINY, progress=False)
    obs, _ = training_windows(teacher["checkpoint"], None, TINY.pool, TINY.seed)  # the same pool, recomputed
    pool, _ = teacher_trajectories(teacher["checkpoint"].policy(), obs, TINY).split(TINY.holdout)
    index, start = torch.arange(len(pool.obs)), torch.zeros(len(pool.obs), dtype=torch.long)
    with torch.no_grad():  # the objective at the first timestep, from the teacher's weights and after training
        before = float(consistency_loss(student_from(teacher["checkpoint"], TINY), pool, index, start))
        after = float(consistency_loss(student.policy(), pool, index, start))
    assert after < 0.8 * before, (before, after)  # 41 -> 27 measured (tiny teacher, 60 steps)
    assert student.config.denoising_steps == 1 and student.config.start_timestep == 90
    reloaded = load_checkpoint(tmp_path / "student" / "checkpoint.pt")
    assert reloaded.step == TINY.steps and reloaded.train["distill"]["teacher"] == str(teacher["path"].resolve())
    contract = export_policy(reloaded, teacher["spec"], tmp_path / "student.onnx")
    assert contract.chunking.denoising_steps == 1 and contract.chunking.horizon == 16
    runtime = OnnxPolicy(load_policy(tmp_path / "student.onnx", robot=panda_model), RuntimeConfig())
    obs = np.asarray(reloaded.dataset["golden_obs"][0], dtype=np.float32)
    with torch.no_grad():
        expected = UnrolledDDIM(reloaded.policy()).eval()(torch.from_numpy(obs[None]))[0].numpy()
    np.testing.assert_allclose(runtime.run(obs[-1]), expected, atol=1e-4, rtol=1e-4)


def test_a_smaller_student_starts_fresh(teacher, tmp_path):
    obs, _ = training_windows(teacher["checkpoint"], None, 80)
    config = DistillConfig(steps=2, batch_size=8, pool=80, holdout=16, channels=(8, 16), threads=2)
    student = distill(teacher["checkpoint"], obs, config, tmp_path / "checkpoint.pt")
    assert student.config.channels == (8, 16) and load_checkpoint(tmp_path / "checkpoint.pt").step == 2
    again = student_from(teacher["checkpoint"], config, init=student).state_dict()  # a further round starts here
    assert all(torch.equal(again[name], value) for name, value in student.ema.items())
    with pytest.raises(ConfigError, match="--init: a one-step student with U-Net widths"):
        student_from(teacher["checkpoint"], dataclasses.replace(config, channels=None), init=student)


@pytest.mark.parametrize("field, value, needle", [("holdout", 400, "holdout"), ("start_share", 1.5, "start_share"),
                                                  ("steps", 0, "steps"), ("max_seconds", -1.0, "max_seconds"),
                                                  ("rollout_share", 1.0, "rollout_share")])
def test_config_rejects_bad_values_naming_the_field(field, value, needle):
    with pytest.raises(ConfigError, match=needle):
        DistillConfig(**{"pool": 320, field: value})


def test_missing_teacher_or_dataset_is_refused_by_name(teacher, tmp_path):
    with pytest.raises(ConfigError, match="checkpoint not found"):
        run_distill(tmp_path / "nope.pt", None, tmp_path / "out", TINY, progress=False)
    with pytest.raises(ConfigError, match="no_such_dataset"):
        run_distill(teacher["path"], tmp_path / "no_such_dataset", tmp_path / "out", TINY, progress=False)


def test_rollout_pool_draws_the_closed_loop_windows_a_policy_meets(teacher, tmp_path):
    checkpoint, spec = teacher["checkpoint"], teacher["spec"]
    export_policy(checkpoint, spec, tmp_path / "teacher.onnx")
    windows, results = rollout_windows(tmp_path / "teacher.onnx", TASK, [ROLLOUT_BASE_SEED])
    assert windows.shape == (results[0].steps, checkpoint.config.obs_history, spec.obs_dim)
    first = spec.flatten_obs(make_env(spec).reset(seed=ROLLOUT_BASE_SEED))  # the reset frame, repeated
    np.testing.assert_allclose(windows[0], np.stack([first] * checkpoint.config.obs_history), atol=1e-6)
    assert len(np.unique(windows[:, -1], axis=0)) == len(windows)  # a new frame at every policy step
    config = dataclasses.replace(TINY, pool=80, holdout=16, rollout_share=0.25)
    drawn, summary = rollout_pool(checkpoint, [tmp_path / "teacher.onnx"], 1, config)
    assert drawn.shape == (20, *windows.shape[1:])
    assert summary[str(tmp_path / "teacher.onnx")] == {"windows": len(windows), "successes": int(results[0].success),
                                                       "episodes": 1}
    assert all((windows == w).all(axis=(1, 2)).any() for w in drawn)
    with pytest.raises(ConfigError, match="rollout-episodes"):
        rollout_pool(checkpoint, [tmp_path / "teacher.onnx"], 0, config)


def test_noise_input_export_takes_the_initial_noise_and_the_runtime_checks_it(teacher, tmp_path, panda_model):
    checkpoint, spec = teacher["checkpoint"], teacher["spec"]
    export_policy(checkpoint, spec, tmp_path / "baked.onnx")
    contract = export_policy(checkpoint, spec, tmp_path / "noise.onnx", noise_input=True)
    assert contract.input("noise").shape == (1, 16, 7) and contract.noise.distribution == "normal"
    baked = OnnxPolicy(load_policy(tmp_path / "baked.onnx"), RuntimeConfig())
    noisy = OnnxPolicy(load_policy(tmp_path / "noise.onnx", robot=panda_model), RuntimeConfig(seed=3))
    assert baked.contract.input("noise") is None and baked.contract.noise is None  # the default stays baked
    obs = np.asarray(checkpoint.dataset["golden_obs"][1], dtype=np.float32)[-1]
    fixed = UnrolledDDIM(checkpoint.policy()).initial_noise[0].numpy()
    np.testing.assert_allclose(noisy.run(obs, noise=fixed), baked.run(obs), atol=1e-5)
    assert not np.allclose(noisy.run(obs), noisy.run(obs))  # default: a fresh seeded draw per inference
    with pytest.raises(ConfigError, match=r"shape \(16, 7\)"):
        noisy.run(obs, noise=np.zeros((16, 6)))
    with pytest.raises(ConfigError, match="non-finite"):
        noisy.run(obs, noise=np.full((16, 7), np.nan))
    with pytest.raises(ConfigError, match="no input with role 'noise'"):
        baked.run(obs, noise=fixed)
    with pytest.raises(ConfigError, match="no input has role 'noise'"):
        dataclasses.replace(baked.contract, noise=contract.noise)


def test_replanning_export_resamples_the_chunk_onto_the_finer_period(teacher, tmp_path, panda_model):
    from robot_rl.learning.replan import export_replanning

    checkpoint, spec = teacher["checkpoint"], teacher["spec"]
    contract = export_replanning(checkpoint, spec, tmp_path / "fast.onnx", 50.0, ensemble=0.9)
    assert (contract.timing.policy_hz, contract.timing.decimation, contract.chunking.horizon,
            contract.chunking.n_action_steps, contract.chunking.replace_from, contract.chunking.ensemble) \
        == (50.0, 20, 80, 1, 4, 0.9)
    assert load_policy(tmp_path / "fast.onnx", robot=panda_model).contract.chunking.ensemble == 0.9
    fast = OnnxPolicy(load_policy(tmp_path / "fast.onnx", robot=panda_model), RuntimeConfig())
    obs = np.asarray(checkpoint.dataset["golden_obs"][0], dtype=np.float32)[-1]
    with torch.no_grad():
        chunk = UnrolledDDIM(checkpoint.policy()).eval()(torch.from_numpy(obs[None]))[0].numpy()
    fine = fast.run(obs)
    np.testing.assert_allclose(fine[4::5], chunk, atol=1e-4)  # every 5th fine step is a trained step
    np.testing.assert_allclose(fine[6], 0.6 * chunk[0] + 0.4 * chunk[1], atol=1e-4)  # linear in time between
    np.testing.assert_allclose(fine[1], 0.6 * obs[:7] + 0.4 * chunk[0], atol=1e-4)  # from the measured q
    for rate in (15.0, 30.0):
        with pytest.raises(ConfigError, match="multiple of the task rate"):
            export_replanning(checkpoint, spec, tmp_path / "bad.onnx", rate)
