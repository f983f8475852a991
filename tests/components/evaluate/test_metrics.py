"""Metric families, curves and slices on small hand-made arrays (no model, no TensorFlow)."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from sklearn import metrics as skm

from mlrail.artifacts.modelspec import InputSpec, ModelSpec
from mlrail.components.evaluate.metrics import (
    MISSING,
    compute_curves,
    compute_metrics,
    expected_calibration_error,
    is_metric,
    parse_slices,
    slice_rows,
)
from mlrail.errors import DataError

X = [InputSpec("x", "x", "float32")]
MULTI = ModelSpec("multiclass", "y", X, "probabilities", ["a", "b", "c"])
BINARY = ModelSpec("binary", "y", X, "probabilities", ["no", "yes"])
REGRESSION = ModelSpec("regression", "y", X, "prediction")


def _proba(rng: np.random.Generator, y: np.ndarray, k: int, skill: float) -> np.ndarray:
    """Probabilities leaning towards the true class by ``skill``."""
    logits = rng.normal(size=(len(y), k))
    logits[np.arange(len(y)), y] += skill
    e = np.exp(logits)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def test_multiclass_metrics_are_scikit_learns():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    p = _proba(rng, y, 3, 1.5)
    m = compute_metrics(MULTI, y, p)
    yhat = p.argmax(axis=1)
    prec, rec, f1, support = skm.precision_recall_fscore_support(y, yhat, labels=[0, 1, 2])
    assert m.rows == 200
    assert m.scalars["accuracy"] == pytest.approx(skm.accuracy_score(y, yhat))
    assert m.scalars["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, yhat))
    assert m.scalars["precision_macro"] == pytest.approx(prec.mean())
    assert m.scalars["recall_macro"] == pytest.approx(rec.mean())
    assert m.scalars["f1_macro"] == pytest.approx(skm.f1_score(y, yhat, average="macro"))
    assert m.scalars["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y, p, multi_class="ovr", average="macro")
    )
    assert m.scalars["log_loss"] == pytest.approx(skm.log_loss(y, p), rel=1e-5)
    assert m.per_class["b"] == pytest.approx(
        {"precision": prec[1], "recall": rec[1], "f1": f1[1], "support": support[1]}
    )
    assert m.get("recall[c]") == pytest.approx(rec[2])
    assert m.confusion_matrix == skm.confusion_matrix(y, yhat).tolist()
    assert "average_precision" not in m.scalars  # binary only


def test_binary_metrics_use_the_second_class_probability():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 150)
    p = _proba(rng, y, 2, 1.0)
    m = compute_metrics(BINARY, y, p)
    assert m.scalars["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p[:, 1]))
    assert m.scalars["average_precision"] == pytest.approx(skm.average_precision_score(y, p[:, 1]))


def test_ece_is_the_documented_formula():
    # two rows at confidence 0.95 (one right), two at 0.55 (both right):
    # bin [0.9, 1]: |0.5 - 0.95| * 2/4, bin [0.5, 0.6): |1 - 0.55| * 2/4
    p = np.array([[0.95, 0.05], [0.95, 0.05], [0.55, 0.45], [0.45, 0.55]])
    y = np.array([0, 1, 0, 1])
    ece, curve = expected_calibration_error(y, p)
    assert ece == pytest.approx(0.45)
    assert curve == {
        "confidence": pytest.approx([0.55, 0.95]),
        "accuracy": pytest.approx([1.0, 0.5]),
        "rows": [2.0, 2.0],
    }


def test_ece_is_zero_for_a_calibrated_model():
    # in each bin the accuracy equals the confidence
    p = np.array([[0.75, 0.25]] * 4)
    y = np.array([0, 0, 0, 1])
    assert expected_calibration_error(y, p)[0] == pytest.approx(0.0)
    assert compute_metrics(BINARY, y, p).scalars["ece"] == pytest.approx(0.0)


def test_regression_metrics_and_mape_at_zero():
    y = np.array([1.0, 2.0, 4.0, 8.0])
    p = np.array([[1.5], [2.0], [3.0], [8.0]])
    m = compute_metrics(REGRESSION, y, p)
    assert m.scalars == pytest.approx(
        {
            "rmse": math.sqrt(skm.mean_squared_error(y, p.ravel())),
            "mae": 0.375,
            "mape": skm.mean_absolute_percentage_error(y, p.ravel()),
            "r2": skm.r2_score(y, p.ravel()),
        }
    )
    # a true value of 0: not infinite, but |error| / machine epsilon (documented)
    at_zero = compute_metrics(REGRESSION, np.array([0.0, 1.0]), np.array([[1.0], [1.0]]))
    assert math.isfinite(at_zero.scalars["mape"]) and at_zero.scalars["mape"] > 1e15


def test_undefined_metrics_are_absent_not_errors():
    # one class only: no ROC AUC; one row: no r2; neither warns (warnings are errors here)
    y = np.array([0, 0, 0])
    p = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.8, 0.1, 0.1]], dtype=np.float32)
    m = compute_metrics(MULTI, y, p)
    assert "roc_auc" not in m.scalars and m.get("roc_auc") is None
    assert m.scalars["balanced_accuracy"] == pytest.approx(2 / 3)
    assert m.per_class["c"]["precision"] == 0.0  # never predicted: 0, not an error
    assert "r2" not in compute_metrics(REGRESSION, np.array([1.0]), np.array([[2.0]])).scalars
    assert compute_metrics(MULTI, np.array([], dtype=int), np.zeros((0, 3))).scalars == {}


def test_metric_names_per_task():
    assert is_metric(MULTI, "recall[b]") and is_metric(MULTI, "ece")
    assert not is_metric(MULTI, "recall[z]") and not is_metric(MULTI, "rmse")
    assert is_metric(BINARY, "average_precision") and is_metric(REGRESSION, "mape")
    assert not is_metric(REGRESSION, "recall[a]")


def test_roc_thresholds_are_finite_and_long_curves_thinned():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 3000)
    p = _proba(rng, y, 2, 0.3)
    p[0] = [0.0, 1.0]  # a saturated score: "above every score" must still be above it
    c = compute_curves(BINARY, y, p)
    (roc,) = c.roc.values()
    assert list(c.roc) == ["yes"]
    assert all(math.isfinite(t) for t in roc["thresholds"])
    assert roc["thresholds"][0] > 1.0
    assert len(roc["fpr"]) <= 201 and roc["fpr"][0] == 0 and roc["tpr"][-1] == 1
    assert len(c.pr["yes"]["precision"]) <= 201


def test_multiclass_curves_are_one_vs_rest_per_class():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 90)
    c = compute_curves(MULTI, y, _proba(rng, y, 3, 2.0))
    assert list(c.roc) == ["a", "b", "c"] and list(c.pr) == ["a", "b", "c"]
    assert sum(c.calibration["rows"]) == 90


def test_regression_curve_bins_the_prediction():
    y = np.arange(100, dtype=float)
    c = compute_curves(REGRESSION, y, (y + 1).reshape(-1, 1))
    pvt = c.predicted_vs_true
    assert len(pvt["rows"]) == 10 and sum(pvt["rows"]) == 100
    assert np.allclose(np.array(pvt["predicted"]) - np.array(pvt["true"]), 1.0)


# ---------------------------------------------------------------------------------------------
# slices


def test_string_slices_per_value_sorted_with_missing_last():
    table = pa.table({"island": ["Dream", "Biscoe", None, "Dream"]})
    (spec,) = parse_slices(["island"])
    got = [(s.name, s.mask.tolist()) for s in slice_rows(table, spec, "t")]
    assert got == [
        ("island=Biscoe", [False, True, False, False]),
        ("island=Dream", [True, False, False, True]),
        (f"island={MISSING}", [False, False, True, False]),
    ]


def test_numeric_slices_are_quantile_buckets_with_readable_labels():
    mass = [float(x) for x in range(2700, 6300, 100)] + [None]  # 36 values and a missing one
    table = pa.table({"body_mass_g": mass})
    (spec,) = parse_slices(["body_mass_g"])
    slices = slice_rows(table, spec, "t")
    assert [s.label for s in slices] == [
        "[2700, 3575)",
        "[3575, 4450)",
        "[4450, 5325)",
        "[5325, 6200]",
        MISSING,
    ]
    assert [int(s.mask.sum()) for s in slices] == [9, 9, 9, 9, 1]
    masks = np.array([s.mask for s in slices])
    assert (masks.sum(axis=0) == 1).all()  # every row in exactly one slice


def test_numeric_slices_with_few_values_are_per_value_and_bucket_count_is_configurable():
    table = pa.table({"year": [2007, 2008, 2009, 2007], "x": [1.0, 2.0, 3.0, 4.0]})
    years = slice_rows(table, parse_slices(["year"])[0], "t")
    assert [(s.label, int(s.mask.sum())) for s in years] == [("2007", 2), ("2008", 1), ("2009", 1)]
    halves = slice_rows(table, parse_slices([{"column": "x", "buckets": 2}])[0], "t")
    assert [(s.label, int(s.mask.sum())) for s in halves] == [("[1, 2.5)", 2), ("[2.5, 4]", 2)]


@pytest.mark.parametrize("bad", [[""], [3], [{"column": "x", "buckets": 0}], [{"col": "x"}]])
def test_unreadable_slice_config(bad):
    with pytest.raises(ValueError, match="slice"):
        parse_slices(bad)


def test_slice_column_missing_from_the_data():
    with pytest.raises(DataError, match="t: slice column 'sex' is not in the data"):
        slice_rows(pa.table({"x": [1]}), parse_slices(["sex"])[0], "t")
