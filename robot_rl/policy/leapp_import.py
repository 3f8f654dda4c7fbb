"""Import a LEAPP bundle (Isaac Lab 3's policy export: ``<graph>.yaml`` + ONNX) as a contract-carrying policy.

Mapping (the bundle YAML's ``models.<node>``):

* inputs by ``kind``: ``state/joint/position`` -> joint_pos, ``state/joint/velocity`` -> joint_vel,
  ``command/*`` -> goal, ``state/body/position`` -> ee_pos; ``element_names`` give the joint order;
  optional extra fields ``offset``/``scale``/``clip`` per input (Isaac Lab order, see the contract);
* the action output by ``kind``: ``target/joint/position`` -> joint_pos_abs (``action_type: joint_pos_delta``
  overrides), ``target/joint/velocity`` -> joint_vel; extra ``scale``, ``offset``, ``clip``; its
  ``element_names`` are the action joints;
* ``pipeline.configs``: ``frequency`` (policy Hz), optional ``physics_dt`` (s) -> decimation.

The named inputs are merged into one flat ``obs`` input (see :func:`merge_inputs`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from robot_rl.errors import ConfigError
from robot_rl.policy.contract import (
    ActionSpec, ObsTerm, PolicyContract, Provenance, TensorSpec, Timing, write_policy,
)
from robot_rl.policy.onnx_edit import merge_inputs

_INPUT_KINDS = {"state/joint/position": ("joint_pos", "rad"), "state/joint/velocity": ("joint_vel", "rad/s"),
                "state/body/position": ("ee_pos", "m")}
_OUTPUT_KINDS = {"target/joint/position": "joint_pos_abs", "target/joint/velocity": "joint_vel"}


def _bundle(bundle: Path) -> tuple[dict, Path]:
    path = bundle if bundle.is_file() else next(iter(sorted(bundle.glob("*.yaml"))), None)
    if path is None:
        raise ConfigError(f"LEAPP bundle {bundle}: no <graph>.yaml found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("models"), dict) or len(raw["models"]) != 1:
        raise ConfigError(f"{path}: expected 'models' with exactly one policy model (multi-model pipelines are "
                          "not supported)")
    return raw, path


def _names(item: dict, where: str) -> tuple[str, ...]:
    names = item.get("element_names")
    if not names:
        raise ConfigError(f"{where}: needs element_names (the joint names) to be imported")
    flat = names[-1] if isinstance(names[0], list) else names
    return tuple(str(n) for n in flat)


def _term(item: dict, where: str) -> tuple[ObsTerm, tuple[str, ...] | None]:
    kind, size = str(item.get("kind", "")), int(item["shape"][-1])
    if kind in _INPUT_KINDS:
        source, units = _INPUT_KINDS[kind]
    elif kind.startswith("command/"):
        source, units = "goal", ""
    else:
        raise ConfigError(f"{where}: input kind {kind!r} has no robot_rl observation source "
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


def import_leapp(bundle: str | Path, out_path: str | Path, task: str = "", robot: str = "") -> PolicyContract:
    """Convert a LEAPP bundle (directory or its YAML) into ``out_path`` (.onnx + sidecar); return the contract."""
    import onnx

    raw, yaml_path = _bundle(Path(bundle))
    node, model = next(iter(raw["models"].items()))
    where = f"{yaml_path} models.{node}"
    params = model.get("parameters", {})
    onnx_path = yaml_path.parent / str(params.get("model_path", f"{node}.onnx"))
    data = onnx_path.read_bytes() if onnx_path.is_file() else None
    if data is None:
        raise ConfigError(f"{where}: model file {onnx_path} not found")
    if params.get("sha256sum") and hashlib.sha256(data).hexdigest() != params["sha256sum"]:
        raise ConfigError(f"{where}: {onnx_path.name} sha256 differs from the bundle's sha256sum (modified file)")
    terms, obs_joints = [], None
    for i, item in enumerate(model.get("inputs", [])):
        term, joints = _term(item, f"{where}.inputs[{i}]")
        if joints is not None and obs_joints not in (None, joints):
            raise ConfigError(f"{where}.inputs[{i}]: element_names differ from an earlier joint input's")
        obs_joints = joints or obs_joints
        terms.append(term)
    outputs = model.get("outputs", [])
    if len(outputs) != 1:
        raise ConfigError(f"{where}: expected exactly one output (the action), got {len(outputs)}")
    out = outputs[0]
    action_type = out.get("action_type") or _OUTPUT_KINDS.get(str(out.get("kind")))
    if action_type is None:
        raise ConfigError(f"{where}.outputs[0]: kind {out.get('kind')!r} is not a joint target "
                          f"(supported: {sorted(_OUTPUT_KINDS)})")
    action_joints = _names(out, f"{where}.outputs[0]")
    proto = merge_inputs(onnx.load_from_string(data), [t.name for t in terms])
    obs_dim = sum(t.width for t in terms)
    contract = PolicyContract(
        obs_joint_names=obs_joints or action_joints, action_joint_names=action_joints, observations=tuple(terms),
        action=ActionSpec(action_type, scale=out.get("scale", 1.0), offset=out.get("offset", 0.0),
                          clip=out.get("clip")),
        timing=_timing(raw.get("pipeline", {}).get("configs", {}), where),
        inputs=(TensorSpec("obs", (out["shape"][0], obs_dim)),),
        outputs=(TensorSpec(str(out["name"]), tuple(out["shape"]), role="action"),),
        provenance=Provenance(training_lib=f"leapp {raw.get('system information', {}).get('leapp version', '')}",
                              sim_backend="isaaclab", task=task, robot=robot),
    )
    return write_policy(proto, contract, out_path)
