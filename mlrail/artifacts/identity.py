"""One identity for an ONNX model: what it computes, not how its file happens to spell it.

Two exports of the same weights differ in bytes (node order, counter-numbered names, a path in a
doc string, metadata), so a file's sha256 cannot say "this is the model already serving". The
identity can::

    onnx-graph-v1:<64 hex digits of a sha256>

``v1`` names the canonical form below; a change to that form gets a new prefix, so two
identities are only ever compared when made by the same rule.

What counts:

- the graph's **inputs and outputs**: their names (clients send and read them), types and shapes,
  in the file's order; a symbolic dimension counts by which dimensions share it, not by its name
  (``unk__42`` and ``batch`` are the same), and an input with a default (an initializer of the
  same name) counts with its value;
- every **operation** an output depends on: ``op_type``, ``domain`` (``ai.onnx`` = ``""``), its
  attributes (name and value; floats by their bits), the weights and constants it reads by
  value (tensors by data type, dims and little-endian bytes, however the file stores them), and
  which tensors it reads, in order;
- the **opset imports** (domain and version).

What does not: names of internal tensors and nodes, node order in the file, doc strings, the
producer, ``metadata_props`` (so a model may carry its own identity in them), ``value_info``,
the IR version, the graph's name, and nodes no output depends on (they compute nothing anyone
can see).

How: each tensor is named by the hash of what produces it (a Merkle DAG): a graph input by its
name and type, an initializer by its value, a node's output by the hash of the node (op, domain,
attributes, the names of its inputs) and the output's position. The identity hashes the opsets,
the inputs and the outputs' names: no order of the file enters. The same names give
:func:`canonical_order`, a topological order of the nodes that does not depend on the file's.

Subgraphs (``If``/``Loop``/``Scan`` attributes) are hashed the same way, their formal inputs and
outputs by position (their names are internal); a name they read from an enclosing graph is the
enclosing graph's tensor. Refused with :class:`~mlrail.errors.ModelError`: model-local functions,
training info, tensors whose data is still in external files (load them first), a tensor used
but never defined, a tensor defined twice, and a cycle.

Speed: each weight's bytes are hashed once, straight from ``raw_data``; everything else is a few
hundred bytes per node. ``onnx`` is imported only inside the functions that parse a model.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mlrail.errors import ModelError

if TYPE_CHECKING:
    from onnx import (
        AttributeProto,
        GraphProto,
        ModelProto,
        NodeProto,
        SparseTensorProto,
        TensorProto,
        TypeProto,
    )

__all__ = [
    "IDENTITY_METADATA_KEY",
    "PREFIX",
    "canonical_order",
    "canonicalize",
    "model_identity",
    "sort_mappings",
]

#: The identity's prefix: the canonical form's name and version.
PREFIX = "onnx-graph-v1:"
#: The metadata prop export_onnx records the identity in (metadata does not count, so it may).
IDENTITY_METADATA_KEY = "mlrail.identity"

_ABSENT = hashlib.sha256(b"absent optional input").digest()


class _Hash:
    """sha256 over length-prefixed parts: no two sequences of parts hash the same bytes."""

    def __init__(self, tag: str) -> None:
        self._h = hashlib.sha256()
        self.text(tag)

    def raw(self, data: bytes) -> _Hash:
        self._h.update(len(data).to_bytes(8, "little"))
        self._h.update(data)
        return self

    def text(self, value: str) -> _Hash:
        return self.raw(value.encode("utf-8", "surrogatepass"))

    def num(self, value: int) -> _Hash:
        return self.raw(value.to_bytes(16, "little", signed=True))

    def nums(self, values: Iterable[int]) -> _Hash:
        items = list(values)
        self.num(len(items))
        for v in items:
            self.num(v)
        return self

    def digest(self) -> bytes:
        return self._h.digest()


def _domain(domain: str) -> str:
    return "" if domain == "ai.onnx" else domain


#: Operators whose attributes hold a mapping as two parallel lists (keys, values): the order of
#: the pairs changes nothing they compute (tf2onnx writes a lookup table's pairs in the table's
#: iteration order, which differs between two exports of the same table).
_MAPPINGS = {
    ("ai.onnx.ml", "CategoryMapper"): (("cats_strings",), ("cats_int64s",)),
    ("ai.onnx.ml", "LabelEncoder"): (
        ("keys_strings", "keys_int64s", "keys_floats"),
        ("values_strings", "values_int64s", "values_floats"),
    ),
}


def _list(a: AttributeProto) -> list[bytes] | list[int] | list[float]:
    return list(a.strings) if a.strings else list(a.ints) if a.ints else list(a.floats)


def sort_mappings(node: NodeProto) -> None:
    """Put the pairs of a mapping operator (CategoryMapper, LabelEncoder) in key order.

    Nothing changes when the keys repeat or are not comparable (NaN): then the order matters.
    """
    names = _MAPPINGS.get((_domain(node.domain), node.op_type))
    if names is None:
        return
    by_name = {a.name: a for a in node.attribute}
    keys = next((by_name[n] for n in names[0] if n in by_name), None)
    values = next((by_name[n] for n in names[1] if n in by_name), None)
    if keys is None or values is None:
        return
    k, v = _list(keys), _list(values)
    if len(k) != len(v) or len(set(k)) != len(k) or any(x != x for x in k):
        return
    order = sorted(range(len(k)), key=lambda i: k[i])
    for a, items in ((keys, k), (values, v)):
        field = "strings" if a.strings else "ints" if a.ints else "floats"
        a.ClearField(field)
        getattr(a, field).extend(items[i] for i in order)


def _tensor(t: TensorProto, where: str) -> bytes:
    """A tensor by data type, dims and little-endian bytes, however the file stores them."""
    from onnx import TensorProto, numpy_helper

    if t.data_location == TensorProto.EXTERNAL:
        raise ModelError(
            f"{where}: tensor {t.name!r} keeps its data in an external file; load the model "
            "with its external data before computing its identity"
        )
    h = _Hash("tensor").num(t.data_type).nums(t.dims)
    if t.data_type == TensorProto.STRING:
        h.num(len(t.string_data))
        for s in t.string_data:
            h.raw(s)
    elif t.HasField("raw_data"):
        h.raw(t.raw_data)
    else:
        # typed fields (float_data, int32_data, ...): onnx's own helper packs them as raw_data
        # would hold them, so the two spellings of one value hash the same
        h.raw(numpy_helper.from_array(numpy_helper.to_array(t)).raw_data)
    return h.digest()


def _sparse(t: SparseTensorProto, where: str) -> bytes:
    return (
        _Hash("sparse")
        .nums(t.dims)
        .raw(_tensor(t.values, where))
        .raw(_tensor(t.indices, where))
        .digest()
    )


class _Dims:
    """Symbolic dimensions by order of first use: which dimensions share one, not its name."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def of(self, name: str) -> int:
        return self._seen.setdefault(name, len(self._seen))


def _type(t: TypeProto, dims: _Dims) -> bytes:
    kind = t.WhichOneof("value")
    h = _Hash("type").text(kind or "")
    if kind in ("tensor_type", "sparse_tensor_type"):
        tt = t.tensor_type if kind == "tensor_type" else t.sparse_tensor_type
        h.num(tt.elem_type).num(int(tt.HasField("shape")))
        for d in tt.shape.dim:
            which = d.WhichOneof("value")
            if which == "dim_value":
                h.text("=").num(d.dim_value)
            elif which == "dim_param":
                h.text("$").num(dims.of(d.dim_param))
            else:
                h.text("?")
    elif kind == "sequence_type":
        h.raw(_type(t.sequence_type.elem_type, dims))
    elif kind == "optional_type":
        h.raw(_type(t.optional_type.elem_type, dims))
    elif kind == "map_type":
        h.num(t.map_type.key_type).raw(_type(t.map_type.value_type, dims))
    return h.digest()


class _Scope:
    """One graph's tensors, each named by the hash of what produces it, computed on demand."""

    def __init__(
        self, graph: GraphProto, parent: _Scope | None, values: dict[str, bytes], where: str
    ) -> None:
        self.graph, self.parent, self.where = graph, parent, where
        self.depth: int = 0 if parent is None else parent.depth + 1
        self.values = values
        for t in graph.initializer:
            self.values.setdefault(t.name, _Hash("const").raw(_tensor(t, where)).digest())
        for s in graph.sparse_initializer:
            self.values.setdefault(s.values.name, _Hash("const").raw(_sparse(s, where)).digest())
        self.producer: dict[str, int] = {}
        for i, node in enumerate(graph.node):
            for out in node.output:
                if not out:
                    continue
                if out in self.producer or out in self.values:
                    raise ModelError(f"{where}: tensor {out!r} is defined twice")
                self.producer[out] = i
        self.node_digest: dict[int, bytes] = {}
        #: nodes being hashed (a subgraph may read this graph's tensors while its node is)
        self.hashing: set[int] = set()

    def resolve(self, name: str) -> bytes:
        if not name:
            return _ABSENT
        if name in self.values:
            return self.values[name]
        if name in self.producer:
            self._evaluate(self.producer[name])
            return self.values[name]
        if self.parent is not None:
            return self.parent.resolve(name)
        raise ModelError(f"{self.where}: tensor {name!r} is used but never defined")

    def _local_pending(self, node: NodeProto) -> list[int]:
        return [
            self.producer[i]
            for i in node.input
            if i and i not in self.values and i in self.producer
        ]

    def _evaluate(self, start: int) -> None:
        """Hash ``start`` and the nodes it depends on, depth first, without recursion."""
        stack = [(start, False)]
        path: set[int] = set()  # the nodes being expanded: ``start``'s chain down to here
        while stack:
            index, expanded = stack.pop()
            if index in self.node_digest:
                continue
            if expanded:
                path.discard(index)
                self._hash_node(index)
                continue
            path.add(index)
            stack.append((index, True))
            for p in self._local_pending(self.graph.node[index]):
                if p in path:
                    raise ModelError(f"{self.where}: the graph has a cycle through node {p}")
                if p not in self.node_digest:
                    stack.append((p, False))

    def _hash_node(self, index: int) -> None:
        node = self.graph.node[index]
        if index in self.hashing:
            raise ModelError(f"{self.where}: the graph has a cycle through node {index}")
        self.hashing.add(index)
        where = f"{self.where}: node {node.name or index!r} ({node.op_type})"
        h = _Hash("node").text(_domain(node.domain)).text(node.op_type)
        if (_domain(node.domain), node.op_type) in _MAPPINGS:
            from onnx import NodeProto

            node = NodeProto.FromString(node.SerializeToString())
            sort_mappings(node)
        attributes = sorted(node.attribute, key=lambda a: a.name)
        h.num(len(attributes))
        for a in attributes:
            h.raw(_attribute(a, self, where))
        h.num(len(node.input))
        for i in node.input:
            h.raw(self.resolve(i))
        h.num(len(node.output))
        digest = h.digest()
        self.hashing.discard(index)
        self.node_digest[index] = digest
        for k, out in enumerate(node.output):
            if out:
                self.values[out] = _Hash("output").raw(digest).num(k).digest()


def _attribute(a: AttributeProto, scope: _Scope, where: str) -> bytes:
    from onnx import AttributeProto

    if a.ref_attr_name:
        raise ModelError(f"{where}: attribute {a.name!r} refers to a function's attribute")
    h = _Hash("attribute").text(a.name).num(a.type)
    t = AttributeProto
    if a.type == t.FLOAT:
        h.raw(struct.pack("<f", a.f))
    elif a.type == t.INT:
        h.num(a.i)
    elif a.type == t.STRING:
        h.raw(a.s)
    elif a.type == t.TENSOR:
        h.raw(_tensor(a.t, where))
    elif a.type == t.SPARSE_TENSOR:
        h.raw(_sparse(a.sparse_tensor, where))
    elif a.type == t.GRAPH:
        h.raw(_subgraph(a.g, scope, f"{where} attribute {a.name!r}"))
    elif a.type == t.TYPE_PROTO:
        h.raw(_type(a.tp, _Dims()))
    elif a.type == t.FLOATS:
        h.num(len(a.floats)).raw(struct.pack(f"<{len(a.floats)}f", *a.floats))
    elif a.type == t.INTS:
        h.nums(a.ints)
    elif a.type == t.STRINGS:
        h.num(len(a.strings))
        for s in a.strings:
            h.raw(s)
    elif a.type == t.TENSORS:
        h.num(len(a.tensors))
        for x in a.tensors:
            h.raw(_tensor(x, where))
    elif a.type == t.SPARSE_TENSORS:
        h.num(len(a.sparse_tensors))
        for s in a.sparse_tensors:
            h.raw(_sparse(s, where))
    elif a.type == t.GRAPHS:
        h.num(len(a.graphs))
        for k, g in enumerate(a.graphs):
            h.raw(_subgraph(g, scope, f"{where} attribute {a.name!r}[{k}]"))
    elif a.type == t.TYPE_PROTOS:
        h.num(len(a.type_protos))
        for tp in a.type_protos:
            h.raw(_type(tp, _Dims()))
    else:
        raise ModelError(f"{where}: attribute {a.name!r} has an unknown type {a.type}")
    return h.digest()


def _subgraph(g: GraphProto, outer: _Scope, where: str) -> bytes:
    """A subgraph: formal inputs and outputs by position; enclosing tensors by their hash."""
    dims = _Dims()
    depth = outer.depth + 1
    h = _Hash("graph").num(len(g.input))
    formals: dict[str, bytes] = {}
    for k, v in enumerate(g.input):
        typed = _type(v.type, dims)
        h.raw(typed)
        formals[v.name] = _Hash("formal").num(depth).num(k).raw(typed).digest()
    scope = _Scope(g, outer, formals, where)
    h.num(len(g.output))
    for v in g.output:
        h.raw(_type(v.type, dims)).raw(scope.resolve(v.name))
    return h.digest()


def _main_scope(model: ModelProto, where: str) -> tuple[_Scope, _Dims, _Hash]:
    if len(model.functions):
        raise ModelError(f"{where}: model-local functions are not supported by the identity")
    if len(model.training_info):
        raise ModelError(f"{where}: training info is not supported by the identity")
    g = model.graph
    dims = _Dims()
    h = _Hash(PREFIX)
    opsets = sorted((_domain(o.domain), o.version) for o in model.opset_import)
    h.num(len(opsets))
    for domain, version in opsets:
        h.text(domain).num(version)
    defaults = {t.name: t for t in g.initializer}
    values: dict[str, bytes] = {}
    h.num(len(g.input))
    for v in g.input:
        typed = _type(v.type, dims)
        hv = _Hash("input").text(v.name).raw(typed)
        if v.name in defaults:  # an input with a default value: the value counts too
            hv.raw(_tensor(defaults[v.name], where))
        values[v.name] = hv.digest()
        h.raw(values[v.name])
    return _Scope(g, None, values, where), dims, h


def _load(model: ModelProto | bytes | str | Path) -> tuple[ModelProto, str]:
    import onnx

    if isinstance(model, str | Path):
        try:
            return onnx.load(str(model), load_external_data=True), str(model)
        except Exception as e:  # onnx raises DecodeError, OSError, ValueError...
            raise ModelError(f"{model}: not an ONNX model: {e}") from e
    if isinstance(model, bytes):
        proto = onnx.ModelProto()
        try:
            proto.ParseFromString(model)
        except Exception as e:
            raise ModelError(f"<{len(model)} bytes>: not an ONNX model: {e}") from e
        return proto, "ONNX model"
    return model, "ONNX model"


def model_identity(model: ModelProto | bytes | str | Path) -> str:
    """The model's identity, ``onnx-graph-v1:<sha256 hex>`` (what counts: the module doc).

    Args:
        model: A ``ModelProto``, its serialised bytes, or the path of a ``.onnx`` file (its
            external data, if any, is loaded).

    Raises:
        ModelError: not an ONNX model, or one the identity refuses (the module doc), naming it.
    """
    proto, where = _load(model)
    scope, dims, h = _main_scope(proto, where)
    g = proto.graph
    h.num(len(g.output))
    for v in g.output:
        h.text(v.name).raw(_type(v.type, dims)).raw(scope.resolve(v.name))
    return PREFIX + h.digest().hex()


def canonical_order(graph: GraphProto) -> list[int]:
    """The indices of ``graph``'s nodes in a topological order that does not depend on the file.

    Kahn's algorithm, each time taking the ready nodes with the smallest hash (the module doc's
    Merkle name: what it computes), all of them at once; nodes that compute the same thing keep
    their file order among themselves. Nodes no output depends on are placed by the same rule.
    For a model that passes :func:`model_identity` (subgraphs are read, not reordered).

    Raises:
        ModelError: a tensor used but never defined, defined twice, or a cycle.
    """
    values = {v.name: _Hash("input").text(v.name).digest() for v in graph.input}
    scope = _Scope(graph, None, values, "ONNX graph")
    nodes: Sequence[NodeProto] = graph.node
    for i in range(len(nodes)):
        if i not in scope.node_digest:
            scope._evaluate(i)
    # readers of a local tensor, including those inside a node's subgraphs (their free names)
    waits: list[set[int]] = [set() for _ in nodes]
    for i, node in enumerate(nodes):
        for name in _reads(node):
            if name in scope.producer and scope.producer[name] != i:
                waits[i].add(scope.producer[name])
    readers: dict[int, list[int]] = {i: [] for i in range(len(nodes))}
    for i, deps in enumerate(waits):
        for d in deps:
            readers[d].append(i)
    import heapq

    ready = [(scope.node_digest[i], i) for i, deps in enumerate(waits) if not deps]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        # every ready node that computes the same thing at once: twins become ready together,
        # so which twin a file lists first cannot change the order of what follows
        digest, i = heapq.heappop(ready)
        group = [i]
        while ready and ready[0][0] == digest:
            group.append(heapq.heappop(ready)[1])
        order.extend(group)
        for i in group:
            for r in readers[i]:
                waits[r].discard(i)
                if not waits[r]:
                    heapq.heappush(ready, (scope.node_digest[r], r))
    if len(order) != len(nodes):
        raise ModelError("ONNX graph: the graph has a cycle")
    return order


def _reads(node: NodeProto) -> set[str]:
    """The names ``node`` reads: its inputs and, through its subgraphs, enclosing tensors."""
    from onnx import AttributeProto

    names = {i for i in node.input if i}
    for a in node.attribute:
        graphs = [a.g] if a.type == AttributeProto.GRAPH else list(a.graphs)
        for g in graphs:
            local = {v.name for v in g.input} | {t.name for t in g.initializer}
            for n in g.node:
                local.update(o for o in n.output if o)
            for n in g.node:
                names.update(x for x in _reads(n) if x not in local)
            names.update(v.name for v in g.output if v.name not in local)
    return names


def canonicalize(model: ModelProto) -> None:
    """Rewrite ``model`` in place into its canonical spelling; what it computes is unchanged.

    The main graph's nodes in :func:`canonical_order`, its initializers in the order the nodes
    first read them, and each mapping operator's pairs in key order (:func:`sort_mappings`).
    Two files of one model then differ only in names and the fields the identity ignores.
    """
    g = model.graph
    for n in g.node:
        sort_mappings(n)
    nodes = [g.node[i] for i in canonical_order(g)]
    copies = [type(n).FromString(n.SerializeToString()) for n in nodes]
    del g.node[:]
    g.node.extend(copies)
    # by the first node that reads it and where; ties (read only by subgraphs) by value
    first_read: dict[str, tuple[int, int]] = {}
    for i, n in enumerate(g.node):
        for k, name in enumerate(n.input):
            first_read.setdefault(name, (i, k))
        for name in _reads(n):
            first_read.setdefault(name, (i, len(n.input)))
    last = (len(g.node), 0)
    tensors = sorted(
        g.initializer, key=lambda t: (first_read.get(t.name, last), _tensor(t, "ONNX graph"))
    )
    ordered = [type(t).FromString(t.SerializeToString()) for t in tensors]
    del g.initializer[:]
    g.initializer.extend(ordered)
