"""The Isaac Lab task declarations equal the MuJoCo tasks' (terms, joint names, rates); no isaaclab needed."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

from robot_rl.errors import ConfigError
from robot_rl_sim.isaaclab import AVAILABLE, GYM_IDS, declaration
from robot_rl_sim.isaaclab.declarations import OBS_FUNCTIONS
from robot_rl_sim.tasks import make_env, task_names

PACKAGE = Path(__file__).resolve().parent.parent / "sim" / "robot_rl_sim" / "isaaclab"


@pytest.mark.parametrize("task", task_names())
def test_declaration_equals_the_mujoco_task(task):
    env = make_env(task)
    decl = declaration(task)
    spec = env.spec
    assert decl["joint_names"] == list(env.config.joints) == decl["action"]["joint_names"]
    assert [(t["name"], t["source"], t["size"]) for t in decl["obs_terms"]] == \
        [(name, t.source, obs.size) for (name, obs), t in zip(env.reset(seed=0).items(), spec.obs_terms)]
    assert decl["physics_dt"] == env.model.opt.timestep
    assert decl["decimation"] == spec.decimation and decl["policy_hz"] == spec.policy_hz
    assert decl["episode_length_s"] == spec.episode_seconds
    assert decl["action"]["gripper"] == spec.action.gripper
    assert len(decl["action"]["scale"]) + int(decl["action"]["gripper"]) == spec.action_dim
    assert GYM_IDS[task] == decl["gym_id"]


def test_every_contract_source_maps_to_an_isaaclab_function():
    names = {n for n, _ in _module_functions("mdp.py")}
    for source, path in OBS_FUNCTIONS.items():
        module, func = path.split(":")
        assert module in ("isaaclab.envs.mdp", "robot_rl_sim.isaaclab.mdp"), source
        if module == "robot_rl_sim.isaaclab.mdp":
            assert func in names, f"{source}: {func} missing from mdp.py"


def test_isaaclab_modules_parse_and_are_guarded():
    for name in ("env_cfg.py", "mdp.py", "agents.py", "train_rsl_rl.py", "__init__.py", "declarations.py"):
        ast.parse((PACKAGE / name).read_text())  # real code, syntactically valid
    assert AVAILABLE == (importlib.util.find_spec("isaaclab") is not None)
    if not AVAILABLE:
        with pytest.raises(ModuleNotFoundError, match="isaaclab"):
            importlib.import_module("robot_rl_sim.isaaclab.env_cfg")


def test_unknown_task_is_refused():
    with pytest.raises(ConfigError, match="unknown task"):
        declaration("panda-juggle")


def _module_functions(filename: str):
    tree = ast.parse((PACKAGE / filename).read_text())
    return [(n.name, n) for n in tree.body if isinstance(n, ast.FunctionDef)]

