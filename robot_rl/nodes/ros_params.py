"""Declare a node's parameters from its YAML (type, default, description, bounds) and read them validated."""

from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType

from robot_rl.params import ParamSpec, load_param_specs, validate_params

_ROS_TYPES = {
    "double": ParameterType.PARAMETER_DOUBLE, "int": ParameterType.PARAMETER_INTEGER,
    "bool": ParameterType.PARAMETER_BOOL, "string": ParameterType.PARAMETER_STRING,
    "double_array": ParameterType.PARAMETER_DOUBLE_ARRAY, "int_array": ParameterType.PARAMETER_INTEGER_ARRAY,
    "string_array": ParameterType.PARAMETER_STRING_ARRAY,
}


def _descriptor(spec: ParamSpec) -> ParameterDescriptor:
    desc = ParameterDescriptor(name=spec.name, type=_ROS_TYPES[spec.type], description=spec.description,
                               read_only=True)
    if spec.type == "double" and spec.min is not None and spec.max is not None:
        desc.floating_point_range = [FloatingPointRange(from_value=float(spec.min), to_value=float(spec.max))]
    if spec.type == "int" and spec.min is not None and spec.max is not None:
        desc.integer_range = [IntegerRange(from_value=int(spec.min), to_value=int(spec.max), step=1)]
    return desc


def declare_from_yaml(node, node_name: str) -> dict[str, Any]:
    """Declare every parameter of config/nodes/<node_name>.yaml on ``node``; return the validated values.

    Raises:
        ConfigError: naming the parameter whose value is out of bounds or of the wrong type.
    """
    specs = load_param_specs(node_name)
    values = {}
    for name, spec in specs.items():
        param = node.declare_parameter(name, spec.default, _descriptor(spec))
        values[name] = param.value
    return validate_params(specs, values)
