"""monitor's HTML report, rendered from real findings: statistics computed over small tables,
compared by validate's own comparators (:func:`check_version`), an eval predictions profile
built by :func:`build_profile`; no mocks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from tensorflow_metadata.proto.v0 import statistics_pb2

from mlrail.artifacts.modelspec import InputSpec, ModelSpec
from mlrail.components.monitor.baseline import Baseline
from mlrail.components.monitor.checks import VersionFindings, check_version
from mlrail.components.monitor.core import MonitorReport
from mlrail.components.monitor.decode import Decoded, WindowDecoded
from mlrail.components.monitor.logs import LogWindow, ReadStats
from mlrail.components.monitor.report import render_html
from mlrail.validation.predictions import build_profile
from mlrail.validation.schema import infer_schema
from mlrail.validation.statistics import statistics_from_batches
from tests.pages import assert_self_contained

EVIL = '<script>&"'
CLASSES = ["Adelie", "Chinstrap", "Gentoo"]
SPEC = ModelSpec(
    task="multiclass",
    label="species",
    inputs=[
        InputSpec("bill", "bill", "float32"),
        InputSpec("island", "island", "string"),
        InputSpec("evil", EVIL, "string"),
    ],
    output="probabilities",
    classes=CLASSES,
)
START = dt.datetime(2026, 12, 3, 5, tzinfo=dt.UTC)
END = START + dt.timedelta(hours=3)
N = 1500


def _table(rng: np.random.Generator, n: int) -> pa.Table:
    islands = np.array(["Biscoe", "Dream", "Torgersen"])[rng.integers(0, 3, n)]
    return pa.table(
        {
            "bill": pa.array(rng.normal(44.0, 5.0, n)),
            "island": pa.array(islands.tolist()),
            EVIL: pa.array(np.array(["a<b", "c&d"])[rng.integers(0, 2, n)].tolist()),
        }
    )


def _outputs(rng: np.random.Generator, n: int) -> np.ndarray:
    logits = rng.normal(0.0, 1.0, (n, len(CLASSES))) * 2.0
    p = np.exp(logits)
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    rng = np.random.default_rng(7)
    train = statistics_from_batches("train", _table(rng, N))
    listed = statistics_pb2.DatasetFeatureStatisticsList()
    listed.datasets.add().CopyFrom(train)
    outputs = _outputs(rng, 600)
    # each label drawn from the row's own probabilities: a calibrated model
    cumulative = outputs.astype(np.float64).cumsum(axis=1)
    drawn = (rng.random((600, 1)) * cumulative[:, -1:] > cumulative).sum(axis=1)
    labels = [CLASSES[i] for i in drawn]
    profile = build_profile(SPEC, outputs, labels)
    return Baseline(train, infer_schema(listed), profile, SPEC, "baseline statistics /b/stats")


def _times(n: int) -> np.ndarray:
    # the rows spread over the window's three hours, in order
    base = np.datetime64(START.replace(tzinfo=None), "us")
    return base + (np.arange(n) * (3 * 3600 * 1_000_000 // n)).astype("timedelta64[us]")


def _findings(
    baseline: Baseline,
    *,
    shift: float = 1.0,
    keep_reference: bool = True,
    labels: list[Any] | None = None,
) -> VersionFindings:
    """One version's findings on a window drawn like training, ``bill`` scaled by ``shift``."""
    rng = np.random.default_rng(11)
    table = _table(rng, N)
    table = table.set_column(0, "bill", pa.array(table.column("bill").to_numpy() * shift))
    found = check_version(
        "2",
        "sha256:abc",
        table,
        _outputs(rng, N),
        _times(N),
        rng.gamma(2.0, 0.5, N),
        baseline,
        max_accuracy_drop=0.05,
        labels=pa.array(labels) if labels is not None else None,
    )
    # the training and eval predictions' statistics the charts draw (the report's module doc),
    # or none: findings that do not carry them
    train = baseline.train if keep_reference else None
    eval_predictions = (
        baseline.predictions.dataset if keep_reference and baseline.predictions else None
    )
    found.train = train  # type: ignore[attr-defined]
    found.eval_predictions = eval_predictions  # type: ignore[attr-defined]
    return found


def _decoded(records: int, *, skipped: Counter[str] | None = None, **kw: Any) -> WindowDecoded:
    stats = ReadStats(files=2 if records else 0, bytes=records * 300, lines=records)
    stats.records = records
    for reason, n in (skipped or Counter()).items():
        for _ in range(n):
            stats.skip(reason, f"part-1.jsonl:{n}")
    stats.lines += stats.num_skipped
    window = LogWindow(root="/logs", model="penguins", start=START, end=END)
    kw.setdefault("groups", {})
    return WindowDecoded(window=window, files=[], stats=stats, **kw)


def _report(versions: list[VersionFindings], records: int = N, **kw: Any) -> MonitorReport:
    decoded_kw = {k: kw.pop(k) for k in ("skipped", "groups", "unknown") if k in kw}
    return MonitorReport("penguins", _decoded(records, **decoded_kw), versions, **kw)


def _doc(page: str) -> ET.Element:
    """The page parsed as XML: it is written to be well-formed, so every tag is closed."""
    return ET.fromstring(page)


def _text(el: ET.Element) -> str:
    return "".join(el.itertext())


def _by_id(doc: ET.Element, ident: str) -> ET.Element:
    el = doc.find(f".//*[@id='{ident}']")
    assert el is not None, f"no element {ident}"
    return el


def _rows(doc: ET.Element, table_id: str) -> list[ET.Element]:
    return _by_id(doc, table_id).findall("./tbody/tr")


def _is_num(el: ET.Element) -> bool:
    try:
        float(_text(el))
    except ValueError:
        return False
    return True


def _alert(row: ET.Element) -> bool:
    return "alert" in row.get("class", "").split()


@pytest.fixture(scope="module")
def shifted(baseline: Baseline) -> VersionFindings:
    return _findings(baseline, shift=1.5)


@pytest.fixture(scope="module")
def unshifted(baseline: Baseline) -> VersionFindings:
    return _findings(baseline)


# ---------------------------------------------------------------------------------------------


def test_page_parses_as_xml_is_self_contained_and_each_svg_parses(shifted: VersionFindings):
    page = render_html(_report([shifted]))
    doc = _doc(page)
    assert_self_contained(page)
    svgs = doc.findall(".//svg")
    assert len(svgs) >= 8  # training and serving per input, eval and serving per output, trend
    for svg in svgs:
        ET.fromstring(ET.tostring(svg))


def test_skewed_feature_is_the_alert_its_row_and_chart_highlighted(shifted: VersionFindings):
    assert [c.feature for c in shifted.skewed] == ["bill"]  # the premise: only bill moved
    doc = _doc(render_html(_report([shifted])))
    verdict = _by_id(doc, "verdict")
    assert _text(verdict) == "alerts" and "bad" in verdict.get("class", "")
    assert "bill" in _text(_by_id(doc, "summary"))

    rows = _rows(doc, "skew-v0")
    first = rows[0]
    assert _text(first.find("td")).strip() == "bill" and _alert(first)
    cells = [_text(td) for td in first.findall("td")]
    bill = shifted.skewed[0]
    assert "exceeded" in cells[6]
    assert cells[1] == "JS divergence"
    assert cells[2] == f"{bill.value:.4g}" and cells[3] == f"{bill.threshold:.4g}"
    assert not any(_alert(r) for r in rows[1:])
    assert {_text(r.find("td")) for r in rows} == {"bill", "island", EVIL}

    charts = _rows(doc, "charts-v0")
    assert "bill" in _text(charts[0].find("td")) and _alert(charts[0])
    assert not any(_alert(r) for r in charts[1:])
    # training and serving side by side, on one axis
    figures = charts[0].findall(".//figure")
    assert [_text(f.find("figcaption")).split(" (")[0] for f in figures] == [
        "training",
        "serving",
    ]
    axes = [[_text(t) for t in f.findall(".//text[@class='axis']")][-2:] for f in figures]
    assert axes[0] == axes[1]


def test_unshifted_window_is_healthy_with_no_row_highlighted(unshifted: VersionFindings):
    assert unshifted.healthy  # the premise
    doc = _doc(render_html(_report([unshifted])))
    assert _text(_by_id(doc, "verdict")) == "healthy"
    assert not any(_alert(r) for r in _rows(doc, "skew-v0"))
    assert not any(_alert(r) for r in _rows(doc, "charts-v0"))
    assert "None" in _text(_by_id(doc, "v0"))  # no anomalies


def test_rates_are_shown_per_input(baseline: Baseline):
    found = _findings(baseline, shift=1.5)
    doc = _doc(render_html(_report([found])))
    by_name = {
        _text(r.find("td")): [_text(td) for td in r.findall("td")] for r in _rows(doc, "skew-v0")
    }
    out_of_range = found.features["bill"]["out_of_range_rate"]
    assert out_of_range > 0
    assert by_name["bill"][9] == f"{100 * out_of_range:.1f}%"
    assert by_name["bill"][7] == "0%"  # missing
    assert by_name["island"][8] == "0%"  # unseen
    assert by_name["island"][9] == "–"  # a string has no range


def test_trend_is_a_line_chart_with_one_point_per_hour_beside_eval(shifted: VersionFindings):
    assert len(shifted.trend) == 3  # the premise: rows in three hours
    doc = _doc(render_html(_report([shifted])))
    figure = _by_id(doc, "trend-v0")
    svg = figure.find("svg")
    assert svg is not None and _text(svg.find("title")) == "Estimated accuracy per hour"
    lines = svg.findall("polyline")
    assert [_text(p.find("title")) for p in lines] == [
        "estimated accuracy",
        "accuracy on the eval split",
    ]
    assert len(svg.findall("circle")) == 3
    # the x axis spans the whole window (3 hours); the y axis is not zoomed onto the hours' noise
    ticks = svg.findall("text[@class='axis']")
    x_ticks = [float(_text(t)) for t in ticks if t.get("text-anchor") == "middle" and _is_num(t)]
    y_ticks = [float(_text(t)) for t in ticks if t.get("text-anchor") == "end"]
    assert min(x_ticks) == 0 and max(x_ticks) == 3
    assert max(y_ticks) - min(y_ticks) >= 0.1
    rows = _rows(doc, "trend-table-v0")
    assert [_text(r.find("td")) for r in rows] == [t["hour"] for t in shifted.trend]
    assert [int(_text(r.findall("td")[1])) for r in rows] == [t["rows"] for t in shifted.trend]


def test_performance_shows_the_estimate_interval_eval_and_realized(baseline: Baseline):
    rng = np.random.default_rng(3)
    labels = [CLASSES[i] if rng.random() < 0.5 else None for i in rng.integers(0, 3, N)]
    found = _findings(baseline, labels=labels)
    assert found.estimated is not None and found.realized is not None
    doc = _doc(render_html(_report([found])))
    rows = {
        _text(r.find("td")): [_text(td) for td in r.findall("td")]
        for r in _rows(doc, "performance-v0")
    }
    est = rows["estimated accuracy (this window, no labels)"]
    assert est[1] == f"{found.estimated.value:.4g}"
    assert est[2] == f"{found.estimated.low:.4g} – {found.estimated.high:.4g}"
    assert rows["accuracy on the eval split"][1] == f"{found.eval_accuracy:.4g}"
    realized = rows["realized accuracy (labelled rows)"]
    assert "realized error rate (labelled rows)" in rows
    assert realized[1] == f"{found.realized['accuracy']:.4g}"
    assert realized[3] == f"{found.realized['labelled_rows']:,}"


def test_prediction_drift_table_and_charts_against_eval(shifted: VersionFindings):
    doc = _doc(render_html(_report([shifted])))
    outputs = {_text(r.find("td")) for r in _rows(doc, "drift-v0")}
    assert outputs == {c.feature for c in shifted.drift} and "confidence" in outputs
    charts = _rows(doc, "drift-charts-v0")
    captions = [_text(c) for c in charts[0].findall(".//figcaption")]
    assert captions[0] == "eval (600 rows)" and captions[1].startswith("serving")


def test_latency_and_notes(baseline: Baseline):
    found = _findings(baseline)
    found.notes.append("a note & <more>")
    doc = _doc(render_html(_report([found])))
    cells = [_text(td) for td in _rows(doc, "latency-v0")[0].findall("td")]
    assert cells[:3] == [f"{found.latency_ms[k]:.4g}" for k in ("p50", "p95", "p99")]
    assert "a note & <more>" in _text(_by_id(doc, "v0"))


def test_no_traffic_says_so_and_shows_no_version():
    report = _report([], records=0)
    page = render_html(report)
    doc = _doc(page)
    verdict = _by_id(doc, "verdict")
    assert _text(verdict) == "no traffic" and "neutral" in verdict.get("class", "")
    assert "No traffic" in _text(_by_id(doc, "no-traffic"))
    assert doc.find(".//*[@id='v0']") is None
    assert "drift" not in _text(verdict)


def test_records_with_no_baseline_are_not_checked_and_say_why():
    report = _report(
        [],
        records=5,
        unknown={("3", None): 5},
        unresolved={"version 3": "no training statistics for 'penguins' version 3"},
    )
    doc = _doc(render_html(report))
    assert _text(_by_id(doc, "verdict")) == "not checked"
    (row,) = _rows(doc, "unresolved")
    assert [_text(td) for td in row.findall("td")] == [
        "version 3",
        "5",
        "no training statistics for 'penguins' version 3",
    ]


def test_skipped_lines_and_undecoded_records_are_counted_by_reason(unshifted: VersionFindings):
    empty = pa.table({"bill": pa.array([], pa.float64())})
    group = Decoded(
        features=empty,
        outputs=np.zeros((0, 3), np.float32),
        keys=pa.table({"request_id": pa.array([], pa.string())}),
        records=0,
        skipped=Counter({"bad_input_shape": 2}),
        first={"bad_input_shape": "request r7: shape [2] for 1 row"},
    )
    report = _report(
        [unshifted],
        skipped=Counter({"not_json": 3, "truncated": 1}),
        groups={("2", "sha256:abc"): group},
    )
    doc = _doc(render_html(report))
    skipped = {_text(r.find("td")): _text(r.findall("td")[1]) for r in _rows(doc, "skipped")}
    assert skipped == {"not_json": "3", "truncated": "1"}
    (row,) = _rows(doc, "undecoded")
    cells = [_text(td) for td in row.findall("td")]
    assert cells == [
        "version 2 (sha256:abc)",
        "bad_input_shape",
        "2",
        "request r7: shape [2] for 1 row",
    ]
    counts = [_text(td) for td in _rows(doc, "read-counts")[0].findall("td")]
    assert counts[3] == f"{N:,}" and counts[5] == "4"


def test_server_counters_and_an_unreachable_server(unshifted: VersionFindings):
    server = {
        "url": "http://127.0.0.1:1/metrics",
        "requests": 120.0,
        "errors": 6.0,
        "error_rate": 0.05,
        "by_status": {"200": 114.0, "400": 6.0},
        "since": "the server's start (cumulative counters)",
    }
    doc = _doc(render_html(_report([unshifted], server=server)))
    assert [_text(td) for td in _rows(doc, "server")[0].findall("td")] == ["120", "6", "5.0%"]
    assert len(_rows(doc, "server-status")) == 2
    down = {"url": "x", "error": "cannot read the server's metrics: refused <&>"}
    doc = _doc(render_html(_report([unshifted], server=down)))
    assert _text(_by_id(doc, "server")) == down["error"]


def test_hostile_column_name_is_escaped(shifted: VersionFindings):
    page = render_html(_report([shifted]))
    assert EVIL not in page and "<script" not in page
    doc = _doc(page)
    assert EVIL in {_text(r.find("td")) for r in _rows(doc, "skew-v0")}
    names = [_text(r.find(".//span[@class='name']")) for r in _rows(doc, "charts-v0")]
    assert EVIL in names
    assert_self_contained(page)


def test_without_the_reference_statistics_the_serving_side_is_drawn_alone(baseline: Baseline):
    found = _findings(baseline, shift=1.5, keep_reference=False)
    doc = _doc(render_html(_report([found])))
    assert "not kept" in _text(_by_id(doc, "v0"))
    first = _rows(doc, "charts-v0")[0]
    assert "bill" in _text(first.find("td")) and _alert(first)
    assert [_text(f) for f in first.findall(".//div[@class='nochart']")] == ["not kept"]
    drift = _rows(doc, "drift-charts-v0")[0]
    assert [_text(f) for f in drift.findall(".//div[@class='nochart']")] == ["not kept"]


def test_same_report_same_bytes(shifted: VersionFindings, baseline: Baseline):
    assert render_html(_report([shifted])) == render_html(_report([shifted]))
    again = _findings(baseline, shift=1.5)
    assert render_html(_report([shifted])) == render_html(_report([again]))


def test_two_versions_are_reported_apart(shifted: VersionFindings, unshifted: VersionFindings):
    other = _findings_as(unshifted, "3")
    doc = _doc(render_html(_report([shifted, other])))
    assert _text(_by_id(doc, "verdict-v0")) == "alerts"
    assert _text(_by_id(doc, "verdict-v1")) == "healthy"
    assert "Version 3" in _text(_by_id(doc, "v1"))


def _findings_as(found: VersionFindings, version: str) -> VersionFindings:
    return dataclasses.replace(found, version=version)


def test_page_written_by_monitor_is_this_page(tmp_path: Path):
    """monitor's own run writes render_html's page (an empty log root: no traffic)."""
    from mlrail.components.monitor.core import monitor

    (tmp_path / "logs" / "penguins").mkdir(parents=True)
    report = monitor(
        str(tmp_path / "logs"),
        "penguins",
        tmp_path / "statistics",
        tmp_path / "anomalies",
        tmp_path / "report.html",
        window="1h",
        window_end="2026-12-03T08:00:00Z",
    )
    page = (tmp_path / "report.html").read_text()
    assert page == render_html(report)
    assert _text(_by_id(_doc(page), "verdict")) == "no traffic"


def test_a_version_without_an_eval_profile_says_what_was_not_checked(baseline: Baseline):
    bare = dataclasses.replace(baseline, predictions=None, predictions_note="no profile <here>")
    found = _findings(bare, keep_reference=False)
    assert found.predictions is None and found.estimated is None  # the premise
    doc = _doc(render_html(_report([found])))
    section = _text(_by_id(doc, "v0"))
    assert "Prediction drift" in section and "Not checked (see the notes)" in section
    assert "Not estimated (see the notes)" in section
    assert "no profile <here>" in section
    assert doc.find(".//*[@id='trend-v0']") is None


def test_a_performance_drop_is_an_alert(baseline: Baseline):
    rng = np.random.default_rng(5)
    table = _table(rng, N)
    # near-uniform answers: low confidence, so the calibrated estimate falls far below eval
    flat = np.full((N, 3), 1 / 3, np.float32) + rng.normal(0, 0.01, (N, 3)).astype(np.float32)
    found = check_version(
        "2", None, table, flat, _times(N), np.ones(N), baseline, max_accuracy_drop=0.05
    )
    assert found.performance_drop  # the premise
    doc = _doc(render_html(_report([found])))
    assert _text(_by_id(doc, "verdict")) == "alerts"
    assert _text(_by_id(doc, "drop-v0")) == "performance drop"
    assert "performance drop" in _text(_by_id(doc, "summary"))
    first, eval_row = _rows(doc, "performance-v0")
    assert _alert(first) and _text(first.find("td")).startswith("estimated accuracy")
    assert not _alert(eval_row) and _text(eval_row.find("td")) == "accuracy on the eval split"
    assert "unknown (not logged)" in _text(_by_id(doc, "v0"))


def test_unseen_categories_are_schema_anomalies_listed_and_flagged(baseline: Baseline):
    rng = np.random.default_rng(13)
    table = _table(rng, N)
    islands = table.column("island").to_pylist()
    islands[:300] = ["Atlantis\x01"] * 300
    table = table.set_column(1, "island", pa.array(islands))
    found = check_version(
        "2",
        "sha256:abc",
        table,
        _outputs(rng, N),
        _times(N),
        np.ones(N),
        baseline,
        max_accuracy_drop=0.05,
    )
    schema = [a for a in found.anomalies if not a.type.startswith("COMPARATOR_")]
    assert [a.feature for a in schema] == ["island"]  # the premise
    page = render_html(_report([found]))
    doc = _doc(page)
    types = [_text(r.findall("td")[1]) for r in _rows(doc, "anomalies-v0")]
    assert schema[0].type in types
    by_name = {_text(r.find("td")): r for r in _rows(doc, "skew-v0")}
    assert _alert(by_name["island"])
    assert _text(by_name["island"].findall("td")[8]) == "20.0%"  # unseen
    assert "\\x01" in page and "\x01" not in page  # a control character shown, not written


def test_model_version_identity_and_reasons_are_escaped(unshifted: VersionFindings):
    found = dataclasses.replace(unshifted, version=EVIL, identity=EVIL, baseline=EVIL)
    report = _report([found], unresolved={EVIL: EVIL}, skipped=Counter({EVIL: 1}))
    report.model = EVIL
    page = render_html(report)
    assert EVIL not in page and "<script" not in page
    doc = _doc(page)
    assert _text(doc.find(".//title")) == f"Monitoring: {EVIL}"
    assert f"Version {EVIL}" in _text(_by_id(doc, "v0"))
    assert [_text(td) for td in _rows(doc, "unresolved")[0].findall("td")] == [EVIL, "–", EVIL]


def test_a_real_window_through_monitor(tmp_path: Path, baseline: Baseline):
    """Logged V2 requests (a shifted ``bill``, a corrupt line, a version with no model spec)
    read, decoded and checked by monitor against training statistics and an eval predictions
    profile: its page names what was found."""
    from mlrail.artifacts.modelspec import input_names
    from mlrail.artifacts.tfmd import write_statistics
    from mlrail.components.monitor.baseline import BaselineSources
    from mlrail.components.monitor.core import monitor
    from mlrail.validation.predictions import save_profile
    from mlrail.validation.statistics import summarize
    from tests.components.monitor.payloads import (
        record,
        v2_inputs,
        v2_output,
        write_lines,
        write_records,
    )

    columns = {"bill": "float32", "island": "string", EVIL: "string"}
    names = input_names(columns)
    spec = dataclasses.replace(SPEC, inputs=[InputSpec(names[c], c, d) for c, d in columns.items()])
    spec.write(tmp_path / "repo" / "penguins" / "2")
    rng = np.random.default_rng(17)
    rows = _table(rng, 400)
    train = statistics_pb2.DatasetFeatureStatisticsList()
    train.datasets.add().CopyFrom(statistics_from_batches("train", rows))
    write_statistics(tmp_path / "stats", train, summarize(train))
    save_profile(tmp_path / "blessing", baseline.predictions)

    records = []
    # the training rows again in another order, 5 per request over two hours: only bill moves
    served = rows.take(pa.array(rng.permutation(400)))
    for k in range(80):
        t = served.slice(5 * k, 5)
        inputs = v2_inputs(
            {
                "bill": ("FP32", t.column("bill").to_numpy().astype(np.float32) * 1.5),
                "island": ("BYTES", np.array(t.column("island").to_pylist(), dtype=object)),
                EVIL: ("BYTES", np.array(t.column(EVIL).to_pylist(), dtype=object)),
            }
        )
        when = START + dt.timedelta(hours=1, minutes=90 * k / 80)
        outputs = [v2_output(_outputs(rng, 5))]
        records.append(record(when, rid=f"r{k}", version="2", inputs=inputs, outputs=outputs))
    records.append(record(START + dt.timedelta(hours=2), rid="x", version="9", identity=None))
    write_records(tmp_path / "logs", records)
    write_lines(tmp_path / "logs", "penguins", START + dt.timedelta(hours=2), [b"{oops\n"], seq=7)

    report = monitor(
        str(tmp_path / "logs"),
        "penguins",
        tmp_path / "statistics",
        tmp_path / "anomalies",
        tmp_path / "report.html",
        window="3h",
        window_end=END.isoformat(),
        sources=BaselineSources(
            baseline_statistics=str(tmp_path / "stats"),
            baseline_predictions=str(tmp_path / "blessing"),
            model_repository=str(tmp_path / "repo"),
        ),
    )
    page = (tmp_path / "report.html").read_text()
    assert page == render_html(report)
    doc = _doc(page)
    assert_self_contained(page)
    assert _text(_by_id(doc, "verdict")) == "alerts"
    skew = _rows(doc, "skew-v0")
    assert _text(skew[0].find("td")) == "bill" and _alert(skew[0])
    assert not any(_alert(r) for r in skew[1:])
    assert {_text(r.find("td")) for r in _rows(doc, "skipped")} == {"not_json"}
    (unresolved,) = _rows(doc, "unresolved")
    assert _text(unresolved.find("td")) == "version 9"
    assert _text(unresolved.findall("td")[1]) == "1"
    section = _text(_by_id(doc, "v0"))
    assert "400 rows answered" in section
    assert {_text(r.find("td")) for r in _rows(doc, "drift-v0")} == {
        "predicted_class",
        "confidence",
    }
    hours = [_text(r.find("td")) for r in _rows(doc, "trend-table-v0")]
    assert hours == ["2026-12-03T06:00Z", "2026-12-03T07:00Z"]
    # the outputs in TFX's layouts: a split per version's inputs and predictions, one dataset
    # per FeatureStats.pb, the skew with the inputs' split and the drift with the predictions'
    from mlrail.artifacts.tfmd import read_anomalies, read_statistics, split_names

    assert split_names(tmp_path / "statistics") == ["predictions-v2", "serving-v2"]
    window = read_statistics(tmp_path / "statistics")
    assert window["serving-v2"].num_examples == window["predictions-v2"].num_examples == 400
    diffs = read_anomalies(tmp_path / "anomalies")
    assert set(diffs) == {"serving-v2", "predictions-v2"}
    assert [i.path.step[0] for i in diffs["serving-v2"].drift_skew_info][0] == "bill"
    assert all(i.skew_measurements for i in diffs["serving-v2"].drift_skew_info)
    assert {i.path.step[0] for i in diffs["predictions-v2"].drift_skew_info} == {
        "predicted_class",
        "confidence",
    }
    assert all(i.drift_measurements for i in diffs["predictions-v2"].drift_skew_info)
    assert "bill" in diffs["serving-v2"].anomaly_info
    assert json.loads((tmp_path / "anomalies" / "anomalies.json").read_text())["healthy"] is False


def test_a_regressor_shows_drift_and_realized_error_and_no_estimate():
    rng = np.random.default_rng(19)
    spec = dataclasses.replace(SPEC, task="regression", output="predictions", classes=[])
    rows = _table(rng, 400)
    listed = statistics_pb2.DatasetFeatureStatisticsList()
    listed.datasets.add().CopyFrom(statistics_from_batches("train", rows))
    eval_out = rng.normal(10.0, 2.0, (300, 1)).astype(np.float32)
    profile = build_profile(spec, eval_out, (eval_out[:, 0] + rng.normal(0, 1, 300)).tolist())
    base = Baseline(listed.datasets[0], infer_schema(listed), profile, spec, "regressor baseline")
    served = rng.normal(10.0, 2.0, (400, 1)).astype(np.float32)
    labels = (served[:, 0] + 0.5).tolist()
    found = check_version(
        "1",
        None,
        rows,
        served,
        _times(400),
        np.ones(400),
        base,
        max_accuracy_drop=0.05,
        labels=pa.array(labels),
    )
    assert found.estimated is None and found.realized is not None  # the premise
    doc = _doc(render_html(_report([found], records=400)))
    assert [_text(r.find("td")) for r in _rows(doc, "drift-v0")] == ["prediction"]
    perf = {_text(r.find("td")): _text(r.findall("td")[1]) for r in _rows(doc, "performance-v0")}
    assert set(perf) == {
        "realized rmse (labelled rows)",
        "realized mae (labelled rows)",
        "realized bias (labelled rows)",
    }
    assert perf["realized bias (labelled rows)"] == f"{found.realized['bias']:.4g}"
    assert doc.find(".//*[@id='trend-v0']") is None


def test_a_bar_tells_its_count_on_hover(shifted: VersionFindings):
    doc = _doc(render_html(_report([shifted])))
    island = next(r for r in _rows(doc, "charts-v0") if _text(r.find("td")) == "island")
    serving = island.findall(".//figure")[1]
    tips = [_text(t) for t in serving.findall(".//rect/title")]
    counts = {
        b.label: b.sample_count
        for f in shifted.serving.features
        if f.path.step[0] == "island"
        for b in f.string_stats.rank_histogram.buckets
    }
    # the count on hover; the share is written beside the bar (as validate's page draws it)
    assert sorted(tips) == sorted(f"{k}: {int(n):,}" for k, n in counts.items())
