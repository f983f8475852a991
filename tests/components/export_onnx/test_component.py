import json
from pathlib import Path

from kfp.dsl import Dataset, Metrics, Model

from mlrail.artifacts.identity import model_identity
from mlrail.components.export_onnx import export_onnx
from mlrail.components.export_onnx.convert import source_hash
from tests.components._compile import compiled_container
from tests.helpers import Trained


def test_python_func_records_parity_and_hash(trained: Trained, tmp_path: Path) -> None:
    onnx_model = Model(name="onnx_model", uri=str(tmp_path / "onnx"))
    parity = Metrics(name="parity", uri=str(tmp_path / "parity"))
    export_onnx.python_func(
        model=Model(name="model", uri=str(trained.model)),
        examples=Dataset(name="examples", uri=str(trained.examples)),
        onnx_model=onnx_model,
        parity=parity,
        model_name="penguins",
        tolerance=1e-4,
        opset=17,
        quantize=True,
    )
    md = onnx_model.metadata
    assert md["opset"] == 17 and len(md["sha256"]) == 64 and md["max_abs_diff"] <= 1e-5
    assert md["identity"] == model_identity(tmp_path / "onnx" / "model.onnx")
    assert md["source_sha256"] == source_hash(trained.model / "saved_model")
    assert md["outputs"] == ["probabilities"] and "island" in md["inputs"]
    assert md["files"] == ["model.onnx", "model.int8.onnx"]
    # the Metrics output carries parity and the variant's figures, equal to the files written
    report = json.loads((tmp_path / "onnx" / "parity.json").read_text())
    m = parity.metadata
    assert {k: m[k] for k in ("rows", "max_abs_diff", "max_rel_diff", "label_agreement")} == {
        k: report[k] for k in ("rows", "max_abs_diff", "max_rel_diff", "label_agreement")
    }
    (int8,) = json.loads((tmp_path / "onnx" / "variants.json").read_text())["variants"]
    assert m["int8_accepted"] == 1.0 and m["int8_bytes"] == int8["bytes"]
    assert m["int8_accuracy_drop"] == int8["accuracy_drop"] <= 0.01
    assert "optimized_accepted" not in m
    # the parity bound and the variants' verdicts, for whoever reads the metadata (mlrail run)
    assert {k: md[k] for k in ("rows", "tolerance", "rtol", "scale")} == {
        k: report[k] for k in ("rows", "tolerance", "rtol", "scale")
    }
    assert md["tolerance"] == 1e-4 and md["scale"] > 0
    assert md["variants"] == [
        {"name": "int8", "accepted": True, "bytes": int8["bytes"], "reason": int8["reason"]}
    ]
    assert all(isinstance(v, float) for v in m.values())


def test_compiles(tmp_path: Path) -> None:
    compiled_container(export_onnx, tmp_path)
