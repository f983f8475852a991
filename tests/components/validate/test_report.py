from __future__ import annotations

import copy
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from mlrail.components.validate.core import Anomaly, Comparison, ValidationReport
from mlrail.components.validate.report import render_html, render_markdown
from tests.pages import assert_self_contained

_FNS = statistics_pb2.FeatureNameStatistics
EVIL = '<script>&"x"'
NANDU = "Ñandú 🐧"


# ---------------------------------------------------------------------------------------------
# hand-built statistics, as TFDV lays them out


def _numeric(
    name: str,
    *,
    missing: int = 0,
    buckets: Sequence[tuple[float, float, float]] = (),
    nan: int = 0,
    mean: float = 0.0,
    std: float = 0.0,
    lo: float = 0.0,
    median: float = 0.0,
    hi: float = 0.0,
    zeros: int = 0,
) -> statistics_pb2.FeatureNameStatistics:
    f = _FNS(type=_FNS.FLOAT)
    f.path.step.append(name)
    n = f.num_stats
    n.common_stats.num_non_missing = int(sum(c for _, _, c in buckets)) + nan
    n.common_stats.num_missing = missing
    n.mean, n.std_dev, n.min, n.median, n.max, n.num_zeros = mean, std, lo, median, hi, zeros
    if buckets or nan:
        h = n.histograms.add(type=statistics_pb2.Histogram.STANDARD, num_nan=nan)
        for b_lo, b_hi, c in buckets:
            h.buckets.add(low_value=b_lo, high_value=b_hi, sample_count=c)
        n.histograms.add(type=statistics_pb2.Histogram.QUANTILES, num_nan=nan)
    return f


def _strings(
    name: str, counts: dict[str, int], *, missing: int = 0
) -> statistics_pb2.FeatureNameStatistics:
    f = _FNS(type=_FNS.STRING)
    f.path.step.append(name)
    s = f.string_stats
    s.common_stats.num_non_missing = sum(counts.values())
    s.common_stats.num_missing = missing
    s.unique = len(counts)
    if counts:
        s.avg_length = sum(len(v) * c for v, c in counts.items()) / sum(counts.values())
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    for rank, (value, c) in enumerate(ranked):
        if rank < 20:
            s.top_values.add(value=value, frequency=c)
        s.rank_histogram.buckets.add(low_rank=rank, high_rank=rank, label=value, sample_count=c)
    return f


def _stats(**splits: tuple[int, list[statistics_pb2.FeatureNameStatistics]]):
    out = statistics_pb2.DatasetFeatureStatisticsList()
    for name, (rows, features) in splits.items():
        ds = out.datasets.add(name=name, num_examples=rows)
        ds.features.extend(features)
    return out


def _schema(**types: int) -> schema_pb2.Schema:
    schema = schema_pb2.Schema()
    for name, t in types.items():
        schema.feature.add(name=name, type=t)
    return schema


SKEW_SPECIES = Comparison(
    "species", "skew", "L_INFTY", "eval", "train", 0.25, 0.1, "z", 0.001, 0.0125, (64, 270)
)
SKEW_BILL = Comparison(
    "bill",
    "skew",
    "JENSEN_SHANNON_DIVERGENCE",
    "eval",
    "train",
    0.0123,
    0.1,
    "chi2",
    0.9,
    0.0125,
    (64.0, 268.0),
    0.045,
)
SPECIES_TEST = "z-test per value; p 0.001 (level 0.013); 64 vs 270 values"
BILL_TEST = "G-test (χ²); p 0.9 (level 0.013); 64 vs 268 values; threshold + 0.045 for the binning"
DRIFT_BILL = Comparison("bill", "drift", "JENSEN_SHANNON_DIVERGENCE", "eval", "eval", 0.0456, None)
EMPTY_TEST = Anomaly("test", None, "DATASET_LOW_NUM_EXAMPLES", "split 'test' has 0 example(s)")
UNEXPECTED = Anomaly(
    "eval", "species", "ENUM_TYPE_UNEXPECTED_STRING_VALUES", f"1 value(s) not in domain: {NANDU!r}"
)
EVIL_LOW = Anomaly(
    "eval", EVIL, "FEATURE_TYPE_LOW_FRACTION_PRESENT", f"column {EVIL!r} is 50% full"
)


def _report(**kw) -> ValidationReport:
    """train 100 rows, eval 40, test 0; a numeric, a categorical, an all-missing and an
    unfriendly-named feature; `only_train` is absent from eval."""
    train = [
        _numeric(
            "bill",
            buckets=[(30.0, 40.0, 40), (40.0, 50.0, 50), (50.0, 60.0, 8)],
            nan=2,
            mean=43.2,
            std=5.61,
            lo=30.0,
            median=42.0,
            hi=60.0,
        ),
        _strings("species", {"Adelie": 50, "Gentoo": 30, "Chinstrap": 20}),
        _strings("empty_col", {}, missing=100),
        _strings(EVIL, {"a&b": 60, "<i>": 40}),
        _numeric("only_train", buckets=[(0.0, 1.0, 100)], mean=0.5, lo=0.0, hi=1.0, zeros=50),
    ]
    eval_ = [
        _numeric(
            "bill",
            buckets=[(35.0, 45.0, 20), (45.0, 55.0, 20)],
            mean=45.0,
            std=4.0,
            lo=35.0,
            median=45.0,
            hi=math.inf,
        ),
        _strings("species", {"Adelie": 20, "Gentoo": 10, NANDU: 10}),
        _strings("empty_col", {}, missing=40),
        _strings(EVIL, {"a&b": 20}, missing=20),
    ]
    fields = dict(
        statistics=_stats(train=(100, train), eval=(40, eval_), test=(0, [])),
        schema=_schema(
            bill=schema_pb2.FLOAT,
            species=schema_pb2.BYTES,
            empty_col=schema_pb2.BYTES,
            only_train=schema_pb2.FLOAT,
            **{EVIL: schema_pb2.BYTES},
        ),
        anomalies=[EMPTY_TEST, UNEXPECTED, EVIL_LOW],
        comparisons=[SKEW_BILL, DRIFT_BILL, SKEW_SPECIES],
        baseline="gs://runs/2024-05-01/statistics",
    )
    fields.update(kw)
    return ValidationReport(**fields)


def _doc(page: str) -> ET.Element:
    """The page parsed as XML: it is written to be well-formed, so every tag is closed."""
    return ET.fromstring(page)


def _text(el: ET.Element) -> str:
    return "".join(el.itertext())


def _classes(el: ET.Element) -> set[str]:
    return set(el.get("class", "").split())


def _rows(doc: ET.Element, table_id: str) -> list[ET.Element]:
    table = doc.find(f".//table[@id='{table_id}']")
    assert table is not None, f"no table {table_id}"
    return table.findall("./tbody/tr")


# ---------------------------------------------------------------------------------------------
# HTML


def test_header_states_the_verdict_drift_baseline_and_rows_per_split():
    doc = _doc(render_html(_report()))
    assert _text(doc.find(".//*[@id='verdict']")).endswith("3 anomalies")
    assert "bad" in _classes(doc.find(".//*[@id='verdict']"))
    assert _text(doc.find(".//*[@id='drift']")) == "no drift"
    assert "gs://runs/2024-05-01/statistics" in _text(doc.find(".//header"))
    splits = [_text(li) for li in doc.findall(".//ul[@id='splits']/li")]
    assert splits == ["train 100 rows", "eval 40 rows", "test 0 rows"]


def test_header_ok_and_drift_detected_and_drift_not_checked():
    drifted = Comparison("bill", "drift", "JENSEN_SHANNON_DIVERGENCE", "eval", "eval", 0.5, 0.1)
    doc = _doc(render_html(_report(anomalies=[], comparisons=[drifted])))
    assert _text(doc.find(".//*[@id='verdict']")) == "✓ OK"
    assert "good" in _classes(doc.find(".//*[@id='verdict']"))
    assert _text(doc.find(".//*[@id='drift']")) == "drift detected"
    assert "bad" in _classes(doc.find(".//*[@id='drift']"))

    doc = _doc(render_html(_report(comparisons=[SKEW_SPECIES], baseline="")))
    assert _text(doc.find(".//*[@id='drift']")) == "drift not checked (no baseline)"
    assert "Baseline for drift: none" in _text(doc.find(".//header"))


def test_every_anomaly_is_a_highlighted_row():
    report = _report()
    rows = _rows(_doc(render_html(report)), "anomalies-table")
    assert len(rows) == len(report.anomalies)
    for a, row in zip(report.anomalies, rows, strict=True):
        cells = [_text(td) for td in row.findall("td")]
        assert cells == [a.split, a.feature or "(whole split)", a.type, a.description]
        assert "alert" in _classes(row)


def test_no_anomalies_says_so():
    doc = _doc(render_html(_report(anomalies=[])))
    assert doc.find(".//table[@id='anomalies-table']") is None
    assert "every split matches the schema" in _text(doc.find(".//section[@id='anomalies']"))


def test_every_comparison_is_shown_and_only_exceeded_ones_highlighted():
    rows = _rows(_doc(render_html(_report())), "comparisons-table")
    cells = [[_text(td) for td in row.findall("td")] for row in rows]
    # exceeded first, then the largest value; values below threshold are shown too
    assert [c[:6] for c in cells] == [
        ["species", "skew", "L∞ distance", "eval", "train", "0.25"],
        ["bill", "drift", "JS divergence", "eval", "baseline eval", "0.0456"],
        ["bill", "skew", "JS divergence", "eval", "train", "0.0123"],
    ]
    assert [c[6:] for c in cells] == [
        ["0.1", "▲ exceeded", SPECIES_TEST],
        ["–", "no threshold", "–"],
        ["0.1", "within", BILL_TEST],
    ]
    assert ["exceeded" in _classes(r) for r in rows] == [True, False, False]


def test_feature_names_and_values_are_escaped():
    page = render_html(_report())
    assert "<script" not in page and "<i>" not in page
    assert "&lt;script&gt;&amp;&quot;x&quot;" in page
    doc = _doc(page)
    names = [_text(s) for s in doc.iter("span") if "name" in _classes(s)]
    assert EVIL in names
    # the category "<i>" and "a&b" reach the chart labels as text, not markup
    labels = {t.text for t in doc.iter("text")}
    assert {"<i>", "a&b"} <= labels


def test_non_ascii_category_is_kept_as_text():
    page = render_html(_report())
    labels = {t.text for t in _doc(page).iter("text")}
    assert NANDU in labels
    assert '<meta charset="utf-8"/>' in page


def test_control_characters_in_data_do_not_break_the_page():
    odd = _stats(train=(3, [_strings("a\x01b", {"x\x00y": 2, "z": 1})]))
    page = render_html(_report(statistics=odd, anomalies=[], comparisons=[]))
    doc = _doc(page)  # raw \x00 or \x01 would make this fail
    assert "a\\x01b" in _text(doc)


def test_empty_split_absent_feature_and_all_missing_feature_render():
    doc = _doc(render_html(_report()))
    by_name = {
        _text(tb.find(".//span[@class='name']")): tb
        for tb in doc.iter("tbody")
        if "feature" in _classes(tb)
    }
    empty = by_name["empty_col"]
    rows = empty.findall("tr")
    assert [_text(r.findall("td")[1]) for r in rows[:2]] == ["100%", "100%"]
    assert [_text(f.find("div")) for f in empty.iter("figure")] == [
        "no values",
        "no values",
        "no rows",
    ]
    only_train = by_name["only_train"]
    assert [_text(r.findall("td")[-1]) for r in only_train.findall("tr")[1:]] == [
        "absent from this split",
        "no rows in this split",
    ]
    assert len(list(only_train.iter("svg"))) == 1


def test_page_is_self_contained():
    assert_self_contained(render_html(_report()))


def test_each_svg_is_well_formed_xml_on_its_own():
    page = render_html(_report())
    svgs = re.findall(r"<svg\b.*?</svg>", page, flags=re.S)
    # bill: train, eval; species: train, eval; EVIL: train, eval; only_train: train
    assert len(svgs) == 7
    for svg in svgs:
        root = ET.fromstring(svg)
        assert root.tag == "svg" and root.get("viewBox")
        assert root.find("title") is not None


def _figures(doc: ET.Element, feature: str) -> dict[str, ET.Element]:
    for tb in doc.iter("tbody"):
        if "feature" in _classes(tb) and _text(tb.find(".//span[@class='name']")) == feature:
            return {_text(f.find("figcaption")): f for f in tb.iter("figure")}
    raise AssertionError(f"no feature {feature}")


def test_histogram_draws_each_nonempty_bucket_on_a_shared_axis_and_counts_nan():
    doc = _doc(render_html(_report()))
    figs = _figures(doc, "bill")
    train, eval_ = figs["train"].find("svg"), figs["eval"].find("svg")
    assert len(train.findall("rect")) == 3 and len(eval_.findall("rect")) == 2
    texts = [_text(t) for t in train.iter("text")]
    assert "NaN: 2 (2.0%)" in texts
    assert not any(_text(t).startswith("NaN") for t in eval_.iter("text"))
    # both splits drawn from 30 to 60: eval's first bucket starts at 35, a sixth of the way
    assert {"30", "60"} <= {_text(t) for t in eval_.iter("text")}
    first = eval_.find("rect")
    assert float(first.get("x")) == pytest.approx(6 + 168 / 6, abs=0.1)


def test_top_values_are_shares_so_splits_of_different_size_compare():
    same = {"a": 6, "b": 3, "c": 1}
    big = {k: 10 * v for k, v in same.items()}
    stats = _stats(train=(100, [_strings("s", big)]), eval=(10, [_strings("s", same)]))
    doc = _doc(render_html(_report(statistics=stats, anomalies=[], comparisons=[])))
    figs = _figures(doc, "s")
    widths = {s: [r.get("width") for r in f.iter("rect")] for s, f in figs.items()}
    assert widths["train"] == widths["eval"]
    assert len(widths["train"]) == 3


def test_top_values_are_capped_with_a_count_of_the_rest():
    many = {f"v{i:02d}": 100 - i for i in range(25)}
    stats = _stats(train=(sum(many.values()), [_strings("s", many)]))
    doc = _doc(render_html(_report(statistics=stats, anomalies=[], comparisons=[])))
    svg = _figures(doc, "s")["train"].find("svg")
    assert len(svg.findall("rect")) == 10
    assert "+15 more values" in {_text(t) for t in svg.iter("text")}


def test_flagged_features_are_marked_and_listed_first():
    doc = _doc(render_html(_report()))
    order = {}
    for kind in ("numeric", "categorical"):
        table = doc.find(f".//table[@id='features-{kind}']")
        order[kind] = [
            (_text(tb.find(".//span[@class='name']")), "flagged" in _classes(tb))
            for tb in table.findall("tbody")
        ]
    assert order["numeric"] == [("bill", False), ("only_train", False)]
    # species (an anomaly and an exceeded skew) and EVIL (an anomaly) before empty_col
    assert order["categorical"] == [("species", True), (EVIL, True), ("empty_col", False)]
    species = _text(doc.find(".//table[@id='features-categorical']/tbody/tr/th"))
    assert "eval: ENUM_TYPE_UNEXPECTED_STRING_VALUES" in species
    assert "skew eval vs train: L∞ distance 0.25 > 0.1" in species


def test_non_finite_and_large_figures_are_printed_plainly():
    doc = _doc(render_html(_report()))
    # bill's eval row: max = inf
    table = doc.find(".//table[@id='features-numeric']")
    eval_row = table.find("tbody").findall("tr")[1]
    assert [_text(td) for td in eval_row.findall("td")][1:8] == [
        "0%",
        "45",
        "4",
        "35",
        "45",
        "inf",
        "0%",
    ]


def test_same_report_same_bytes():
    report = _report()
    page = render_html(report)
    assert render_html(copy.deepcopy(report)) == page
    assert render_markdown(copy.deepcopy(report)) == render_markdown(report)


def test_title_is_escaped():
    page = render_html(_report(), title="Run <7> & co")
    assert "<title>Run &lt;7&gt; &amp; co</title>" in page


# ---------------------------------------------------------------------------------------------
# Markdown


def test_markdown_summary():
    md = render_markdown(_report())
    lines = md.splitlines()
    assert lines[0] == "## Data validation: ❌ 3 anomalies"
    assert "**Drift:** no drift against baseline gs://runs/2024-05-01/statistics" in md
    assert "| train | 100 |" in lines and "| eval | 40 |" in lines and "| test | 0 |" in lines
    assert "- **test** `DATASET_LOW_NUM_EXAMPLES`: split 'test' has 0 example(s)" in lines
    unexpected = "`ENUM_TYPE_UNEXPECTED_STRING_VALUES`: 1 value(s) not in domain"
    assert f"- **eval** species {unexpected}: '{NANDU}'" in lines
    exceeded = lines[lines.index("### Thresholds exceeded (1)") + 2 :]
    assert exceeded[0] == (
        f"- **species** skew eval vs train: L∞ distance 0.25 &gt; 0.1 ({SPECIES_TEST})"
    )
    table = lines[lines.index("### Largest skew/drift values") + 4 :]
    assert [row.split(" | ")[0] for row in table] == ["| species", "| bill", "| bill"]
    assert "**0.25** ⚠️" in table[0] and "0.0456" in table[1] and "0.0123" in table[2]
    assert table[0].endswith(f"| 0.1 | {SPECIES_TEST} |") and table[1].endswith("| – | – |")


def test_markdown_escapes_data_and_omits_empty_sections():
    md = render_markdown(_report(anomalies=[EVIL_LOW], comparisons=[]))
    assert "<script>" not in md
    assert '&lt;script&gt;&amp;"x"' in md
    assert "Thresholds exceeded" not in md and "Largest skew/drift" not in md
    ok = render_markdown(_report(anomalies=[], comparisons=[], baseline=""))
    assert ok.startswith("## Data validation: ✅ OK\n")
    assert "**Drift:** drift not checked (no baseline)" in ok
    assert "### Anomalies" not in ok


def test_markdown_caps_a_long_anomaly_list():
    many = [Anomaly("train", f"f{i}", "SCHEMA_NEW_COLUMN", "new") for i in range(25)]
    md = render_markdown(_report(anomalies=many))
    assert md.count("`SCHEMA_NEW_COLUMN`") == 20
    assert "- … and 5 more (see the HTML)" in md


# ---------------------------------------------------------------------------------------------
# with the statistics the validate core computes


def test_renders_statistics_computed_from_real_files(tmp_path: Path):
    from mlrail.components.validate import core

    for split, table in {
        "train": pa.table({"x": [1.0, 2.0, float("nan"), None], "c": ["a", "b", "a", "é<"]}),
        "eval": pa.table({"x": [3.0, None], "c": ["a", None]}),
    }.items():
        (tmp_path / split).mkdir()
        pq.write_table(table, tmp_path / split / "part-00000.parquet")
    stats = core.compute_statistics(tmp_path)
    schema = core.infer_schema(stats)
    report = ValidationReport(stats, schema, core.find_anomalies(stats, schema))
    page = render_html(report)
    doc = _doc(page)
    assert len(re.findall(r"<svg\b", page)) == 4
    assert {"é<", "a"} <= {t.text for t in doc.iter("text")}
    assert render_markdown(report).startswith(
        f"## Data validation: {'✅ OK' if report.ok else '❌'}"
    )


def test_long_category_labels_are_cut_in_the_middle_and_kept_whole_in_the_tooltip():
    values = {f"customer-account-{i:04d}": 10 - i for i in range(3)}
    stats = _stats(train=(27, [_strings("s", values)]))
    doc = _doc(render_html(_report(statistics=stats, anomalies=[], comparisons=[])))
    labels = [t for t in _figures(doc, "s")["train"].iter("text") if t.find("title") is not None]
    assert [(t.text, t.find("title").text) for t in labels] == [
        (f"customer…nt-{i:04d}", f"customer-account-{i:04d}") for i in range(3)
    ]


def test_a_value_frequent_in_one_split_only_is_drawn_for_every_split():
    train = {f"v{i:02d}": 100 - i for i in range(12)}
    stats = _stats(
        train=(sum(train.values()), [_strings("s", train)]),
        eval=(50, [_strings("s", {"new": 40, "v00": 10})]),
    )
    doc = _doc(render_html(_report(statistics=stats, anomalies=[], comparisons=[])))
    for split, svg in ((s, f.find("svg")) for s, f in _figures(doc, "s").items()):
        labels = [t.text for t in svg.iter("text") if t.find("title") is not None]
        assert labels[:3] == ["v00", "new", "v01"], split
        assert len(labels) == 10, split


def test_train_comes_first_and_decides_where_a_feature_of_mixed_type_is_listed():
    # the core writes datasets in name order: eval before train
    stats = _stats(
        eval=(8, [_strings("m", {"1": 5, "two": 3})]),
        train=(8, [_numeric("m", buckets=[(0.0, 5.0, 8)], mean=2.0, hi=5.0)]),
    )
    schema = _schema(m=schema_pb2.FLOAT)
    report = _report(statistics=stats, schema=schema, anomalies=[], comparisons=[])
    doc = _doc(render_html(report))
    assert [_text(li).split()[0] for li in doc.findall(".//ul[@id='splits']/li")] == [
        "train",
        "eval",
    ]
    assert doc.find(".//table[@id='features-categorical']") is None
    rows = _rows(doc, "features-numeric")
    assert "FLOAT / STRING" in _text(rows[0].find("th"))
    assert _text(rows[1].findall("td")[-1]) == "STRING in this split"
    figs = _figures(doc, "m")
    assert list(figs) == ["train", "eval"]
    assert figs["train"].find("svg/rect") is not None  # a histogram
    assert [t.text for t in figs["eval"].iter("text") if t.find("title") is not None] == [
        "1",
        "two",
    ]


def test_a_feature_of_one_value_is_a_visible_bar_centred_on_it():
    const = _numeric("k", buckets=[(7.0, 7.0, 10)], mean=7.0, lo=7.0, median=7.0, hi=7.0)
    stats = _stats(train=(10, [const]))
    doc = _doc(render_html(_report(statistics=stats, anomalies=[], comparisons=[])))
    svg = _figures(doc, "k")["train"].find("svg")
    (bar,) = svg.findall("rect")
    assert float(bar.get("width")) == 3
    assert float(bar.get("x")) + 1.5 == pytest.approx(6 + 168 / 2)
    assert {"6.5", "7.5"} <= {t.text for t in svg.iter("text")}
