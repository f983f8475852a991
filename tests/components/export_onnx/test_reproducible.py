"""export_onnx writes the same bytes for the same model, and the model's identity is the same for
two same-seed trainings, new for another seed; deploy (local) then says "unchanged" or pushes.

The slow tests train real models (components/train/core.py, few epochs) on the session's
penguins splits; nothing is mocked.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from mlrail.artifacts.examples import read_split
from mlrail.artifacts.identity import model_identity
from mlrail.artifacts.modelspec import ModelSpec
from mlrail.components.deploy.core import deploy
from mlrail.components.export_onnx.core import export_onnx
from mlrail.components.export_onnx.reproducible import DOC_STRING, reproducible
from tests.helpers import Trained


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_same_saved_model_exported_twice_gives_the_same_bytes(
    trained: Trained, onnx_model: Path, tmp_path: Path
) -> None:
    """In one process, after the session's export: tf2onnx's name counter has moved on."""
    again = tmp_path / "again"
    result = export_onnx(trained.model, trained.examples, again, model_name="penguins")
    assert (again / "model.onnx").read_bytes() == (onnx_model / "model.onnx").read_bytes()
    assert result.identity == model_identity(onnx_model / "model.onnx")
    model = onnx.load(str(again / "model.onnx"))
    assert model.graph.doc_string == DOC_STRING  # not the SavedModel's path
    assert str(trained.model) not in (again / "model.onnx").read_bytes().decode("latin-1")


def _counter_model() -> onnx.ModelProto:
    """A tf2onnx-like graph: counter-numbered names, nodes out of canonical order."""
    w = numpy_helper.from_array(np.ones((3, 2), dtype=np.float32), "dense/kernel__57")
    nodes = [
        helper.make_node("Relu", ["mm__61:0"], ["out"], name="relu__63"),
        helper.make_node("MatMul", ["x__9", "dense/kernel__57"], ["mm__61:0"], name="mm__61"),
    ]
    graph = helper.make_graph(
        nodes,
        "tf2onnx",
        [helper.make_tensor_value_info("x__9", TensorProto.FLOAT, ["unk__70", 3])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["unk__70", 2])],
        initializer=[w],
        doc_string="converted from /tmp/somewhere/saved_model",
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_reproducible_orders_nodes_and_numbers_counters_by_first_use() -> None:
    model = _counter_model()
    before = model_identity(model)
    reproducible(model)
    g = model.graph
    assert [n.name for n in g.node] == ["mm__1", "relu__3"]
    assert [list(n.input) for n in g.node] == [["x__9", "dense/kernel__2"], ["mm__1:0"]]
    assert g.initializer[0].name == "dense/kernel__2"
    # the clients' names stay; a symbolic dimension is renumbered like any counter
    assert g.input[0].name == "x__9" and g.output[0].name == "out"
    assert g.input[0].type.tensor_type.shape.dim[0].dim_param == "unk__4"
    assert g.doc_string == DOC_STRING
    onnx.checker.check_model(model, full_check=True)
    assert model_identity(model) == before
    # another counter state gives the same file
    shifted = _counter_model()
    for n in shifted.graph.node:
        n.name = n.name.replace("__6", "__9")
        n.input[:] = [i.replace("__6", "__9") for i in n.input]
        n.output[:] = [o.replace("__6", "__9") for o in n.output]
    reproducible(shifted)
    assert shifted.SerializeToString() == model.SerializeToString()


def test_renumbering_is_skipped_when_it_would_take_a_client_s_name() -> None:
    model = _counter_model()
    model.graph.output[0].name = "mm__1:0"  # what mm__61:0 would become
    model.graph.node[0].output[0] = "mm__1:0"
    reproducible(model)
    assert {n.name for n in model.graph.node} == {"mm__61", "relu__63"}
    onnx.checker.check_model(model, full_check=True)


def test_a_constant_several_nodes_read_is_named_after_the_first_of_them() -> None:
    """tf2onnx merges equal constants under the name of whichever reader it met first."""

    def model(constant: str) -> onnx.ModelProto:
        shape = numpy_helper.from_array(np.array([-1, 2], dtype=np.int64), constant)
        nodes = [
            helper.make_node("Reshape", ["a", constant], ["ra"], name="island/Reshape"),
            helper.make_node("Reshape", ["b", constant], ["rb"], name="sex/Reshape"),
            helper.make_node("Add", ["ra", "rb"], ["out"], name="add"),
        ]
        graph = helper.make_graph(
            nodes, "g",
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, [4]) for n in ("a", "b")],
            [helper.make_tensor_value_info("out", TensorProto.FLOAT, [2, 2])],
            initializer=[shape],
        )  # fmt: skip
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])

    island, sex = model("island/Reshape_shape__12"), model("sex/Reshape_shape__40")
    for m in (island, sex):
        reproducible(m)
        onnx.checker.check_model(m, full_check=True)
    assert island.SerializeToString() == sex.SerializeToString()
    (name,) = {t.name for t in island.graph.initializer}
    assert name.endswith("/shared_input_1") and name.split("/")[0] in ("island", "sex")


_EXPORT = """
import sys
from mlrail.components.export_onnx.core import export_onnx
export_onnx(sys.argv[1], sys.argv[2], sys.argv[3], model_name="penguins")
"""


@pytest.mark.slow
def test_exports_in_processes_with_other_string_hashing_give_the_same_bytes(
    trained: Trained, onnx_model: Path, tmp_path: Path
) -> None:
    """tf2onnx's node order follows Python's set order, which PYTHONHASHSEED changes."""
    import os
    import subprocess
    import sys

    runs = [
        subprocess.Popen(
            [sys.executable, "-c", _EXPORT, str(trained.model), str(trained.examples),
             str(tmp_path / f"seed{seed}")],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        for seed in (1, 2)
    ]  # fmt: skip
    for r in runs:
        _, err = r.communicate()
        assert r.returncode == 0, err[-2000:]
    files = [
        onnx_model / "model.onnx",
        tmp_path / "seed1/model.onnx",
        tmp_path / "seed2/model.onnx",
    ]
    assert len({f.read_bytes() for f in files}) == 1


def _train(trained: Trained, out: Path, seed: int) -> Path:
    from mlrail.components.train.core import train

    train(
        trained.examples, trained.schema, trained.statistics, out,
        label="species", hparams={"epochs": 3, "seed": seed},
    )  # fmt: skip
    return out


@pytest.mark.slow
def test_two_same_seed_trainings_have_one_identity_and_deploy_says_unchanged(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = {}
    for name, seed in (("first", 7), ("second", 7), ("other_seed", 8)):
        model = _train(trained, tmp_path / f"model_{name}", seed)
        out = tmp_path / f"onnx_{name}"
        result = export_onnx(model, trained.examples, out, model_name="penguins")
        assert result.identity == model_identity(out / "model.onnx")
        runs[name] = (out, result.identity, _sha256(out / "model.onnx"), result.source_sha256)
    (first, id1, sha1, src1), (second, id2, sha2, src2), (other, id3, sha3, _) = runs.values()
    assert id1 == id2 != id3
    # the SavedModels differ in bytes (TensorFlow's function names), the ONNX files do not
    assert src1 != src2 and sha1 == sha2 != sha3
    # the other seed's model answers differently: a new identity is a new model
    spec = ModelSpec.read(first)
    feats = spec.features(read_split(trained.examples / "eval"), "eval")
    answers = [
        ort.InferenceSession(str(d / "model.onnx"), providers=["CPUExecutionProvider"]).run(
            None, {i.column: feats[i.name] for i in spec.inputs}
        )[0]
        for d in (first, second, other)
    ]
    np.testing.assert_array_equal(answers[0], answers[1])
    assert not np.array_equal(answers[0], answers[2])

    repo = tmp_path / "models"
    decisions = [
        deploy(d, tmp_path / f"deployment_{n}", target="local", model_name="penguins",
               model_repository=str(repo))
        for n, d in (("first", first), ("second", second), ("other_seed", other))
    ]  # fmt: skip
    assert [(d.decision, d.version) for d in decisions] == [
        ("pushed", 1),
        ("unchanged", 1),
        ("pushed", 2),
    ]
    record = json.loads((tmp_path / "deployment_second" / "deployment.json").read_text())
    assert record["identity"] == record["previous_identity"] == id1
    with capsys.disabled():  # the figure for the closing note
        print(f"\nsame seed: {id1} sha256 {sha1} / {id2} sha256 {sha2}")
        print(f"other seed: {id3} sha256 {sha3}")
        print(f"deploy (local): {[d.decision for d in decisions]}")
