"""The model identity: the same for every spelling of one computation, different for another.

Small real ONNX models built with ONNX's own helpers; each is checked by ``onnx.checker`` so a
test never hashes a graph that is not a model. (The identity of real exports, two same-seed
trainings and a different seed: tests/components/export_onnx/test_reproducible.py.)
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import onnx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from mlrail.artifacts.identity import (
    PREFIX,
    canonical_order,
    canonicalize,
    model_identity,
    sort_mappings,
)
from mlrail.errors import ModelError

W = np.arange(6, dtype=np.float32).reshape(3, 2) / 7
B = np.array([0.5, -0.25], dtype=np.float32)


def _model(
    nodes: list[Any],
    *,
    inputs: tuple[str, ...] = ("x",),
    output: str = "y",
    initializers: tuple[Any, ...] | None = None,
    opset: int = 17,
    check: bool = True,
    **kwargs: Any,
) -> Any:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", 3]) for n in inputs],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", 2])],
        initializer=list(
            initializers
            if initializers is not None
            else (numpy_helper.from_array(W, "W"), numpy_helper.from_array(B, "B"))
        ),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], **kwargs)
    if check:
        onnx.checker.check_model(model, full_check=True)
    return model


def _dense(
    *,
    names: tuple[str, str, str] = ("mm", "biased", "act"),
    act: str = "LeakyRelu",
    alpha: float = 0.1,
    x: str = "x",
    y: str = "y",
) -> list[Any]:
    mm, biased, act_name = names
    return [
        helper.make_node("MatMul", [x, "W"], [mm], name="n_" + mm),
        helper.make_node("Add", [mm, "B"], [biased], name="n_" + biased),
        helper.make_node(act, [biased], [y], name="n_" + act_name, alpha=alpha),
    ]


def _base(**kwargs: Any) -> Any:
    return _model(_dense(), **kwargs)


def test_the_identity_is_the_prefix_and_a_sha256() -> None:
    identity = model_identity(_base())
    assert identity.startswith(PREFIX) and len(identity) == len(PREFIX) + 64
    int(identity.removeprefix(PREFIX), 16)


def test_bytes_a_path_and_a_proto_give_the_same_identity(tmp_path: Any) -> None:
    m = _base()
    onnx.save(m, tmp_path / "m.onnx")
    assert model_identity(m) == model_identity(m.SerializeToString())
    assert model_identity(tmp_path / "m.onnx") == model_identity(m)


# -- what does not count ---------------------------------------------------------------------


def test_invariant_under_node_order_internal_names_docs_producer_and_metadata() -> None:
    base = model_identity(_base())
    renamed = _model(_dense(names=("t0", "t1", "t2")))
    reordered = _base(check=False)
    nodes = list(reordered.graph.node)
    del reordered.graph.node[:]
    reordered.graph.node.extend(reversed(nodes))
    dressed = _base(producer_name="someone", producer_version="9", doc_string="a model")
    dressed.graph.doc_string = "converted from /some/path"
    dressed.graph.name = "another"
    for n in dressed.graph.node:
        n.doc_string = "why"
    onnx.helper.set_model_props(dressed, {"mlrail.identity": "x", "owner": "me"})
    dressed.model_version = 7
    dressed.graph.value_info.append(
        helper.make_tensor_value_info("mm", TensorProto.FLOAT, ["batch", 2])
    )
    assert model_identity(renamed) == base
    assert model_identity(reordered) == base
    assert model_identity(dressed) == base


def test_invariant_under_initializer_names_order_and_storage() -> None:
    base = model_identity(_base())
    w_typed = helper.make_tensor("W2", TensorProto.FLOAT, [3, 2], W.reshape(-1).tolist())
    assert not w_typed.HasField("raw_data") and len(w_typed.float_data) == 6
    nodes = _dense()
    nodes[0].input[1] = "W2"
    other = _model(nodes, initializers=(numpy_helper.from_array(B, "B"), w_typed))
    assert model_identity(other) == base


def test_symbolic_dimensions_count_by_sharing_not_by_name() -> None:
    base = _base()
    renamed = _base()
    for v in (*renamed.graph.input, *renamed.graph.output):
        v.type.tensor_type.shape.dim[0].dim_param = "unk__42"
    unshared = _base()
    unshared.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "other"
    assert model_identity(renamed) == model_identity(base)
    assert model_identity(unshared) != model_identity(base)


def test_a_node_no_output_depends_on_does_not_count() -> None:
    nodes = [*_dense(), helper.make_node("Neg", ["x"], ["unused"], name="dead")]
    assert model_identity(_model(nodes)) == model_identity(_base())


def test_mapping_pairs_count_as_a_mapping_not_as_lists() -> None:
    def mapper(strings: list[str], ints: list[int]) -> Any:
        node = helper.make_node(
            "CategoryMapper", ["s"], ["y"], domain="ai.onnx.ml",
            cats_strings=strings, cats_int64s=ints, default_int64=0,
        )  # fmt: skip
        graph = helper.make_graph(
            [node], "g",
            [helper.make_tensor_value_info("s", TensorProto.STRING, [None, 1])],
            [helper.make_tensor_value_info("y", TensorProto.INT64, [None, 1])],
        )  # fmt: skip
        opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 2)]
        model = helper.make_model(graph, opset_imports=opsets)
        onnx.checker.check_model(model, full_check=True)
        return model

    a = mapper(["Dream", "Biscoe", "Torgersen"], [2, 1, 3])
    b = mapper(["Torgersen", "Dream", "Biscoe"], [3, 2, 1])
    assert model_identity(a) == model_identity(b)
    assert model_identity(a) != model_identity(mapper(["Dream", "Biscoe", "Torgersen"], [1, 2, 3]))
    # sorted in place by key, pairs kept
    node = b.graph.node[0]
    sort_mappings(node)
    attrs = {x.name: x for x in node.attribute}
    assert list(attrs["cats_strings"].strings) == [b"Biscoe", b"Dream", b"Torgersen"]
    assert list(attrs["cats_int64s"].ints) == [1, 2, 3]
    # repeated keys: the order decides which wins, so it counts
    dup1 = mapper(["a", "a"], [1, 2])
    dup2 = mapper(["a", "a"], [2, 1])
    assert model_identity(dup1) != model_identity(dup2)


# -- what counts -------------------------------------------------------------------------------


def test_one_ulp_in_one_weight_changes_it() -> None:
    w = W.copy()
    w[1, 1] = np.nextafter(w[1, 1], np.float32(np.inf), dtype=np.float32)
    other = _model(
        _dense(), initializers=(numpy_helper.from_array(w, "W"), numpy_helper.from_array(B, "B"))
    )
    assert model_identity(other) != model_identity(_base())


def test_an_attribute_an_op_an_input_name_an_output_name_or_the_opset_changes_it() -> None:
    base = model_identity(_base())
    changed = {
        "attribute": _model(_dense(alpha=0.2)),
        "op": _model(_dense(act="Elu")),
        "input name": _model(_dense(x="features"), inputs=("features",)),
        "output name": _model(_dense(y="probabilities"), output="probabilities"),
        "opset": _model(_dense(), opset=16),
    }
    identities = {k: model_identity(m) for k, m in changed.items()}
    assert base not in identities.values()
    assert len(set(identities.values())) == len(identities)


def test_the_order_of_a_node_s_inputs_counts() -> None:
    def sub(a: str, b: str) -> Any:
        nodes = [helper.make_node("Sub", [a, b], ["d"]), *_dense(x="d")]
        return _model(nodes, inputs=("p", "q"))

    assert model_identity(sub("p", "q")) != model_identity(sub("q", "p"))


def test_an_input_s_default_value_counts() -> None:
    m = _base()
    m.graph.input.append(helper.make_tensor_value_info("B", TensorProto.FLOAT, [2]))
    other = onnx.ModelProto.FromString(m.SerializeToString())
    b = next(t for t in other.graph.initializer if t.name == "B")
    b.CopyFrom(numpy_helper.from_array(B + 1, "B"))
    assert model_identity(m) != model_identity(other) != model_identity(_base())


# -- subgraphs ------------------------------------------------------------------------------------


def _with_if(then_op: str = "Relu", inner: str = "inner", outer: str = "biased") -> Any:
    def branch(op: str, name: str) -> Any:
        return helper.make_graph(
            [helper.make_node(op, [outer], [name])],
            name,
            [],
            [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", 2])],
        )

    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["mm"]),
        helper.make_node("Add", ["mm", "B"], [outer]),
        helper.make_node("ReduceSum", [outer], ["total"], keepdims=0),
        helper.make_node("Greater", ["total", "zero"], ["positive"]),
        helper.make_node(
            "If", ["positive"], ["y"],
            then_branch=branch(then_op, inner), else_branch=branch("Neg", inner + "_else"),
        ),
    ]  # fmt: skip
    inits = (
        numpy_helper.from_array(W, "W"),
        numpy_helper.from_array(B, "B"),
        numpy_helper.from_array(np.array(0, dtype=np.float32), "zero"),
    )
    return _model(nodes, initializers=inits)


def test_subgraphs_count_by_what_they_compute() -> None:
    base = model_identity(_with_if())
    assert model_identity(_with_if(inner="renamed", outer="renamed_outer")) == base
    assert model_identity(_with_if(then_op="Sigmoid")) != base
    order = canonical_order(_with_if().graph)
    assert sorted(order) == list(range(5)) and order[-1] == 4


# -- refused ----------------------------------------------------------------------------------


def test_refusals_name_what_is_refused() -> None:
    undefined = _model(_dense(x="nowhere"), check=False)
    with pytest.raises(ModelError, match="tensor 'nowhere' is used but never defined"):
        model_identity(undefined)
    twice = _base(check=False)
    twice.graph.node.append(helper.make_node("Neg", ["x"], ["mm"]))
    with pytest.raises(ModelError, match="tensor 'mm' is defined twice"):
        model_identity(twice)
    cycle = _model(
        [
            helper.make_node("Add", ["x", "b2"], ["a2"]),
            helper.make_node("Neg", ["a2"], ["b2"]),
            *_dense(x="a2"),
        ],
        check=False,
    )
    with pytest.raises(ModelError, match="cycle"):
        model_identity(cycle)
    with pytest.raises(ModelError, match="cycle"):
        canonical_order(cycle.graph)
    external = _base()
    w = next(t for t in external.graph.initializer if t.name == "W")
    w.data_location = TensorProto.EXTERNAL
    with pytest.raises(ModelError, match="tensor 'W' keeps its data in an external file"):
        model_identity(external)
    functions = _base()
    functions.functions.append(onnx.FunctionProto(name="f", domain="local"))
    with pytest.raises(ModelError, match="model-local functions are not supported"):
        model_identity(functions)
    with pytest.raises(ModelError, match="not an ONNX model"):
        model_identity(b"\x00 not a model")


# -- random graphs --------------------------------------------------------------------------------

_UNARY = ("Neg", "Relu", "Abs", "Sigmoid")
_BINARY = ("Add", "Mul", "Sub", "Max")


@st.composite
def _graphs(draw: st.DrawFn) -> tuple[Any, int]:
    """A random DAG of elementwise ops over one input and one weight, and a shuffle seed."""
    n = draw(st.integers(1, 12))
    tensors = ["x", "W2"]
    nodes = []
    for i in range(n):
        if draw(st.booleans()):
            a, b = draw(st.sampled_from(tensors)), draw(st.sampled_from(tensors))
            nodes.append(helper.make_node(draw(st.sampled_from(_BINARY)), [a, b], [f"t{i}"]))
        else:
            a = draw(st.sampled_from(tensors))
            nodes.append(helper.make_node(draw(st.sampled_from(_UNARY)), [a], [f"t{i}"]))
        tensors.append(f"t{i}")
    nodes.append(helper.make_node("Identity", [tensors[-1]], ["y"]))
    weight = numpy_helper.from_array(np.full((1, 3), 0.5, dtype=np.float32), "W2")
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    return model, draw(st.integers(0, 2**32 - 1))


def _shuffled_and_renamed(model: Any, seed: int) -> Any:
    rng = random.Random(seed)
    out = onnx.ModelProto.FromString(model.SerializeToString())
    g = out.graph
    names = {f"t{i}": f"r{rng.randrange(10**9)}_{i}" for i in range(len(g.node))}
    nodes = list(g.node)
    rng.shuffle(nodes)
    for node in nodes:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
        node.name = f"node{rng.randrange(10**6)}"
    del g.node[:]
    g.node.extend(nodes)
    return out


@given(_graphs())
def test_random_graphs_keep_their_identity_when_shuffled_and_renamed(
    case: tuple[Any, int],
) -> None:
    model, seed = case
    other = _shuffled_and_renamed(model, seed)
    assert model_identity(other) == model_identity(model)
    # the canonical order is a topological order, and the same computation in both files
    for m in (model, other):
        order = canonical_order(m.graph)
        assert sorted(order) == list(range(len(m.graph.node)))
        seen = {"x", "W2"}
        for i in order:
            node = m.graph.node[i]
            assert set(node.input) <= seen
            seen.update(node.output)
    canonical = [onnx.ModelProto.FromString(m.SerializeToString()) for m in (model, other)]
    for m in canonical:
        canonicalize(m)
        onnx.checker.check_model(m, full_check=True)
    assert [n.op_type for n in canonical[0].graph.node] == [
        n.op_type for n in canonical[1].graph.node
    ]
    assert model_identity(canonical[0]) == model_identity(model)


def test_canonicalize_keeps_what_onnx_runtime_computes() -> None:
    import onnxruntime as ort

    model = _with_if()
    canonical = onnx.ModelProto.FromString(model.SerializeToString())
    canonicalize(canonical)
    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(4, 3)
    outs = [
        ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(
            None, {"x": x}
        )[0]
        for m in (model, canonical)
    ]
    np.testing.assert_array_equal(outs[0], outs[1])
    assert model_identity(canonical) == model_identity(model)
