"""The trend across windows: one summary per window, kept and read back, on real files."""

from __future__ import annotations

import json
from pathlib import Path

from mlrail.components.monitor.history import read_history, summary_of, write_summary


def _summary(
    end: str, accuracy: float, healthy: bool = True, start: str = "2026-12-01T00:00:00Z"
) -> dict[str, object]:
    version = {
        "version": "2",
        "identity": "onnx-graph-v1:ab",
        "rows": 120,
        "healthy": healthy,
        "estimated_accuracy": {"value": accuracy, "low": 0.9, "high": 1.0},
        "realized": None,
        "eval_accuracy": 0.97,
        "skew": [
            {"feature": "island", "exceeded": not healthy},
            {"feature": "x", "exceeded": False},
        ],
        "drift": [],
    }
    return summary_of({"start": start, "end": end, "records": 120}, [version])


def test_each_window_is_kept_once_and_read_back_oldest_first(tmp_path: Path) -> None:
    write_summary(str(tmp_path), "penguins", _summary("2026-12-02T00:00:00Z", 0.95))
    write_summary(str(tmp_path), "penguins", _summary("2026-12-01T00:00:00Z", 0.96))
    # the same window checked again replaces its own summary: it never counts twice
    write_summary(str(tmp_path), "penguins", _summary("2026-12-02T00:00:00Z", 0.80, False))
    # another window ending in the same second (a shorter one) is a window of its own
    later = "2026-12-01T23:00:00Z"
    write_summary(str(tmp_path), "penguins", _summary("2026-12-02T00:00:00Z", 0.9, start=later))
    found, notes = read_history(str(tmp_path), "penguins")
    assert notes == []
    assert [s["window"]["end"] for s in found] == [
        "2026-12-01T00:00:00Z",
        "2026-12-02T00:00:00Z",
        "2026-12-02T00:00:00Z",
    ]
    assert [s["versions"][0]["estimated_accuracy"] for s in found] == [0.96, 0.80, 0.9]
    assert found[1]["versions"][0]["skewed"] == ["island"]
    assert read_history(str(tmp_path), "other") == ([], [])


def test_a_file_that_is_not_a_summary_is_skipped_and_named(tmp_path: Path) -> None:
    write_summary(str(tmp_path), "penguins", _summary("2026-12-02T00:00:00Z", 0.95))
    (tmp_path / "penguins" / "20261203T000000Z_x.json").write_text("{not json", "utf-8")
    (tmp_path / "penguins" / "20261204T000000Z_x.json").write_text(json.dumps([1]), "utf-8")
    found, notes = read_history(str(tmp_path), "penguins")
    assert len(found) == 1 and len(notes) == 2
    assert all("20261203T000000Z_x.json" in n or "20261204T000000Z_x.json" in n for n in notes)


def test_an_object_store_uri_is_written_as_whole_objects(tmp_path: Path) -> None:
    uri = (tmp_path / "store").as_uri()  # pyarrow's filesystem for a URI, as for s3://
    where = write_summary(uri, "penguins", _summary("2026-12-02T00:00:00Z", 0.95))
    assert where.endswith("penguins/20261202T000000Z_20261201T000000Z.json")
    found, _ = read_history(uri, "penguins")
    assert [s["versions"][0]["rows"] for s in found] == [120]


def test_a_history_that_cannot_be_opened_is_a_note_not_a_failure() -> None:
    # a store no filesystem understands (or one whose credentials are refused) is noted
    found, notes = read_history("nosuchscheme://bucket/history", "penguins")
    assert found == [] and len(notes) == 1 and "nosuchscheme://bucket/history" in notes[0]
