"""Read an Isaac Lab run's ``params/env.yaml`` as Isaac Lab 3 writes it and derive the policy's terms from it.

Isaac Lab's ``isaaclab.utils.io.dump_yaml`` calls ``yaml.dump`` (PyYAML's full Dumper) on
``to_dict(env_cfg)``: callables and class types become ``"module:name"`` strings, enums their values,
and two Python types keep Python tags: tuples (``!!python/tuple``) and slices
(``!!python/object/apply:builtins.slice [start, stop, step]``, e.g. every ``SceneEntityCfg.joint_ids``).
:class:`EnvYamlLoader` is PyYAML's SafeLoader plus exactly those two constructors; any other Python
tag (which could run code under ``unsafe_load``) is refused with a ConfigError naming the tag.

Joint sets follow Isaac Lab's ``SceneEntityCfg`` resolution: ``joint_names`` (regexes, full match) against
the articulation's joints, in articulation order unless ``preserve_order``; ``joint_names: null`` means
every joint. The articulation's joints are the URDF's movable joints in tree order (what PhysX reports for a
serial arm with a gripper: the arm joints, then the fingers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from robot_rl.errors import ConfigError
from robot_rl.policy.pose_goal import POSE_UNITS


class EnvYamlLoader(yaml.SafeLoader):
    """SafeLoader plus the ``!!python/tuple`` and ``!!python/object/apply:builtins.slice`` tags of dump_yaml."""


EnvYamlLoader.add_constructor("tag:yaml.org,2002:python/tuple",
                              lambda loader, node: tuple(loader.construct_sequence(node, deep=True)))
EnvYamlLoader.add_constructor("tag:yaml.org,2002:python/object/apply:builtins.slice",
                              lambda loader, node: slice(*loader.construct_sequence(node, deep=True)))


def load_isaaclab_yaml(path: str | Path, required: tuple[str, ...] = ()) -> dict:
    """Parse an Isaac Lab ``params/*.yaml`` with :class:`EnvYamlLoader`; ConfigError naming the file and tag."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path.name} not found: {path}")
    try:
        raw = yaml.load(path.read_text(), Loader=EnvYamlLoader)  # noqa: S506 - SafeLoader subclass, 2 tags added
    except yaml.constructor.ConstructorError as exc:
        raise ConfigError(f"{path}: {exc.problem} (only the !!python/tuple and "
                          "!!python/object/apply:builtins.slice tags of Isaac Lab's dump_yaml are read)") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    missing = [k for k in required if not isinstance(raw, dict) or k not in raw]
    if missing:
        raise ConfigError(f"{path}: missing {missing}: not an Isaac Lab ManagerBasedRLEnvCfg dump")
    return raw if isinstance(raw, dict) else {}


def load_env_yaml(path: str | Path) -> dict:
    """An Isaac Lab env.yaml as a dict; ConfigError naming the file if unreadable or not an env config."""
    return load_isaaclab_yaml(path, ("sim", "decimation", "scene", "actions", "observations"))


def class_name(value) -> str:
    """``"isaaclab.envs.mdp.observations:joint_pos_rel"`` -> ``"joint_pos_rel"`` (also for ``module.name``)."""
    return re.split(r"[:.]", str(value or ""))[-1]


def resolve_joints(patterns, joint_order: tuple[str, ...], where: str, preserve_order: bool = False) -> tuple[str, ...]:
    """Joints matched by regexes ``patterns`` (full match; None = all) as Isaac Lab's SceneEntityCfg resolves them.

    Order: ``joint_order``'s, or the patterns' order with ``preserve_order``. ConfigError naming ``where`` if a
    pattern matches nothing.
    """
    if patterns is None:
        return tuple(joint_order)
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    unmatched = [p for p in patterns if not any(re.fullmatch(p, n) for n in joint_order)]
    if unmatched:
        raise ConfigError(f"{where}: joint_names {unmatched} match none of the robot's joints {list(joint_order)}")
    if preserve_order:
        return tuple(dict.fromkeys(n for p in patterns for n in joint_order if re.fullmatch(p, n)))
    return tuple(n for n in joint_order if any(re.fullmatch(p, n) for p in patterns))


def per_joint(table: dict, names: tuple[str, ...], where: str, default: float | None = None) -> np.ndarray:
    """Value per joint name from an Isaac Lab ``{regex: value}`` table (first full match); (len(names),)."""
    out = []
    for name in names:
        value = next((v for p, v in (table or {}).items() if re.fullmatch(p, name)), default)
        if value is None:
            raise ConfigError(f"{where} has no entry for joint {name!r}")
        out.append(float(value))
    return np.array(out)


@dataclass(frozen=True)
class EnvTerm:
    """One policy observation term of env.yaml, resolved: robot_rl ``source``, joints (joint terms), ``size``."""

    name: str
    func: str
    source: str
    size: int
    joints: tuple[str, ...] = ()
    units: str = ""
    relative: bool = False


_JOINT_FUNCS = {"joint_pos_rel": ("joint_pos", True), "joint_pos": ("joint_pos", False),
                "joint_vel_rel": ("joint_vel", True), "joint_vel": ("joint_vel", False)}
_COMMANDS = {"UniformPoseCommand": (7, POSE_UNITS)}
"""Command term class -> (width, layout) of ``generated_commands``; the layout is what /robot_rl/goal carries."""
_QUAT_ORDER = ("x y z qw qx qy qz", "x y z qx qy qz qw")
"""Isaac Lab 2.x writes quaternions w first; 3.x (whose command configs carry ``cmd_kind``) w last."""
OBS_FUNCS = tuple(_JOINT_FUNCS) + ("last_action", "generated_commands")


def action_terms(env: dict) -> dict[str, dict]:
    """The env's action terms (``actions.<name>`` mappings; a ``null`` term, e.g. no gripper, is absent)."""
    return {k: v for k, v in env["actions"].items() if isinstance(v, dict)}


def _command_term(env: dict, name: str, params: dict, where: str) -> EnvTerm:
    command = params.get("command_name")
    cfg = (env.get("commands") or {}).get(command)
    if not isinstance(cfg, dict):
        raise ConfigError(f"{where}: generated_commands names command {command!r}, which env.yaml's commands "
                          f"section lacks (it has {sorted(env.get('commands') or {})})")
    kind = class_name(cfg.get("class_type"))
    if kind not in _COMMANDS:
        raise ConfigError(f"{where}: command {command!r} of type {kind!r} has no robot_rl goal source "
                          f"(supported: {sorted(_COMMANDS)})")
    size, layout = _COMMANDS[kind]
    order = _QUAT_ORDER["cmd_kind" in cfg]
    units = layout.format(body=cfg.get("body_name"), order=order)
    return EnvTerm(name, "generated_commands", "goal", size, units=units)


def observation_terms(env: dict, joint_order: tuple[str, ...], action_sizes: dict[str, int],
                      where: str) -> list[EnvTerm]:
    """The ``observations.policy`` terms in file order, each with its source, joints and size.

    Args:
        joint_order: the articulation's joints (see module docstring).
        action_sizes: action term name -> width, for ``last_action`` (all terms concatenated by default).
    """
    group = env["observations"].get("policy")
    if not isinstance(group, dict):
        raise ConfigError(f"{where}: observations.policy group missing")
    if group.get("history_order", "term") != "term":
        raise ConfigError(f"{where}: observations.policy.history_order {group['history_order']!r} is not "
                          "supported (robot_rl stacks each term's history: 'term')")
    terms = []
    for name, term in group.items():
        if not isinstance(term, dict) or "func" not in term:
            continue
        here, func, params = f"{where}: observations.policy.{name}", class_name(term["func"]), term.get("params") or {}
        if term.get("modifiers"):
            raise ConfigError(f"{here}: observation modifiers {term['modifiers']} are not supported")
        if func in _JOINT_FUNCS:
            asset = params.get("asset_cfg") or {}
            if asset.get("name", "robot") != "robot":
                raise ConfigError(f"{here}: observes asset {asset.get('name')!r}; only the robot is supported")
            joints = resolve_joints(asset.get("joint_names"), joint_order, here, bool(asset.get("preserve_order")))
            source, relative = _JOINT_FUNCS[func]
            units = "rad" if source == "joint_pos" else "rad/s"
            terms.append(EnvTerm(name, func, source, len(joints), joints, units, relative))
        elif func == "last_action":
            action = params.get("action_name")
            if action is not None and action not in action_sizes:
                raise ConfigError(f"{here}: last_action of {action!r}, not an action term ({sorted(action_sizes)})")
            size = action_sizes[action] if action is not None else sum(action_sizes.values())
            terms.append(EnvTerm(name, func, "last_action", size))
        elif func == "generated_commands":
            terms.append(_command_term(env, name, params, here))
        else:
            raise ConfigError(f"{here}: func {term['func']!r} has no robot_rl source (supported: {list(OBS_FUNCS)})")
    return terms


def history_length(group: dict, term: dict) -> int:
    """Steps of history Isaac Lab keeps for ``term``: the group's ``history_length`` overrides the term's; 0 -> 1."""
    value = group.get("history_length")
    value = term.get("history_length") if value is None else value
    return max(int(value or 0), 1)
