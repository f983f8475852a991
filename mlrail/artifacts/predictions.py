"""A model's outputs as a table of predictions, and the realized figures when the truth is known.

evaluate builds the table from the ONNX outputs on its eval split, monitor from the outputs the
server logged: one function (:func:`predictions_table`) for both, so the served predictions are
compared with the eval ones column for column.

The model's output (``spec.output``) follows :mod:`.modelspec`'s contract, as evaluate
(``components/evaluate/metrics.py``) and the server read it:

- a classifier gives ``[n, len(spec.classes)]`` probabilities, in ``spec.classes`` order (a
  softmax, binary models included); the predicted class is the most probable one (the first on
  a tie, as ``argmax``). A binary output of one column (``[n, 1]`` or ``[n]``) is read as a
  sigmoid, P(``classes[1]``), which mlrail's models never give but a V2 client may expect;
- a regressor gives ``[n, 1]`` (or ``[n]``) predictions.

The predictions table:

- classification: ``predicted_class`` (string, the class name), ``confidence`` (float64, the
  largest probability) and, binary only, ``score`` (float64, P(``classes[1]``));
- regression: ``prediction`` (float64).

No TensorFlow and no scikit-learn here: the server's side of monitoring imports this module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from mlrail.artifacts.modelspec import CLASSIFICATION, ModelSpec, class_key
from mlrail.errors import DataError

__all__ = [
    "CLASS_COLUMN",
    "CONFIDENCE_COLUMN",
    "PREDICTION_COLUMN",
    "SCORE_COLUMN",
    "predictions_table",
    "probabilities",
    "realized_metrics",
    "top_label",
]

CLASS_COLUMN = "predicted_class"
CONFIDENCE_COLUMN = "confidence"
SCORE_COLUMN = "score"
PREDICTION_COLUMN = "prediction"


def probabilities(spec: ModelSpec, outputs: np.ndarray, where: str = "outputs") -> np.ndarray:
    """A classifier's outputs as ``[n, len(spec.classes)]`` float64 probabilities.

    Args:
        spec: The model's contract (a classifier).
        outputs: ``[n, classes]`` probabilities; binary also ``[n, 1]`` or ``[n]`` P(classes[1]).
        where: Names the outputs in errors (a file, "the eval split").

    Raises:
        DataError: naming ``where``, when the shape is not the spec's or a value is not a
            probability (NaN, below 0 or above 1 beyond float32 rounding).
    """
    k = len(spec.classes)
    out = np.asarray(outputs, dtype=np.float64)
    if spec.task == "binary" and (out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1)):
        p = out.reshape(-1)
        out = np.column_stack([1.0 - p, p])
    if out.ndim != 2 or out.shape[1] != k:
        raise DataError(
            f"{where}: expected [rows, {k}] probabilities (one per class of "
            f"{spec.classes}), got shape {list(out.shape)}"
        )
    if out.size and (not np.all(np.isfinite(out)) or out.min() < -1e-6 or out.max() > 1 + 1e-6):
        raise DataError(f"{where}: the outputs are not probabilities (NaN, or outside [0, 1])")
    return np.clip(out, 0.0, 1.0)


def top_label(
    spec: ModelSpec, outputs: np.ndarray, where: str = "outputs"
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's predicted class index and its confidence (the largest probability)."""
    proba = probabilities(spec, outputs, where)
    if not len(proba):
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    index = proba.argmax(axis=1)
    return index.astype(np.int64), proba[np.arange(len(proba)), index]


def _regression(outputs: np.ndarray, where: str) -> np.ndarray:
    out = np.asarray(outputs, dtype=np.float64)
    if out.ndim == 2 and out.shape[1] == 1:
        out = out.reshape(-1)
    if out.ndim != 1:
        raise DataError(f"{where}: expected [rows, 1] predictions, got shape {list(out.shape)}")
    return out


def predictions_table(spec: ModelSpec, outputs: np.ndarray, where: str = "outputs") -> pa.Table:
    """The predictions table of ``outputs`` (its columns: the module docstring).

    Args:
        spec: The model's contract.
        outputs: The model's output tensor on ``n`` rows.
        where: Names the outputs in errors.

    Returns:
        An ``n``-row table.

    Raises:
        DataError: naming ``where``, when ``outputs`` is not of the spec's shape or a
            classifier's values are not probabilities.
    """
    if spec.task not in CLASSIFICATION:
        return pa.table({PREDICTION_COLUMN: pa.array(_regression(outputs, where), pa.float64())})
    proba = probabilities(spec, outputs, where)
    index, confidence = top_label(spec, proba, where)
    names = np.asarray(spec.classes, dtype=object)[index] if len(index) else []
    columns: dict[str, pa.Array] = {
        CLASS_COLUMN: pa.array(list(names), pa.string()),
        CONFIDENCE_COLUMN: pa.array(confidence, pa.float64()),
    }
    if spec.task == "binary":
        columns[SCORE_COLUMN] = pa.array(proba[:, 1], pa.float64())
    return pa.table(columns)


def _as_table(spec: ModelSpec, predictions: pa.Table | np.ndarray, where: str) -> pa.Table:
    if isinstance(predictions, pa.Table):
        wanted = CLASS_COLUMN if spec.task in CLASSIFICATION else PREDICTION_COLUMN
        if wanted not in predictions.column_names:
            raise DataError(f"{where}: no {wanted!r} column in the predictions table")
        return predictions
    return predictions_table(spec, predictions, where)


def realized_metrics(
    spec: ModelSpec,
    predictions: pa.Table | np.ndarray,
    labels: Sequence[Any] | np.ndarray | pa.Array | pa.ChunkedArray,
    where: str = "labels",
) -> dict[str, float]:
    """The figures of the predictions against the true labels, row for row.

    Rows whose label is missing (None, or NaN) are left out. Classification: ``accuracy`` (a
    label that is not one of the model's classes counts as a wrong prediction, and is counted
    in ``unknown_labels``) and ``error_rate``; regression: ``rmse``, ``mae`` and ``bias`` (the
    mean of prediction minus truth). Every result has ``rows`` (labelled rows scored); a figure
    is absent when no row has a label.

    Args:
        spec: The model's contract.
        predictions: The predictions table (:func:`predictions_table`) or the raw outputs.
        labels: One true value per prediction row, as the data holds it (class names, or
            values :func:`~.modelspec.class_key` writes as class names; numbers for regression),
            e.g. a ground-truth file joined on the request id.
        where: Names the labels in errors.

    Raises:
        DataError: naming ``where``, when the labels and predictions differ in length, or a
            regression label is not a number.
    """
    table = _as_table(spec, predictions, where)
    if isinstance(labels, pa.Array | pa.ChunkedArray):
        values = labels.to_pylist()
    else:
        values = list(labels)
    if len(values) != table.num_rows:
        raise DataError(
            f"{where}: {len(values)} label(s) for {table.num_rows} prediction(s); they must be "
            "joined row for row"
        )
    present = [i for i, v in enumerate(values) if v is not None and v == v]
    out: dict[str, float] = {"rows": float(len(present))}
    if spec.task in CLASSIFICATION:
        predicted = table.column(CLASS_COLUMN).to_pylist()
        truth = [class_key(values[i]) for i in present]
        out["unknown_labels"] = float(sum(t not in spec.classes for t in truth))
        if present:
            correct = sum(predicted[i] == t for i, t in zip(present, truth, strict=True))
            out["accuracy"] = correct / len(present)
            out["error_rate"] = (len(present) - correct) / len(present)
        return out
    pred = table.column(PREDICTION_COLUMN).to_numpy(zero_copy_only=False).astype(np.float64)
    try:
        t = np.array([float(values[i]) for i in present], dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(f"{where}: a regression label is not a number: {e}") from e
    if present:
        err = pred[present] - t
        out["rmse"] = float(math.sqrt(float(np.mean(err**2))))
        out["mae"] = float(np.mean(np.abs(err)))
        out["bias"] = float(np.mean(err))
    return out
