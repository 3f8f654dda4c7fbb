"""Node parameters: one YAML per node (config/nodes/<node>.yaml) declaring type, default, description, bounds.

The same YAML feeds ROS parameter declaration (see :mod:`robot_rl.nodes.ros_params`),
the launch files and the ``robot-rl bringup`` runner. Values are validated here,
without rclpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from robot_rl.errors import ConfigError
from robot_rl.paths import config_dir

_PY_TYPES = {
    "double": float, "int": int, "bool": bool, "string": str,
    "double_array": list, "string_array": list, "int_array": list,
}


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter."""

    name: str
    type: str  # one of _PY_TYPES
    default: Any
    description: str
    min: float | None = None
    max: float | None = None

    def __post_init__(self) -> None:
        if self.type not in _PY_TYPES:
            raise ConfigError(f"parameter {self.name!r}: unknown type {self.type!r}; use one of {sorted(_PY_TYPES)}")
        if not self.description:
            raise ConfigError(f"parameter {self.name!r}: needs a description")
        object.__setattr__(self, "default", self.check(self.default))

    def check(self, value: Any) -> Any:
        """``value`` converted to this parameter's type; ConfigError naming the parameter if invalid."""
        try:
            value = _convert(self.type, value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"parameter {self.name!r}: expected {self.type}, got {value!r}") from exc
        numbers = value if isinstance(value, list) else [value]
        if self.type in ("double", "int", "double_array", "int_array"):
            for x in numbers:
                if not math.isfinite(x):
                    raise ConfigError(f"parameter {self.name!r}: {x} is not finite")
                if (self.min is not None and x < self.min) or (self.max is not None and x > self.max):
                    raise ConfigError(f"parameter {self.name!r}: {x} is outside [{self.min}, {self.max}]")
        return value


def _convert(kind: str, value: Any) -> Any:
    if kind == "double":
        if isinstance(value, bool):
            raise TypeError(value)
        return float(value)
    if kind == "int":
        if isinstance(value, bool) or float(value) != int(value):
            raise TypeError(value)
        return int(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise TypeError(value)
        return value
    if kind == "string":
        if not isinstance(value, str):
            raise TypeError(value)
        return value
    if not isinstance(value, (list, tuple)):
        raise TypeError(value)
    item = {"double_array": "double", "int_array": "int", "string_array": "string"}[kind]
    return [_convert(item, v) for v in value]


def param_yaml_path(node_name: str) -> Path:
    """Path of the parameter YAML of ``node_name``."""
    path = config_dir() / "nodes" / f"{node_name}.yaml"
    if not path.is_file():
        raise ConfigError(f"no parameter file for node {node_name!r} at {path}")
    return path


def load_param_specs(node_name: str) -> dict[str, ParamSpec]:
    """Parameter specs of ``node_name`` from config/nodes/<node_name>.yaml."""
    path = param_yaml_path(node_name)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    specs = {}
    for name, fields in raw.items():
        if not isinstance(fields, dict):
            raise ConfigError(f"{path}: parameter {name!r} must be a mapping with type/default/description")
        unknown = set(fields) - {"type", "default", "description", "min", "max"}
        if unknown:
            raise ConfigError(f"{path}: parameter {name!r} has unknown fields {sorted(unknown)}")
        try:
            specs[name] = ParamSpec(name=name, **fields)
        except TypeError as exc:
            raise ConfigError(f"{path}: parameter {name!r}: {exc}") from exc
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    return specs


def validate_params(specs: dict[str, ParamSpec], values: dict[str, Any]) -> dict[str, Any]:
    """Defaults overridden by ``values``, each checked; unknown names are an error."""
    unknown = sorted(set(values) - set(specs))
    if unknown:
        raise ConfigError(f"unknown parameters {unknown}; declared: {sorted(specs)}")
    out = {name: spec.default for name, spec in specs.items()}
    for name, value in values.items():
        out[name] = specs[name].check(value)
    return out


def default_params(node_name: str) -> dict[str, Any]:
    """Every parameter of ``node_name`` at its default."""
    return {name: spec.default for name, spec in load_param_specs(node_name).items()}
