"""The eval predictions profile: written as evaluate writes it, read back as monitor reads it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from tensorflow_metadata.proto.v0 import statistics_pb2

from mlrail.artifacts.modelspec import ModelSpec
from mlrail.artifacts.predictions import predictions_table
from mlrail.artifacts.tfmd import read_statistics
from mlrail.errors import DataError
from mlrail.validation.predictions import read_profile, write_profile
from mlrail.validation.statistics import statistics_from_batches

MULTI = ModelSpec("multiclass", "species", [], "probabilities", ["Adelie", "Chinstrap", "Gentoo"])
BINARY = ModelSpec("binary", "sex", [], "probabilities", ["female", "male"])
REGRESSION = ModelSpec("regression", "body_mass_g", [], "predictions")


def _classifier(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 3)) * 3
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    y = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1).clip(0, 2)
    q = p**2 / (p**2).sum(axis=1, keepdims=True)  # over-confident outputs
    return q.astype(np.float32), np.array(MULTI.classes, dtype=object)[y]


def test_a_classifier_profile_round_trips(tmp_path: Path) -> None:
    outputs, labels = _classifier(600)
    written = write_profile(tmp_path, MULTI, outputs, labels)
    folder = tmp_path / "predictions"
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.*"))
    # the statistics in TFX's ExampleStatistics layout: TFDV reads the folder as validate's
    assert files == ["Split-eval/FeatureStats.pb", "profile.json"]
    assert list(read_statistics(folder)) == ["eval"]
    raw = json.loads((folder / "profile.json").read_text())
    assert raw["format"] == 2 and raw["task"] == "multiclass" and raw["rows"] == 600
    assert raw["classes"] == MULTI.classes and raw["statistics"] == "Split-eval/FeatureStats.pb"
    got = read_profile(tmp_path)
    assert got.statistics == written.statistics and got.calibration == written.calibration
    assert (got.task, got.classes, got.rows) == ("multiclass", MULTI.classes, 600)
    # the predictions folder itself, or its profile.json, name the same profile
    for other in (tmp_path / "predictions", tmp_path / "predictions" / "profile.json"):
        assert read_profile(other).statistics == got.statistics
    assert read_profile(f"file://{tmp_path}").calibration == got.calibration
    # the statistics are validate's of the predictions table, one dataset named eval
    assert [d.name for d in got.statistics.datasets] == ["eval"]
    assert got.dataset == statistics_from_batches("eval", predictions_table(MULTI, outputs))
    assert got.dataset.num_examples == 600
    # the realized eval accuracy, and the calibrated estimate beside it
    predicted = predictions_table(MULTI, outputs).column("predicted_class").to_pylist()
    accuracy = float(np.mean([p == t for p, t in zip(predicted, labels, strict=True)]))
    assert got.metrics["accuracy"] == pytest.approx(accuracy)
    assert got.calibration is not None and got.calibration.eval_rows == 600
    assert got.calibration.ece_after <= got.calibration.ece_before
    assert got.expected_accuracy_on_eval == pytest.approx(accuracy, abs=0.03)


def test_rows_without_a_label_are_profiled_but_not_calibrated_on(tmp_path: Path) -> None:
    outputs, labels = _classifier(200)
    labels[:50] = None
    got = write_profile(tmp_path, MULTI, outputs, labels)
    assert got.rows == 200 and got.metrics["rows"] == 150.0
    assert got.calibration is not None and got.calibration.eval_rows == 150


def test_binary_and_regression_profiles(tmp_path: Path) -> None:
    score = np.linspace(0.01, 0.99, 100)
    labels = np.where(np.random.default_rng(1).random(100) < score, "male", "female")
    write_profile(tmp_path / "b", BINARY, np.column_stack([1 - score, score]), labels)
    b = read_profile(tmp_path / "b")
    assert [f.path.step[0] for f in b.dataset.features] == [
        "predicted_class",
        "confidence",
        "score",
    ]
    assert b.calibration is not None and b.expected_accuracy_on_eval is not None
    # the score's own map, for the expected ROC AUC: here 100 rows, labels drawn from the score
    assert b.score_calibration is not None and b.score_calibration.eval_rows == 100
    assert b.expected_roc_auc_on_eval is not None
    realized = roc_auc_score(labels == "male", score)
    assert b.expected_roc_auc_on_eval == pytest.approx(realized, abs=0.08)
    write_profile(tmp_path / "r", REGRESSION, np.array([[1.0], [2.0], [4.0]]), [1.0, 3.0, 4.0])
    r = read_profile(tmp_path / "r")
    assert [f.path.step[0] for f in r.dataset.features] == ["prediction"]
    assert r.calibration is None and r.expected_accuracy_on_eval is None
    assert r.metrics["mae"] == pytest.approx(1 / 3)
    raw = json.loads((tmp_path / "r" / "predictions" / "profile.json").read_text())
    assert raw["calibration"] is None and raw["expected_accuracy_on_eval"] is None


def test_a_missing_or_corrupt_profile_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "blessing"
    folder.mkdir()
    (folder / "blessing.json").write_text("{}")
    with pytest.raises(DataError, match=r"predictions/profile.json: no predictions profile"):
        read_profile(folder)
    write_profile(folder, REGRESSION, np.array([[1.0]]), [1.0])
    profile = folder / "predictions" / "profile.json"
    good = profile.read_text()
    profile.write_text("{not json")
    with pytest.raises(DataError, match=r"profile.json: not valid JSON"):
        read_profile(folder)
    # format 1: predictions/FeatureStats.pb, before the TFX layout
    profile.write_text(json.dumps({**json.loads(good), "format": 1}))
    with pytest.raises(DataError, match=r"profile.json: format 1, this mlrail reads format 2"):
        read_profile(folder)
    profile.write_text(json.dumps({**json.loads(good), "task": "multiclass"}))
    with pytest.raises(DataError, match=r"profile.json: a classifier's profile has no calibration"):
        read_profile(folder)
    profile.write_text(json.dumps({k: v for k, v in json.loads(good).items() if k != "rows"}))
    with pytest.raises(DataError, match=r"profile.json: not a predictions profile \(KeyError"):
        read_profile(folder)
    profile.write_text(good)
    stats = folder / "predictions" / "Split-eval" / "FeatureStats.pb"
    stats.write_bytes(b"\xff\xff not a proto")
    with pytest.raises(DataError, match=f"^{stats}: not a DatasetFeatureStatisticsList"):
        read_profile(folder)
    two = statistics_pb2.DatasetFeatureStatisticsList()
    two.datasets.add(name="eval")
    two.datasets.add(name="train")
    stats.write_bytes(two.SerializeToString())
    with pytest.raises(DataError, match=f"^{stats}: holds 2 datasets"):
        read_profile(folder)
    stats.unlink()
    with pytest.raises(DataError, match=f"^{stats}: no such file"):
        read_profile(folder)


def test_outputs_not_of_the_spec_write_nothing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"expected \[rows, 3\] probabilities"):
        write_profile(tmp_path, MULTI, np.zeros((4, 2)), ["Adelie"] * 4)
    assert not (tmp_path / "predictions").exists()
