from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from mlrail.artifacts.examples import read_split
from mlrail.artifacts.identity import model_identity
from mlrail.artifacts.modelspec import ModelSpec
from mlrail.artifacts.saved_model import predict_saved_model
from mlrail.components.export_onnx.checks import UNSEEN, edge_rows, parity
from mlrail.components.export_onnx.core import export_onnx
from mlrail.errors import ParityError
from tests.helpers import Trained


def test_onnx_matches_the_saved_model_on_every_eval_row(trained: Trained, onnx_model: Path) -> None:
    report = json.loads((onnx_model / "parity.json").read_text())
    eval_rows = read_split(trained.examples / "eval").num_rows
    assert report["rows"] == eval_rows
    assert report["max_abs_diff"] <= 1e-5
    assert report["label_agreement"] == 1.0
    # recompute independently: ONNX Runtime on the file written vs the SavedModel
    spec = ModelSpec.read(onnx_model)
    feats = spec.features(read_split(trained.examples / "eval"), "eval")
    session = ort.InferenceSession(
        str(onnx_model / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    # the graph's inputs are the columns: fed by the data's own names
    (got,) = session.run(["probabilities"], {i.column: feats[i.name] for i in spec.inputs})
    want = predict_saved_model(trained.model / "saved_model", feats)
    assert np.abs(got - want).max() <= 1e-5


def test_edge_rows_give_the_saved_model_s_answers(trained: Trained, onnx_model: Path) -> None:
    """Missing and infinite numbers, empty and unseen strings: finite and equal on both sides."""
    spec = ModelSpec.read(onnx_model)
    feats = spec.features(read_split(trained.examples / "eval"), "eval")
    edges, names = edge_rows(spec, feats)
    numbers = sum(i.dtype == "float32" for i in spec.inputs)
    assert len(names) == 3 * numbers + 2 * (len(spec.inputs) - numbers) + 1
    assert json.loads((onnx_model / "parity.json").read_text())["edge_rows"] == len(names)
    assert np.isnan(edges["in_body_mass_g"][names.index("body_mass_g=NaN"), 0])
    assert edges["in_island"][names.index("island=unseen"), 0] == UNSEEN
    session = ort.InferenceSession(
        str(onnx_model / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    (got,) = session.run(["probabilities"], {i.column: edges[i.name] for i in spec.inputs})
    want = predict_saved_model(trained.model / "saved_model", edges)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_a_graph_that_turns_missing_numbers_into_nan_is_refused(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The formulation tf2onnx converts to cond * x + (1 - cond) * mean: NaN * 0 is NaN."""
    import keras

    from mlrail.components.train.core import train
    from mlrail.components.train.layers import Impute

    monkeypatch.setattr(
        Impute, "call", lambda self, x: keras.ops.where(keras.ops.isfinite(x), x, self.value)
    )
    train(
        trained.examples, trained.schema, trained.statistics, tmp_path / "m",
        label="species", hparams={"epochs": 1},
    )  # fmt: skip
    # eval rows without gaps, as when the bug went unseen: only the edge rows can catch it
    import shutil

    import pyarrow.parquet as pq

    examples = tmp_path / "examples"
    shutil.copytree(trained.examples, examples)
    for part in (examples / "eval").glob("*.parquet"):
        pq.write_table(pq.read_table(part).drop_null(), part)
    with pytest.raises(ParityError, match=r"edge rows .*bill_length_mm=NaN"):
        export_onnx(tmp_path / "m", examples, tmp_path / "onnx")
    assert not (tmp_path / "onnx").exists()


def test_layout_metadata_and_triton_config(onnx_model: Path) -> None:
    repo = onnx_model / "model_repository" / "penguins"
    assert (repo / "1" / "model.onnx").read_bytes() == (onnx_model / "model.onnx").read_bytes()
    assert ModelSpec.read(repo / "1") == ModelSpec.read(onnx_model)
    assert sorted(p.name for p in repo.iterdir()) == ["1", "config.pbtxt"]  # no staging left
    config = (repo / "config.pbtxt").read_text()
    assert 'name: "penguins"' in config and 'platform: "onnxruntime_onnx"' in config
    assert config.count("TYPE_STRING") == 2 and "dims: [ 3 ]" in config
    assert "max_batch_size: 1024" in config and "dynamic_batching { }" in config
    model = onnx.load(str(onnx_model / "model.onnx"))
    props = {p.key: p.value for p in model.metadata_props}
    assert props["mlrail.classes"] == "Adelie,Chinstrap,Gentoo"
    # the identity of the graph, recorded in the file; no SavedModel hash (it varies by training)
    assert props["mlrail.identity"] == model_identity(model)
    assert "mlrail.source_sha256" not in props
    assert model.producer_name == "mlrail"
    assert {i.name for i in model.graph.input} == {
        i.column for i in ModelSpec.read(onnx_model).inputs
    }
    onnx.checker.check_model(model, full_check=True)


def test_parity_above_tolerance_fails_and_writes_nothing(trained: Trained, tmp_path: Path) -> None:
    # no relative term: float32 rounding alone exceeds 1e-12, whatever the model's outputs are
    # (one ulp of a probability near 1 is within the default 1e-6 relative bound)
    with pytest.raises(ParityError, match="worst rows"):
        export_onnx(trained.model, trained.examples, tmp_path / "onnx", tolerance=1e-12, rtol=0.0)
    assert not (tmp_path / "onnx").exists()


def test_parity_report_names_the_worst_rows() -> None:
    spec = ModelSpec(
        task="binary", label="y", inputs=[], output="probabilities", classes=["a", "b"]
    )
    ref = np.array([[0.9, 0.1], [0.4, 0.6], [0.45, 0.55]], np.float32)
    onnx_out = ref.copy()
    onnx_out[2] = [0.7, 0.3]
    p = parity(spec, ref, onnx_out, 1e-4)
    assert not p.ok and p.worst_rows[0] == 2
    assert p.max_abs_diff == pytest.approx(0.25, abs=1e-6)
    assert p.label_agreement == pytest.approx(2 / 3)


def test_the_relative_bound_follows_the_outputs_scale_not_each_row() -> None:
    """House prices (mean 200,000): float32 rounding of the regression head's offset moves every
    row by a step at 200,000 (0.0156), also a row predicting 7,528, whose own relative bound is
    0.0076. Measured on a real export (tests/test_tables.py). A real difference still fails."""
    spec = ModelSpec(task="regression", label="price", inputs=[], output="predictions")
    ref = np.array([[7527.8594], [333039.22], [180411.05]], np.float32)
    rounded = ref + np.float32(0.03125)
    p = parity(spec, ref, rounded, 1e-4)
    assert p.ok and p.scale == pytest.approx(333039.22)
    wrong = ref.copy()
    wrong[0] += 1.0  # a conversion bug, 30 times the float32 noise
    assert not parity(spec, ref, wrong, 1e-4).ok


def _negated(data: bytes, scratch: Path) -> bytes:
    """The model with its output negated: another model entirely, which no bound admits."""
    from onnx import helper

    model = onnx.load_from_string(data)
    out = model.graph.output[0].name
    for node in model.graph.node:
        node.output[:] = [f"{out}_raw" if n == out else n for n in node.output]
    model.graph.node.append(helper.make_node("Neg", [f"{out}_raw"], [out]))
    return model.SerializeToString()


def test_regression_in_the_thousands_passes_parity(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One float32 step at 5,000 g is ~5e-4: the relative part of the bound is what admits it."""
    from mlrail.components.export_onnx import variants
    from mlrail.components.train.core import train

    train(
        trained.examples,
        trained.schema,
        trained.statistics,
        tmp_path / "m",
        label="body_mass_g",
        hparams={"epochs": 3},
    )
    # variants that predict minus the mass: far over any RMSE bound, both are rejected
    monkeypatch.setattr(variants, "_optimized", _negated)
    monkeypatch.setattr(variants, "_int8", _negated)
    result = export_onnx(
        tmp_path / "m",
        trained.examples,
        tmp_path / "onnx",
        model_name="mass",
        optimize=True,
        quantize=True,
    )
    assert result.parity.ok and result.parity.label_agreement is None
    assert result.parity.max_abs_diff > 0 or result.parity.max_rel_diff == 0
    assert json.loads((tmp_path / "onnx" / "parity.json").read_text())["rtol"] == 1e-6
    assert result.base is not None and result.base.rmse is not None and result.base.rmse > 0
    assert [(v.name, v.accepted) for v in result.variants] == [
        ("optimized", False),
        ("int8", False),
    ]
    assert all(v.rmse_increase is not None and v.accuracy is None for v in result.variants)
    assert sorted(p.name for p in (tmp_path / "onnx").glob("*.onnx")) == ["model.onnx"]


def test_component_defaults_match_the_core() -> None:
    import inspect

    from mlrail.artifacts.parity import DEFAULT_RTOL
    from mlrail.components.export_onnx import export_onnx as component
    from mlrail.components.export_onnx.core import DEFAULT_OPSET
    from mlrail.components.export_onnx.variants import (
        DEFAULT_MAX_ACCURACY_DROP,
        DEFAULT_MAX_RMSE_INCREASE,
    )

    defaults = inspect.signature(component.python_func).parameters
    assert defaults["opset"].default == DEFAULT_OPSET
    assert defaults["rtol"].default == DEFAULT_RTOL
    assert defaults["max_accuracy_drop"].default == DEFAULT_MAX_ACCURACY_DROP
    assert defaults["max_rmse_increase"].default == DEFAULT_MAX_RMSE_INCREASE
    assert defaults["optimize"].default is False and defaults["quantize"].default is False


def test_golden_requests_replay_to_the_recorded_answer(onnx_model: Path) -> None:
    """golden.json is a valid V2 request whose ONNX Runtime answer is the one recorded."""
    golden = json.loads((onnx_model / "golden.json").read_text())
    spec = ModelSpec.read(onnx_model)
    feed = {}
    for i in golden["request"]["inputs"]:
        assert i["shape"] == [8, 1] and i["datatype"] in ("FP32", "BYTES")
        if i["datatype"] == "FP32":
            feed[i["name"]] = np.array(
                [np.nan if v is None else v for v in i["data"]], np.float32
            ).reshape(8, 1)
        else:
            feed[i["name"]] = np.array(i["data"], object).reshape(8, 1)
    # V2 clients send the original column names
    assert set(feed) == {i.column for i in spec.inputs}
    session = ort.InferenceSession(
        str(onnx_model / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    (got,) = session.run([spec.output], feed)
    (out,) = golden["outputs"]
    assert out["name"] == "probabilities" and out["shape"] == [8, 3]
    np.testing.assert_allclose(got.reshape(-1), out["data"], atol=1e-6)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("tolerance", -1.0),  # every row "within bound": the gate would be off
        ("tolerance", float("nan")),
        ("rtol", -1e-6),
        ("rtol", float("inf")),
        ("max_accuracy_drop", -0.5),
        ("max_rmse_increase", float("nan")),
    ],
)
def test_a_negative_or_nan_bound_is_refused_before_anything_runs(
    trained: Trained, tmp_path: Path, option: str, value: float
) -> None:
    from mlrail.components.export_onnx.core import check_options

    with pytest.raises(ValueError, match=f"^{option} must be a finite number >= 0"):
        check_options(**{option: value})
    with pytest.raises(ValueError, match=f"^{option} must be a finite number >= 0"):
        export_onnx(trained.model, trained.examples, tmp_path / "onnx", **{option: value})
    assert not (tmp_path / "onnx").exists()


def test_a_zero_bound_asks_for_equality() -> None:
    spec = ModelSpec("regression", "y", [], "predictions")
    same = np.array([[1.0], [2.0]], np.float32)
    assert parity(spec, same, same.copy(), tolerance=0.0, rtol=0.0).ok
    assert not parity(spec, same, same + 1e-7, tolerance=0.0, rtol=0.0).ok
