"""Graph surgery for importers: feed several named ONNX inputs from one flat ``obs`` input."""

from __future__ import annotations

import numpy as np

from robot_rl.errors import ConfigError


def merge_inputs(proto, input_names: list[str], obs_name: str = "obs"):
    """Replace graph inputs ``input_names`` (each (batch, k_i) float32) by one input ``obs`` (batch, sum k_i).

    Each original input becomes a Slice of ``obs`` along axis 1, in the given order, so the rest of the
    graph is untouched. Returns the modified ModelProto (edited in place).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    by_name = {v.name: v for v in graph.input}
    widths = []
    for name in input_names:
        if name not in by_name:
            raise ConfigError(f"ONNX graph has no input {name!r} (it has {sorted(by_name)})")
        dims = by_name[name].type.tensor_type.shape.dim
        if len(dims) != 2 or not dims[1].HasField("dim_value"):
            raise ConfigError(f"ONNX input {name!r} must have shape (batch, k) with a fixed k")
        widths.append(dims[1].dim_value)
    batch = by_name[input_names[0]].type.tensor_type.shape.dim[0]
    batch_dim = batch.dim_value if batch.HasField("dim_value") else (batch.dim_param or "batch")
    bounds = np.concatenate([[0], np.cumsum(widths)])
    nodes = []
    for i, name in enumerate(input_names):
        for suffix, value in (("starts", bounds[i]), ("ends", bounds[i + 1]), ("axes", 1)):
            graph.initializer.append(numpy_helper.from_array(np.array([value], dtype=np.int64),
                                                             f"{obs_name}_{name}_{suffix}"))
        nodes.append(helper.make_node("Slice", [obs_name] + [f"{obs_name}_{name}_{s}" for s in ("starts", "ends", "axes")],
                                      [name], name=f"slice_{name}"))
    kept = [v for v in graph.input if v.name not in input_names]
    del graph.input[:]
    graph.input.extend([helper.make_tensor_value_info(obs_name, TensorProto.FLOAT, [batch_dim, int(bounds[-1])])]
                       + kept)
    old_nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + old_nodes)
    onnx.checker.check_model(proto)
    return proto
