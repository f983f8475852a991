"""tensorflow-metadata files in TFX's layouts: what validate writes, train, monitor (or a TFX
tool, or TFDV) reads back as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from mlrail.artifacts.tfmd import (
    anomalies_file,
    load_schema,
    load_statistics,
    read_anomalies,
    read_statistics,
    resolve_file,
    schema_text,
    split_names,
    split_names_metadata,
    split_names_property,
    statistics_file,
    write_anomalies,
    write_schema,
    write_statistics,
)
from mlrail.errors import DataError


def _ds(name: str, rows: int) -> statistics_pb2.DatasetFeatureStatistics:
    ds = statistics_pb2.DatasetFeatureStatistics(name=name, num_examples=rows)
    ds.features.add().path.step.append("x")
    return ds


def _stats() -> statistics_pb2.DatasetFeatureStatisticsList:
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    stats.datasets.extend([_ds("eval", 2), _ds("train", 3), _ds("serving-v1", 4)])
    return stats


def _parse(file: Path) -> statistics_pb2.DatasetFeatureStatisticsList:
    out = statistics_pb2.DatasetFeatureStatisticsList()
    out.ParseFromString(file.read_bytes())
    return out


def test_statistics_are_one_file_per_split_with_one_dataset_each(tmp_path: Path) -> None:
    write_statistics(tmp_path / "st", _stats(), {"train": {"num_examples": 3}})
    files = sorted(str(p.relative_to(tmp_path / "st")) for p in (tmp_path / "st").rglob("*"))
    assert files == [
        "Split-eval",
        "Split-eval/FeatureStats.pb",
        "Split-serving-v1",
        "Split-serving-v1/FeatureStats.pb",
        "Split-train",
        "Split-train/FeatureStats.pb",
        "statistics.json",
    ]
    for split, rows in (("train", 3), ("eval", 2), ("serving-v1", 4)):
        one = _parse(tmp_path / "st" / f"Split-{split}" / "FeatureStats.pb")
        assert len(one.datasets) == 1  # TFDV's viewer and validate_statistics refuse more
        assert one.datasets[0].name == split and one.datasets[0].num_examples == rows
    assert statistics_file(tmp_path / "st", "eval") == str(
        tmp_path / "st" / "Split-eval" / "FeatureStats.pb"
    )
    assert json.loads((tmp_path / "st" / "statistics.json").read_text()) == {
        "train": {"num_examples": 3}
    }


def test_split_names_are_read_in_split_order_and_written_as_tfx_does(tmp_path: Path) -> None:
    write_statistics(tmp_path / "st", _stats(), {})
    assert split_names(tmp_path / "st") == ["train", "eval", "serving-v1"]
    # TFX's artifact_utils.encode_split_names is json.dumps of the list
    assert split_names_property(["train", "eval"]) == '["train", "eval"]'
    assert json.loads(split_names_property(split_names(tmp_path / "st"))) == [
        "train",
        "eval",
        "serving-v1",
    ]
    for refused in ("a/b", "", "-x", "new data", "v1.2"):  # TFX's encode_split_names refuses
        with pytest.raises(ValueError, match=f"split '{refused}': TFX's split names are"):
            split_names_property([refused])
    # what a component adapter sets on the artifact it wrote
    assert split_names_metadata(tmp_path / "st") == '["train", "eval", "serving-v1"]'
    write_anomalies(tmp_path / "an", {}, {})  # a window with no traffic: no split
    assert split_names_metadata(tmp_path / "an") == "[]"


def test_statistics_round_trip_by_folder_split_folder_file_or_uri(tmp_path: Path) -> None:
    by_split = {"train": _ds("ignored", 3), "eval": _ds("", 2)}
    write_statistics(tmp_path / "st", by_split, {})
    read = read_statistics(tmp_path / "st")
    assert list(read) == ["train", "eval"]
    assert read["train"] == _ds("train", 3) and read["eval"] == _ds("eval", 2)
    assert read_statistics((tmp_path / "st").as_uri()) == read
    assert read_statistics(tmp_path / "st", splits=["eval"]) == {"eval": _ds("eval", 2)}
    # one split: its Split- folder, or its file (the split named by the folder holding it)
    assert read_statistics(tmp_path / "st" / "Split-eval") == {"eval": _ds("eval", 2)}
    file = tmp_path / "st" / "Split-train" / "FeatureStats.pb"
    assert read_statistics(file) == {"train": _ds("train", 3)}
    assert read_statistics(file.as_uri()) == {"train": _ds("train", 3)}
    listed = load_statistics(tmp_path / "st")
    assert [d.name for d in listed.datasets] == ["train", "eval"]


def test_a_file_outside_a_split_folder_is_named_by_its_dataset(tmp_path: Path) -> None:
    one = statistics_pb2.DatasetFeatureStatisticsList()
    one.datasets.add().CopyFrom(_ds("data", 5))
    (tmp_path / "mine.pb").write_bytes(one.SerializeToString())
    assert read_statistics(tmp_path / "mine.pb") == {"data": _ds("data", 5)}


def test_bad_statistics_are_named_in_one_line(tmp_path: Path) -> None:
    write_statistics(tmp_path / "st", {"train": _ds("train", 3)}, {})
    missing = tmp_path / "st" / "Split-eval" / "FeatureStats.pb"
    with pytest.raises(DataError, match=f"^{missing}: no such file$"):
        read_statistics(tmp_path / "st", splits=["eval"])
    (tmp_path / "st" / "Split-eval").mkdir()  # a split folder without its file
    with pytest.raises(DataError, match=f"^{missing}: no such file$"):
        read_statistics(tmp_path / "st")
    two = _stats()
    missing.write_bytes(two.SerializeToString())
    with pytest.raises(DataError, match=f"^{missing}: holds 3 datasets; TFX's layout has exactly"):
        read_statistics(tmp_path / "st")
    missing.write_bytes(statistics_pb2.DatasetFeatureStatisticsList().SerializeToString())
    with pytest.raises(DataError, match=f"^{missing}: holds 0 datasets"):
        load_statistics(missing)
    missing.write_bytes(b"\xff garbage")
    with pytest.raises(DataError, match=f"^{missing}: not a DatasetFeatureStatisticsList") as e:
        read_statistics(tmp_path / "st")
    assert "\n" not in str(e.value)
    with pytest.raises(DataError, match=f"^{tmp_path}: no Split-<split>/FeatureStats.pb in it"):
        read_statistics(tmp_path)  # a folder, but no statistics artifact
    with pytest.raises(DataError, match=f"^{tmp_path / 'gone'}: no such file or folder$"):
        read_statistics(tmp_path / "gone")


def test_a_bad_split_name_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="split ''"):
        write_statistics(tmp_path / "st", {"": _ds("", 1)}, {})
    two = statistics_pb2.DatasetFeatureStatisticsList()
    two.datasets.extend([_ds("train", 1), _ds("train", 2)])
    with pytest.raises(ValueError, match="two datasets named 'train'"):
        write_statistics(tmp_path / "st", two, {})
    assert not (tmp_path / "st").exists()


def test_anomalies_are_one_schema_diff_per_split_beside_the_json(tmp_path: Path) -> None:
    bad = anomalies_pb2.Anomalies()
    bad.anomaly_info["x"].description = "bad"
    write_anomalies(tmp_path / "an", {"train": anomalies_pb2.Anomalies(), "eval": bad}, {"ok": 0})
    files = sorted(str(p.relative_to(tmp_path / "an")) for p in (tmp_path / "an").rglob("*.*"))
    assert files == ["Split-eval/SchemaDiff.pb", "Split-train/SchemaDiff.pb", "anomalies.json"]
    diff = anomalies_pb2.Anomalies()
    diff.ParseFromString((tmp_path / "an" / "Split-eval" / "SchemaDiff.pb").read_bytes())
    assert diff == bad
    assert read_anomalies(tmp_path / "an") == {"train": anomalies_pb2.Anomalies(), "eval": bad}
    assert read_anomalies(anomalies_file(tmp_path / "an", "eval")) == {"eval": bad}
    assert json.loads((tmp_path / "an" / "anomalies.json").read_text()) == {"ok": 0}
    (tmp_path / "an" / "Split-eval" / "SchemaDiff.pb").write_bytes(b"\xff garbage")
    with pytest.raises(DataError, match="Split-eval/SchemaDiff.pb: not an Anomalies proto"):
        read_anomalies(tmp_path / "an")


def test_schema_round_trip_in_text_format(tmp_path: Path) -> None:
    schema = schema_pb2.Schema()
    schema.feature.add(name="x", type=schema_pb2.FLOAT)
    write_schema(tmp_path / "sc", schema)
    assert (tmp_path / "sc" / "schema.pbtxt").read_text() == schema_text(schema)
    assert load_schema(tmp_path / "sc") == schema
    assert load_schema(tmp_path / "sc" / "schema.pbtxt") == schema


def test_bad_schema_files_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "schema.pbtxt"
    bad.write_text("feature { nam: 'x' }")
    with pytest.raises(DataError, match=f"{bad}: not a valid Schema"):
        load_schema(bad)
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(DataError, match=f"{bad}: not UTF-8"):
        load_schema(bad)


def test_resolve_file_takes_the_file_or_its_folder(tmp_path: Path) -> None:
    assert resolve_file(str(tmp_path), "schema.pbtxt") == str(tmp_path / "schema.pbtxt")
    assert resolve_file(str(tmp_path / "s.pbtxt"), "schema.pbtxt") == str(tmp_path / "s.pbtxt")
    uri = tmp_path.as_uri()
    assert resolve_file(uri, "schema.pbtxt") == uri + "/schema.pbtxt"
