"""The eval predictions profile: what the model answered on its eval split, for monitor to compare.

evaluate writes it into its blessing folder from the outputs it computed anyway; monitor reads
it to compare the served predictions with the eval ones (prediction drift, with validate's
statistics and comparators) and to estimate accuracy without labels (:mod:`mlrail.artifacts.
calibration`). It lives here, not in ``mlrail.artifacts``, because its statistics are
:mod:`.statistics`' (a layer above the artifacts); the predictions table, the calibration and
the realized figures it holds are :mod:`mlrail.artifacts.predictions`' and
:mod:`mlrail.artifacts.calibration`'s, which the server side can import without this layer.

Layout (inside the blessing folder)::

    predictions/
      Split-eval/FeatureStats.pb
                        DatasetFeatureStatisticsList, one dataset named "eval": the statistics
                        of the eval split's predictions table (predicted_class, confidence,
                        score; or prediction), in TFX's ExampleStatistics layout
                        (:mod:`mlrail.artifacts.tfmd`), so TFDV reads the folder as it does
                        validate's statistics
      profile.json      {"format": 2, "task", "classes", "rows", "calibration": null or
                        {"method": "identity"|"histogram", "edges", "values", "rows",
                        "eval_rows", "eval_accuracy", "ece_before", "ece_after", "cv",
                        "folds", "ece_bins", "prior_rows"},
                        "score_calibration": null or the same form (binary: score →
                        P(classes[1]), for the expected ROC AUC),
                        "metrics": {the realized figures on eval: "rows", "accuracy",
                        "error_rate", "unknown_labels"; or "rows", "rmse", "mae", "bias"},
                        "expected_accuracy_on_eval": null or a number,
                        "expected_roc_auc_on_eval": null or a number (binary),
                        "statistics": "Split-eval/FeatureStats.pb"}

``calibration`` and ``expected_accuracy_on_eval`` are null for a regressor, ``score_calibration``
and ``expected_roc_auc_on_eval`` for all but a binary classifier. The rows are the
labelled eval rows evaluate scored (rows without a label have no outcome to calibrate on).
Format 1 (``predictions/FeatureStats.pb``, before the TFX layout) is refused with its number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from tensorflow_metadata.proto.v0 import statistics_pb2

from mlrail.artifacts.calibration import (
    Calibration,
    expected_accuracy,
    expected_roc_auc,
    fit_calibration,
)
from mlrail.artifacts.jsonsafe import finite
from mlrail.artifacts.modelspec import CLASSIFICATION, TASKS, ModelSpec, class_key
from mlrail.artifacts.predictions import (
    predictions_table,
    probabilities,
    realized_metrics,
    top_label,
)
from mlrail.artifacts.tfmd import SPLIT_PREFIX, read_statistics, write_split_statistics
from mlrail.artifacts.tfmd import STATISTICS_FILE as TFMD_STATISTICS_FILE
from mlrail.errors import DataError
from mlrail.io import atomic_dir, atomic_write_json, read_uri_bytes
from mlrail.validation.statistics import statistics_from_batches

__all__ = [
    "DATASET",
    "FORMAT",
    "PROFILE_DIR",
    "PROFILE_FILE",
    "STATISTICS_FILE",
    "PredictionsProfile",
    "build_profile",
    "read_profile",
    "save_profile",
    "write_profile",
]

PROFILE_DIR = "predictions"
PROFILE_FILE = "profile.json"
DATASET = "eval"
#: Where the statistics are in the profile folder (profile.json names it too).
STATISTICS_FILE = f"{SPLIT_PREFIX}{DATASET}/{TFMD_STATISTICS_FILE}"
FORMAT = 2


@dataclass(frozen=True)
class PredictionsProfile:
    """The eval predictions profile.

    Attributes:
        task: The model's task.
        classes: Its classes (empty for a regressor).
        rows: Eval rows profiled.
        statistics: The predictions table's statistics (one dataset, :data:`DATASET`).
        calibration: Confidence → P(correct) (None for a regressor).
        metrics: The realized figures on eval (:func:`~mlrail.artifacts.predictions.
            realized_metrics`).
        expected_accuracy_on_eval: The calibrated expected accuracy on eval (None for a
            regressor): beside ``metrics["accuracy"]``, how well the estimate does in-sample.
        score_calibration: Binary only: score → P(``classes[1]``), for
            :func:`~mlrail.artifacts.calibration.expected_roc_auc`.
        expected_roc_auc_on_eval: Binary only: the expected ROC AUC on eval (None when
            undefined).
        source: Where it was read from ("" when built in memory).
    """

    task: str
    classes: list[str]
    rows: int
    statistics: statistics_pb2.DatasetFeatureStatisticsList
    calibration: Calibration | None
    metrics: dict[str, float]
    expected_accuracy_on_eval: float | None
    score_calibration: Calibration | None = None
    expected_roc_auc_on_eval: float | None = None
    source: str = ""

    @property
    def dataset(self) -> statistics_pb2.DatasetFeatureStatistics:
        """The one dataset of :attr:`statistics`."""
        return self.statistics.datasets[0]

    def to_json(self) -> dict[str, Any]:
        """profile.json's content."""
        return {
            "format": FORMAT,
            "task": self.task,
            "classes": list(self.classes),
            "rows": self.rows,
            "calibration": self.calibration.to_json() if self.calibration else None,
            "metrics": dict(self.metrics),
            "expected_accuracy_on_eval": self.expected_accuracy_on_eval,
            "score_calibration": (
                self.score_calibration.to_json() if self.score_calibration else None
            ),
            "expected_roc_auc_on_eval": self.expected_roc_auc_on_eval,
            "statistics": STATISTICS_FILE,
        }


def build_profile(
    spec: ModelSpec,
    outputs: np.ndarray,
    labels: Sequence[Any] | np.ndarray | pa.Array | pa.ChunkedArray,
    where: str = "eval",
) -> PredictionsProfile:
    """The profile of a model's ``outputs`` on labelled rows.

    Args:
        spec: The model's contract.
        outputs: Its output tensor on the rows.
        labels: Each row's true value as the data holds it (a class name, or a value
            :func:`~mlrail.artifacts.modelspec.class_key` writes as one; a number).
        where: Names the rows in errors.

    Raises:
        DataError: naming ``where``, on outputs not of the spec's shape, labels of another
            length, or no labelled row to calibrate a classifier on.
    """
    table = predictions_table(spec, outputs, where)
    metrics = realized_metrics(spec, table, labels, where)
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    stats.datasets.append(statistics_from_batches(DATASET, table, source=where))
    calibration = score_calibration = None
    expected = expected_auc = None
    if spec.task in CLASSIFICATION:
        values = (
            labels.to_pylist() if isinstance(labels, pa.Array | pa.ChunkedArray) else list(labels)
        )
        present = np.array([v is not None and v == v for v in values], dtype=bool)
        index, confidence = top_label(spec, outputs, where)
        truth = [class_key(v) if m else None for v, m in zip(values, present, strict=True)]
        names = [spec.classes[i] for i in index]
        correct = np.array([p == t for p, t in zip(names, truth, strict=True)], dtype=bool)
        calibration = fit_calibration(confidence[present], correct[present])
        expected = expected_accuracy(calibration, confidence[present])
        if spec.task == "binary":
            score = probabilities(spec, outputs, where)[:, 1]
            positive = np.array([t == spec.classes[1] for t in truth], dtype=bool)
            score_calibration = fit_calibration(score[present], positive[present])
            expected_auc = expected_roc_auc(score_calibration, score[present])
    return PredictionsProfile(
        spec.task,
        list(spec.classes),
        table.num_rows,
        stats,
        calibration,
        metrics,
        expected,
        score_calibration,
        expected_auc,
    )


def write_profile(
    folder: str | Path,
    spec: ModelSpec,
    outputs: np.ndarray,
    labels: Sequence[Any] | np.ndarray | pa.Array | pa.ChunkedArray,
    where: str = "eval",
) -> PredictionsProfile:
    """Write ``folder/predictions/`` (the module's layout) atomically, and return the profile.

    ``folder`` is evaluate's blessing folder; the arguments are :func:`build_profile`'s.
    """
    profile = build_profile(spec, outputs, labels, where)
    save_profile(folder, profile)
    return profile


def save_profile(folder: str | Path, profile: PredictionsProfile) -> None:
    """Write a built profile as ``folder/predictions/`` (atomically: all of it or none)."""
    with atomic_dir(Path(folder) / PROFILE_DIR) as tmp:
        write_split_statistics(tmp, {DATASET: profile.dataset})
        atomic_write_json(tmp / PROFILE_FILE, finite(profile.to_json()))


def _join(folder: str, name: str) -> str:
    return folder.rstrip("/") + "/" + name


def _profile_folder(folder: str) -> str:
    """The folder holding profile.json: ``folder/predictions`` unless ``folder`` is it."""
    import pyarrow.fs as pafs

    from mlrail.io import filesystem

    if folder.rstrip("/").endswith("/" + PROFILE_FILE) or folder == PROFILE_FILE:
        return folder.rstrip("/")[: -len(PROFILE_FILE)].rstrip("/") or "."
    fs, path = filesystem(folder)
    try:
        here = fs.get_file_info(_join(path, PROFILE_FILE)).type == pafs.FileType.File
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{folder}: cannot read: {e}") from e
    return folder if here else _join(folder, PROFILE_DIR)


def read_profile(folder: str | Path) -> PredictionsProfile:
    """Read the eval predictions profile, local or a URI.

    Args:
        folder: The blessing folder (the profile is its ``predictions/``), or the
            ``predictions/`` folder itself, or its ``profile.json``.

    Raises:
        DataError: naming the file, when it is missing (a blessing written before profiles
            existed), not JSON, of another format, or not statistics.
    """
    base = _profile_folder(str(folder))
    json_path = _join(base, PROFILE_FILE)
    try:
        raw = _read_json(json_path)
        if not isinstance(raw, dict):
            raise DataError(f"{json_path}: not a predictions profile (a JSON object)")
        if raw.get("format") != FORMAT:
            raise DataError(
                f"{json_path}: format {raw.get('format')!r}, this mlrail reads format {FORMAT}"
            )
        task = raw.get("task")
        if task not in TASKS:
            raise DataError(f"{json_path}: task {task!r} is not one of {', '.join(TASKS)}")
        cal = raw.get("calibration")
        calibration = Calibration.from_json(cal, f"{json_path}: calibration") if cal else None
        if task in CLASSIFICATION and calibration is None:
            raise DataError(f"{json_path}: a classifier's profile has no calibration")
        score_cal = raw.get("score_calibration")
        score_calibration = (
            Calibration.from_json(score_cal, f"{json_path}: score_calibration")
            if score_cal
            else None
        )
        if task == "binary" and score_calibration is None:
            raise DataError(f"{json_path}: a binary classifier's profile has no score_calibration")
        profile_fields = (
            [str(c) for c in raw.get("classes") or []],
            int(raw["rows"]),
            {str(k): float(v) for k, v in dict(raw.get("metrics") or {}).items()},
            _number(raw.get("expected_accuracy_on_eval")),
            _number(raw.get("expected_roc_auc_on_eval")),
        )
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{json_path}: not a predictions profile ({type(e).__name__}: {e})") from e
    # names the file when it is missing, not statistics, or holds other than one dataset
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    stats.datasets.extend(read_statistics(base, splits=[DATASET]).values())
    classes, rows, metrics, expected_accuracy_value, expected_auc = profile_fields
    return PredictionsProfile(
        task,
        classes,
        rows,
        stats,
        calibration,
        metrics,
        expected_accuracy_value,
        score_calibration,
        expected_auc,
        source=base,
    )


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _read_json(path: str) -> Any:
    import json

    try:
        data = read_uri_bytes(path)
    except DataError as e:
        if isinstance(e.__cause__, FileNotFoundError):
            raise DataError(
                f"{path}: no predictions profile (was the blessing written by an evaluate "
                "older than the profile?)"
            ) from e
        raise
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not valid JSON: {e}") from e
