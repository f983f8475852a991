from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from mlrail.components.validate.core import (
    compute_statistics,
    find_anomalies,
    infer_schema,
    load_schema,
    validate,
)
from mlrail.errors import DataError


def _examples(root: Path, **splits: pa.Table) -> Path:
    for name, table in splits.items():
        (root / name).mkdir(parents=True)
        pq.write_table(table, root / name / "part-00000.parquet")
    return root


def _base(n: int = 20) -> pa.Table:
    return pa.table(
        {
            "x": [float(i) for i in range(n)],
            "k": [i % 3 for i in range(n)],
            "color": ["red", "blue"] * (n // 2),
        }
    )


def _types(anomalies: list) -> set[tuple[str, str, str]]:
    """The schema anomalies (skew and drift, which tiny shifted fixtures also show, apart)."""
    return {(a.split, a.feature, a.type) for a in anomalies if not a.type.startswith("COMPARATOR")}


def test_statistics_per_split_in_tfmd_format(tmp_path: Path) -> None:
    ex = _examples(tmp_path / "ex", train=_base(), eval=_base(10))
    stats = compute_statistics(ex)
    assert [d.name for d in stats.datasets] == ["eval", "train"]
    train = {f.path.step[0]: f for f in stats.datasets[1].features}
    assert stats.datasets[1].num_examples == 20
    x = train["x"].num_stats
    assert (x.min, x.max, x.mean) == (0.0, 19.0, 9.5)
    assert sum(b.sample_count for b in x.histograms[0].buckets) == 20
    assert train["k"].type == statistics_pb2.FeatureNameStatistics.INT
    color = train["color"].string_stats
    assert color.unique == 2 and {v.value for v in color.top_values} == {"red", "blue"}


def test_inferred_schema_has_types_domains_and_presence(tmp_path: Path) -> None:
    t = _base()
    t = t.set_column(0, "x", pa.array([None] + [1.0] * 19))
    schema = infer_schema(compute_statistics(_examples(tmp_path / "ex", train=t)))
    feats = {f.name: f for f in schema.feature}
    assert feats["x"].type == schema_pb2.FLOAT and feats["x"].presence.min_fraction == 0
    assert feats["k"].type == schema_pb2.INT and feats["k"].presence.min_fraction == 1.0
    assert feats["color"].domain == "color"
    assert list(schema.string_domain[0].value) == ["blue", "red"]


def test_clean_data_has_no_anomalies_and_writes_tfx_files(tmp_path: Path) -> None:
    # eval distributed as train (_base(10) would be skewed: x covers half of train's range)
    ex = _examples(tmp_path / "ex", train=_base(), eval=_base())
    report = validate(ex, tmp_path / "st", tmp_path / "sc", tmp_path / "an")
    assert report.ok and report.num_anomalies == 0
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    stats.ParseFromString((tmp_path / "st" / "statistics.pb").read_bytes())
    assert len(stats.datasets) == 2
    assert (
        json.loads((tmp_path / "st" / "statistics.json").read_text())["train"]["num_examples"] == 20
    )
    assert load_schema(tmp_path / "sc").feature[0].name == "x"
    text_format.Parse((tmp_path / "an" / "anomalies.pbtxt").read_text(), anomalies_pb2.Anomalies())
    assert json.loads((tmp_path / "an" / "anomalies.json").read_text())["ok"] is True


def test_each_anomaly_kind_is_found(tmp_path: Path) -> None:
    bad_eval = pa.table(
        {
            "x": ["1.5", "oops"],  # type change: strings in a FLOAT column
            "color": ["red", "grüngelb"],  # unseen category (non-ASCII)
            "extra": [1, 2],  # new column
        }
    )  # k is missing
    ex = _examples(tmp_path / "ex", train=_base(), eval=bad_eval)
    report = validate(ex, tmp_path / "st", tmp_path / "sc", tmp_path / "an")
    assert not report.ok
    assert _types(report.anomalies) == {
        ("eval", "x", "UNEXPECTED_DATA_TYPE"),
        ("eval", "color", "ENUM_TYPE_UNEXPECTED_STRING_VALUES"),
        ("eval", "extra", "SCHEMA_NEW_COLUMN"),
        ("eval", "k", "SCHEMA_MISSING_COLUMN"),
    }
    text = {a.type: a.description for a in report.anomalies}
    assert "'grüngelb'" in text["ENUM_TYPE_UNEXPECTED_STRING_VALUES"]
    proto = text_format.Parse(
        (tmp_path / "an" / "anomalies.pbtxt").read_text(), anomalies_pb2.Anomalies()
    )
    assert set(proto.anomaly_info) == {"x", "color", "extra", "k"}


def test_missing_fraction_and_ranges_from_a_curated_schema(tmp_path: Path) -> None:
    train = _base()
    ev = pa.table({"x": [None, None, 500.0, -3.0], "k": [0, 1, 2, 1], "color": ["red"] * 4})
    ex = _examples(tmp_path / "ex", train=train, eval=ev)
    schema = infer_schema(compute_statistics(ex))
    x = next(f for f in schema.feature if f.name == "x")
    x.float_domain.min, x.float_domain.max = 0.0, 100.0
    (tmp_path / "curated.pbtxt").write_text(text_format.MessageToString(schema))
    report = validate(
        ex,
        tmp_path / "st",
        tmp_path / "sc",
        tmp_path / "an",
        curated_schema=tmp_path / "curated.pbtxt",
    )
    assert _types(report.anomalies) == {
        ("eval", "x", "FEATURE_TYPE_LOW_FRACTION_PRESENT"),
        ("eval", "x", "FLOAT_TYPE_SMALL_FLOAT"),
        ("eval", "x", "FLOAT_TYPE_BIG_FLOAT"),
    }
    # the curated schema is used as given, never changed
    assert load_schema(tmp_path / "sc") == schema


def test_nan_where_the_schema_disallows_it(tmp_path: Path) -> None:
    ex = _examples(tmp_path / "ex", train=pa.table({"x": [1.0, float("nan"), 2.0]}))
    schema = infer_schema(compute_statistics(ex))
    schema.feature[0].float_domain.disallow_nan = True
    assert _types(find_anomalies(compute_statistics(ex), schema)) == {
        ("train", "x", "FLOAT_TYPE_HAS_NAN")
    }


def test_an_empty_split_is_an_anomaly_unlike_tfdv(tmp_path: Path) -> None:
    ex = _examples(tmp_path / "ex", train=_base(), eval=_base().slice(0, 0))
    report = validate(ex, tmp_path / "st", tmp_path / "sc", tmp_path / "an")
    assert _types(report.anomalies) == {("eval", "", "DATASET_LOW_NUM_EXAMPLES")}


def test_all_null_column_is_described_not_crashed(tmp_path: Path) -> None:
    t = _base().append_column("empty", pa.nulls(20))
    report = validate(
        _examples(tmp_path / "ex", train=t), tmp_path / "st", tmp_path / "sc", tmp_path / "an"
    )
    assert report.ok
    summary = json.loads((tmp_path / "st" / "statistics.json").read_text())
    assert summary["train"]["features"]["empty"]["missing"] == 20


def test_bad_examples_and_schema_files_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no splits"):
        compute_statistics(tmp_path)
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "part-00000.parquet").write_bytes(b"garbage")
    with pytest.raises(DataError, match="cannot read Parquet"):
        compute_statistics(tmp_path)
    bad = tmp_path / "schema.pbtxt"
    bad.write_text("feature { nam: 'x' }")
    with pytest.raises(DataError, match=f"{bad}: not a valid Schema"):
        load_schema(bad)


def test_no_partial_outputs_when_statistics_fail(tmp_path: Path) -> None:
    (tmp_path / "ex" / "train").mkdir(parents=True)
    pq.write_table(pa.table({"x": pa.array([[1], [2]])}), tmp_path / "ex" / "train" / "p.parquet")
    with pytest.raises(DataError, match="column 'x' has type list"):
        validate(tmp_path / "ex", tmp_path / "st", tmp_path / "sc", tmp_path / "an")
    assert not any((tmp_path / n).exists() for n in ("st", "sc", "an"))


def test_infinity_is_an_anomaly_and_the_statistics_stay_valid_json(tmp_path: Path) -> None:
    ex = _examples(
        tmp_path / "ex",
        train=_base(),
        eval=pa.table({"x": [1.0, float("inf")], "k": [1, 2], "color": ["red", "blue"]}),
    )
    report = validate(ex, tmp_path / "st", tmp_path / "sc", tmp_path / "an")
    assert _types(report.anomalies) == {("eval", "x", "FLOAT_TYPE_HAS_INF")}
    summary = json.loads((tmp_path / "st" / "statistics.json").read_text())
    assert summary["eval"]["features"]["x"]["max"] == "inf"


def test_curated_schema_by_uri(tmp_path: Path) -> None:
    ex = _examples(tmp_path / "ex", train=_base())
    schema = infer_schema(compute_statistics(ex))
    (tmp_path / "s.pbtxt").write_text(text_format.MessageToString(schema))
    report = validate(
        ex,
        tmp_path / "st",
        tmp_path / "sc",
        tmp_path / "an",
        curated_schema=f"file://{tmp_path / 's.pbtxt'}",
    )
    assert report.ok and load_schema(tmp_path / "sc") == schema
    with pytest.raises(DataError, match="no such file"):
        validate(
            ex,
            tmp_path / "st2",
            tmp_path / "sc2",
            tmp_path / "an2",
            curated_schema=str(tmp_path / "missing.pbtxt"),
        )
