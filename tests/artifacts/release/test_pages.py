"""The pages: a section per question, and every user-controlled string escaped in each page."""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlrail.artifacts import release
from mlrail.artifacts.release import SECTIONS, Record, Request
from mlrail.artifacts.release.record import Check, Feature, Finding
from tests.artifacts.release.runs import ROWS_V1, ROWS_V2, make_run

_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "section"}
_TAGS |= {"table", "tr", "th", "td", "ul", "li", "a", "code"}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Record:
    """A release with a previous one (hypothesis runs many examples: made once)."""
    root: Path = tmp_path_factory.mktemp("runs")
    one = make_run(root / "run1", ROWS_V1)
    two = make_run(
        root / "run2", ROWS_V2, weight=2.0, baseline_statistics=str(one.root / "statistics")
    )
    who = Request("ada", "first")
    first = release.build_record(one.paths, model_name="penguins", request=who)
    return release.build_record(
        two.paths,
        model_name="penguins",
        request=who,
        previous=replace(first, number=1),
        links={"report": "https://kfp.example/artifacts/report.html", "onnx_model": "s3://b/m"},
    )


def _with(rec: Record, s: str) -> Record:
    """``rec`` with ``s`` in every kind of user-controlled place: model name, who, reason,
    source, a column (feature, anomaly, check slice) and a link's name and address."""
    data = rec.data
    features = [*(data.features or []), Feature(s, "BYTES")]
    findings = [Finding("train", s, "SCHEMA_NEW_COLUMN", f"column {s!r} is new"), *data.anomalies]
    checks = [Check("accuracy", "slice", f"{s}=1", ">=", 0.8, 0.9, "pass")]
    return replace(
        rec,
        model=replace(rec.model, name=s),
        request=Request(s, s),
        data=replace(data, sources=[s], features=features, anomalies=findings),
        evidence=replace(rec.evidence, checks=checks),
        links={s: f"https://example.org/{s}", "path": s},
    )


def test_each_page_has_a_section_per_question(base: Record) -> None:
    md, page, text = (
        release.render_markdown(base),
        release.render_html(base),
        release.render_text(base),
    )
    for title in SECTIONS:
        assert f"\n## {title}\n" in md
        assert f"<h2>{title}</h2>" in page
        assert f"\n{title}\n" in text
    root = ET.fromstring(page.split("\n", 1)[1])
    ids = [s.get("id") for s in root.iter("section")]
    assert ids == [t.lower().replace(" ", "-") for t in SECTIONS]
    # the answers, not just the headings
    assert "blessed" in text and "train 66" in md.replace(",", "") and "rendered" in page
    assert 'href="https://kfp.example/artifacts/report.html"' in page
    assert "<code>s3://b/m</code>" in page  # not a link: the browser cannot open it


def _printable(s: str) -> bool:
    return all(unicodedata.category(c) not in ("Cc", "Cs", "Co", "Cn") for c in s)


_NASTY = st.sampled_from(
    [
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        "it's a 'quoted' \"name\"",
        "ünïcødé 企鹅 🐧",
        "| pipe | ` tick ` * star _ [link](javascript:alert(1))",
        "&amp; &lt;",
        "line\nbreak\r\nand\ttab",
        "\x1b[31mred\x1b[0m \x00 \x7f \x9b \ud800",
    ]
)
_TEXT = st.one_of(_NASTY, st.text(min_size=1, max_size=40))


@given(s=_TEXT)
def test_html_escapes_every_string(base: Record, s: str) -> None:
    page = release.render_html(_with(base, s))
    root = ET.fromstring(page.split("\n", 1)[1])  # well-formed XML: nothing broke out
    assert {el.tag for el in root.iter()} <= _TAGS
    attributes = {a for el in root.iter() for a in el.attrib}
    assert attributes <= {"id", "class", "href", "lang", "charset"}
    for a in root.iter("a"):
        assert a.get("href", "").startswith("https://")
    cells = [td.text or "" for td in root.iter("td")]
    if _printable(s):  # shown exactly as given
        assert s in cells
        assert root.find("head/title") is not None
        assert s in (root.findtext("body/h1") or "")
    else:  # control characters shown as \xNN, never raw
        assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", page)


@given(s=_TEXT)
def test_markdown_escapes_every_string(base: Record, s: str) -> None:
    plain = release.render_markdown(_with(base, "x"))
    md = release.render_markdown(_with(base, s))
    assert md.count("\n") == plain.count("\n")  # no string starts a line of its own
    without_links = re.sub(r"\]\(<[^<>\s]*>\)", "", md)
    assert "<" not in without_links  # no raw HTML from the data
    for line in md.splitlines():
        if line.startswith("| requested by") or line.startswith("| reason"):
            assert len(re.findall(r"(?<!\\)\|", line)) == 3  # one row, two cells
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]", md)


@given(s=_TEXT)
def test_terminal_text_keeps_each_string_on_its_line(base: Record, s: str) -> None:
    plain = release.render_text(_with(base, "x"))
    text = release.render_text(_with(base, s))
    assert text.count("\n") == plain.count("\n")
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]", text)  # no escapes
    if _printable(s):  # as given, its line separators (U+2028, ...) as spaces
        assert f"\n  reason        {' '.join(s.splitlines())}\n" in text


def test_the_list_has_a_line_per_release(base: Record) -> None:
    first = replace(base, number=1, request=Request("ada", "first\nsecond line"))
    second = replace(base, number=2, evidence=replace(base.evidence, blessed=False))
    lines = release.render_list([first, second]).splitlines()
    assert lines[0].split()[:4] == ["#", "version", "kind", "time"]
    assert len(lines) == 3
    assert lines[1].split()[0] == "1" and "first second line" in lines[1]
    assert lines[2].split()[0] == "2" and " NO " in lines[2]
    assert release.render_list([]) == "no releases\n"
