from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlrail.artifacts.examples import read_split
from mlrail.components.evaluate.core import evaluate
from mlrail.components.evaluate.report import render_html
from mlrail.components.evaluate.results import Evaluation
from tests.helpers import Trained
from tests.pages import assert_self_contained

EVIL = '<script>&"x"\x01'
SECTIONS = ("checks", "metrics", "confusion", "curves", "slices", "fairness", "importance")


@pytest.fixture(scope="module")
def examples(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The penguins splits with an extra column of unfriendly text to slice by."""
    out = tmp_path_factory.mktemp("evil") / "examples"
    shutil.copytree(trained.examples, out)
    for part in (out / "eval").glob("*.parquet"):
        t = pq.read_table(part)
        values = [EVIL if i % 2 else "plain" for i in range(t.num_rows)]
        pq.write_table(t.append_column("note", pa.array(values)), part)
    return out


def _smallest_island(examples: Path) -> tuple[str, int]:
    counts = read_split(examples / "eval").column("island").value_counts().to_pylist()
    smallest = min(counts, key=lambda d: d["counts"])
    return smallest["values"], smallest["counts"]


@pytest.fixture(scope="module")
def ev(trained: Trained, bad_model: Path, examples: Path, tmp_path_factory) -> Evaluation:
    report = tmp_path_factory.mktemp("report") / "report.html"
    out = evaluate(
        bad_model,
        examples,
        report_path=report,
        thresholds={"overall": {"accuracy": 0}, "slices": {"island": {"accuracy": "> 1"}}},
        slices=["island", "note", "body_mass_g"],
        sensitive_columns=["sex", "note"],
        fairness_thresholds={"demographic_parity_difference": 0.5},
        baseline_model=str(trained.model),
        importance_repeats=2,
        min_slice_rows=_smallest_island(examples)[1] + 1,  # the smallest island is too small
    )
    assert report.read_text(encoding="utf-8") == render_html(out)  # the file is the page
    return out


def _doc(page: str) -> ET.Element:
    return ET.fromstring(page.removeprefix("<!DOCTYPE html>\n"))


def _text(el: ET.Element) -> str:
    return "".join(el.itertext())


def test_page_is_self_contained(ev: Evaluation) -> None:
    assert_self_contained(render_html(ev))


def test_page_and_each_svg_are_well_formed_and_every_section_is_there(ev: Evaluation) -> None:
    page = render_html(ev)
    doc = _doc(page)
    for section in SECTIONS:
        assert doc.find(f".//section[@id='{section}']") is not None, section
    svgs = re.findall(r"<svg\b.*?</svg>", page, flags=re.S)
    # confusion, ROC, PR, calibration, 3 slice columns, 2 fairness columns, importance
    assert len(svgs) == 10
    for svg in svgs:
        root = ET.fromstring(svg)
        assert root.tag == "svg" and root.find("title") is not None


def test_header_and_checks_say_why_the_model_is_not_blessed(ev: Evaluation) -> None:
    doc = _doc(render_html(ev))
    assert _text(doc.find(".//*[@id='verdict']")) == "✗ Not blessed"
    assert "changes against the baseline" in _text(doc.find(".//*[@id='decided-on']"))
    rows = doc.findall(".//table[@id='checks-table']/tbody/tr")
    assert len(rows) == len(ev.checks)
    verdicts = [_text(r.findall("td")[8]) for r in rows]
    assert verdicts == sorted(verdicts, key=lambda v: ("fail" not in v, "skipped" in v))
    first = [_text(td) for td in rows[0].findall("td")]
    assert first[:4] == ["overall", "–", "accuracy", "change"]  # the default change check
    assert "is not >= -0.01" in first[9] and rows[0].get("class") == "alert"
    assert any("skipped" in v for v in verdicts)  # the smallest island: too few rows


def test_metrics_sit_beside_the_baseline(ev: Evaluation) -> None:
    doc = _doc(render_html(ev))
    rows = {
        _text(r.find("td")): [_text(td) for td in r.findall("td")]
        for r in doc.findall(".//table[@id='metrics-table']/tbody/tr")
    }
    assert list(rows)[:2] == ["accuracy", "balanced_accuracy"]
    assert ev.baseline is not None
    assert rows["accuracy"][2] == f"{ev.baseline.metrics.scalars['accuracy']:.4g}"
    cm = doc.find(".//section[@id='confusion']//svg")
    assert len(cm.findall("rect")) == 9


def test_data_text_is_escaped_everywhere(ev: Evaluation) -> None:
    page = render_html(ev)
    assert "<script>" not in page and '&lt;script&gt;&amp;"' not in page
    doc = _doc(page)  # a raw \x01 would not parse
    slices = [_text(r.find("td")) for r in doc.findall(".//table[@id='slices-note']/tbody/tr")]
    assert slices == ['<script>&"x"\\x01', "plain"]
    groups = doc.findall(".//table[@id='fairness-note-groups']/tbody/tr")
    assert [_text(r.find("td")) for r in groups] == ['<script>&"x"\\x01', "plain"]


def test_slices_mark_small_ones_and_draw_the_overall_line(ev: Evaluation, examples: Path) -> None:
    doc = _doc(render_html(ev))
    rows = doc.findall(".//table[@id='slices-island']/tbody/tr")
    notes = {_text(r.find("td")): _text(r.findall("td")[-1]) for r in rows}
    smallest, _ = _smallest_island(examples)
    assert notes.pop(smallest) == "too few rows: not enforced"
    assert set(notes.values()) == {""}
    svg = doc.find(".//section[@id='slices']//svg")
    overall = [ln for ln in svg.iter("line") if ln.find("title") is not None]
    assert _text(overall[0].find("title")).startswith("overall accuracy")


def test_importance_is_listed_most_important_first(ev: Evaluation) -> None:
    doc = _doc(render_html(ev))
    rows = doc.findall(".//table[@id='importance-table']/tbody/tr")
    assert ev.importance is not None
    assert [_text(r.find("td")) for r in rows] == [n for n, _, _ in ev.importance.features]


def test_same_evaluation_same_bytes(ev: Evaluation) -> None:
    assert render_html(ev) == render_html(ev)


def test_a_regression_report_and_a_first_run(trained: Trained, regression_model: Path) -> None:
    ev = evaluate(regression_model, trained.examples, importance_repeats=0)
    doc = _doc(render_html(ev))
    assert doc.find(".//section[@id='confusion']") is None
    assert _text(doc.find(".//section[@id='curves']")).startswith("Curves")
    assert "mean prediction" in _text(doc.find(".//section[@id='curves']"))
    assert _text(doc.find(".//*[@id='verdict']")) == "✓ Blessed"
    assert _text(doc.find(".//*[@id='baseline']")) == "no baseline"
    assert "value thresholds only" in _text(doc.find(".//*[@id='decided-on']"))
