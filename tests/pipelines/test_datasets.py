"""The whole pipeline, through kfp.local, on data no one here wrote (tests/fixtures/datasets).

The bundled penguins are the smoke test; these are the proof that nothing is tuned to them: a
binary task with 30 numeric features and a regression task in original units, each from the
datasets that ship inside scikit-learn (exported by tests/fixtures/datasets/export.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import onnxruntime as ort
import pytest

from mlrail.artifacts.modelspec import ModelSpec
from mlrail.local import run_training

DATASETS = Path(__file__).parents[1] / "fixtures" / "datasets"


@pytest.mark.parametrize(
    ("file", "label", "task", "metric", "floor"),
    [
        ("breast_cancer.csv", "diagnosis", "binary", "roc_auc", 0.95),
        ("diabetes.csv", "progression", "regression", "r2", 0.2),
    ],
)
def test_whole_pipeline(
    file: str, label: str, task: str, metric: str, floor: float, tmp_path: Path
) -> None:
    run = run_training(
        workdir=tmp_path,
        arguments={
            "source": str(DATASETS / file),
            "label": label,
            "model_name": Path(file).stem.replace("_", "-"),
            "thresholds": {metric: f">= {floor}"},
        },
    )
    assert run.ok, run.error
    assert run.figures["anomalies"] == 0
    assert run.figures["metrics"][metric] >= floor and run.figures["blessed"] is True
    assert run.figures["parity_max_abs_diff"] <= 1e-3
    assert run.onnx_model is not None and run.onnx_model.is_file()
    spec = ModelSpec.read(run.onnx_model.parent)
    assert spec.task == task and spec.label == label
    (blessing,) = (tmp_path / "pipeline_root").glob("*/evaluate/blessing/blessing.json")
    assert "no baseline" in json.loads(blessing.read_text())["decided_on"]  # the first run
    session = ort.InferenceSession(str(run.onnx_model), providers=["CPUExecutionProvider"])
    # the ONNX graph takes the columns by their own names (V2 clients send those)
    assert {i.name for i in session.get_inputs()} == {i.column for i in spec.inputs}
