"""Import an Isaac Lab + rsl_rl export: ``exported/policy.onnx`` + the run's ``params/env.yaml``.

Read from env.yaml (Isaac Lab's ``dump_yaml`` of the ManagerBasedRLEnvCfg):

* ``sim.dt`` and ``decimation`` -> timing (policy Hz = 1 / (dt * decimation));
* ``scene.robot.init_state.joint_pos`` (name or regex -> rad) -> default joint positions;
* ``actions.<term>`` (JointPositionAction / RelativeJointPositionAction / JointVelocityAction):
  ``joint_names`` (regexes), ``scale``, ``offset``, ``use_default_offset``, ``clip``;
* ``observations.policy.<term>``: ``func`` (joint_pos_rel, joint_pos, joint_vel_rel, joint_vel,
  last_action, generated_commands), ``scale``, ``clip``, ``history_length``, in file order.

Joint regexes are resolved against ``joint_order``: the articulation's joint order in the
simulator (PhysX breadth-first). For a serial arm it equals the URDF order of the robot config,
the default; pass it explicitly for branched robots.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import yaml

from robot_rl.errors import ConfigError
from robot_rl.policy.contract import (
    ActionSpec, ObsTerm, PolicyContract, Provenance, TensorSpec, Timing, write_policy,
)

_ACTION_TYPES = {"JointPositionAction": "joint_pos_abs", "RelativeJointPositionAction": "joint_pos_delta",
                 "JointVelocityAction": "joint_vel"}
_OBS_FUNCS = {"joint_pos_rel": ("joint_pos", True), "joint_pos": ("joint_pos", False),
              "joint_vel_rel": ("joint_vel", False), "joint_vel": ("joint_vel", False),
              "last_action": ("last_action", False), "generated_commands": ("goal", False)}


class _EnvLoader(yaml.SafeLoader):
    """SafeLoader plus the ``!!python/tuple`` tag that Isaac Lab's dump_yaml writes for tuples."""


_EnvLoader.add_constructor("tag:yaml.org,2002:python/tuple", lambda loader, node: list(loader.construct_sequence(node)))


def load_env_yaml(path: str | Path) -> dict:
    """Parse an Isaac Lab env.yaml safely; ConfigError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"env.yaml not found: {path}")
    try:
        raw = yaml.load(path.read_text(), Loader=_EnvLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    for key in ("sim", "decimation", "scene", "actions", "observations"):
        if not isinstance(raw, dict) or key not in raw:
            raise ConfigError(f"{path}: missing {key!r}: not an Isaac Lab ManagerBasedRLEnvCfg dump")
    return raw


def resolve_joints(patterns, joint_order: tuple[str, ...], where: str) -> tuple[str, ...]:
    """Joints of ``joint_order`` matching any regex in ``patterns`` (full match), in ``joint_order`` order."""
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    names = tuple(n for n in joint_order if any(re.fullmatch(p, n) for p in patterns))
    if not names:
        raise ConfigError(f"{where}: joint_names {patterns} match none of {list(joint_order)}")
    return names


def default_positions(init_joint_pos: dict, names: tuple[str, ...]) -> np.ndarray:
    """Default position (rad) per joint name from Isaac Lab's ``init_state.joint_pos`` (regex -> value)."""
    out = []
    for name in names:
        value = next((v for p, v in init_joint_pos.items() if re.fullmatch(p, name)), None)
        if value is None:
            raise ConfigError(f"scene.robot.init_state.joint_pos has no entry for joint {name!r}")
        out.append(float(value))
    return np.array(out)


def _action(env: dict, joint_order, defaults_all: dict, where: str) -> tuple[ActionSpec, tuple[str, ...]]:
    terms = {k: v for k, v in env["actions"].items() if isinstance(v, dict)}
    if len(terms) != 1:
        raise ConfigError(f"{where}: expected exactly one action term, got {sorted(terms)}")
    name, term = next(iter(terms.items()))
    cls = str(term.get("class_type", "")).rsplit(":", 1)[-1]
    if cls not in _ACTION_TYPES:
        raise ConfigError(f"{where}: actions.{name}.class_type {term.get('class_type')!r} is not one of "
                          f"{sorted(_ACTION_TYPES)}")
    joints = resolve_joints(term["joint_names"], joint_order, f"{where}: actions.{name}")
    offset = np.broadcast_to(np.asarray(term.get("offset", 0.0), dtype=float), (len(joints),)).copy()
    if term.get("use_default_offset") and cls == "JointPositionAction":
        offset = default_positions(defaults_all, joints)
    clip = term.get("clip")
    if isinstance(clip, dict):
        clip = [[clip[j][0] for j in joints], [clip[j][1] for j in joints]]
    return ActionSpec(_ACTION_TYPES[cls], scale=term.get("scale", 1.0), offset=offset.tolist(), clip=clip), joints


def _observations(env: dict, obs_joints, action_dim: int, defaults: np.ndarray, goal_size: int | None,
                  where: str) -> list[ObsTerm]:
    group = env["observations"].get("policy")
    if not isinstance(group, dict):
        raise ConfigError(f"{where}: observations.policy group missing")
    terms = []
    for name, term in group.items():
        if not isinstance(term, dict) or "func" not in term:
            continue
        func = str(term["func"]).rsplit(":", 1)[-1]
        if func not in _OBS_FUNCS:
            raise ConfigError(f"{where}: observations.policy.{name}.func {term['func']!r} has no robot_rl source "
                              f"(supported: {sorted(_OBS_FUNCS)})")
        source, relative = _OBS_FUNCS[func]
        size = {"joint_pos": len(obs_joints), "joint_vel": len(obs_joints), "last_action": action_dim}.get(source)
        if source == "goal":
            if goal_size is None:
                raise ConfigError(f"{where}: observations.policy.{name} is a command; pass goal_size")
            size = goal_size
        history = int(term.get("history_length") or group.get("history_length") or 1)
        terms.append(ObsTerm(name=name, source=source, size=size, units={"joint_pos": "rad", "joint_vel": "rad/s"}
                             .get(source, ""), scale=term.get("scale") or 1.0,
                             offset=defaults.tolist() if relative else 0.0, clip=term.get("clip"), history=history))
    return terms


def import_rsl_rl(policy_onnx: str | Path, env_yaml: str | Path, out_path: str | Path,
                  joint_order: tuple[str, ...], goal_size: int | None = None, task: str = "",
                  robot: str = "") -> PolicyContract:
    """Convert rsl_rl's ``policy.onnx`` + ``env.yaml`` into a contract-carrying ``out_path``; return the contract.

    Args:
        joint_order: the simulator articulation's joint order (see module docstring).
        goal_size: width of a ``generated_commands`` observation term, if the policy has one.
    """
    import onnx

    env = load_env_yaml(env_yaml)
    where = str(env_yaml)
    defaults_all = env["scene"]["robot"]["init_state"]["joint_pos"]
    action, joints = _action(env, joint_order, defaults_all, where)
    defaults = default_positions(defaults_all, joints)
    terms = _observations(env, joints, len(joints), defaults, goal_size, where)
    proto = onnx.load(str(policy_onnx))
    graph_in = [v for v in proto.graph.input if v.name not in {i.name for i in proto.graph.initializer}]
    if len(graph_in) != 1 or len(proto.graph.output) != 1:
        raise ConfigError(f"{policy_onnx}: rsl_rl policies have one input and one output, got "
                          f"{[v.name for v in graph_in]} -> {[v.name for v in proto.graph.output]}")
    obs_dim = sum(t.width for t in terms)
    dt, decimation = float(env["sim"]["dt"]), int(env["decimation"])
    contract = PolicyContract(
        obs_joint_names=joints, action_joint_names=joints, observations=tuple(terms), action=action,
        timing=Timing(physics_dt=dt, decimation=decimation, policy_hz=1.0 / (dt * decimation),
                      max_latency_ms=1000.0 * dt * decimation),
        inputs=(TensorSpec(graph_in[0].name, ("batch", obs_dim)),),
        outputs=(TensorSpec(proto.graph.output[0].name, ("batch", len(joints)), role="action"),),
        provenance=Provenance(training_lib="rsl_rl", sim_backend="isaaclab", task=task, robot=robot),
        default_joint_pos=dict(zip(joints, defaults.tolist())),
    )
    return write_policy(proto, contract, out_path)
