"""Isaac Lab / rsl_rl export: a real rsl-rl-lib PPO checkpoint -> `robot-rl export` -> the policy runtime.

The checkpoint comes from rsl-rl-lib's own OnPolicyRunner (2 PPO iterations on the MuJoCo panda-reach env,
empirical observation normalisation on), so its layout is the library's, not a hand-written one.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from tensordict import TensorDict

from robot_rl.cli import main as robot_rl_main
from robot_rl.errors import ConfigError
from robot_rl.learning.contract_map import contract_for
from robot_rl.learning.diffusion import DiffusionConfig
from robot_rl.learning.export_rsl_rl import check_isaaclab_env
from robot_rl.learning.rsl_rl_checkpoint import RslRlActor, parse_checkpoint
from robot_rl.policy.contract import load_policy
from robot_rl.policy.observation import ObservationInputs
from robot_rl.policy.runtime import PolicyRuntime, RuntimeConfig
from rsl_rl_mujoco import train_checkpoint
from robot_rl_sim.isaaclab import declaration
from robot_rl_sim.tasks import get_task, make_env

TASK = "panda-reach"


def _env_yaml(decl: dict, decimation: int | None = None) -> dict:
    """The fields of an Isaac Lab params/env.yaml that the exporter reads, for the declared task."""
    policy = {"concatenate_terms": True, "enable_corruption": False}
    policy.update({t["name"]: {"func": t["func"], "clip": t["clip"], "scale": None} for t in decl["obs_terms"]})
    return {"sim": {"dt": decl["physics_dt"]}, "decimation": decimation or decl["decimation"],
            "scene": {"robot": {"init_state": {"joint_pos": {}}}}, "actions": {}, "observations": {"policy": policy}}


def _run(*argv) -> int:
    with pytest.raises(SystemExit) as exit_info:
        robot_rl_main(list(argv))
    return exit_info.value.code


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """rsl_rl checkpoint of an Isaac-Lab-style run dir (params/agent.yaml, params/env.yaml), exported by the CLI."""
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("rsl_rl_run")
    path, policy, _ = train_checkpoint(TASK, run, iterations=2, activation="tanh")
    (run / "params").mkdir()
    (run / "params" / "agent.yaml").write_text(yaml.safe_dump({"actor": {"activation": "tanh"}}))
    (run / "params" / "env.yaml").write_text(yaml.safe_dump(_env_yaml(declaration(TASK)), sort_keys=False))
    out = run / "reach_ppo.onnx"
    assert _run("export", "--rsl-rl-checkpoint", str(path), "--task", TASK, "--out", str(out),
                "--sim-backend", "mujoco") == 0
    return {"path": out, "checkpoint": path, "policy": policy, "raw": torch.load(path, weights_only=False)}


def _rsl_rl_actions(policy, obs: np.ndarray) -> np.ndarray:
    """Deterministic actions of rsl_rl's own inference policy for observations (k, O)."""
    with torch.no_grad():
        batch = TensorDict({"policy": torch.tensor(obs, dtype=torch.float32)}, batch_size=[len(obs)])
        return policy(batch).numpy()


def test_runtime_actions_equal_rsl_rl_on_mujoco_states(exported, panda_model):
    spec = get_task(TASK)
    runtime = PolicyRuntime(load_policy(exported["path"], robot=panda_model), robot_model=panda_model,
                            config=RuntimeConfig(intra_op_threads=1))
    env = make_env(TASK, seed=7)
    names = tuple(spec.joint_names)
    for step in range(6):
        obs_dict = env.observe()
        flat = np.concatenate([obs_dict[t.name] for t in spec.obs_terms])
        inputs = ObservationInputs(stamp=float(step), joint_names=names, position=obs_dict["joint_pos"],
                                   velocity=obs_dict["joint_vel"], goal=obs_dict["goal"])
        runtime.reset()
        obs = runtime.observe(inputs)
        np.testing.assert_allclose(obs, flat, atol=1e-9)  # the contract assembles exactly the task's observation
        chunk = runtime.act_on(obs, inputs)
        expected = _rsl_rl_actions(exported["policy"], flat[None])[0]
        assert chunk.raw.shape == (1, spec.action_dim)
        np.testing.assert_allclose(chunk.raw[0], expected, atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(chunk.positions[0], np.clip(expected, spec.action.clip_low, spec.action.clip_high),
                                   atol=1e-5)
        env.step(chunk.raw[0])
    assert not np.allclose(expected, 0.0)


def test_contract_fields_equal_the_diffusion_exporters(exported):
    spec = get_task(TASK)
    contract = load_policy(exported["path"]).contract
    diffusion = contract_for(spec, DiffusionConfig(obs_dim=spec.obs_dim, action_dim=spec.action_dim), "obs",
                             "actions", 0.8)
    for field in ("obs_joint_names", "action_joint_names", "observations", "action", "joint_limits",
                  "default_joint_pos", "pass_criteria"):
        assert getattr(contract, field) == getattr(diffusion, field), field
    rates = ("physics_dt", "decimation", "policy_hz")
    assert [getattr(contract.timing, k) for k in rates] == [getattr(diffusion.timing, k) for k in rates]
    assert contract.timing.max_latency_ms == 1000.0 * spec.policy_dt  # no chunk to carry on: one policy period
    assert (contract.provenance.task, contract.provenance.robot) == (diffusion.provenance.task, "panda")
    assert contract.provenance.training_lib.startswith("rsl_rl [actor_state_dict (rsl-rl-lib 5.x), iteration 1, tanh")
    assert contract.provenance.sim_backend == "mujoco" and contract.normalization.kind == "baked"
    assert (contract.chunking.horizon, contract.chunking.n_action_steps, contract.chunking.denoising_steps) == (1, 1, 0)
    assert contract.inputs[0].shape == (1, spec.obs_dim) and contract.outputs[0].shape == (1, spec.action_dim)
    golden = np.concatenate([np.asarray(g.inputs["obs"]) for g in contract.golden])
    outputs = np.concatenate([np.asarray(g.outputs["actions"]) for g in contract.golden])
    assert len(golden) == 8 and np.abs(golden[:, 7:14]).max() > 0  # MuJoCo states, some with joint velocity
    np.testing.assert_allclose(outputs, _rsl_rl_actions(exported["policy"], golden), atol=1e-5, rtol=1e-5)


def _older_layouts(raw: dict) -> dict[str, dict]:
    """The same actor in the key layouts of rsl-rl-lib 3.x and 2.x (stand-ins written from the documented keys:
    ActorCritic ``actor.<i>``/``std`` with ``actor_obs_normalizer.*`` (3.x) or the runner's ``obs_norm_state_dict``
    (2.x)); those library versions are not installed here."""
    actor = raw["actor_state_dict"]
    mlp = {k.replace("mlp.", "actor.", 1): v for k, v in actor.items() if k.startswith("mlp.")}
    norm = {k[len("obs_normalizer."):]: v for k, v in actor.items() if k.startswith("obs_normalizer.")}
    common = {"std": actor["distribution.std_param"], "critic.0.weight": torch.zeros(1, 1)}
    v3 = {**mlp, **common, **{f"actor_obs_normalizer.{k}": v for k, v in norm.items()}}
    return {"3.x": {"model_state_dict": v3, "optimizer_state_dict": {}, "iter": raw["iter"]},
            "2.x": {"model_state_dict": {**mlp, **common}, "obs_norm_state_dict": norm, "iter": raw["iter"]}}


def test_every_checkpoint_layout_gives_the_rsl_rl_actions(exported):
    obs = np.random.default_rng(0).normal(size=(5, get_task(TASK).obs_dim)).astype(np.float32)
    expected = _rsl_rl_actions(exported["policy"], obs)
    layouts = {"5.x": exported["raw"], **_older_layouts(exported["raw"])}
    for version, raw in layouts.items():
        checkpoint = parse_checkpoint(raw, version)
        assert version in checkpoint.layout and checkpoint.hidden_dims == (32, 16) and checkpoint.iteration == 1
        with torch.no_grad():
            got = RslRlActor(checkpoint, "tanh")(torch.from_numpy(obs)).numpy()
        np.testing.assert_allclose(got, expected, atol=1e-6, err_msg=version)
    unnormalised = dict(layouts["2.x"])
    del unnormalised["obs_norm_state_dict"]
    actor = RslRlActor(parse_checkpoint(unnormalised), "tanh")
    assert not actor.normalized
    with torch.no_grad():
        assert not np.allclose(actor(torch.from_numpy(obs)).numpy(), expected, atol=1e-3)


def test_mismatches_are_refused_by_name(exported, tmp_path):
    ckpt, decl = str(exported["checkpoint"]), declaration(TASK)
    out = str(tmp_path / "x.onnx")
    assert _run("export", "--rsl-rl-checkpoint", ckpt, "--task", "panda-pick-cube", "--out", out) == 2
    assert _run("export", "--rsl-rl-checkpoint", ckpt, "--out", out) == 2  # --task missing
    wrong = tmp_path / "env.yaml"
    wrong.write_text(yaml.safe_dump(_env_yaml(decl, decimation=50), sort_keys=False))
    with pytest.raises(ConfigError, match="decimation 50 != 100"):
        check_isaaclab_env(wrong, get_task(TASK))
    renamed = _env_yaml(decl)
    renamed["observations"]["policy"]["target"] = renamed["observations"]["policy"].pop("goal")
    wrong.write_text(yaml.safe_dump(renamed, sort_keys=False))
    with pytest.raises(ConfigError, match=r"observations.policy terms \[.*'target'\]"):
        check_isaaclab_env(wrong, get_task(TASK))
    with pytest.raises(ConfigError, match="not an rsl_rl PPO checkpoint"):
        parse_checkpoint({"weights": {}})
    hetero = {"actor_state_dict": {k: v for k, v in exported["raw"]["actor_state_dict"].items()
                                   if not k.startswith("distribution.")}}
    with pytest.raises(ConfigError, match="GaussianDistribution"):
        parse_checkpoint(hetero)
    with pytest.raises(ConfigError, match="not an rsl_rl activation"):
        RslRlActor(parse_checkpoint(exported["raw"]), "leaky")
