from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from google.protobuf import text_format
from scipy import stats
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from mlrail.artifacts.tfmd import load_schema, read_anomalies
from mlrail.components.validate.core import (
    compute_statistics,
    find_anomalies,
    infer_schema,
    validate,
    validate_tables,
)
from mlrail.errors import DataError
from mlrail.validation import thresholds


def _diff(folder: Path, split: str) -> anomalies_pb2.Anomalies:
    """The split's Anomalies, as TFX's ExampleAnomalies keeps it (Split-<split>/SchemaDiff.pb)."""
    proto = anomalies_pb2.Anomalies()
    proto.ParseFromString((folder / f"Split-{split}" / "SchemaDiff.pb").read_bytes())
    return proto


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
    for split in ("train", "eval"):  # TFX's ExampleStatistics: one dataset per file
        stats = statistics_pb2.DatasetFeatureStatisticsList()
        stats.ParseFromString((tmp_path / "st" / f"Split-{split}" / "FeatureStats.pb").read_bytes())
        assert [d.name for d in stats.datasets] == [split]
    assert sorted(p.name for p in (tmp_path / "st").iterdir()) == [
        "Split-eval",
        "Split-train",
        "statistics.json",
    ]
    assert (
        json.loads((tmp_path / "st" / "statistics.json").read_text())["train"]["num_examples"] == 20
    )
    assert load_schema(tmp_path / "sc").feature[0].name == "x"
    # TFX's ExampleAnomalies: one Anomalies per split, nothing found in either
    assert set(read_anomalies(tmp_path / "an")) == {"train", "eval"}
    assert not _diff(tmp_path / "an", "train").anomaly_info
    assert not _diff(tmp_path / "an", "eval").anomaly_info
    assert json.loads((tmp_path / "an" / "anomalies.json").read_text())["ok"] is True


def test_the_core_renders_the_pages_it_is_given_paths_for(tmp_path: Path) -> None:
    """The adapter's one call writes the report and the summary too, as train writes curves."""
    from mlrail.components.validate.report import render_html, render_markdown

    ex = _examples(tmp_path / "ex", train=_base(), eval=_base())
    out = [tmp_path / n for n in ("st", "sc", "an")]
    plain = validate(ex, *out)
    assert not (tmp_path / "report.html").exists()
    report = validate(
        ex, *out, report_file=tmp_path / "report.html", summary_file=tmp_path / "summary.md"
    )
    assert (tmp_path / "report.html").read_text() == render_html(report) == render_html(plain)
    assert (tmp_path / "summary.md").read_text() == render_markdown(report)


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
    assert set(_diff(tmp_path / "an", "eval").anomaly_info) == {"x", "color", "extra", "k"}
    assert not _diff(tmp_path / "an", "train").anomaly_info  # each split's own


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
    report = validate(ex, tmp_path / "st", tmp_path / "sc", tmp_path / "an", min_examples=0)
    assert _types(report.anomalies) == {("eval", None, "DATASET_LOW_NUM_EXAMPLES")}
    assert report.anomalies[0].description.startswith("split 'eval' is empty")
    proto = _diff(tmp_path / "an", "eval")
    assert "split 'eval' is empty" in proto.dataset_anomaly_info.description


def test_a_header_only_file_is_an_empty_split(tmp_path: Path) -> None:
    (tmp_path / "eval.csv").write_text("x,k,color\n")
    header_only = pacsv.read_csv(tmp_path / "eval.csv")  # no rows, every column typed null
    report = validate_tables({"train": [_base()], "eval": [header_only]})
    assert [(a.split, a.type) for a in report.anomalies] == [("eval", "DATASET_LOW_NUM_EXAMPLES")]
    assert "split 'eval' is empty" in report.anomalies[0].description


def test_too_few_examples(tmp_path: Path) -> None:
    ex = _examples(tmp_path / "ex", train=_base(), eval=_base())
    report = validate(ex, tmp_path / "st", tmp_path / "sc", tmp_path / "an", min_examples=21)
    assert _types(report.anomalies) == {
        ("eval", None, "DATASET_LOW_NUM_EXAMPLES"),
        ("train", None, "DATASET_LOW_NUM_EXAMPLES"),
    }
    assert "split 'eval' has 20 example(s); at least 21 needed" in report.anomalies[0].description


def test_a_column_with_no_value_where_train_had_some(tmp_path: Path) -> None:
    ev = _base().set_column(0, "x", pa.nulls(20, pa.float64()))
    ex = _examples(tmp_path / "ex", train=_base(), eval=ev)
    report = validate(ex, tmp_path / "st", tmp_path / "sc", tmp_path / "an")
    assert _types(report.anomalies) == {
        ("eval", "x", "FEATURE_TYPE_LOW_NUMBER_PRESENT"),
        ("eval", "x", "FEATURE_TYPE_LOW_FRACTION_PRESENT"),
    }


def test_inferred_ranges_only_on_request(tmp_path: Path) -> None:
    ev = pa.table({"x": [-1.0, 5.0], "k": [3, 1], "color": ["red", "blue"]})
    ex = _examples(tmp_path / "ex", train=_base(), eval=ev)
    stats = compute_statistics(ex)
    assert not _types(find_anomalies(stats, infer_schema(stats)))  # TFDV's default: no ranges
    schema = infer_schema(stats, ranges=True)
    feats = {f.name: f for f in schema.feature}
    assert (feats["x"].float_domain.min, feats["x"].float_domain.max) == (0.0, 19.0)
    assert feats["x"].float_domain.disallow_inf
    assert (feats["k"].int_domain.min, feats["k"].int_domain.max) == (0, 2)
    assert _types(find_anomalies(stats, schema)) == {
        ("eval", "x", "FLOAT_TYPE_SMALL_FLOAT"),
        ("eval", "k", "INT_TYPE_BIG_INT"),
    }


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
    (tmp_path / "ex" / "train" / "p.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="p.parquet: cannot read Parquet"):
        validate(tmp_path / "ex", tmp_path / "st", tmp_path / "sc", tmp_path / "an")
    assert not any((tmp_path / n).exists() for n in ("st", "sc", "an"))


def test_a_column_of_an_unsupported_type_is_an_anomaly_naming_it(tmp_path: Path) -> None:
    ex = _examples(
        tmp_path / "ex",
        train=pa.table({"x": pa.array([[1], None, [2]]), "k": [1, 2, 3]}),
        eval=pa.table({"x": pa.array([[3], [4], [5]]), "k": [1, 2, 3]}),
    )
    report = validate(ex, tmp_path / "st", tmp_path / "sc", tmp_path / "an")
    assert _types(report.anomalies) == {
        ("train", "x", "UNEXPECTED_DATA_TYPE"),
        ("eval", "x", "UNEXPECTED_DATA_TYPE"),
    }
    assert "column 'x' has type list<element: int64>" in report.anomalies[0].description
    assert not report.ok  # the gate closes
    summary = json.loads((tmp_path / "st" / "statistics.json").read_text())
    x = summary["train"]["features"]["x"]
    assert x == {"type": "UNSUPPORTED", "arrow_type": "list<element: int64>", "missing": 1}
    (feat,) = [f for f in report.schema.feature if f.name == "x"]
    assert list(feat.annotation.tag) == ["mlrail.unsupported"] and not feat.HasField("presence")
    written = json.loads((tmp_path / "an" / "anomalies.json").read_text())
    assert written["num_anomalies"] == 2 and not written["ok"]
    # a curated schema that names it is no way around: the type is still refused
    curated = validate(
        ex, tmp_path / "st2", tmp_path / "sc2", tmp_path / "an2", curated_schema=tmp_path / "sc"
    )
    assert _types(curated.anomalies) == _types(report.anomalies)


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


# ---------------------------------------------------------------------------------------------
# skew and drift


# Ten copies of ten rows: the frequencies of ten rows, and 100 values a side, enough for the
# size-dependent thresholds to call the moves below a change (at 10 a side nothing could be).
def _train() -> pa.Table:
    return pa.table(
        {
            "x": [float(i) for i in range(10)] * 10,
            "k": [0, 1] * 50,
            "color": (["red"] * 6 + ["blue"] * 2 + ["green"] * 2) * 10,
        }
    )


def _moved() -> pa.Table:
    return pa.table(
        {
            "x": [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 9.0, 9.0] * 10,
            "k": [1, 0] * 50,
            "color": (["red"] * 2 + ["blue"] * 8) * 10,
        }
    )


# Worked out by hand for _train() against _moved():
# color: train frequencies red 0.6, blue 0.2, green 0.2; moved: red 0.2, blue 0.8, green 0.
#   L-infinity = |0.8 - 0.2| = 0.6, at "blue".
# x: both range over [0, 9], so both STANDARD histograms have the edges 0, 0.9, ..., 9 and need
#   no rebinning. train has one value per bucket: P = (0.1,) * 10. moved has four 0s, four 1s
#   and two 9s: Q = (0.4, 0.4, 0, 0, 0, 0, 0, 0, 0, 0.2). M = (P + Q) / 2 =
#   (0.25, 0.25, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.15).
#   KL(P||M) = 2 * 0.1 * log2(0.1/0.25) + 7 * 0.1 * log2(0.1/0.05) + 0.1 * log2(0.1/0.15)
#   KL(Q||M) = 2 * 0.4 * log2(0.4/0.25) + 0.2 * log2(0.2/0.15)   (terms with Q = 0 vanish)
#   JS = (KL(P||M) + KL(Q||M)) / 2 = 0.50129...
# k: the same two values half and half in both: JS 0, below any threshold, still reported.
#
# The thresholds (mlrail.validation.thresholds), 100 values a side, three features compared:
# alpha per feature 0.05 / 3.
# color: two-proportion z, Bonferroni over 3 values: z at 1 - alpha / 6, times
#   sqrt(p (1 - p) (1/100 + 1/100)) with p the pooled frequency nearest 0.5 (blue: 100/200).
# x: G-test, 10 buckets with mass, chi2(9) at 1 - alpha, over 8 n_eff ln 2 with n_eff = 50;
#   the edges are equal, so no allowance. k: buckets 0 and 9 hold mass: chi2(1).
L_INFTY_COLOR = 0.6
ALPHA_3 = 0.05 / 3
Z_COLOR = float(stats.norm.isf(ALPHA_3 / 6)) * math.sqrt(0.25 * (2 / 100))
CHI2_X = float(stats.chi2.ppf(1 - ALPHA_3, 9)) / (8 * 50 * math.log(2))
CHI2_K = float(stats.chi2.ppf(1 - ALPHA_3, 1)) / (8 * 50 * math.log(2))
JS_X = (
    0.2 * math.log2(0.1 / 0.25)
    + 0.7 * math.log2(0.1 / 0.05)
    + 0.1 * math.log2(0.1 / 0.15)
    + 0.8 * math.log2(0.4 / 0.25)
    + 0.2 * math.log2(0.2 / 0.15)
) / 2


def test_skew_values_are_as_worked_out_by_hand(tmp_path: Path) -> None:
    ex = _examples(tmp_path / "ex", train=_train(), eval=_moved())
    report = validate(ex, tmp_path / "st", tmp_path / "sc", tmp_path / "an")
    got = {c.feature: c for c in report.comparisons}
    assert set(got) == {"x", "k", "color"}
    assert all((c.kind, c.split, c.against) == ("skew", "eval", "train") for c in got.values())
    assert got["color"].measure == "L_INFTY"
    assert got["color"].value == pytest.approx(L_INFTY_COLOR, abs=1e-12)
    assert got["color"].threshold == pytest.approx(Z_COLOR) and got["color"].exceeded
    assert (got["color"].test, got["color"].sizes) == ("z", (100, 100))
    assert got["x"].measure == "JENSEN_SHANNON_DIVERGENCE"
    assert got["x"].value == pytest.approx(JS_X, abs=1e-12)
    assert got["x"].threshold == pytest.approx(CHI2_X) and got["x"].exceeded
    assert (got["x"].test, got["x"].allowance, got["x"].alpha) == ("chi2", 0, ALPHA_3)
    assert got["x"].p_value == pytest.approx(stats.chi2.sf(8 * 50 * math.log(2) * JS_X, 9))
    assert got["k"].value == 0 and not got["k"].exceeded
    assert {(a.split, a.feature, a.type) for a in report.anomalies} == {
        ("eval", "color", "COMPARATOR_L_INFTY_HIGH"),
        ("eval", "x", "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"),
    }
    color = next(a for a in report.anomalies if a.feature == "color")
    assert "column 'color'" in color.description and "0.6000" in color.description
    assert "'blue'" in color.description
    assert not report.drift_detected  # skew is not drift

    doc = json.loads((tmp_path / "an" / "anomalies.json").read_text())
    by_feature = {c["feature"]: c for c in doc["comparisons"]}
    assert by_feature["k"] == {
        "feature": "k",
        "kind": "skew",
        "measure": "JENSEN_SHANNON_DIVERGENCE",
        "split": "eval",
        "against": "train",
        "value": 0.0,
        "threshold": pytest.approx(max(CHI2_K, thresholds.JS_FLOOR)),
        "exceeded": False,
        "test": "chi2",
        "p_value": 1.0,
        "alpha": pytest.approx(ALPHA_3),
        "sizes": [100.0, 100.0],
        "allowance": 0.0,
    }
    assert by_feature["color"]["exceeded"] is True
    assert doc["drift_detected"] is False and doc["drift_baseline"] is None
    proto = _diff(tmp_path / "an", "eval")  # skew is measured on eval, against train
    assert not _diff(tmp_path / "an", "train").drift_skew_info
    measured = {
        i.path.step[0]: [(m.type, m.value, m.threshold) for m in i.skew_measurements]
        for i in proto.drift_skew_info
    }
    js = anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE
    assert measured["k"] == [(js, 0.0, pytest.approx(max(CHI2_K, thresholds.JS_FLOOR)))]
    assert measured["x"][0][1] == pytest.approx(JS_X)
    reasons = [r.type for r in proto.anomaly_info["color"].reason]
    assert reasons == [anomalies_pb2.AnomalyInfo.COMPARATOR_L_INFTY_HIGH]


def test_drift_against_the_statistics_of_an_earlier_run(tmp_path: Path) -> None:
    old = _examples(tmp_path / "old", train=_train(), eval=_train())
    validate(old, tmp_path / "old_st", tmp_path / "old_sc", tmp_path / "old_an")
    # the same data again: every drift measured, none above its threshold
    same = validate(
        old,
        tmp_path / "st0",
        tmp_path / "sc0",
        tmp_path / "an0",
        baseline_statistics=tmp_path / "old_st",
    )
    assert same.ok and not same.drift_detected
    assert {(c.kind, c.split, c.against) for c in same.comparisons} == {
        ("skew", "eval", "train"),
        ("drift", "eval", "eval"),
        ("drift", "train", "train"),
    }
    assert all(c.value == 0 for c in same.comparisons)

    new = _examples(tmp_path / "new", train=_moved(), eval=_moved())
    report = validate(
        new,
        tmp_path / "st",
        tmp_path / "sc",
        tmp_path / "an",
        baseline_statistics=tmp_path / "old_st",
    )
    drift = {(c.split, c.feature): c for c in report.comparisons if c.kind == "drift"}
    for split in ("train", "eval"):
        assert drift[(split, "color")].against == split
        assert drift[(split, "color")].value == pytest.approx(L_INFTY_COLOR, abs=1e-12)
        assert drift[(split, "color")].threshold == pytest.approx(Z_COLOR)
        assert drift[(split, "x")].value == pytest.approx(JS_X, abs=1e-12)
        assert drift[(split, "x")].threshold == pytest.approx(CHI2_X)
    assert report.drift_detected
    assert {(a.split, a.feature, a.type) for a in report.anomalies} == {
        (s, f, t)
        for s in ("train", "eval")
        for f, t in (
            ("color", "COMPARATOR_L_INFTY_HIGH"),
            ("x", "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"),
        )
    }
    assert any("and the baseline's 'eval' is 0.6000" in a.description for a in report.anomalies)
    doc = json.loads((tmp_path / "an" / "anomalies.json").read_text())
    assert doc["drift_detected"] is True and doc["drift_baseline"] == str(tmp_path / "old_st")
    for split in ("train", "eval"):  # each split's drift in its own SchemaDiff.pb
        proto = _diff(tmp_path / "an", split)
        color = next(i for i in proto.drift_skew_info if i.path.step[0] == "color")
        assert [m.value for m in color.drift_measurements] == pytest.approx([L_INFTY_COLOR])


def test_baseline_by_folder_uri_split_folder_or_file_and_a_missing_one(tmp_path: Path) -> None:
    ex = _examples(tmp_path / "ex", train=_train())
    validate(ex, tmp_path / "base", tmp_path / "sc", tmp_path / "an")
    for source in (
        str(tmp_path / "base"),  # the artifact folder, in TFX's layout
        f"file://{tmp_path / 'base'}",
        str(tmp_path / "base" / "Split-train"),
        str(tmp_path / "base" / "Split-train" / "FeatureStats.pb"),  # a bare file: split "train"
    ):
        report = validate(
            ex, tmp_path / "st", tmp_path / "sc", tmp_path / "an", baseline_statistics=source
        )
        assert [c.kind for c in report.comparisons] == ["drift"] * 3 and report.baseline == source
        assert {c.against for c in report.comparisons} == {"train"}
    with pytest.raises(DataError, match="no such file"):
        validate(
            ex,
            tmp_path / "st2",
            tmp_path / "sc2",
            tmp_path / "an2",
            baseline_statistics=str(tmp_path / "nowhere"),
        )
    assert not (tmp_path / "an2").exists()


def test_inferred_features_carry_comparators_without_a_threshold(tmp_path: Path) -> None:
    # no threshold: the size-dependent default (mlrail.validation.thresholds)
    schema = infer_schema(compute_statistics(_examples(tmp_path / "ex", train=_train())))
    feats = {f.name: f for f in schema.feature}
    for comparator in (feats["color"].skew_comparator, feats["color"].drift_comparator):
        assert comparator.HasField("infinity_norm")
        assert not comparator.infinity_norm.HasField("threshold")
    for name in ("x", "k"):
        for comparator in (feats[name].skew_comparator, feats[name].drift_comparator):
            assert comparator.HasField("jensen_shannon_divergence")
            assert not comparator.jensen_shannon_divergence.HasField("threshold")


def test_a_curated_schema_without_comparators_only_reports_values(tmp_path: Path) -> None:
    ex = _examples(tmp_path / "ex", train=_train(), eval=_moved())
    schema = infer_schema(compute_statistics(ex))
    for f in schema.feature:
        f.ClearField("skew_comparator")
        f.ClearField("drift_comparator")
    (tmp_path / "s.pbtxt").write_text(text_format.MessageToString(schema))
    report = validate(
        ex, tmp_path / "st", tmp_path / "sc", tmp_path / "an", curated_schema=tmp_path / "s.pbtxt"
    )
    assert report.ok and load_schema(tmp_path / "sc") == schema
    color = next(c for c in report.comparisons if c.feature == "color")
    assert color.value == pytest.approx(L_INFTY_COLOR) and color.threshold is None
    doc = json.loads((tmp_path / "an" / "anomalies.json").read_text())
    assert {c["threshold"] for c in doc["comparisons"]} == {None}


def test_validate_tables_compares_raw_data_with_a_baseline_split(tmp_path: Path) -> None:
    ex = _examples(tmp_path / "ex", train=_train(), eval=_train())
    validate(ex, tmp_path / "base", tmp_path / "sc", tmp_path / "an")
    report = validate_tables(
        {"data": _moved().to_batches(max_chunksize=3)},
        baseline_statistics=tmp_path / "base",
        baseline_split="train",
    )
    assert [d.name for d in report.statistics.datasets] == ["data"]
    assert [f.name for f in report.schema.feature] == ["x", "k", "color"]  # inferred from data
    drift = {c.feature: c for c in report.comparisons}
    assert {(c.kind, c.split, c.against) for c in drift.values()} == {("drift", "data", "train")}
    assert drift["color"].value == pytest.approx(L_INFTY_COLOR, abs=1e-12)
    assert drift["x"].value == pytest.approx(JS_X, abs=1e-12)
    assert report.drift_detected and report.baseline == str(tmp_path / "base")


def test_penguins_splits_show_no_skew_and_a_moved_eval_does(tmp_path: Path) -> None:
    from mlrail.components.ingest.core import ingest

    ingest("bundled:penguins", str(tmp_path / "ex"))
    report = validate(tmp_path / "ex", tmp_path / "st", tmp_path / "sc", tmp_path / "an")
    assert report.ok, report.anomalies
    assert len(report.comparisons) == 8 and not any(c.exceeded for c in report.comparisons)

    # eval loses its Adelie penguins and the rest gain 1.5 kg
    for part in (tmp_path / "ex" / "eval").glob("*.parquet"):
        t = pq.read_table(part)
        t = t.filter(pc.not_equal(t["species"], "Adelie"))
        mass = t.schema.get_field_index("body_mass_g")
        t = t.set_column(mass, "body_mass_g", pc.add(t["body_mass_g"], 1500))
        pq.write_table(t, part)
    report = validate(tmp_path / "ex", tmp_path / "st", tmp_path / "sc", tmp_path / "an")
    assert {(a.feature, a.type) for a in report.anomalies} >= {
        ("species", "COMPARATOR_L_INFTY_HIGH"),
        ("body_mass_g", "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"),
    }
