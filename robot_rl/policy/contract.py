"""The policy contract on disk: JSON, ONNX metadata_props, the sha256-bound sidecar, writing and loading.

A contract-carrying policy is ``P.onnx`` whose ``metadata_props`` hold the
contract JSON under :data:`METADATA_KEY`, plus ``P.onnx.contract.json``
``{"onnx_sha256": ..., "contract": {...}}`` bound to the file's exact bytes.

Writing (:func:`write_policy`) records golden input->output vectors by running
the graph under onnxruntime. Loading (:func:`load_policy`) checks the hash,
the declared tensors, the golden vectors and, given a robot, the contract
against that robot (see :mod:`robot_rl.policy.checks`); every mismatch raises
:class:`robot_rl.errors.ConfigError` naming it.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.atomic import write_atomic
from robot_rl.errors import ConfigError
from robot_rl.policy.schema import (
    SCHEMA_VERSION, ActionSpec, Chunking, Feedback, GoldenVector, Normalization, ObsTerm, PassCriteria,
    PolicyContract, Provenance, Residual, RewardClassifier, TensorSpec, Timing,
)
from robot_rl.policy.records import NoiseInput

__all__ = [
    "METADATA_KEY", "SCHEMA_VERSION", "ActionSpec", "Chunking", "Feedback", "GoldenVector", "LoadedPolicy",
    "NoiseInput", "Normalization", "ObsTerm", "PassCriteria", "PolicyContract", "Provenance", "Residual", "RewardClassifier",
    "TensorSpec", "Timing",
    "contract_from_dict", "contract_from_json", "contract_to_dict", "contract_to_json", "load_policy",
    "read_contract", "sha256_bytes", "sidecar_path", "write_policy",
]

METADATA_KEY = "robot_rl.contract"
"""ONNX metadata_props key holding the contract JSON."""


def contract_to_dict(contract: PolicyContract) -> dict[str, Any]:
    """Plain JSON-able dict (tuples become lists). ``chunking.replace_from`` and ``chunking.ensemble`` are written
    only when set, so the contracts of policies that do not use them read as before (older readers too)."""
    raw = json.loads(json.dumps(dataclasses.asdict(contract)))
    for name in ("replace_from", "ensemble"):
        if raw["chunking"][name] == 0:
            del raw["chunking"][name]
    return raw


def contract_to_json(contract: PolicyContract) -> str:
    """Canonical JSON text (sorted keys)."""
    return json.dumps(contract_to_dict(contract), sort_keys=True)


def _build(cls, raw: Any, where: str):
    if not isinstance(raw, dict):
        raise ConfigError(f"contract {where}: expected a mapping, got {type(raw).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError(f"contract {where}: unknown fields {unknown} (allowed: {sorted(names)})")
    try:
        return cls(**raw)
    except TypeError as exc:
        raise ConfigError(f"contract {where}: {exc}") from exc


def contract_from_dict(raw: dict[str, Any]) -> PolicyContract:
    """Validated contract from a dict (as written by :func:`contract_to_dict`); ConfigError names the field."""
    if not isinstance(raw, dict):
        raise ConfigError("contract: expected a JSON object")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ConfigError(f"contract schema_version {version!r} is not supported (expected {SCHEMA_VERSION})")
    raw = dict(raw)
    nested = {"action": ActionSpec, "timing": Timing, "chunking": Chunking, "normalization": Normalization,
              "provenance": Provenance, "pass_criteria": PassCriteria}
    for key, cls in nested.items():
        if key in raw:
            raw[key] = _build(cls, raw[key], key)
    if raw.get("residual") is not None:
        raw["residual"] = _build(Residual, raw["residual"], "residual")
    if raw.get("reward_classifier") is not None:
        raw["reward_classifier"] = _build(RewardClassifier, raw["reward_classifier"], "reward_classifier")
    if raw.get("noise") is not None:
        raw["noise"] = _build(NoiseInput, raw["noise"], "noise")
    for key, cls in (("observations", ObsTerm), ("inputs", TensorSpec), ("outputs", TensorSpec),
                     ("golden", GoldenVector), ("feedback", Feedback)):
        if key in raw:
            raw[key] = tuple(_build(cls, item, f"{key}[{i}]") for i, item in enumerate(raw[key]))
    return _build(PolicyContract, raw, "top level")


def contract_from_json(text: str) -> PolicyContract:
    """Validated contract from JSON text."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"contract: not valid JSON: {exc}") from exc
    return contract_from_dict(raw)


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sidecar_path(onnx_path: str | Path) -> Path:
    """``P.onnx`` -> ``P.onnx.contract.json``."""
    return Path(str(onnx_path) + ".contract.json")


def _as_model(model):
    import onnx

    if isinstance(model, (bytes, bytearray)):
        return onnx.load_from_string(bytes(model))
    return model


def _session(model_bytes: bytes, threads: int = 1):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own hierarchy; re-raise as ours
        raise ConfigError(f"onnxruntime cannot load the policy graph: {exc}") from exc


def _feed(inputs: dict, contract: PolicyContract) -> dict[str, np.ndarray]:
    dtypes = {t.name: t.dtype for t in contract.inputs}
    return {name: np.asarray(value, dtype=dtypes.get(name, "float32")) for name, value in inputs.items()}


def _record_golden(model_bytes: bytes, contract: PolicyContract, golden_inputs: list[dict], atol: float,
                   rtol: float) -> tuple[GoldenVector, ...]:
    session = _session(model_bytes)
    names = [t.name for t in contract.outputs]
    vectors = []
    for inputs in golden_inputs:
        outputs = session.run(names, _feed(inputs, contract))
        vectors.append(GoldenVector(
            inputs={k: np.asarray(v).tolist() for k, v in inputs.items()},
            outputs={n: o.tolist() for n, o in zip(names, outputs)}, atol=atol, rtol=rtol))
    return tuple(vectors)


def write_policy(model, contract: PolicyContract, path: str | Path, golden_inputs: list[dict] | None = None,
                 atol: float = 1e-5, rtol: float = 1e-4) -> PolicyContract:
    """Write a contract-carrying ONNX file and its sidecar; return the contract as stored.

    Args:
        model: onnx.ModelProto or its serialised bytes (without a contract).
        contract: the contract; its ``golden`` and ``provenance.opset``/``created`` are filled in here.
        path: destination ``.onnx`` file; the sidecar goes next to it.
        golden_inputs: list of {input name: array} fed to onnxruntime to record golden outputs
            (default: one all-zeros and one seeded-random input built from the contract's shapes).
        atol, rtol: tolerances stored with each golden vector.
    """
    import onnx

    proto = _as_model(model)
    del proto.metadata_props[:]
    from robot_rl.policy.checks import check_io

    check_io(proto, contract)
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    provenance = dataclasses.replace(
        contract.provenance, opset=int(opset),
        created=contract.provenance.created or datetime.datetime.now(datetime.timezone.utc).isoformat())
    inputs = golden_inputs if golden_inputs is not None else default_golden_inputs(contract)
    golden = _record_golden(proto.SerializeToString(), contract, inputs, atol, rtol)
    stored = dataclasses.replace(contract, provenance=provenance, golden=golden)
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, contract_to_json(stored)
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)
    sidecar = {"onnx_sha256": sha256_bytes(data), "contract": contract_to_dict(stored)}
    write_atomic(sidecar_path(path), json.dumps(sidecar, indent=1, sort_keys=True).encode())
    return stored


def default_golden_inputs(contract: PolicyContract, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Two input sets (zeros, seeded normal) with batch 1, shaped from the contract's input specs."""
    rng = np.random.default_rng(seed)
    shapes = {t.name: tuple(1 if isinstance(d, str) else d for d in t.shape) for t in contract.inputs}
    zeros = {n: np.zeros(s, dtype=np.float32) for n, s in shapes.items()}
    noisy = {n: rng.standard_normal(s).astype(np.float32) for n, s in shapes.items()}
    return [zeros, noisy]


def read_contract(path: str | Path) -> tuple[PolicyContract, bytes]:
    """Contract embedded in ``path`` (and consistent with its sidecar if there is one) + the file bytes.

    Raises:
        ConfigError: missing file or contract, tampered file (sha256 differs from the sidecar), or
            embedded and sidecar contracts that disagree.
    """
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"policy file not found: {path}")
    data = path.read_bytes()
    try:
        proto = onnx.load_from_string(data)
    except Exception as exc:  # noqa: BLE001 - protobuf decode errors vary by version
        raise ConfigError(f"{path}: not a valid ONNX file: {exc}") from exc
    embedded = {p.key: p.value for p in proto.metadata_props}.get(METADATA_KEY)
    sidecar = sidecar_path(path)
    side = json.loads(sidecar.read_text()) if sidecar.is_file() else None
    if side is not None and side.get("onnx_sha256") != sha256_bytes(data):
        raise ConfigError(f"{path}: sha256 {sha256_bytes(data)} does not match its sidecar {sidecar.name} "
                          f"({side.get('onnx_sha256')}): the file was modified after export (tampered)")
    if embedded is None and side is None:
        raise ConfigError(f"{path}: carries no policy contract (no metadata_props[{METADATA_KEY!r}], no sidecar)")
    try:
        contract = contract_from_json(embedded) if embedded is not None else contract_from_dict(side["contract"])
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    if embedded is not None and side is not None and json.loads(embedded) != side["contract"]:
        raise ConfigError(f"{path}: embedded contract and sidecar {sidecar.name} disagree")
    return contract, data


@dataclass(frozen=True)
class LoadedPolicy:
    """A checked policy: its contract, the ONNX bytes and their sha256 (the policy id)."""

    path: Path
    contract: PolicyContract
    model_bytes: bytes
    sha256: str


def load_policy(path: str | Path, robot=None, check_golden: bool = True) -> LoadedPolicy:
    """Load ``path`` and check hash, tensors, golden vectors and (given ``robot``) robot compatibility.

    Args:
        path: a contract-carrying ``.onnx`` file.
        robot: a :class:`robot_rl.robot.model.RobotModel` to check joint names, limits and rates against.
        check_golden: replay the golden vectors under onnxruntime (default True).

    Raises:
        ConfigError: naming the first mismatch found, prefixed with the file path.
    """
    import onnx

    from robot_rl.policy import checks

    contract, data = read_contract(path)
    try:
        checks.check_io(onnx.load_from_string(data), contract)
        if check_golden:
            checks.check_golden(_session(data), contract)
        if robot is not None:
            checks.check_robot(contract, robot)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return LoadedPolicy(path=Path(path), contract=contract, model_bytes=data, sha256=sha256_bytes(data))
