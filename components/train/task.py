"""The task (binary, multiclass, regression) and the classes, from one pass over the label."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from mlrail.artifacts.modelspec import CLASSIFICATION
from mlrail.errors import DataError

__all__ = ["MAX_AUTO_CLASSES", "MAX_CLASSES", "infer_task", "task_and_classes"]

#: Classification with more classes than this is refused unless the task is given explicitly.
MAX_AUTO_CLASSES = 20
#: A classifier asked for explicitly may have up to this many classes.
MAX_CLASSES = 100_000


def _task(summary: Any, label: str, where: str) -> str:
    """binary / multiclass when the label has few whole or text values; else regression."""
    if not summary.labelled:
        raise DataError(f"{where}: label column {label!r} has no values")
    if summary.counts is None:
        return "regression"
    return "binary" if len(summary.counts) == 2 else "multiclass"


def infer_task(table: pa.Table, label: str, where: str) -> str:
    """The task :func:`train` infers for ``label`` in ``table`` (``task="auto"``)."""
    from mlrail.components.train.data import LabelSummary, summarize_column

    if label not in table.column_names:
        raise DataError(
            f"{where}: label column {label!r} is not in the data "
            f"(columns: {', '.join(table.column_names)})"
        )
    try:
        summary = LabelSummary.empty(table.schema.field(label).type, MAX_AUTO_CLASSES)
    except DataError as e:
        raise DataError(f"{where}: label column {label!r}: {e}") from e
    summarize_column(summary, table.column(label))
    return _task(summary, label, where)


def task_and_classes(labels: Any, label: str, task: str, where: str) -> tuple[str, list[str]]:
    """The task (``task``, or inferred when "auto") and, for a classifier, its sorted classes."""
    if task == "auto":
        task = _task(labels, label, where)
    elif task == "regression" and not labels.numeric:
        raise DataError(
            f"{where}: label column {label!r} holds {labels.type} values; "
            "a regression label must be numbers"
        )
    elif task in CLASSIFICATION and labels.counts is None:
        raise DataError(
            f"{where}: label column {label!r} holds fractional numbers or more than "
            f"{MAX_CLASSES} values; not classes (use task regression)"
        )
    if not labels.labelled:
        raise DataError(f"{where}: label column {label!r} has no values")
    classes = sorted(labels.counts or {}) if task in CLASSIFICATION else []
    if task in CLASSIFICATION and len(classes) < 2:
        raise DataError(
            f"{where}: label column {label!r} has a single class {classes[0]!r}; "
            "a classifier needs at least two"
        )
    if labels.labelled < 2:
        raise DataError(f"{where}: {labels.labelled} labelled row(s); too few to train on")
    return task, classes
