"""Ground truth: labels that arrive after the answers, joined to them on the request id.

A ground-truth file is any data source mlrail reads (CSV, Parquet, JSON Lines; a path, URI,
glob or span pattern) with:

- ``id`` (or ``request_id``): the request id the client sent (V2's ``id``) or the server gave;
- ``row`` (optional): the row within a batch request, from 0; without it a label applies to
  row 0 of its request (single-row requests, the common case);
- the label: the model's label column (its name in training, e.g. ``species``), or ``label``.

Each served row gets the label of its (id, row), or null; a label for a request not in the
window is ignored, and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from mlrail.errors import DataError
from mlrail.redact import redact
from mlrail.sources import read_table

__all__ = ["Labels", "join_labels", "read_truth"]

_ID_COLUMNS = ("id", "request_id")


@dataclass(frozen=True)
class Labels:
    """A ground-truth file read: (``request_id``, ``row``, ``label``) rows, and its name."""

    table: pa.Table
    source: str


def read_truth(source: str, label: str) -> Labels:
    """Read a ground-truth file (the module doc's columns).

    Raises:
        DataError: naming the file and the column, when the id or label column is missing.
    """
    table, _ = read_table(source)
    where = redact(source)
    id_column = next((c for c in _ID_COLUMNS if c in table.column_names), None)
    if id_column is None:
        raise DataError(f"{where}: no request id column (id or request_id) in the ground truth")
    label_column = label if label in table.column_names else "label"
    if label_column not in table.column_names:
        raise DataError(f"{where}: no label column ({label!r} or 'label') in the ground truth")
    ids = pc.cast(table.column(id_column), pa.string())
    if "row" in table.column_names:
        rows = pc.cast(table.column("row"), pa.int32())
    else:
        rows = pa.array([0] * table.num_rows, type=pa.int32())
    out = pa.table({"request_id": ids, "row": rows, "label": table.column(label_column)})
    return Labels(out, where)


def join_labels(keys: pa.Table, labels: Labels) -> tuple[pa.ChunkedArray, int]:
    """The label of each served row (``keys``: ``request_id``, ``row``; null where none), in
    the rows' order, and how many labelled (id, row) pairs matched no served row."""
    order = pa.array(range(keys.num_rows), type=pa.int64())
    left = pa.table(
        {"request_id": keys.column("request_id"), "row": keys.column("row"), "_order": order}
    )
    # one label per (id, row): the last one given wins (a corrected label sent again)
    right = labels.table.group_by(["request_id", "row"], use_threads=False).aggregate(
        [("label", "last")]
    )
    joined = left.join(right, keys=["request_id", "row"], join_type="left outer").sort_by("_order")
    unmatched = right.join(left, keys=["request_id", "row"], join_type="left anti").num_rows
    return joined.column("label_last"), unmatched
