"""The same model exported twice gives the same bytes: what tf2onnx varies, put in one order.

Measured on penguins (two exports of one SavedModel in one process, and of two trainings with
the same data and seed): the bytes differed by

- the node order (it follows the SavedModel's function graph, whose ``saved_model.pb`` differs
  between two same-seed trainings);
- the order of each lookup table's pairs in ``CategoryMapper`` (the table's iteration order);
- names numbered by tf2onnx's process-wide counter (``one_hot__26`` then ``one_hot__69``; the
  symbolic dimensions ``unk__42`` then ``unk__85``);
- the name of a constant tf2onnx merged from equal ones (``lookup_in_sex_1/Reshape_shape``
  or ``lookup_in_island_1/Reshape_shape``: whichever it met first, which changes between
  processes, as Python's string hashing does);
- the graph's doc string (``converted from <the SavedModel's path>``);
- the ``mlrail.source_sha256`` metadata (the SavedModel's files differ between trainings).

:func:`reproducible` puts the nodes, initializers and table pairs in the canonical order of
:mod:`mlrail.artifacts.identity`, names each constant read by several nodes after the first of
them in that order, numbers the counters by first use in that order, and drops the path. The
source hash is no longer in the file (export_onnx records it in the artifact's metadata). What
is left to vary (e.g. which name survives when tf2onnx merges two equal nodes) is covered by the
model's identity.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from mlrail.artifacts.identity import canonicalize

__all__ = ["DOC_STRING", "reproducible"]

#: The graph's doc string (tf2onnx writes the SavedModel's path there).
DOC_STRING = "converted from a TensorFlow SavedModel by mlrail export_onnx (tf2onnx)"
# tf2onnx's make_name: "<name>__<counter>", a tensor of it "<name>__<counter>:<output>"
_COUNTER = re.compile(r"__(\d+)(?=(:\d+)?$)")


def _walk_names(graph: Any, visit: Callable[[str], str], io: bool) -> None:
    """Apply ``visit`` to every internal name of ``graph`` and its subgraphs, in file order.

    The main graph's inputs and outputs (``io`` False) are the clients' contract: left alone.
    """
    from onnx import AttributeProto

    for node in graph.node:
        node.name = visit(node.name)
        node.input[:] = [visit(n) if n else n for n in node.input]
        node.output[:] = [visit(n) if n else n for n in node.output]
        for a in node.attribute:
            subgraphs = [a.g] if a.type == AttributeProto.GRAPH else list(a.graphs)
            for g in subgraphs:
                _walk_names(g, visit, io=True)
    for t in graph.initializer:
        t.name = visit(t.name)
    for s in graph.sparse_initializer:
        s.values.name = visit(s.values.name)
        s.indices.name = visit(s.indices.name)
    for v in graph.value_info:
        v.name = visit(v.name)
    if io:
        for v in (*graph.input, *graph.output):
            v.name = visit(v.name)


def _walk_dims(graph: Any, visit: Callable[[str], str]) -> None:
    for v in (*graph.input, *graph.output, *graph.value_info):
        if v.type.HasField("tensor_type"):
            for d in v.type.tensor_type.shape.dim:
                if d.HasField("dim_param"):
                    d.dim_param = visit(d.dim_param)


def _renumber(model: Any) -> None:
    """Number tf2onnx's counters 1, 2, ... by first use in the (canonical) file order.

    One map for every name, so a node and its tensors keep sharing a number, and no two names
    become one. Skipped when a renamed name would equal a graph input's or output's.
    """
    g = model.graph
    fixed = {v.name for v in (*g.input, *g.output)}
    numbers: dict[str, str] = {}
    internal: set[str] = set()

    def collect(name: str) -> str:
        if name not in fixed:
            internal.add(name)
            for m in _COUNTER.finditer(name):
                numbers.setdefault(m.group(1), str(len(numbers) + 1))
        return name

    _walk_names(g, collect, io=False)
    _walk_dims(g, collect)

    def rename(name: str) -> str:
        if name in fixed:
            return name
        return _COUNTER.sub(lambda m: "__" + numbers[m.group(1)], name)

    renamed = {rename(n) for n in internal}
    if renamed & fixed or len(renamed) != len(internal):
        return
    _walk_names(g, rename, io=False)
    _walk_dims(g, rename)


def _name_shared_constants(model: Any) -> None:
    """Name each initializer that several nodes read after the first of them (canonical order).

    Skipped when a new name is taken already.
    """
    g = model.graph
    readers: dict[str, list[tuple[str, int]]] = {}
    for node in g.node:
        for k, name in enumerate(node.input):
            readers.setdefault(name, []).append((node.name, k))
    fixed = {v.name for v in (*g.input, *g.output)}
    new = {
        t.name: f"{readers[t.name][0][0]}/shared_input_{readers[t.name][0][1]}"
        for t in g.initializer
        if t.name not in fixed and len(readers.get(t.name, [])) > 1 and readers[t.name][0][0]
    }
    taken = {o for n in g.node for o in n.output} | {t.name for t in g.initializer} | fixed
    if len(set(new.values())) != len(new) or set(new.values()) & (taken - set(new)):
        return
    for t in g.initializer:
        t.name = new.get(t.name, t.name)
    for node in g.node:
        node.input[:] = [new.get(n, n) for n in node.input]


def reproducible(model: Any) -> None:
    """Rewrite the converted ``ModelProto`` in place so the same model gives the same bytes."""
    canonicalize(model)
    _name_shared_constants(model)
    _renumber(model)
    model.graph.doc_string = DOC_STRING
