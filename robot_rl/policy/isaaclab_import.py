"""Import an Isaac Lab + rsl_rl export: ``exported/policy.onnx`` + the run's ``params/env.yaml``, unchanged.

Everything is derived from env.yaml (read by :mod:`robot_rl.policy.isaaclab_env`) and the robot's URDF:

* ``sim.dt`` and ``decimation`` -> timing (policy Hz = 1 / (dt * decimation));
* ``scene.robot.init_state.joint_pos`` / ``joint_vel`` (regex -> value) -> default joint positions / velocities;
* ``actions.<term>`` (JointPositionAction / RelativeJointPositionAction / JointVelocityAction):
  ``joint_names`` (regexes resolved against the URDF), ``preserve_order``, ``scale``, ``offset``,
  ``use_default_offset``, ``clip``;
* ``observations.policy.<term>`` in file order: joint terms (joint_pos[_rel], joint_vel[_rel]) over
  ``params.asset_cfg.joint_names`` (all joints if null: e.g. Isaac-Reach-Franka's 9 joints, fingers included),
  ``last_action`` (every action term, or ``params.action_name``), ``generated_commands`` sized by the command
  term's class (``UniformPoseCommand``: a 7-value pose goal on /robot_rl/goal, see docs/isaaclab.md);
  ``scale``, ``clip``, ``history_length`` (the group's overrides the term's).

The observation width derived this way must equal the ONNX input's: no size is passed by hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.policy.contract import (
    ActionSpec, Normalization, ObsTerm, PolicyContract, Provenance, TensorSpec, Timing, write_policy,
)
from robot_rl.policy.isaaclab_env import (
    action_terms, class_name, history_length, load_env_yaml, observation_terms, per_joint, resolve_joints,
)

__all__ = ["import_rsl_rl", "load_env_yaml"]

_ACTION_TYPES = {"JointPositionAction": "joint_pos_abs", "RelativeJointPositionAction": "joint_pos_delta",
                 "JointVelocityAction": "joint_vel"}


def _action(env: dict, joint_order, where: str) -> tuple[ActionSpec, tuple[str, ...]]:
    terms = action_terms(env)
    if len(terms) != 1:
        raise ConfigError(f"{where}: expected exactly one action term, got {sorted(terms)}")
    name, term = next(iter(terms.items()))
    cls = class_name(term.get("class_type"))
    if cls not in _ACTION_TYPES:
        raise ConfigError(f"{where}: actions.{name}.class_type {term.get('class_type')!r} is not one of "
                          f"{sorted(_ACTION_TYPES)}")
    joints = resolve_joints(term["joint_names"], joint_order, f"{where}: actions.{name}",
                            bool(term.get("preserve_order")))
    scale, offset = (per_joint(v, joints, f"{where}: actions.{name}.{k}") if isinstance(v, dict) else v
                     for k, v in (("scale", term.get("scale", 1.0)), ("offset", term.get("offset", 0.0))))
    offset = np.broadcast_to(np.asarray(offset, dtype=float), (len(joints),)).copy()
    if term.get("use_default_offset") and cls != "RelativeJointPositionAction":
        table = env["scene"]["robot"]["init_state"]["joint_pos" if cls == "JointPositionAction" else "joint_vel"]
        offset = per_joint(table, joints, f"{where}: scene.robot.init_state")
    clip = term.get("clip")
    if isinstance(clip, dict):  # Isaac Lab: {joint regex: (min, max)}
        clip = [per_joint({p: v[k] for p, v in clip.items()}, joints, f"{where}: actions.{name}.clip").tolist()
                for k in (0, 1)]
    return ActionSpec(_ACTION_TYPES[cls], scale=scale, offset=offset.tolist(), clip=clip), joints


def _obs_joints(env_terms, action_joints, where: str) -> tuple[str, ...]:
    joint_sets = {t.joints for t in env_terms if t.joints}
    if len(joint_sets) > 1:
        raise ConfigError(f"{where}: observation terms observe different joint sets "
                          f"{ {t.name: list(t.joints) for t in env_terms if t.joints} }; robot_rl needs one")
    return next(iter(joint_sets), action_joints)


def _contract_terms(env: dict, env_terms, obs_joints, where: str) -> list[ObsTerm]:
    init = env["scene"]["robot"]["init_state"]
    defaults = {"joint_pos": per_joint(init.get("joint_pos"), obs_joints, f"{where}: scene.robot.init_state"
                                       ".joint_pos"),
                "joint_vel": per_joint(init.get("joint_vel"), obs_joints, f"{where}: scene.robot.init_state"
                                       ".joint_vel", default=0.0)}
    group, terms = env["observations"]["policy"], []
    for t in env_terms:
        cfg = group[t.name]
        terms.append(ObsTerm(name=t.name, source=t.source, size=t.size, units=t.units,
                             scale=1.0 if cfg.get("scale") is None else cfg["scale"],
                             offset=defaults[t.source].tolist() if t.relative else 0.0, clip=cfg.get("clip"),
                             history=history_length(group, cfg)))
    return terms


def _graph_io(proto, obs_dim: int, terms, path) -> tuple[str, str]:
    graph_in = [v for v in proto.graph.input if v.name not in {i.name for i in proto.graph.initializer}]
    if len(graph_in) != 1 or len(proto.graph.output) != 1:
        raise ConfigError(f"{path}: rsl_rl policies have one input and one output, got "
                          f"{[v.name for v in graph_in]} -> {[v.name for v in proto.graph.output]}")
    dims = graph_in[0].type.tensor_type.shape.dim
    width = dims[-1].dim_value if dims else 0
    if width and width != obs_dim:
        raise ConfigError(f"{path}: input {graph_in[0].name!r} has {width} values, but env.yaml's policy "
                          f"observations make {obs_dim}: " + ", ".join(f"{t.name}={t.width}" for t in terms))
    return graph_in[0].name, proto.graph.output[0].name


def import_rsl_rl(policy_onnx: str | Path, env_yaml: str | Path, out_path: str | Path, robot: str = "panda",
                  joint_order: tuple[str, ...] | None = None, task: str = "") -> PolicyContract:
    """Convert rsl_rl's ``policy.onnx`` + Isaac Lab's ``env.yaml`` into a contract-carrying ``out_path``.

    Args:
        robot: robot config name or YAML path; its URDF's movable joints give the articulation's joint order.
        joint_order: override of that order (a branched robot whose PhysX order differs from the URDF tree).
    Returns:
        the contract written next to ``out_path``.
    """
    import onnx

    from robot_rl.robot.config import load_robot_config
    from robot_rl.robot.model import urdf_joint_names

    config = load_robot_config(robot)
    joint_order = tuple(joint_order) if joint_order is not None else urdf_joint_names(config.urdf_path)
    env, where = load_env_yaml(env_yaml), str(env_yaml)
    action, action_joints = _action(env, joint_order, where)
    env_terms = observation_terms(env, joint_order, {n: len(action_joints) for n in action_terms(env)}, where)
    obs_joints = _obs_joints(env_terms, action_joints, where)
    terms = _contract_terms(env, env_terms, obs_joints, where)
    proto = onnx.load(str(policy_onnx))
    obs_dim = sum(t.width for t in terms)
    in_name, out_name = _graph_io(proto, obs_dim, terms, policy_onnx)
    dt, decimation = float(env["sim"]["dt"]), int(env["decimation"])
    init_pos = env["scene"]["robot"]["init_state"]["joint_pos"]
    contract = PolicyContract(
        obs_joint_names=obs_joints, action_joint_names=action_joints, observations=tuple(terms), action=action,
        timing=Timing(physics_dt=dt, decimation=decimation, policy_hz=1.0 / (dt * decimation),
                      max_latency_ms=1000.0 * dt * decimation),
        inputs=(TensorSpec(in_name, ("batch", obs_dim)),),
        outputs=(TensorSpec(out_name, ("batch", len(action_joints)), role="action"),),
        normalization=Normalization("baked"),  # rsl_rl's exporter puts the observation normaliser in the graph
        provenance=Provenance(training_lib="rsl_rl", sim_backend="isaaclab", task=task, robot=config.name),
        default_joint_pos=dict(zip(obs_joints, per_joint(init_pos, obs_joints, where).tolist())),
    )
    return write_policy(proto, contract, out_path)
