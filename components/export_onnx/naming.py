"""The names the exported graph's inputs carry: the data's columns.

The converted graph's inputs have the SavedModel's TensorFlow-safe names
(:func:`mlrail.artifacts.modelspec.input_names`); :func:`name_inputs` gives each its column's
name, which may be any string, so it may already name another tensor of the graph. Triton's
``config.pbtxt`` holds the same names (:func:`mlrail.artifacts.model_repository.triton_config`).
"""

from __future__ import annotations

from typing import Any

from mlrail.artifacts.modelspec import ModelSpec
from mlrail.errors import ModelError

__all__ = ["name_inputs"]


def _subgraphs(graph: Any) -> list[Any]:
    from onnx import AttributeProto

    out = []
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == AttributeProto.GRAPH:
                out.append(attr.g)
            elif attr.type == AttributeProto.GRAPHS:
                out.extend(attr.graphs)
    return out


def _tensor_names(graph: Any) -> set[str]:
    """Every tensor name in ``graph`` and its subgraphs."""
    names: set[str] = set()
    for v in (*graph.input, *graph.output, *graph.value_info):
        names.add(v.name)
    names.update(t.name for t in graph.initializer)
    names.update(t.values.name for t in graph.sparse_initializer)
    for node in graph.node:
        names.update(node.input)
        names.update(node.output)
    for sub in _subgraphs(graph):
        names |= _tensor_names(sub)
    names.discard("")  # an omitted optional input, not a tensor
    return names


def _rename(graph: Any, mapping: dict[str, str]) -> None:
    """Rename tensors everywhere in ``graph`` (subgraphs too), all at once."""

    def new(name: str) -> str:
        return mapping.get(name, name)

    for v in (*graph.input, *graph.output, *graph.value_info):
        v.name = new(v.name)
    for t in graph.initializer:
        t.name = new(t.name)
    for t in graph.sparse_initializer:
        t.values.name = new(t.values.name)
    for node in graph.node:
        node.input[:] = [new(n) for n in node.input]
        node.output[:] = [new(n) for n in node.output]
    for sub in _subgraphs(graph):
        _rename(sub, mapping)


def name_inputs(proto: Any, spec: ModelSpec) -> None:
    """Rename the converted graph's inputs from their TensorFlow names to the data's columns.

    A column may be any string, so it may already name a tensor inside the graph (a column
    called ``Identity:0`` or ``in_x``, another input's TensorFlow name): such a tensor is given
    a fresh name first, and all renames happen at once, so nothing is renamed twice. The
    inputs are then listed in the spec's order (the data's column order).

    Raises:
        ModelError: the graph lacks one of the spec's inputs, a column is empty (ONNX reads
            an empty name as "no tensor") or is the output's name.
    """
    graph = proto.graph
    targets = {i.name: i.column for i in spec.inputs}
    graph_inputs = {v.name for v in graph.input}
    missing = sorted(set(targets) - graph_inputs)
    if missing:
        raise ModelError(
            f"the converted graph lacks input(s) {', '.join(map(repr, missing))} "
            f"(graph inputs: {', '.join(map(repr, sorted(graph_inputs)))})"
        )
    for i in spec.inputs:
        if not i.column:
            raise ModelError("a model input has an empty column name; ONNX cannot name it")
        if i.column == spec.output:
            raise ModelError(
                f"column {i.column!r} has the output's name; retrain (train names the output "
                "apart from every column)"
            )
    existing = _tensor_names(graph)
    reserved = set(targets.values()) | {spec.output}
    taken = existing | reserved
    mapping = dict(targets)
    for name in sorted(existing):
        if name in reserved and name not in targets and name != spec.output:
            k = 1
            while f"{name}__mlrail{k}" in taken:
                k += 1
            mapping[name] = f"{name}__mlrail{k}"
            taken.add(mapping[name])
    _rename(graph, mapping)
    # in the spec's (the data's) column order, not the signature's sorted TensorFlow names
    order = {i.column: k for k, i in enumerate(spec.inputs)}
    inputs = sorted(graph.input, key=lambda v: order.get(v.name, len(order)))
    copies = [type(v)() for v in inputs]
    for copy, v in zip(copies, inputs, strict=True):
        copy.CopyFrom(v)
    del graph.input[:]
    graph.input.extend(copies)
