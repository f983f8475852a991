"""Confidence-based performance estimation (CBPE): the expected accuracy without labels.

The synthetic models here know the truth: each row's label is drawn from the probabilities that
are the "real" ones, and the model reports those probabilities (calibrated) or a distortion of
them (over-confident). Seeds are fixed, so every figure is the same on every run; the tolerances
are a few standard errors of the realized accuracy on the rows used (stated at each assert).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlrail.artifacts.calibration import (
    MIN_BIN_ROWS,
    Calibration,
    estimate_accuracy,
    expected_accuracy,
    expected_calibration_error,
    expected_roc_auc,
    fit_calibration,
)
from mlrail.artifacts.modelspec import ModelSpec
from mlrail.artifacts.predictions import top_label
from mlrail.errors import DataError

MULTI = ModelSpec("multiclass", "y", [], "probabilities", ["a", "b", "c"])
BINARY = ModelSpec("binary", "y", [], "probabilities", ["no", "yes"])


def _world(
    n: int, seed: int, *, k: int = 3, spread: float = 2.0, shift: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """True class probabilities of ``n`` rows and labels drawn from them.

    ``spread`` scales the logits (larger: more confident rows); ``shift`` adds to it, the
    served window's inputs moving to easier (> 0) or harder (< 0) rows.
    """
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * (spread + shift)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    u = rng.random(n)[:, None]
    y = (u > np.cumsum(p, axis=1)).sum(axis=1).clip(0, k - 1)
    return p, y


def _overconfident(p: np.ndarray) -> np.ndarray:
    """The model's outputs: the true probabilities sharpened (a temperature of 0.5)."""
    q = p**2
    return q / q.sum(axis=1, keepdims=True)


def _outcomes(spec: ModelSpec, outputs: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    index, confidence = top_label(spec, outputs)
    return confidence, index == y


def test_calibrated_probabilities_estimate_the_realized_accuracy() -> None:
    p, y = _world(5000, seed=1)
    cal = fit_calibration(*_outcomes(MULTI, p, y))
    assert cal.ece_after <= cal.ece_before
    window_p, window_y = _world(20000, seed=2)
    confidence, correct = _outcomes(MULTI, window_p, window_y)
    est = estimate_accuracy(cal, confidence)
    # the realized accuracy on 20000 rows spreads by about 0.003 around its expectation; 0.015
    # also allows the calibration's own error (0.003-0.005 here): under 5 standard errors
    assert abs(est.value - correct.mean()) < 0.015
    assert est.low <= correct.mean() <= est.high
    assert est.rows == 20000 and 0 < est.std_error < 0.01


def test_an_overconfident_model_is_recalibrated_and_its_raw_confidence_is_not_trusted() -> None:
    p, y = _world(5000, seed=3)
    cal = fit_calibration(*_outcomes(MULTI, _overconfident(p), y))
    assert cal.method == "histogram"
    # out of fold, not in sample: the map really is better on rows it did not see
    assert cal.ece_after < cal.ece_before / 3
    assert cal.ece_before > 0.08
    window_p, window_y = _world(20000, seed=4)
    confidence, correct = _outcomes(MULTI, _overconfident(window_p), window_y)
    raw = float(confidence.mean())
    est = expected_accuracy(cal, confidence)
    assert raw - correct.mean() > 0.08  # the raw confidence overstates the accuracy...
    assert abs(est - correct.mean()) < 0.015  # ...the calibrated one does not (as above)


def test_the_estimate_follows_a_shift_to_harder_and_easier_rows() -> None:
    p, y = _world(5000, seed=5)
    cal = fit_calibration(*_outcomes(MULTI, _overconfident(p), y))
    same = expected_accuracy(cal, _outcomes(MULTI, _overconfident(p), y)[0])
    for shift, direction in ((-1.2, -1), (1.5, +1)):
        wp, wy = _world(20000, seed=6, shift=shift)
        confidence, correct = _outcomes(MULTI, _overconfident(wp), wy)
        est = expected_accuracy(cal, confidence)
        assert direction * (est - same) > 0.08  # it moves, and the right way
        assert abs(est - correct.mean()) < 0.03  # and lands near the truth (coarser bins
        # at the edges of the eval confidences: a wider tolerance than in the eval range)


def test_binary_scores_calibrated_on_the_top_label() -> None:
    rng = np.random.default_rng(7)

    def world(n: int) -> tuple[np.ndarray, np.ndarray]:
        truth = rng.beta(0.6, 0.6, size=n)  # P(yes), many confident rows
        y = (rng.random(n) < truth).astype(int)
        score = 1 / (1 + np.exp(-3 * np.log(truth / (1 - truth)) / 2))  # over-confident
        return score, y

    score, y = world(4000)
    cal = fit_calibration(*_outcomes(BINARY, score, y))  # one sigmoid column
    assert cal.method == "histogram" and cal.ece_after < cal.ece_before
    wscore, wy = world(20000)
    confidence, correct = _outcomes(BINARY, np.column_stack([1 - wscore, wscore]), wy)
    assert abs(expected_accuracy(cal, confidence) - correct.mean()) < 0.015


def test_a_small_eval_split_gets_few_bins_or_none() -> None:
    p, y = _world(64, seed=8)
    cal = fit_calibration(*_outcomes(MULTI, _overconfident(p), y))
    # 51 rows per training fold: only 2 bins of at least MIN_BIN_ROWS rows can be tried
    assert set(cal.cv) <= {"identity", "histogram-2"} and len(cal.values) <= 2
    assert cal.ece_after <= cal.ece_before
    tiny = fit_calibration(np.array([0.9] * (2 * MIN_BIN_ROWS - 1)), np.ones(2 * MIN_BIN_ROWS - 1))
    assert (tiny.method, tiny.folds, list(tiny.cv)) == ("identity", 0, ["identity"])
    assert expected_accuracy(tiny, np.array([0.6, 0.8])) == pytest.approx(0.7)


def test_calibrated_confidences_are_kept_raw_when_binning_does_not_help() -> None:
    rng = np.random.default_rng(9)
    confidence = rng.uniform(0.5, 1.0, 3000)
    correct = rng.random(3000) < confidence  # calibrated by construction
    cal = fit_calibration(confidence, correct)
    assert cal.method == "identity" and cal.ece_after == cal.ece_before
    # binning was tried: its best Brier score did not beat the raw confidences out of fold
    assert len(cal.cv) > 5
    assert (
        min(v["brier"] for k, v in cal.cv.items() if k != "identity") > cal.cv["identity"]["brier"]
    )


def test_a_bin_of_all_correct_rows_does_not_claim_certainty() -> None:
    confidence = np.linspace(0.4, 1.0, 400)
    correct = confidence > 0.7  # every confident row right, every doubtful one wrong
    cal = fit_calibration(confidence, correct)
    assert cal.method == "histogram"
    assert max(cal.values) < 1.0 and min(cal.values) > 0.0


def test_ece_is_evaluates_definition() -> None:
    # two rows in bin [0.9, 1.0) at 0.95, one right: |0.5 - 0.95| * 2/3; one row at 0.15, wrong
    got = expected_calibration_error(np.array([0.95, 0.95, 0.15]), np.array([1, 0, 0]))
    assert got == pytest.approx((2 / 3) * 0.45 + (1 / 3) * 0.15)


def test_calibration_round_trips_through_json_and_bad_json_is_named() -> None:
    p, y = _world(2000, seed=10)
    cal = fit_calibration(*_outcomes(MULTI, _overconfident(p), y))
    back = Calibration.from_json(json.loads(json.dumps(cal.to_json())))
    assert back == cal
    c = np.linspace(0.3, 1.0, 50)
    assert np.array_equal(back.apply(c), cal.apply(c))
    with pytest.raises(DataError, match="profile.json: calibration: not a calibration"):
        Calibration.from_json({"edges": []}, "profile.json: calibration")
    with pytest.raises(DataError, match="method 'platt' is not identity or histogram"):
        Calibration.from_json({"method": "platt"})
    with pytest.raises(DataError, match="one value and row count per bin"):
        Calibration.from_json({"method": "histogram", "edges": [0.5], "values": [0.5], "rows": [1]})


def test_nothing_to_estimate_or_fit_is_an_error() -> None:
    cal = fit_calibration(np.array([0.9] * 10), np.ones(10))
    with pytest.raises(DataError, match="no predictions to estimate from"):
        expected_accuracy(cal, np.array([]))
    with pytest.raises(DataError, match="no labelled rows"):
        fit_calibration(np.array([]), np.array([]))
    with pytest.raises(DataError, match="3 confidence"):
        fit_calibration(np.ones(3), np.ones(2))


def test_expected_roc_auc_by_hand() -> None:
    raw = fit_calibration(np.full(5, 0.5), np.ones(5))  # too few rows: the raw scores
    # P(pos) = scores; pairs (i, j), i != j, weighted pos_i * neg_j: 2.85 ranked right (ties
    # half) of 3.30 in all
    got = expected_roc_auc(raw, np.array([0.1, 0.4, 0.4, 0.9]))
    assert got == pytest.approx(2.85 / 3.30)
    assert expected_roc_auc(raw, np.array([0.7])) is None
    assert expected_roc_auc(raw, np.array([1.0, 1.0])) is None  # surely positive: no pair
    assert expected_roc_auc(raw, np.array([1.0, 1.0, 0.0])) == 1.0


def test_expected_roc_auc_follows_the_realized_one() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(11)

    def world(n: int, a: float) -> tuple[np.ndarray, np.ndarray]:
        truth = rng.beta(a, a, size=n)  # P(positive); a > 1: more doubtful rows
        y = rng.random(n) < truth
        score = 1 / (1 + np.exp(-1.5 * np.log(truth / (1 - truth))))  # over-confident
        return score, y

    score, y = world(4000, 0.6)
    cal = fit_calibration(score, y)  # score -> P(positive)
    assert cal.method == "histogram"
    results = {}
    for a in (0.6, 2.0):
        ws, wy = world(20000, a)
        results[a] = (expected_roc_auc(cal, ws), roc_auc_score(wy, ws))
    # on 20000 rows the realized AUC spreads by about 0.003-0.004; the estimate within 0.02
    for est, real in results.values():
        assert est is not None and abs(est - real) < 0.02
    assert results[0.6][0] - results[2.0][0] > 0.08  # harder rows: a lower expected AUC
