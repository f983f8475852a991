"""The release record as pages: Markdown, self-contained HTML (the Kubeflow UI) and terminal text.

Each page has one section per question, in this order: what, on which data, with which
evidence, built how, who and why, where, what changed, and the artifacts' links. Every string
from the record (model and column names, reasons, sources, URIs) is escaped for the page it goes
into: HTML-escaped with control characters shown as ``\\xNN`` (XML forbids them even as
references), Markdown also with its markup characters escaped. Only ``http(s)`` URIs become
links; the rest (``s3://``, paths) are shown as text.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from urllib.parse import quote, urlsplit

from mlrail.artifacts.release.record import (
    Change,
    CheckOutcome,
    MetricChange,
    Record,
)

__all__ = ["SECTIONS", "render_html", "render_list", "render_markdown", "render_text"]

#: The sections' titles, one per question the record answers.
SECTIONS = (
    "What",
    "On which data",
    "With which evidence",
    "Built how",
    "Who and why",
    "Where",
    "What changed",
    "Links",
)

# mlrail.charts has the same rules, but it is a sibling layer that artifacts may not import
# (plus DEL and the C1 controls, which a terminal would act on)
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~#<>!()])")


def _shown(c: str) -> str:
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (Python's surrogateescape)
        code -= 0xDC00
    return f"\\x{code:02x}"


def _clean(s: str) -> str:
    return _FORBIDDEN.sub(lambda m: _shown(m.group()), s)


def _line(s: object) -> str:
    """Text on one terminal line: control characters shown, line breaks as spaces."""
    return " ".join(_clean(str(s)).splitlines())


def _h(s: object) -> str:
    """Text safe in HTML text and attribute values."""
    return html.escape(_clean(str(s)), quote=True)


def _md(s: object) -> str:
    """Text inert in Markdown: one line, no markup, no HTML."""
    one_line = " ".join(_clean(str(s)).splitlines())
    return _MD_SPECIAL.sub(r"\\\1", html.escape(one_line, quote=False))


def _num(x: float | None) -> str:
    if x is None or math.isnan(x):
        return "–"
    if x == 0:
        return "0"
    return f"{x:.4g}" if abs(x) >= 1e-4 else f"{x:.3g}"


def _signed(x: float | None) -> str:
    return "–" if x is None else ("+" if x > 0 else "") + _num(x)


def _opt(v: object) -> str:
    return "–" if v is None or v == "" else str(v)


def _short(h: str | None) -> str:
    """A hash's first 12 digits, after its scheme (``onnx-graph-v1:``) if it has one."""
    if not h:
        return "–"
    scheme, _, digest = h.rpartition(":")
    return f"{scheme}:{digest[:12]}" if scheme else digest[:12]


def _outcome(o: CheckOutcome | None) -> str:
    if o is None:
        return "not checked"
    return f"{o.checks} checks, {o.failed} failed, {o.skipped} skipped"


def _web(uri: str) -> bool:
    return urlsplit(uri).scheme in ("http", "https")


# --------------------------------------------------------------------------------------------
# the sections as rows of (label, value) pairs and tables, shared by the three pages


def _what(r: Record) -> list[tuple[str, str]]:
    m = r.model
    sig = m.signature
    return [
        ("model", m.name),
        ("registry version", _opt(m.registry_version)),
        ("identity", _opt(m.identity)),
        ("sha256", m.sha256),
        ("task", _opt(m.task)),
        ("label", _opt(m.label)),
        ("signature", "not checked" if sig is None else sig.status),
        ("signer", _opt(sig.signer if sig else None)),
    ]


def _data(r: Record) -> list[tuple[str, str]]:
    d = r.data
    rows = ", ".join(f"{s} {n:,}" for s, n in d.rows.items()) or "–"
    drift = {True: "detected", False: "none", None: "not checked"}[d.drift_detected]
    if d.drift_baseline:
        drift += f" (against {d.drift_baseline})"
    return [
        ("sources", ", ".join(d.sources) or "–"),
        ("spans", ", ".join(d.spans) or "–"),
        ("fingerprint", _opt(d.fingerprint)),
        ("rows", rows),
        ("schema hash", _opt(d.schema_hash)),
        ("features", "–" if d.features is None else str(len(d.features))),
        ("anomalies", _opt(d.num_anomalies)),
        ("drift", drift),
    ]


def _evidence(r: Record) -> list[tuple[str, str]]:
    e = r.evidence
    blessed = {True: "blessed", False: "NOT blessed", None: "not evaluated"}[e.blessed]
    base = e.baseline
    baseline = "none" if base is None else (base.model or f"none found ({base.reason})")
    p = e.parity
    parity = (
        "not checked"
        if p is None
        else f"{'ok' if p.ok else 'FAILED'}: {p.rows:,} rows, max |diff| {_num(p.max_abs_diff)}"
        f" (tolerance {_num(p.tolerance)})"
    )
    return [
        ("blessing", blessed),
        ("checks", _outcome_all(r)),
        ("baseline", baseline),
        ("slices", _outcome(e.slices)),
        ("fairness", _outcome(e.fairness)),
        ("ONNX parity", parity),
    ]


def _outcome_all(r: Record) -> str:
    checks = r.evidence.checks
    if not checks:
        return "none"
    failed = sum(c.verdict == "fail" for c in checks)
    return f"{len(checks)} checks, {failed} failed"


def _built(r: Record) -> list[tuple[str, str]]:
    b = r.build
    image = b.image or "–"
    if b.image_digest:
        image += f" @ {b.image_digest}"
    return [
        ("pipeline", _opt(b.pipeline_name)),
        ("pipeline version", _opt(b.pipeline_version)),
        ("run", _opt(b.run_id)),
        ("run link", _opt(b.run_url)),
        ("image", image),
        ("mlrail", b.mlrail_version),
    ]


def _who(r: Record) -> list[tuple[str, str]]:
    return [("requested by", r.request.requested_by), ("reason", r.request.reason or "–")]


def _where(r: Record) -> list[tuple[str, str]]:
    w = r.where
    traffic = ", ".join(
        f"{_opt(t.tag or t.revision)} {_opt(t.percent)}%" + (" (latest)" if t.latest else "")
        for t in w.traffic
    )
    return [
        ("kind", r.kind),
        ("target", w.target),
        ("location", w.location or "–"),
        ("decision", w.decision or "–"),
        ("namespace", _opt(w.namespace)),
        ("InferenceService", _opt(w.inference_service)),
        ("repository version", _opt(w.version)),
        ("revision", _opt(w.revision)),
        ("traffic", traffic or "–"),
        ("url", _opt(w.url)),
        ("time", r.created),
    ]


def _fmt_change(c: Change, short: bool = False) -> str:
    old, new = (_short(c.old), _short(c.new)) if short else (_opt(c.old), _opt(c.new))
    return f"{old} → {new}" if c.changed else f"unchanged ({new})"


def _changed(r: Record) -> list[tuple[str, str]]:
    c = r.changes
    if c is None or r.previous is None:
        return [("previous release", "none (the first release)")]
    p = r.previous
    s = c.schema
    schema = _fmt_change(s.hash, short=True)
    if s.compared and (s.added or s.removed or s.changed_type):
        parts = []
        if s.added:
            parts.append("added " + ", ".join(s.added))
        if s.removed:
            parts.append("removed " + ", ".join(s.removed))
        if s.changed_type:
            parts.append("type " + ", ".join(f"{t.name} {t.old}→{t.new}" for t in s.changed_type))
        schema += "; " + "; ".join(parts)
    sources = []
    if c.data.sources_added:
        sources.append("added " + ", ".join(c.data.sources_added))
    if c.data.sources_removed:
        sources.append("removed " + ", ".join(c.data.sources_removed))
    return [
        ("previous release", f"#{_opt(p.number)} version {_opt(p.version)} at {p.created}"),
        ("model", _fmt_change(c.model.sha256, short=True)),
        ("identity", _fmt_change(c.model.identity, short=True)),
        ("data fingerprint", _fmt_change(c.data.fingerprint, short=True)),
        ("sources", "; ".join(sources) or "unchanged"),
        ("schema", schema),
        ("mlrail", _fmt_change(c.code.mlrail_version)),
        ("pipeline version", _fmt_change(c.code.pipeline_version, short=True)),
        ("image", _fmt_change(c.code.image)),
    ]


def _change_rows(changes: Iterable[MetricChange]) -> list[list[str]]:
    return [[c.name, _num(c.old), _num(c.new), _signed(c.change)] for c in changes]


def _sections(r: Record) -> list[tuple[str, list[tuple[str, str]]]]:
    return list(
        zip(
            SECTIONS[:-1],
            [_what(r), _data(r), _evidence(r), _built(r), _who(r), _where(r), _changed(r)],
            strict=True,
        )
    )


def _tables(r: Record) -> dict[str, list[tuple[str, Sequence[str], list[list[str]]]]]:
    """Per section title, its tables: (caption, head, rows); cells are plain text."""
    e, d = r.evidence, r.data
    out: dict[str, list[tuple[str, Sequence[str], list[list[str]]]]] = {s: [] for s in SECTIONS}
    if d.anomalies:
        out["On which data"].append(
            (
                "Anomalies",
                ("split", "feature", "type", "description"),
                [[a.split, _opt(a.feature), a.type, a.description] for a in d.anomalies],
            )
        )
    if d.exceeded:
        out["On which data"].append(
            (
                "Skew and drift over threshold",
                ("feature", "kind", "split", "measure", "value", "threshold"),
                [
                    [c.feature, c.kind, c.split, c.measure, _num(c.value), _num(c.threshold)]
                    for c in d.exceeded
                ],
            )
        )
    if e.metrics:
        out["With which evidence"].append(
            ("Metrics", ("metric", "value"), [[k, _num(v)] for k, v in e.metrics.items()])
        )
    if e.checks:
        out["With which evidence"].append(
            (
                "Checks",
                ("metric", "scope", "slice", "bound", "value", "verdict"),
                [
                    [
                        c.metric,
                        c.scope,
                        _opt(c.slice),
                        f"{_opt(c.op)} {_num(c.bound)}",
                        _num(c.value),
                        c.verdict,
                    ]
                    for c in e.checks
                ],
            )
        )
    if e.baseline and e.baseline.changes:
        out["With which evidence"].append(
            (
                "Against the baseline",
                ("metric", "baseline", "this model", "change"),
                _change_rows(e.baseline.changes),
            )
        )
    if r.changes is not None:
        out["What changed"].append(
            (
                "Metrics",
                ("metric", "previous", "this release", "change"),
                _change_rows(r.changes.metrics),
            )
        )
        out["What changed"].append(
            (
                "Rows",
                ("split", "previous", "this release", "change"),
                _change_rows(r.changes.data.rows),
            )
        )
    return {title: [t for t in found if t[2]] for title, found in out.items()}


# --------------------------------------------------------------------------------------------
# Markdown


def render_markdown(r: Record) -> str:
    """The record as Markdown (a KFP ``Markdown`` artifact; ``release.md``)."""
    lines = [f"# Release of {_md(r.model.name)} version {_md(_opt(r.version))}", ""]
    tables = _tables(r)
    for title, pairs in _sections(r):
        lines += [f"## {title}", "", "| | |", "|---|---|"]
        lines += [f"| {_md(k)} | {_md(v)} |" for k, v in pairs]
        for caption, head, rows in tables[title]:
            lines += ["", f"**{caption}**", "", "| " + " | ".join(head) + " |"]
            lines.append("|" + "---|" * len(head))
            lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
        lines.append("")
    lines += ["## Links", ""]
    for name, uri in r.links.items():
        if _web(uri):
            lines.append(f"- {_md(name)}: [{_md(uri)}](<{_md_url(uri)}>)")
        else:
            lines.append(f"- {_md(name)}: {_md(uri)}")
    if not r.links:
        lines.append("- none")
    return "\n".join(lines) + "\n"


def _md_url(uri: str) -> str:
    # inside <...>: no spaces, angle brackets or line breaks may remain
    return quote(_clean(uri), safe=":/?#[]@!$&'*+,;=%~-._")


# --------------------------------------------------------------------------------------------
# HTML

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  color: #1d1d1d; background: #fff; margin: 16px 20px; }
h1 { font-size: 20px; margin: 0 0 8px; }
h2 { font-size: 16px; margin: 24px 0 8px; padding-bottom: 4px; border-bottom: 1px solid #ddd; }
h3 { font-size: 13px; margin: 12px 0 4px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 3px 8px; border-bottom: 1px solid #e6e6e6; text-align: left;
  vertical-align: top; }
th { background: #f3f4f6; font-weight: 600; }
td.k { color: #555; white-space: nowrap; }
td { overflow-wrap: anywhere; }
.bad { color: #9a3a00; font-weight: 700; }
"""


def _html_table(head: Sequence[str] | None, rows: Iterable[Sequence[str]]) -> str:
    out = ["<table>"]
    if head:
        out.append("<tr>" + "".join(f"<th>{_h(c)}</th>" for c in head) + "</tr>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{_h(c)}</td>" for c in row) + "</tr>")
    out.append("</table>")
    return "".join(out)


def render_html(r: Record) -> str:
    """The record as one self-contained page (no scripts, no fetches; ``release.html``)."""
    title = f"Release of {r.model.name} version {_opt(r.version)}"
    body = [f"<h1>{_h(title)}</h1>"]
    if r.evidence.blessed is False:
        body.append('<p class="bad">The model was not blessed.</p>')
    tables = _tables(r)
    for title_, pairs in _sections(r):
        slug = title_.lower().replace(" ", "-")
        body.append(f'<section id="{slug}"><h2>{_h(title_)}</h2><table>')
        body += [f'<tr><td class="k">{_h(k)}</td><td>{_h(v)}</td></tr>' for k, v in pairs]
        body.append("</table>")
        for caption, head, rows in tables[title_]:
            body.append(f"<h3>{_h(caption)}</h3>{_html_table(head, rows)}")
        body.append("</section>")
    body.append('<section id="links"><h2>Links</h2><ul>')
    for name, uri in r.links.items():
        target = f'<a href="{_h(uri)}">{_h(uri)}</a>' if _web(uri) else f"<code>{_h(uri)}</code>"
        body.append(f"<li>{_h(name)}: {target}</li>")
    if not r.links:
        body.append("<li>none</li>")
    body.append("</ul></section>")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8"/>',
            f"<title>{_h(title)}</title><style>{_CSS}</style></head><body>",
            *body,
            "</body></html>",
            "",
        ]
    )


# --------------------------------------------------------------------------------------------
# terminal


_TEXT_CELL = 60  # characters of a table cell in the terminal (the pages have it all)


def _cut(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def _aligned(rows: list[list[str]]) -> list[str]:
    """Rows as lines of left-aligned columns, indented under their caption."""
    cells = [[_cut(_line(c), _TEXT_CELL) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    return [
        "    " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]


def render_text(r: Record) -> str:
    """The record for a terminal (``mlrail releases show``): the sections, compact."""
    head = f"release #{_opt(r.number)} of {_line(r.model.name)} version {_line(_opt(r.version))}"
    lines = [f"{head} ({r.kind}, {r.created})"]
    tables = _tables(r)
    for title, pairs in _sections(r):
        lines.append(f"\n{title}")
        width = max(len(k) for k, _ in pairs)
        lines += [f"  {k:<{width}}  {_line(v)}" for k, v in pairs if v != "–"]
        for caption, head_, rows in tables[title]:
            if title == "With which evidence" and caption == "Checks":
                continue  # the counts above; the pages list every check
            lines.append(f"  {caption}:")
            lines += _aligned([list(head_), *rows])
    if r.links:
        lines.append("\nLinks")
        lines += [f"  {_line(k)}: {_line(v)}" for k, v in r.links.items()]
    return "\n".join(lines) + "\n"


def render_list(records: Sequence[Record]) -> str:
    """Releases one a line, oldest first, for a terminal (``mlrail releases list``)."""
    if not records:
        return "no releases\n"
    head = ["#", "version", "kind", "time", "target", "decision", "blessed", "model", "by", "why"]
    rows = [
        [
            _opt(r.number),
            _opt(r.version),
            r.kind,
            r.created,
            r.where.target or "–",
            r.where.decision or "–",
            {True: "yes", False: "NO", None: "–"}[r.evidence.blessed],
            _short(r.model.identity or r.model.sha256),
            r.request.requested_by,
            r.request.reason or "–",
        ]
        for r in records
    ]
    return "\n".join(line[4:] for line in _aligned([head, *rows])) + "\n"
