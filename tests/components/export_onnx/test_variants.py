"""Optional ONNX variants (ORT-optimised graph, dynamic int8) and their accuracy gates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from mlrail.artifacts.examples import read_split
from mlrail.artifacts.modelspec import ModelSpec
from mlrail.components.export_onnx.convert import signature
from mlrail.components.export_onnx.core import ExportResult, export_onnx
from tests.helpers import Trained


@pytest.fixture(scope="module")
def with_variants(
    trained: Trained, tmp_path_factory: pytest.TempPathFactory
) -> tuple[ExportResult, Path]:
    out = tmp_path_factory.mktemp("variants") / "onnx_model"
    result = export_onnx(
        trained.model, trained.examples, out, model_name="penguins", optimize=True, quantize=True
    )
    return result, out


def _run(path: Path, feats: dict[str, np.ndarray]) -> np.ndarray:
    """The file's answer to ``feats`` (keyed by TensorFlow name), fed by the graph's names."""
    spec = ModelSpec.read(path.parent)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(["probabilities"], {i.column: feats[i.name] for i in spec.inputs})
    return np.asarray(out)


def test_each_variant_is_written_within_its_gate(
    trained: Trained, with_variants: tuple[ExportResult, Path]
) -> None:
    result, out = with_variants
    report = json.loads((out / "variants.json").read_text())
    assert report["base"]["accuracy"] >= 0.9 and report["base"]["bytes"] == len(
        (out / "model.onnx").read_bytes()
    )
    by_name = {v["name"]: v for v in report["variants"]}
    assert set(by_name) == {"optimized", "int8"}
    spec = ModelSpec.read(out)
    table = read_split(trained.examples / "eval")
    feats = spec.features(table, "eval")
    y, labelled = spec.labels(table, "eval")
    plain = _run(out / "model.onnx", feats)
    for name, v in by_name.items():
        assert v["accepted"] and v["file"] == f"model.{name}.onnx"
        assert v["accuracy_drop"] <= 0.01 and v["label_agreement"] >= 0.99
        assert v["bytes"] == len((out / v["file"]).read_bytes())
        # recompute independently from the files written
        got = _run(out / v["file"], feats)
        assert np.mean(got.argmax(1) == plain.argmax(1)) == v["label_agreement"]
        assert np.mean(got[labelled].argmax(1) == y[labelled]) == pytest.approx(v["accuracy"])
    assert result.files == ["model.onnx", "model.optimized.onnx", "model.int8.onnx"]


def test_int8_quantises_only_the_dense_weights_and_the_default_stays_float(
    with_variants: tuple[ExportResult, Path],
) -> None:
    _, out = with_variants
    ops = {n.op_type for n in onnx.load(str(out / "model.int8.onnx")).graph.node}
    assert {"MatMulInteger", "DynamicQuantizeLinear", "CategoryMapper"} <= ops
    assert "MatMul" not in ops
    for served in (out / "model.onnx", out / "model_repository" / "penguins" / "1" / "model.onnx"):
        ops = {n.op_type for n in onnx.load(str(served)).graph.node}
        assert "MatMulInteger" not in ops and "MatMul" in ops
    optimized = onnx.load(str(out / "model.optimized.onnx"))
    assert any(n.domain == "com.microsoft" for n in optimized.graph.node)  # ORT's fused ops


def test_a_variant_over_its_bound_is_reported_and_not_written(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlrail.components.export_onnx import variants
    from tests.components.export_onnx.test_core import _negated

    # an "int8" model whose probabilities are negated: its argmax is the least likely class
    monkeypatch.setattr(variants, "_int8", _negated)
    out = tmp_path / "onnx"
    result = export_onnx(trained.model, trained.examples, out, quantize=True)
    (v,) = result.variants
    assert v.name == "int8" and not v.accepted and "bound 0.01" in v.reason
    assert not (out / "model.int8.onnx").exists() and (out / "model.onnx").exists()
    assert result.files == ["model.onnx"]
    report = json.loads((out / "variants.json").read_text())
    assert report["variants"][0]["accepted"] is False
    assert result.metrics()["int8_accepted"] == 0.0


def test_without_variants_nothing_extra_is_written(onnx_model: Path) -> None:
    report = json.loads((onnx_model / "variants.json").read_text())
    assert report["base"] is None and report["variants"] == []
    assert sorted(p.name for p in onnx_model.glob("*.onnx")) == ["model.onnx"]


def test_signature_metadata_parses_and_matches_the_graph(onnx_model: Path) -> None:
    model = onnx.load(str(onnx_model / "model.onnx"))
    props = {p.key: p.value for p in model.metadata_props}
    sig = json.loads(props["mlrail.signature"])
    assert sig == signature(model)
    inputs = {i["name"]: i for i in sig["inputs"]}
    spec = ModelSpec.read(onnx_model)
    assert {i.column: i.dtype for i in spec.inputs} == {n: i["dtype"] for n, i in inputs.items()}
    assert inputs["island"] == {
        "name": "island", "dtype": "string", "onnx_type": "STRING", "shape": [-1, 1]
    }  # fmt: skip
    assert sig["outputs"] == [
        {"name": "probabilities", "dtype": "float32", "onnx_type": "FLOAT", "shape": [-1, 3]}
    ]
    assert model.producer_version and props["mlrail.task"] == "multiclass"
