"""tensorflow-metadata files: what validate writes, train (or a TFX tool) reads back as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from mlrail.artifacts.tfmd import (
    load_schema,
    load_statistics,
    resolve_file,
    schema_text,
    write_anomalies,
    write_schema,
    write_statistics,
)
from mlrail.errors import DataError


def _stats() -> statistics_pb2.DatasetFeatureStatisticsList:
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    ds = stats.datasets.add(name="train", num_examples=3)
    ds.features.add().path.step.append("x")
    return stats


def test_statistics_round_trip_by_folder_or_file(tmp_path: Path) -> None:
    write_statistics(tmp_path / "st", _stats(), {"train": {"num_examples": 3}})
    assert load_statistics(tmp_path / "st") == _stats()
    assert load_statistics(tmp_path / "st" / "statistics.pb") == _stats()
    summary = json.loads((tmp_path / "st" / "statistics.json").read_text())
    assert summary == {"train": {"num_examples": 3}}


def test_schema_round_trip_in_text_format(tmp_path: Path) -> None:
    schema = schema_pb2.Schema()
    schema.feature.add(name="x", type=schema_pb2.FLOAT)
    write_schema(tmp_path / "sc", schema)
    assert (tmp_path / "sc" / "schema.pbtxt").read_text() == schema_text(schema)
    assert load_schema(tmp_path / "sc") == schema
    assert load_schema(tmp_path / "sc" / "schema.pbtxt") == schema


def test_anomalies_are_written_as_text_and_json(tmp_path: Path) -> None:
    proto = anomalies_pb2.Anomalies()
    proto.anomaly_info["x"].description = "bad"
    write_anomalies(tmp_path / "an", proto, {"ok": False})
    assert 'description: "bad"' in (tmp_path / "an" / "anomalies.pbtxt").read_text()
    assert json.loads((tmp_path / "an" / "anomalies.json").read_text()) == {"ok": False}


def test_bad_files_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "schema.pbtxt"
    bad.write_text("feature { nam: 'x' }")
    with pytest.raises(DataError, match=f"{bad}: not a valid Schema"):
        load_schema(bad)
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(DataError, match=f"{bad}: not UTF-8"):
        load_schema(bad)
    (tmp_path / "statistics.pb").write_bytes(b"\xff garbage")
    with pytest.raises(DataError, match="not a DatasetFeatureStatisticsList"):
        load_statistics(tmp_path)


def test_resolve_file_takes_the_file_or_its_folder(tmp_path: Path) -> None:
    assert resolve_file(str(tmp_path), "schema.pbtxt") == str(tmp_path / "schema.pbtxt")
    assert resolve_file(str(tmp_path / "s.pbtxt"), "schema.pbtxt") == str(tmp_path / "s.pbtxt")
    uri = tmp_path.as_uri()
    assert resolve_file(uri, "statistics.pb") == uri + "/statistics.pb"
