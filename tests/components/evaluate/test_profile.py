"""evaluate writes the eval predictions profile monitor reads, into its blessing folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlrail.artifacts.examples import read_split
from mlrail.artifacts.predictions import predictions_table
from mlrail.components.evaluate.core import evaluate
from mlrail.components.evaluate.models import load_model
from mlrail.validation.predictions import read_profile
from mlrail.validation.statistics import statistics_from_batches
from tests.helpers import Trained

FAST = {"importance_repeats": 0}


def test_the_onnx_models_eval_predictions_are_profiled(
    trained: Trained, binary_onnx: Path, tmp_path: Path
) -> None:
    """The pipeline's case: export_onnx's binary model, rows without a label left out."""
    blessing = tmp_path / "blessing"
    ev = evaluate(binary_onnx, trained.examples, tmp_path / "metrics.json", blessing, **FAST)
    eval_table = read_split(trained.examples / "eval")
    labelled = eval_table.filter(eval_table.column("sex").is_valid())
    assert ev.rows == labelled.num_rows

    profile = read_profile(blessing)
    assert (profile.task, profile.classes, profile.rows) == ("binary", ["female", "male"], ev.rows)
    # the statistics are those of the predictions table of the model's outputs on those rows
    model = load_model(binary_onnx)
    table = predictions_table(model.spec, model.predict(model.spec.features(labelled, "eval")))
    assert profile.dataset == statistics_from_batches("eval", table)
    assert profile.dataset.num_examples == ev.rows
    # the realized figures and the raw confidences' ECE are evaluate's own
    assert profile.metrics["accuracy"] == pytest.approx(ev.metrics["accuracy"])
    assert profile.metrics["rows"] == ev.rows
    cal = profile.calibration
    assert cal is not None and cal.eval_rows == ev.rows
    assert cal.ece_before == pytest.approx(ev.metrics["ece"])
    assert cal.ece_after <= cal.ece_before
    assert profile.expected_accuracy_on_eval is not None
    # binary: the score's map too, and the expected AUC of a model that ranks well
    assert profile.score_calibration is not None
    assert profile.score_calibration.eval_rows == ev.rows
    assert profile.expected_roc_auc_on_eval is not None and profile.expected_roc_auc_on_eval > 0.7
    # blessing.json is what it was: the profile sits beside it
    assert sorted(p.name for p in blessing.iterdir()) == ["blessing.json", "predictions"]
    assert "predictions" not in json.loads((blessing / "blessing.json").read_text())


def test_multiclass_and_regression_models_are_profiled(
    trained: Trained, regression_model: Path, tmp_path: Path
) -> None:
    ev = evaluate(trained.model, trained.examples, blessing_dir=tmp_path / "m", **FAST)
    m = read_profile(tmp_path / "m")
    assert (m.task, m.rows) == ("multiclass", ev.rows)
    assert [f.path.step[0] for f in m.dataset.features] == ["predicted_class", "confidence"]
    assert m.metrics["accuracy"] == pytest.approx(ev.metrics["accuracy"])
    assert m.calibration is not None and m.calibration.ece_after <= m.calibration.ece_before
    assert m.calibration.ece_before == pytest.approx(ev.metrics["ece"])
    assert m.score_calibration is None and m.expected_roc_auc_on_eval is None

    ev = evaluate(regression_model, trained.examples, blessing_dir=tmp_path / "r", **FAST)
    r = read_profile(tmp_path / "r")
    assert (r.task, r.rows, r.calibration) == ("regression", ev.rows, None)
    assert [f.path.step[0] for f in r.dataset.features] == ["prediction"]
    assert r.metrics["rmse"] == pytest.approx(ev.metrics["rmse"], rel=1e-5)
    assert r.metrics["mae"] == pytest.approx(ev.metrics["mae"], rel=1e-5)
