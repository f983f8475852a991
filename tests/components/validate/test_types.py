"""validate on the column types and names a user's table may hold: dates and timestamps as days,
every number width, decimals, text encodings, identifier-like columns, unsupported types (an
anomaly naming the type), and column names of any kind through statistics, schema, anomalies,
skew and the HTML and Markdown reports."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from mlrail.components.validate.core import validate, validate_tables
from mlrail.components.validate.files import infer_source_schema, validate_source
from mlrail.components.validate.report import render_html, render_markdown
from mlrail.datetimes import arrow_days
from mlrail.validation.schema import (
    IDENTIFIER,
    IDENTIFIER_MIN_VALUES,
    infer_schema,
)
from mlrail.validation.statistics import (
    DATETIME,
    custom_str,
    statistics_from_batches,
)


def _features(table: pa.Table) -> dict[str, statistics_pb2.FeatureNameStatistics]:
    ds = statistics_from_batches("train", table)
    return {f.path.step[0]: f for f in ds.features}


def _schema(table: pa.Table) -> dict[str, schema_pb2.Feature]:
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    stats.datasets.append(statistics_from_batches("train", table))
    return {f.name: f for f in infer_schema(stats).feature}


def _examples(root: Path, **splits: pa.Table) -> Path:
    for name, table in splits.items():
        (root / name).mkdir(parents=True)
        pq.write_table(table, root / name / "part-00000.parquet")
    return root


DAYS = [dt.date(2012, 1, 1) + dt.timedelta(days=i) for i in range(40)]


def test_dates_and_timestamps_are_float_features_of_days_marked_with_their_type() -> None:
    stamps = [dt.datetime(2012, 1, 1, 18) + dt.timedelta(days=i) for i in range(40)]
    table = pa.table(
        {
            "day": pa.array([None, *DAYS[1:]], pa.date32()),
            "day64": pa.array(DAYS, pa.date64()),
            "at": pa.array(stamps, pa.timestamp("ns")),
            "zoned": pa.array(stamps, pa.timestamp("s", "Europe/Paris")),
        }
    )
    feats = _features(table)
    for name, f in feats.items():
        assert f.type == statistics_pb2.FeatureNameStatistics.FLOAT, name
        assert custom_str(f, DATETIME) == str(table.schema.field(name).type)
    day = feats["day"].num_stats
    assert day.common_stats.num_missing == 1 and day.common_stats.num_non_missing == 39
    assert day.min == 15341.0 and day.max == 15379.0  # 2012-01-02 and 2012-02-09
    assert feats["day64"].num_stats.min == 15340.0
    assert feats["at"].num_stats.min == 15340.75  # 18:00 is three quarters of a day
    # a zoned timestamp's stored value is its UTC instant: the zone changes nothing
    assert feats["zoned"].num_stats.mean == feats["at"].num_stats.mean
    assert feats["at"].num_stats.mean == float(arrow_days(table.column("at")).mean())


def test_the_inferred_schema_marks_dates_with_a_time_domain() -> None:
    feat = _schema(pa.table({"day": pa.array(DAYS, pa.date32())}))["day"]
    assert feat.type == schema_pb2.FLOAT
    assert feat.time_domain.integer_format == schema_pb2.TimeDomain.UNIX_DAYS
    assert feat.WhichOneof("domain_info") == "time_domain"  # no float domain beside it
    assert feat.skew_comparator.HasField("jensen_shannon_divergence")  # threshold: by size


def test_dates_are_compared_for_skew_like_numbers() -> None:
    train = pa.table({"day": pa.array(DAYS * 5, pa.date32())})
    later = [d + dt.timedelta(days=400) for d in DAYS]
    report = validate_tables(
        {"train": [train], "eval": [pa.table({"day": pa.array(later * 5, pa.date32())})]}
    )
    (skew,) = [c for c in report.comparisons if c.feature == "day"]
    assert skew.exceeded and skew.measure == "JENSEN_SHANNON_DIVERGENCE"
    assert {a.type for a in report.anomalies} == {"COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"}
    same = validate_tables({"train": [train], "eval": [train.slice(0, 80)]})
    assert same.ok
    # the report shows a date column's figures as dates, not as days since 1970
    page = ET.fromstring(render_html(report))
    (table,) = [t for t in page.iter("table") if t.get("id") == "features-numeric"]
    cells = ["".join(td.itertext()) for td in table.iter("td")]
    assert "2012-01-01" in cells and "2013-02-04" in cells  # train's and eval's minimum
    assert "dates (date32[day])" in "".join(table.itertext())


def test_a_curated_time_domain_and_dates_must_meet(tmp_path: Path) -> None:
    dates = pa.table({"day": pa.array(DAYS, pa.date32())})
    numbers = pa.table({"day": pa.array([float(i) for i in range(40)])})
    as_dates = validate_tables({"train": [dates]}).schema
    as_numbers = validate_tables({"train": [numbers]}).schema
    report = validate_tables({"train": [numbers]}, curated_schema=as_dates)
    assert [(a.feature, a.type) for a in report.anomalies] == [("day", "UNEXPECTED_DATA_TYPE")]
    assert "expected dates or timestamps, found numbers" in report.anomalies[0].description
    report = validate_tables({"train": [dates]}, curated_schema=as_numbers)
    assert "found dates or timestamps (date32[day])" in report.anomalies[0].description


def test_numbers_of_every_width_decimals_and_encodings_are_numbers() -> None:
    values = [1, None, 3, 120]
    decimals = [None if v is None else decimal.Decimal(v) for v in values]
    table = pa.table(
        {
            **{str(t): pa.array(values, t) for t in (pa.int8(), pa.uint16(), pa.uint64())},
            "dec": pa.array(decimals, pa.decimal128(6, 2)),
            "dec256": pa.array(decimals, pa.decimal256(40, 0)),
            "dict": pa.array([1.0, None, 3.0, 120.0]).dictionary_encode(),
            "flag": pa.array([True, None, False, True]),
        }
    )
    feats = _features(table)
    types = {n: statistics_pb2.FeatureNameStatistics.Type.Name(f.type) for n, f in feats.items()}
    assert types == {
        "int8": "INT", "uint16": "INT", "uint64": "INT", "dec": "FLOAT", "dec256": "FLOAT",
        "dict": "FLOAT", "flag": "INT",
    }  # fmt: skip
    for name in ("int8", "uint16", "uint64", "dec", "dec256", "dict"):
        n = feats[name].num_stats
        assert (n.min, n.max, n.common_stats.num_missing) == (1.0, 120.0, 1), name
        assert n.mean == 124 / 3, name
    flag = feats["flag"].num_stats
    assert (flag.mean, flag.num_zeros, flag.common_stats.num_missing) == (2 / 3, 1, 1)
    huge = _features(pa.table({"u": pa.array([2**64 - 1, 2**63], pa.uint64())}))["u"].num_stats
    assert huge.max == float(2**64 - 1) and huge.min == float(2**63)  # rounded to float64


def test_text_of_every_encoding_is_a_string_feature() -> None:
    values = ["a", None, "b", "a"]
    table = pa.table(
        {
            "plain": pa.array(values),
            "large": pa.array(values, pa.large_string()),
            "view": pa.array(values, pa.string_view()),
            "dict": pa.array(values).dictionary_encode(),
        }
    )
    for name, f in _features(table).items():
        s = f.string_stats
        assert f.type == statistics_pb2.FeatureNameStatistics.STRING, name
        assert (s.unique, s.common_stats.num_missing) == (2, 1), name
        assert [(v.value, v.frequency) for v in s.top_values] == [("a", 2.0), ("b", 1.0)], name


def test_an_identifier_like_column_is_tagged_and_not_compared(tmp_path: Path) -> None:
    n = IDENTIFIER_MIN_VALUES
    ids = [f"user-{i:05d}" for i in range(2 * n)]
    table = pa.table(
        {
            "id": ids,
            "few": [f"u{i}" for i in range(2 * n)][: n - 1] + [None] * (n + 1),  # too few values
            "repeats": [f"c{i % (n // 2)}" for i in range(2 * n)],  # a category
            "x": [float(i % 7) for i in range(2 * n)],
        }
    )
    schema = _schema(table)
    feat = schema["id"]
    assert list(feat.annotation.tag) == [IDENTIFIER]
    assert "100 distinct values in 100 non-missing (100%" in feat.annotation.comment[0]
    assert not feat.domain and not feat.HasField("skew_comparator")
    assert not feat.HasField("drift_comparator")
    assert not schema["few"].annotation.tag and not schema["repeats"].annotation.tag
    ex = _examples(tmp_path / "ex", train=table, eval=table.slice(0, 60))
    report = validate(ex, tmp_path / "st", tmp_path / "sc", tmp_path / "an")
    assert report.ok  # not an anomaly: the gate stays open
    assert "id" not in {c.feature for c in report.comparisons}
    html = render_html(report)
    root = ET.fromstring(html)
    (table_el,) = [t for t in root.iter("table") if t.get("id") == "left-out-table"]
    cells = ["".join(td.itertext()) for td in table_el.iter("td")]
    assert cells[0] == "id" and "100 distinct values in 100 non-missing" in cells[1]
    md = render_markdown(report)
    assert "### Left out of the default model (1)" in md
    assert "- **id** identifier-like: 100 distinct values in 100 non-missing" in md


def test_nan_text_in_a_number_column_is_nan_not_missing(tmp_path: Path) -> None:
    """The reported symptom, small: TFDV counts NaN values, mlrail counted them missing."""
    rows = "".join(f"{i}.5,{'nan' if i % 4 == 0 else i},w{i % 3}\n" for i in range(40))
    src = tmp_path / "r.csv"
    src.write_text(f"x,y,w\n{rows}NA,NA,nan\n")
    report = validate_source(str(src))
    (ds,) = report.statistics.datasets
    y = next(f for f in ds.features if f.path.step[0] == "y").num_stats
    assert y.common_stats.num_missing == 1  # "NA" only
    assert y.common_stats.num_non_missing == 40
    assert [h.num_nan for h in y.histograms] == [10, 10]
    assert not math.isnan(y.mean)
    w = next(f for f in ds.features if f.path.step[0] == "w").string_stats
    assert {v.value for v in w.top_values} == {"w0", "w1", "w2", "nan"}  # text stays text


def test_types_no_step_uses_are_anomalies_and_the_reports_name_them(tmp_path: Path) -> None:
    table = pa.table(
        {
            "ok": [1.0, 2.0, 3.0],
            "blob": pa.array([b"\x00", None, b"\x01"]),
            "tags": pa.array([[1], [2], None]),
            "at": pa.array([1, 2, 3], pa.time32("s")),
            "took": pa.array([1, 2, 3], pa.duration("ms")),
            "pt": pa.array([{"x": 1}, None, {"x": 3}]),
        }
    )
    report = validate_tables({"train": [table]})
    found = {a.feature: a.description for a in report.anomalies}
    assert set(found) == {"blob", "tags", "at", "took", "pt"}
    assert {a.type for a in report.anomalies} == {"UNEXPECTED_DATA_TYPE"}
    for name in found:
        assert f"column {name!r} has type {table.schema.field(name).type}" in found[name]
    assert not report.ok
    html = render_html(report)
    ET.fromstring(html)
    assert "unsupported type list&lt;item: int64&gt;" in html
    assert "`UNEXPECTED_DATA_TYPE`: column 'tags' has type list&lt;item: int64&gt;" in (
        render_markdown(report)
    )


# the odd ones are text columns (flagged in eval), the even ones numbers
NAMES = ["Name", "", "a b", "a.b/c", "Churned?", "2024 | Sales", "Größe", "`tick`", "Age", "<b>&",
         "age", "x" * 300]  # fmt: skip


def test_column_names_of_any_kind_survive_validate_and_both_reports(tmp_path: Path) -> None:
    train = pa.table({n: [f"v{i % 3}" if k % 2 else float(i) for i in range(30)] for k, n in
                      enumerate(NAMES)})  # fmt: skip
    shifted = pa.table(
        {n: [f"w{i % 3}" if k % 2 else float(i) for i in range(30)] for k, n in enumerate(NAMES)}
    )
    ex = _examples(tmp_path / "ex", train=train, eval=shifted)
    report = validate(ex, tmp_path / "st", tmp_path / "sc", tmp_path / "an")
    assert [f.path.step[0] for f in report.statistics.datasets[0].features] == NAMES
    assert [f.name for f in report.schema.feature] == NAMES
    # every categorical column got its eval values flagged, under its exact name ("" too)
    unseen = {a.feature for a in report.anomalies if a.type == "ENUM_TYPE_UNEXPECTED_STRING_VALUES"}
    assert unseen == set(NAMES[1::2])
    assert "" not in {d.name for d in report.schema.string_domain}  # its domain is inline
    statistics = json.loads((tmp_path / "st" / "statistics.json").read_text())
    assert set(statistics["train"]["features"]) == set(NAMES)
    written = json.loads((tmp_path / "an" / "anomalies.json").read_text())
    assert {a["feature"] for a in written["anomalies"]} >= set(NAMES[1::2])
    html = render_html(report)
    root = ET.fromstring(html)  # well-formed whatever the names hold
    names = {"".join(s.itertext()) for s in root.iter("span") if s.get("class") == "name"}
    assert names == {n or '""' for n in NAMES}
    md = render_markdown(report)
    assert r"2024 \| Sales" in md and r"\`tick\`" in md and "&lt;b&gt;&amp;" in md
    assert "<b>" not in md
    rows = [line for line in md.splitlines() if "| skew |" in line]
    assert rows and all(len(re.findall(r"(?<!\\)\|", row)) == 8 for row in rows)  # 7 cells


def test_mlrail_schema_keeps_names_and_marks_dates_from_a_csv(tmp_path: Path) -> None:
    src = tmp_path / "d.csv"
    rows = "".join(
        f"{i},2012-01-{i % 28 + 1:02d},2012-01-01T{i % 24:02d}:00:00Z,{i}\n" for i in range(30)
    )
    src.write_text(f',"Größe?","a.b/c",Age\n{rows}')
    schema = infer_source_schema(str(src))
    assert [f.name for f in schema.feature] == ["", "Größe?", "a.b/c", "Age"]
    by_name = {f.name: f for f in schema.feature}
    assert by_name["Größe?"].HasField("time_domain") and by_name["a.b/c"].HasField("time_domain")
    assert by_name["Age"].type == schema_pb2.INT and by_name[""].type == schema_pb2.INT


def test_inferred_integer_ranges_stay_within_int64() -> None:
    table = pa.table(
        {"u": pa.array([2**64 - 1, 5], pa.uint64()), "i": [-(2**63), 2**63 - 1], "s": [-3, 9]}
    )
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    stats.datasets.append(statistics_from_batches("train", table))
    schema = {f.name: f for f in infer_schema(stats, ranges=True).feature}
    assert schema["u"].int_domain.min == 5 and not schema["u"].int_domain.HasField("max")
    assert schema["i"].int_domain.min == -(2**63) and not schema["i"].int_domain.HasField("max")
    assert (schema["s"].int_domain.min, schema["s"].int_domain.max) == (-3, 9)
