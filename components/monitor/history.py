"""The windows monitor has checked before: one small JSON summary per window, for the trend.

Layout (a local folder or a URI such as ``s3://bucket/monitoring-history``)::

    <history>/<model>/<end>_<start>.json    named by the window (YYYYMMDDTHHMMSSZ each)

Each file is written once per window (a window checked again replaces its own file, so a
re-run never counts twice; two windows ending in the same second are two files) and never
appended to, so an object store holds it as well as a folder. The trend across windows is read
back from every file of the model (the newest :data:`KEEP` of them); a file that cannot be read
is skipped and named in the report's notes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pyarrow.fs as pafs

from mlrail.errors import DataError
from mlrail.io import filesystem
from mlrail.redact import redact

__all__ = ["KEEP", "read_history", "summary_of", "write_summary"]

#: Windows drawn in the trend at most (the newest).
KEEP = 200


def _folder(history: str, model: str) -> tuple[Any, str]:
    fs, root = filesystem(history)
    return fs, f"{root.rstrip('/')}/{model}"


def summary_of(window: dict[str, Any], versions: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """One window's summary: its bounds and record count, and per version its rows, verdict
    and accuracy figures (``versions`` as :func:`.findings.to_json` writes them)."""
    out = []
    for v in versions:
        est = v.get("estimated_accuracy") or {}
        realized = v.get("realized") or {}
        out.append(
            {
                "version": v["version"],
                "identity": v.get("identity"),
                "rows": v["rows"],
                "healthy": v["healthy"],
                "estimated_accuracy": est.get("value"),
                "realized_accuracy": realized.get("accuracy"),
                "eval_accuracy": v.get("eval_accuracy"),
                "skewed": [c["feature"] for c in v.get("skew", []) if c.get("exceeded")],
                "drifted": [c["feature"] for c in v.get("drift", []) if c.get("exceeded")],
            }
        )
    return {"format": 1, "window": window, "versions": out}


def write_summary(history: str, model: str, summary: dict[str, Any]) -> str:
    """Write one window's summary; returns where (a path or URI, credentials masked)."""
    fs, folder = _folder(history, model)
    end, start = (
        str(summary["window"][k]).replace("-", "").replace(":", "") for k in ("end", "start")
    )
    fs.create_dir(folder, recursive=True)
    path = f"{folder}/{end}_{start}.json"
    data = json.dumps(summary, indent=1, allow_nan=False).encode("utf-8")
    if isinstance(fs, pafs.LocalFileSystem):
        from mlrail.io import atomic_write_bytes

        atomic_write_bytes(path, data)  # a killed step leaves the old file or the new one
    else:
        with fs.open_output_stream(path) as out:  # an object appears whole or not at all
            out.write(data)
    return redact(path)


def read_history(history: str, model: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The model's window summaries, oldest first (the newest :data:`KEEP`), and a note per
    file that could not be read."""
    try:
        fs, folder = _folder(history, model)
        infos = fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
    except (OSError, DataError) as e:
        return [], [f"history {redact(history)}: cannot be listed: {e}"]
    files = sorted(i.path for i in infos if i.is_file and i.path.endswith(".json"))[-KEEP:]
    found, notes = [], []
    for path in files:
        try:
            with fs.open_input_stream(path) as f:
                doc = json.loads(f.read())
            if not isinstance(doc, dict) or "window" not in doc or "versions" not in doc:
                raise ValueError("not a window summary")
            found.append(doc)
        except (OSError, ValueError) as e:
            notes.append(f"history file {redact(path)} skipped: {e}")
    return found, notes
