"""Export an Isaac Lab / rsl_rl PPO policy through the same contract as the diffusion policies.

``robot-rl export --rsl-rl-checkpoint logs/rsl_rl/<run>/model_1499.pt --task panda-reach --out reach_ppo.onnx``

The actor MLP (normaliser baked in) becomes one ONNX graph obs (1, O) -> action (1, A); the contract
comes from :func:`robot_rl.learning.contract_map.contract_for` with the registered task, i.e. the
same joints, observation terms, action semantics and rates as a diffusion policy of that task
(chunking: horizon 1, no denoising). Golden vectors are recorded under onnxruntime and checked
against torch before the file is accepted. When the Isaac Lab run's ``params/env.yaml`` is given,
its physics dt, decimation and policy observation terms must equal the task's.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from robot_rl.errors import ConfigError
from robot_rl.learning.contract_map import Origin, PolicyShape, contract_for
from robot_rl.learning.export import ACTION_OUTPUT, OBS_INPUT, git_commit, onnx_bytes
from robot_rl.learning.rsl_rl_checkpoint import RslRlActor, RslRlCheckpoint

GOLDEN_ATOL, GOLDEN_RTOL = 1e-5, 1e-4


def check_isaaclab_env(env_yaml: str | Path, task_spec) -> None:
    """ConfigError naming every difference between an Isaac Lab ``params/env.yaml`` and ``task_spec``
    (physics dt, decimation, policy observation term names in order)."""
    from robot_rl.policy.isaaclab_env import load_env_yaml

    env = load_env_yaml(env_yaml)
    group = env["observations"].get("policy") or {}
    terms = [name for name, term in group.items() if isinstance(term, dict) and "func" in term]
    diffs = []
    if abs(float(env["sim"]["dt"]) - task_spec.physics_dt) > 1e-12:
        diffs.append(f"sim.dt {env['sim']['dt']} != physics_dt {task_spec.physics_dt}")
    if int(env["decimation"]) != task_spec.decimation:
        diffs.append(f"decimation {env['decimation']} != {task_spec.decimation}")
    if terms != [t.name for t in task_spec.obs_terms]:
        diffs.append(f"observations.policy terms {terms} != {[t.name for t in task_spec.obs_terms]}")
    if diffs:
        raise ConfigError(f"{env_yaml}: the Isaac Lab run does not match task {task_spec.name!r}: " + "; ".join(diffs))


def activation_from_agent_yaml(agent_yaml: str | Path) -> str | None:
    """The actor activation recorded in an Isaac Lab ``params/agent.yaml`` (``policy.activation`` for
    rsl-rl-lib 2/3 configs, ``actor.activation`` for 5.x), or None if the file or field is absent."""
    from robot_rl.policy.isaaclab_env import load_isaaclab_yaml

    path = Path(agent_yaml)
    if not path.is_file():
        return None
    raw = load_isaaclab_yaml(path)
    for section in ("policy", "actor"):
        value = (raw or {}).get(section)
        if isinstance(value, dict) and isinstance(value.get("activation"), str):
            return value["activation"]
    return None


def golden_obs_from_dataset(root: str | Path, task_spec, count: int = 8) -> np.ndarray:
    """(count, O) recorded observations spread over the episodes of a demo dataset of ``task_spec``."""
    from robot_rl_sim.dataset import open_dataset

    dataset = open_dataset(root, spec=task_spec)
    if len(dataset) == 0:
        raise ConfigError(f"{root}: dataset has no episodes to take golden observations from")
    flat = np.concatenate([episode.flat_obs(task_spec) for episode in dataset])
    return flat[np.linspace(0, len(flat) - 1, min(count, len(flat))).astype(int)].astype(np.float32)


def golden_obs_from_env(task_spec, seeds: range = range(4)) -> np.ndarray:
    """(2 * len(seeds), O) observations of the MuJoCo env: each seed's reset state and the state one
    policy step later while holding the reset joint positions (so joint velocities are not all zero)."""
    from robot_rl_sim.tasks import make_env

    names = [t.name for t in task_spec.obs_terms]
    rows, env = [], make_env(task_spec)
    for seed in seeds:
        obs = env.reset(seed=seed)
        rows.append(np.concatenate([obs[n] for n in names]))
        if "joint_pos" not in obs:
            raise ConfigError(f"task {task_spec.name!r} has no 'joint_pos' term; pass recorded golden observations")
        hold = np.concatenate([obs["joint_pos"], [-1.0] * int(task_spec.action.gripper)])  # gripper open
        obs = env.step(hold)[0]
        rows.append(np.concatenate([obs[n] for n in names]))
    return np.asarray(rows, dtype=np.float32)


def _check_dims(checkpoint: RslRlCheckpoint, task_spec) -> None:
    if (checkpoint.obs_dim, checkpoint.action_dim) != (task_spec.obs_dim, task_spec.action_dim):
        raise ConfigError(f"rsl_rl actor maps {checkpoint.obs_dim} observations to {checkpoint.action_dim} actions; "
                          f"task {task_spec.name!r} has obs_dim {task_spec.obs_dim} and action_dim "
                          f"{task_spec.action_dim}")


def _verify_golden(actor: RslRlActor, contract) -> float:
    """Largest |onnxruntime - torch| over the stored golden vectors; ConfigError beyond their tolerance."""
    worst = 0.0
    for vector in contract.golden:
        obs = torch.tensor(np.asarray(vector.inputs[OBS_INPUT], dtype=np.float32))
        with torch.no_grad():
            expected = actor(obs).numpy()
        got = np.asarray(vector.outputs[ACTION_OUTPUT])
        if not np.allclose(got, expected, atol=vector.atol, rtol=vector.rtol):
            raise ConfigError(f"onnxruntime and torch disagree on a golden vector by {np.abs(got - expected).max():g}")
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def export_rsl_rl_policy(checkpoint: RslRlCheckpoint, task_spec, path: str | Path, golden_obs: np.ndarray,
                         activation: str = "elu", min_success_rate: float = 0.8, sim_backend: str = "isaaclab",
                         env_yaml: str | Path | None = None):
    """Write ``path`` (.onnx + sidecar) for an rsl_rl actor trained on ``task_spec``; return the stored contract.

    Args:
        golden_obs: (k, O) observations in physical units to record golden vectors for (k >= 1).
        activation: the actor's hidden activation (rsl_rl name; not stored in checkpoints).
        sim_backend: the simulator the policy was trained in (provenance).
        env_yaml: the Isaac Lab run's ``params/env.yaml`` to check against the task, if available.
    """
    from robot_rl.policy.contract import load_policy, write_policy

    _check_dims(checkpoint, task_spec)
    if env_yaml is not None:
        check_isaaclab_env(env_yaml, task_spec)
    golden_obs = np.asarray(golden_obs, dtype=np.float32).reshape(-1, task_spec.obs_dim)
    if len(golden_obs) == 0:
        raise ConfigError("export needs at least one observation for the golden vectors")
    actor = RslRlActor(checkpoint, activation).eval()
    origin = Origin(training_lib=f"rsl_rl [{checkpoint.layout}, iteration {checkpoint.iteration}, {activation}]",
                    sim_backend=sim_backend, normalization="baked" if actor.normalized else "none",
                    chunked_output=False)
    shape = PolicyShape(obs_dim=checkpoint.obs_dim, action_dim=checkpoint.action_dim)
    contract = contract_for(task_spec, shape, OBS_INPUT, ACTION_OUTPUT, min_success_rate, git_commit(), origin)
    inputs = [{OBS_INPUT: row.reshape(1, -1)} for row in golden_obs]
    data = onnx_bytes(actor, torch.from_numpy(inputs[0][OBS_INPUT]))
    stored = write_policy(data, contract, path, golden_inputs=inputs, atol=GOLDEN_ATOL, rtol=GOLDEN_RTOL)
    _verify_golden(actor, stored)
    load_policy(path)  # hash, tensors and golden vectors replayed from the file as the robot will
    return stored


def export_rsl_rl_from_env_yaml(checkpoint: RslRlCheckpoint, env_yaml: str | Path, path: str | Path,
                                robot: str = "panda", activation: str = "elu", sim_backend: str = "isaaclab"):
    """Write ``path`` for an rsl_rl actor of a task robot_rl does not register: the contract is derived from the
    Isaac Lab run's ``params/env.yaml`` and the robot's URDF (:func:`robot_rl.policy.isaaclab_import.import_rsl_rl`,
    which checks the actor's input width against env.yaml's terms); golden vectors checked against torch."""
    from robot_rl.policy.contract import load_policy
    from robot_rl.policy.isaaclab_import import import_rsl_rl

    actor = RslRlActor(checkpoint, activation).eval()
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "policy.onnx"
        onnx_path.write_bytes(onnx_bytes(actor, torch.zeros(1, checkpoint.obs_dim)))
        stored = import_rsl_rl(onnx_path, env_yaml, path, robot=robot)
    _verify_golden(actor, stored)
    load_policy(path)
    return stored
