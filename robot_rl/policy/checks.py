"""Load-time checks of a policy contract: against its ONNX graph, its golden vectors, and the live robot.

Each check raises :class:`robot_rl.errors.ConfigError` with a message naming
the mismatch (tensor, joint, rate), so an operator can fix the export rather
than debug a robot that moves wrongly.
"""

from __future__ import annotations

import time

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.policy.schema import PolicyContract

LIMIT_TOLERANCE = 1e-3
"""rad: how far a contract's joint range may exceed the robot's URDF limits."""

_ONNX_DTYPES = {1: "float32", 11: "float64"}


def _graph_tensors(values, skip: set[str]) -> dict[str, tuple[tuple, str]]:
    out = {}
    for v in values:
        if v.name in skip:
            continue
        t = v.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim)
        out[v.name] = (dims, _ONNX_DTYPES.get(t.elem_type, f"onnx-type-{t.elem_type}"))
    return out


def check_io(proto, contract: PolicyContract) -> None:
    """Graph inputs/outputs must match the contract's tensor names, shapes (non-batch dims) and dtypes."""
    graph = proto.graph
    inits = {i.name for i in graph.initializer}
    for kind, graph_side, specs in (("input", _graph_tensors(graph.input, inits), contract.inputs),
                                    ("output", _graph_tensors(graph.output, set()), contract.outputs)):
        declared = {t.name for t in specs}
        if set(graph_side) != declared and kind == "input":
            raise ConfigError(f"ONNX graph inputs {sorted(graph_side)} differ from the contract's {sorted(declared)}")
        for spec in specs:
            if spec.name not in graph_side:
                raise ConfigError(f"contract {kind} {spec.name!r} is not a graph {kind} (graph has {sorted(graph_side)})")
            dims, dtype = graph_side[spec.name]
            if dtype != spec.dtype:
                raise ConfigError(f"{kind} {spec.name!r}: graph dtype {dtype}, contract says {spec.dtype}")
            if len(dims) != len(spec.shape) or any(
                    isinstance(c, int) and isinstance(g, int) and g != c for g, c in zip(dims[1:], spec.shape[1:])):
                raise ConfigError(f"{kind} {spec.name!r}: graph shape {dims}, contract says {spec.shape}")


def check_golden(session, contract: PolicyContract) -> None:
    """Replay every golden vector under onnxruntime; error names the vector, output and error size."""
    if not contract.golden:
        raise ConfigError("contract has no golden vectors to verify the graph against")
    dtypes = {t.name: t.dtype for t in contract.inputs}
    names = [t.name for t in contract.outputs]
    for i, vector in enumerate(contract.golden):
        feed = {k: np.asarray(v, dtype=dtypes.get(k, "float32")) for k, v in vector.inputs.items()}
        got = dict(zip(names, session.run(names, feed)))
        for name, expected in vector.outputs.items():
            expected = np.asarray(expected, dtype=float)
            actual = np.asarray(got[name], dtype=float)
            if actual.shape != expected.shape:
                raise ConfigError(f"golden vector {i} output {name!r}: shape {actual.shape}, expected {expected.shape}")
            err = np.abs(actual - expected)
            if np.any(err > vector.atol + vector.rtol * np.abs(expected)):
                raise ConfigError(f"golden vector {i} output {name!r}: onnxruntime output differs from the recorded "
                                  f"golden output by up to {err.max():.3g} (atol {vector.atol}, rtol {vector.rtol}): "
                                  "wrong golden output or modified graph")


def _permutation_hint(names: tuple[str, ...], robot_names: tuple[str, ...]) -> str:
    if set(names) == set(robot_names) and names != robot_names:
        return f"; the contract lists the joints in a different order {list(names)} than the robot " \
               f"{list(robot_names)}: joint order looks permuted"
    return ""


def _check_names(contract: PolicyContract, robot) -> None:
    gripper = robot.config.gripper.joints if robot.config.gripper is not None else ()
    known = tuple(robot.joint_names) + tuple(gripper)
    for field, names in (("action_joint_names", contract.action_joint_names),
                         ("obs_joint_names", contract.obs_joint_names)):
        allowed = robot.joint_names if field == "action_joint_names" else known
        missing = [n for n in names if n not in allowed]
        if missing:
            raise ConfigError(f"contract {field}: joints {missing} are missing on robot {robot.config.name!r} "
                              f"(it has {list(allowed)})")
    if contract.action.gripper and robot.config.gripper is None:
        raise ConfigError(f"contract commands a gripper but robot {robot.config.name!r} has none")


def _check_range(what: str, name: str, lo: float, hi: float, robot, hint: str) -> None:
    i = robot.joint_names.index(name)
    r_lo, r_hi = robot.limits.lower[i], robot.limits.upper[i]
    if lo < r_lo - LIMIT_TOLERANCE or hi > r_hi + LIMIT_TOLERANCE:
        span = f"{lo:.4g}" if lo == hi else f"[{lo:.4g}, {hi:.4g}]"
        raise ConfigError(f"contract {what} for joint {name!r} is {span} rad, outside the robot's limits "
                          f"[{r_lo:.4g}, {r_hi:.4g}] rad{hint}")


def _check_limits(contract: PolicyContract, robot) -> None:
    names, action = contract.action_joint_names, contract.action
    hint = _permutation_hint(names, robot.joint_names)
    for name, (lo, hi) in (contract.joint_limits or {}).items():
        _check_range("joint_limits", name, lo, hi, robot, hint)
    for name, value in (contract.default_joint_pos or {}).items():
        if name in robot.joint_names:
            _check_range("default_joint_pos", name, value, value, robot, _permutation_hint(
                contract.obs_joint_names, robot.joint_names))
    if action.type == "joint_pos_abs" and action.clip is not None:
        for j, name in enumerate(names):
            i = robot.joint_names.index(name)
            if action.clip[1][j] < robot.limits.lower[i] or action.clip[0][j] > robot.limits.upper[i]:
                raise ConfigError(f"contract action clip for joint {name!r} [{action.clip[0][j]:.4g}, "
                                  f"{action.clip[1][j]:.4g}] rad lies entirely outside the robot's limits "
                                  f"[{robot.limits.lower[i]:.4g}, {robot.limits.upper[i]:.4g}] rad{hint}")
    if action.type == "joint_vel" and action.clip is not None:
        for j, name in enumerate(names):
            vmax = robot.limits.velocity[robot.joint_names.index(name)]
            if max(abs(action.clip[0][j]), abs(action.clip[1][j])) > vmax + LIMIT_TOLERANCE:
                raise ConfigError(f"contract action clip for joint {name!r} allows "
                                  f"{max(abs(action.clip[0][j]), abs(action.clip[1][j])):.4g} rad/s, above the "
                                  f"robot's velocity limit {vmax:.4g} rad/s{hint}")


def _check_rates(contract: PolicyContract, robot) -> None:
    rate = robot.config.control_rate_hz
    if contract.timing.policy_hz > rate:
        raise ConfigError(f"contract timing.policy_hz {contract.timing.policy_hz:g} Hz exceeds robot "
                          f"{robot.config.name!r} control rate {rate:g} Hz")
    if contract.timing.max_latency_ms < 1000.0 / rate:
        raise ConfigError(f"contract timing.max_latency_ms {contract.timing.max_latency_ms:g} ms is below one "
                          f"control period ({1000.0 / rate:g} ms) of robot {robot.config.name!r}")


def check_robot(contract: PolicyContract, robot) -> None:
    """Joint names present, limits compatible, rates achievable on ``robot`` (a RobotModel)."""
    _check_names(contract, robot)
    _check_limits(contract, robot)
    _check_rates(contract, robot)


def check_inference_time(run_once, contract: PolicyContract, repeats: int = 20) -> float:
    """Median time (ms) of ``run_once()``; ConfigError if above the contract's budget.

    The budget is the smaller of ``timing.max_latency_ms`` and the policy period.
    """
    run_once()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run_once()
        times.append((time.perf_counter() - start) * 1000.0)
    median = float(np.median(times))
    budget = min(contract.timing.max_latency_ms, contract.timing.period * 1000.0)
    if median > budget:
        raise ConfigError(f"policy inference takes {median:.3g} ms (median of {repeats}), above the budget "
                          f"{budget:.3g} ms (min of timing.max_latency_ms and the {contract.timing.policy_hz:g} Hz "
                          "period): rate not achievable on this machine")
    return median
