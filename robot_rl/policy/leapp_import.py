"""Import a LEAPP bundle (Isaac Lab 3's ``isaaclab leapp export``: ``<graph>.yaml`` + ONNX
[+ ``<graph>_initial_values.safetensors``]) as a contract-carrying policy, unchanged.

Isaac Lab traces the whole env step into the graph (observation terms, actor, action processing), so its inputs
are raw robot state and commands and its action output is the processed joint target. Mapping (the bundle
YAML's ``models.<node>``, one node):

* inputs by ``kind``: ``state/joint/position`` -> joint_pos, ``state/joint/velocity`` -> joint_vel (their
  ``element_names`` are the observed joints, matched by name: may be more than the action's, e.g. the Franka's
  fingers), ``state/body/position`` -> ee_pos, ``command/*`` -> goal (``/robot_rl/goal`` carries the input's
  ``element_names`` in order, e.g. ``command/body/pose``: x y z qx qy qz qw, the pose of the body the import's
  ``goal_body`` names, in the robot base frame); optional extra fields
  ``offset``/``scale``/``clip`` per input (Isaac Lab order, see the contract);
* feedback states (``pipeline.feedback_flow``, e.g. ``last_action_out`` -> ``last_action_in``) with their
  initial values (``pipeline.initial_values``; zeros without one) are carried across steps by the runtime as
  ``leapp.InferenceManager`` carries them, and reset to the initial values with each new episode;
* outputs: exactly one joint target (``target/joint/position`` -> joint_pos_abs, ``action_type: joint_pos_delta``
  overrides; ``target/joint/velocity`` -> joint_vel; ``element_names`` = the action joints); every other
  non-target output (e.g. ``*_kp_gains`` / ``*_kd_gains``) is an ``info`` output the policy node reports;
* ``pipeline.configs``: ``frequency`` (policy Hz), optional ``physics_dt`` (s) -> decimation.

The named observation inputs are merged into one flat ``obs`` input (see :func:`merge_inputs`). Every refusal
names the input or output and what is unsupported.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import yaml

from robot_rl.errors import ConfigError
from robot_rl.policy.contract import (
    ActionSpec, Feedback, ObsTerm, PolicyContract, Provenance, TensorSpec, Timing, write_policy,
)
from robot_rl.policy.onnx_edit import merge_inputs
from robot_rl.policy.pose_goal import PoseGoalLayout

_INPUT_KINDS = {"state/joint/position": ("joint_pos", "rad"), "state/joint/velocity": ("joint_vel", "rad/s"),
                "state/body/position": ("ee_pos", "m")}
_OUTPUT_KINDS = {"target/joint/position": "joint_pos_abs", "target/joint/velocity": "joint_vel"}
POSE_KIND = "command/body/pose"


def _bundle(bundle: Path) -> tuple[dict, Path]:
    path = bundle if bundle.is_file() else next(iter(sorted(bundle.glob("*.yaml"))), None)
    if path is None:
        raise ConfigError(f"LEAPP bundle {bundle}: no <graph>.yaml found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("models"), dict) or len(raw["models"]) != 1:
        models = sorted(raw.get("models") or {}) if isinstance(raw, dict) else []
        raise ConfigError(f"{path}: expected 'models' with exactly one policy model, got {models} (multi-model "
                          "pipelines are not supported)")
    return raw, path


def _model_bytes(yaml_path: Path, params: dict, where: str) -> bytes:
    onnx_path = yaml_path.parent / str(params.get("model_path", ""))
    if not onnx_path.is_file():
        raise ConfigError(f"{where}: model file {onnx_path} not found")
    if str(params.get("backend", "onnx")) != "onnx":
        raise ConfigError(f"{where}: backend {params['backend']!r} is not supported (only onnx)")
    data = onnx_path.read_bytes()
    if params.get("sha256sum") and hashlib.sha256(data).hexdigest() != params["sha256sum"]:
        raise ConfigError(f"{where}: {onnx_path.name} sha256 differs from the bundle's sha256sum (modified file)")
    return data


def _names(item: dict, where: str) -> tuple[str, ...]:
    names = item.get("element_names")
    if not names:
        raise ConfigError(f"{where}: needs element_names (the joint names) to be imported")
    flat = names[-1] if isinstance(names[0], list) else names
    return tuple(str(n) for n in flat)


def _command_units(item: dict, kind: str, goal_body: str, where: str) -> str:
    """A command input's ``units``: its kind and element names; for ``command/body/pose`` with ``goal_body`` (the
    bundle does not record the body) the pose layout of :mod:`robot_rl.policy.pose_goal`."""
    if not item.get("element_names"):
        return kind
    names = _names(item, where)
    if kind != POSE_KIND or not goal_body:
        return f"{kind}: " + " ".join(names)
    try:
        return f"{kind}: {PoseGoalLayout(goal_body, names).units}"
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _term(item: dict, where: str, goal_body: str = "") -> tuple[ObsTerm, tuple[str, ...] | None]:
    kind, size = str(item.get("kind") or ""), int(item["shape"][-1])
    if str(item.get("dtype", "float32")) != "float32":
        raise ConfigError(f"{where}: dtype {item['dtype']!r} is not supported (float32 only)")
    if kind in _INPUT_KINDS:
        source, units = _INPUT_KINDS[kind]
    elif kind.startswith("command/"):
        source, units = "goal", _command_units(item, kind, goal_body, where)
    else:
        raise ConfigError(f"{where}: kind {kind!r} has no robot_rl observation source "
                          f"(supported: {sorted(_INPUT_KINDS)} and command/*)")
    joints = _names(item, where) if source in ("joint_pos", "joint_vel") else None
    term = ObsTerm(name=str(item["name"]), source=source, size=size, units=units,
                   scale=item.get("scale", 1.0), offset=item.get("offset", 0.0), clip=item.get("clip"))
    return term, joints


def _timing(configs: dict, where: str) -> Timing:
    if "frequency" not in configs:
        raise ConfigError(f"{where}: pipeline.configs.frequency (policy Hz) is required")
    hz = float(configs["frequency"])
    dt = float(configs.get("physics_dt", 1.0 / hz))
    decimation = int(round(1.0 / (hz * dt)))
    return Timing(physics_dt=dt, decimation=decimation, policy_hz=hz,
                  max_latency_ms=float(configs.get("max_latency_ms", 1000.0 / hz)))


def _feedback(pipeline: dict, node: str, model: dict, yaml_path: Path, where: str) -> list[Feedback]:
    """The node's feedback pairs (output -> input) with initial values from the bundle's safetensors file."""
    shapes = {str(i["name"]): i["shape"] for i in model.get("inputs", [])}
    outputs = {str(o["name"]) for o in model.get("outputs", [])}
    initial = {}
    if pipeline.get("initial_values"):
        from safetensors.numpy import load_file

        path = yaml_path.parent / str(pipeline["initial_values"])
        if not path.is_file():
            raise ConfigError(f"{where}: pipeline.initial_values file {path} not found")
        initial = load_file(str(path))
    pairs = []
    for source, targets in (pipeline.get("feedback_flow") or {}).items():
        src_node, output = str(source).split("/", 1)
        for target in targets:
            dst_node, name = str(target).split("/", 1)
            if src_node != node or dst_node != node or output not in outputs or name not in shapes:
                raise ConfigError(f"{where}: feedback {source} -> {target} does not connect an output of "
                                  f"{node!r} to one of its inputs")
            size = int(np.prod(shapes[name][1:]))
            value = initial.get(f"{node}/{name}", np.zeros(size))
            pairs.append(Feedback(output=output, input=name, initial=np.asarray(value, dtype=float).reshape(-1)))
    return pairs


def _outputs(outputs: list[dict], where: str) -> tuple[dict, list[dict]]:
    """(the joint-target action output, the other (info) outputs); refusals name the outputs."""
    targets = [o for o in outputs if str(o.get("kind") or "").startswith("target/")]
    if len(targets) != 1:
        raise ConfigError(f"{where}: expected exactly one joint target output (the action), got "
                          f"{[(o['name'], o.get('kind')) for o in targets]} among outputs "
                          f"{[o['name'] for o in outputs]}")
    action = targets[0]
    if (action.get("action_type") or _OUTPUT_KINDS.get(str(action["kind"]))) is None:
        raise ConfigError(f"{where}.outputs[{action['name']!r}]: kind {action['kind']!r} is not a supported "
                          f"joint target (supported: {sorted(_OUTPUT_KINDS)})")
    return action, [o for o in outputs if o is not action]


def _observations(inputs: list[dict], where: str, goal_body: str) -> tuple[list[ObsTerm], tuple[str, ...] | None]:
    if goal_body and not any(str(i.get("kind")) == POSE_KIND for i in inputs):
        raise ConfigError(f"{where}: goal_body {goal_body!r} given, but no input has kind {POSE_KIND!r}")
    terms, obs_joints = [], None
    for item in inputs:
        here = f"{where}.inputs[{item.get('name')!r}]"
        term, joints = _term(item, here, goal_body)
        if joints is not None and obs_joints not in (None, joints):
            raise ConfigError(f"{here}: element_names {list(joints)} differ from an earlier joint input's "
                              f"{list(obs_joints)}")
        obs_joints = joints or obs_joints
        terms.append(term)
    return terms, obs_joints


def import_leapp(bundle: str | Path, out_path: str | Path, task: str = "", robot: str = "",
                 goal_body: str = "") -> PolicyContract:
    """Convert a LEAPP bundle (directory or its YAML) into ``out_path`` (.onnx + sidecar); return the contract.

    ``goal_body``: the body a ``command/body/pose`` input sets (the training env's command ``body_name``, e.g.
    ``panda_hand``), which the bundle does not record; stated in the goal term's units when given."""
    import onnx

    raw, yaml_path = _bundle(Path(bundle))
    node, model = next(iter(raw["models"].items()))
    where = f"{yaml_path} models.{node}"
    data = _model_bytes(yaml_path, model.get("parameters", {}), where)
    feedback = _feedback(raw.get("pipeline", {}), node, model, yaml_path, where)
    fed_in, fed_out = {f.input for f in feedback}, {f.output for f in feedback}
    all_inputs = model.get("inputs", [])
    terms, obs_joints = _observations([i for i in all_inputs if i["name"] not in fed_in], where, goal_body)
    action, infos = _outputs([o for o in model.get("outputs", []) if o["name"] not in fed_out], where)
    action_type = action.get("action_type") or _OUTPUT_KINDS[str(action["kind"])]
    action_joints = _names(action, f"{where}.outputs[{action['name']!r}]")
    proto = merge_inputs(onnx.load_from_string(data), [t.name for t in terms])
    obs_dim = sum(t.width for t in terms)
    states_in = tuple(TensorSpec(str(i["name"]), tuple(i["shape"]), role="state") for i in all_inputs
                      if i["name"] in fed_in)
    states_out = tuple(TensorSpec(str(o["name"]), tuple(o["shape"]), role="state") for o in model["outputs"]
                       if o["name"] in fed_out)
    contract = PolicyContract(
        obs_joint_names=obs_joints or action_joints, action_joint_names=action_joints, observations=tuple(terms),
        action=ActionSpec(action_type, scale=action.get("scale", 1.0), offset=action.get("offset", 0.0),
                          clip=action.get("clip")),
        timing=_timing(raw.get("pipeline", {}).get("configs", {}), where),
        inputs=(TensorSpec("obs", (action["shape"][0], obs_dim)),) + states_in,
        outputs=(TensorSpec(str(action["name"]), tuple(action["shape"]), role="action"),) + states_out
        + tuple(TensorSpec(str(o["name"]), tuple(o["shape"]), role="info") for o in infos),
        feedback=tuple(feedback),
        provenance=Provenance(training_lib=f"leapp {raw.get('system information', {}).get('leapp version', '')}",
                              sim_backend="isaaclab", task=task, robot=robot),
    )
    return write_policy(proto, contract, out_path)
