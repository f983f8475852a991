"""Fairness figures on penguins, checked against fairlearn called directly on the same rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    selection_rate,
)
from sklearn.metrics import mean_absolute_error, zero_one_loss

from mlrail.artifacts.examples import read_split
from mlrail.artifacts.modelspec import ModelSpec
from mlrail.components.evaluate.core import evaluate
from mlrail.components.evaluate.models import load_model
from tests.helpers import Trained


def _rows(model: Path, examples: Path, column: str):
    """Labels, predictions and the sensitive column of the labelled eval rows, computed here."""
    spec = ModelSpec.read(model)
    table = read_split(examples / "eval")
    y, mask = spec.labels(table, "eval")
    table = table.filter(mask)
    pred = load_model(model).predict(spec.features(table, "eval"))
    s = np.array(["(missing)" if v is None else str(v) for v in table.column(column).to_pylist()])
    return spec, y[mask], pred, s


def test_multiclass_fairness_by_sex_matches_fairlearn(trained: Trained) -> None:
    ev = evaluate(trained.model, trained.examples, sensitive_columns=["sex"], importance_repeats=0)
    (f,) = ev.fairness
    spec, y, pred, s = _rows(trained.model, trained.examples, "sex")
    yhat = pred.argmax(axis=1)
    # every group listed; the tiny "(missing)" group is left out of the differences
    assert [(g.label, g.rows, g.small) for g in f.groups] == [
        (label, int((s == label).sum()), (s == label).sum() < 10)
        for label in ["female", "male", "(missing)"]
        if (s == label).any()
    ]
    labels, counts = np.unique(s, return_counts=True)
    keep = np.isin(s, labels[counts >= 10])  # the default min_slice_rows
    for i, c in enumerate(spec.classes):  # one-vs-rest per class
        yc, pc, sc = y[keep] == i, yhat[keep] == i, s[keep]
        assert f.by_class[c]["demographic_parity_difference"] == pytest.approx(
            demographic_parity_difference(yc, pc, sensitive_features=sc)
        )
        assert f.by_class[c]["equalized_odds_difference"] == pytest.approx(
            equalized_odds_difference(yc, pc, sensitive_features=sc)
        )
    # the headline is the worst class
    assert f.metrics["demographic_parity_difference"] == max(
        d["demographic_parity_difference"] for d in f.by_class.values()
    )
    assert f.metrics["equalized_odds_difference"] == max(
        d["equalized_odds_difference"] for d in f.by_class.values()
    )
    frame = MetricFrame(
        metrics={"error_rate": zero_one_loss},
        y_true=y[keep],
        y_pred=yhat[keep],
        sensitive_features=s[keep],
    )
    assert f.metrics["error_rate_difference"] == pytest.approx(frame.difference()["error_rate"])
    female = next(g for g in f.groups if g.label == "female")
    m = s == "female"
    assert female.figures["error_rate"] == pytest.approx(zero_one_loss(y[m], yhat[m]))
    assert female.figures["selection_rate[Gentoo]"] == pytest.approx(
        selection_rate(y[m], yhat[m], pos_label=spec.classes.index("Gentoo"))
    )
    assert ev.kfp_metrics()["demographic_parity_difference[sex]"] == pytest.approx(
        f.metrics["demographic_parity_difference"]
    )


def test_binary_fairness_by_island_matches_fairlearn(trained: Trained, binary_model: Path) -> None:
    ev = evaluate(binary_model, trained.examples, sensitive_columns=["island"], min_slice_rows=1)
    (f,) = ev.fairness
    _, y, pred, s = _rows(binary_model, trained.examples, "island")
    yhat = pred.argmax(axis=1)
    assert f.metrics["demographic_parity_difference"] == pytest.approx(
        demographic_parity_difference(y, yhat, sensitive_features=s)
    )
    assert f.metrics["demographic_parity_ratio"] == pytest.approx(
        demographic_parity_ratio(y, yhat, sensitive_features=s)
    )
    assert f.metrics["equalized_odds_difference"] == pytest.approx(
        equalized_odds_difference(y, yhat, sensitive_features=s)
    )
    assert not f.by_class
    dream = next(g for g in f.groups if g.label == "Dream")
    m = s == "Dream"
    assert dream.figures["selection_rate"] == pytest.approx(selection_rate(y[m], yhat[m]))
    assert {"true_positive_rate", "false_positive_rate", "error_rate"} <= set(dream.figures)


def test_regression_fairness_is_the_gap_in_error(trained: Trained, regression_model: Path) -> None:
    ev = evaluate(regression_model, trained.examples, sensitive_columns=["sex"])
    (f,) = ev.fairness
    _, y, pred, s = _rows(regression_model, trained.examples, "sex")
    labels, counts = np.unique(s, return_counts=True)
    keep = np.isin(s, labels[counts >= 10])
    frame = MetricFrame(
        metrics=mean_absolute_error,
        y_true=y[keep],
        y_pred=pred.reshape(-1)[keep],
        sensitive_features=s[keep],
    )
    assert f.metrics["mae_difference"] == pytest.approx(frame.difference())
    assert "demographic_parity_difference" not in f.metrics


def test_too_few_large_groups_gives_no_differences(trained: Trained) -> None:
    ev = evaluate(
        trained.model,
        trained.examples,
        sensitive_columns=["sex"],
        fairness_thresholds={"demographic_parity_difference": 0.1},
        min_slice_rows=1000,
        importance_repeats=0,
    )
    (f,) = ev.fairness
    assert f.metrics == {} and "fewer than two groups with at least 1000 rows" in f.note
    (c,) = [c for c in ev.checks if c.scope == "fairness"]
    assert c.verdict == "skipped" and c.passed and "fewer than two groups" in c.reason
