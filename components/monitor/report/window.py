"""The top of monitor's page: the window's verdict and what reading the window found."""

from __future__ import annotations

from typing import Any

from mlrail.charts import badge, count, escape, pct, plural, table
from mlrail.components.monitor.findings import MonitorReport
from mlrail.components.monitor.report.words import alerts, key_name

__all__ = ["header", "read"]


def _verdict(report: MonitorReport) -> tuple[str, str]:
    """The window's verdict and its badge's kind."""
    if report.no_traffic:
        return "no traffic", "neutral"
    if not report.versions:
        return "not checked", "neutral"
    return ("healthy", "good") if report.healthy else ("alerts", "bad")


def header(report: MonitorReport, title: str) -> list[str]:
    """The page's header: the title, the verdict, the window and a line per version."""
    text, kind = _verdict(report)
    w = report.window
    stats = report.decoded.stats
    out = [
        f"<header><h1>{escape(title)}</h1>",
        f"<p>{badge(text, kind, id='verdict')}</p>",
        f'<p id="window">Window <code>{escape(str(w["start"]))}</code> to '
        f"<code>{escape(str(w['end']))}</code> (end excluded): "
        f"{escape(plural(stats.records, 'record', 'records'))} in "
        f"{escape(plural(stats.files, 'file', 'files'))}.</p>",
    ]
    if report.no_traffic:
        out.append(
            '<p id="no-traffic">No traffic: no request was logged in this window, so nothing '
            "was compared (no drift is reported for it).</p>"
        )
    elif not report.versions:
        out.append(
            "<p>No version that answered could be checked: its training evidence was not "
            "found (below).</p>"
        )
    items = []
    for v in report.versions:
        found = alerts(v)
        what = "; ".join(found) if found else "healthy"
        cls = ' class="flag"' if found else ""
        items.append(
            f"<li>{escape(key_name(v.version, v.identity))}: <span{cls}>{escape(what)}</span></li>"
        )
    if items:
        out.append(f'<ul id="summary">{"".join(items)}</ul>')
    return [*out, "</header>"]


def read(report: MonitorReport) -> list[str]:
    """What reading the window found: counts, lines skipped and records not decoded, by
    reason; the versions not compared and why; the server's counters."""
    d = report.decoded
    s = d.stats
    out = ['<section id="read"><h2>What was read</h2>']
    out.append(
        table(
            ["Files", "Bytes", "Lines", "Records in the window", "Outside the window", "Skipped"],
            [
                [escape(count(x)) for x in (s.files, s.bytes, s.lines, s.records, s.outside)]
                + [escape(count(s.num_skipped))]
            ],
            id="read-counts",
            numeric=range(6),
        )
    )
    if s.skipped:
        out.append("<h3>Lines skipped, by reason</h3>")
        rows = [
            [f"<code>{escape(r)}</code>", escape(count(n)), escape(s.first.get(r, ""))]
            for r, n in sorted(s.skipped.items())
        ]
        out.append(table(["Reason", "Lines", "First at"], rows, id="skipped", numeric=[1]))
    if s.vanished:
        names = ", ".join(s.vanished)
        out.append(f"<p>Files gone when read (removed meanwhile): {escape(names)}</p>")
    undecoded = [
        [
            escape(key_name(*k)),
            f"<code>{escape(r)}</code>",
            escape(count(n)),
            escape(g.first.get(r, "")),
        ]
        for k, g in d.groups.items()
        for r, n in sorted(g.skipped.items())
    ]
    if undecoded:
        out.append("<h3>Records not decoded</h3>")
        out.append(
            table(["Version", "Reason", "Records", "First"], undecoded, id="undecoded", numeric=[2])
        )
    if report.unresolved:
        records = {key_name(*k): n for k, n in d.unknown.items()}
        for k, g in d.groups.items():
            records.setdefault(key_name(*k), g.records + sum(g.skipped.values()))
        rows = [
            [escape(name), escape(count(records[name])) if name in records else "–", escape(why)]
            for name, why in sorted(report.unresolved.items())
        ]
        out.append("<h3>Versions not compared</h3>")
        out.append(
            '<p class="muted">Their records are counted here, never mixed with another '
            "version's.</p>"
        )
        out.append(
            table(
                ["Version", "Records", "Why"],
                rows,
                id="unresolved",
                numeric=[1],
                alert=range(len(rows)),
            )
        )
    if report.server is not None:
        out += _server(report.server)
    return [*out, "</section>"]


def _server(server: dict[str, Any]) -> list[str]:
    """The server's own counters, or why they could not be scraped."""
    out = ["<h3>The server's counters</h3>"]
    if "error" in server:
        return [*out, f'<p id="server" class="flag">{escape(str(server["error"]))}</p>']
    rate = server.get("error_rate")
    rows = [
        [
            escape(count(float(server.get("requests", 0)))),
            escape(count(float(server.get("errors", 0)))),
            "–" if rate is None else escape(pct(float(rate), 1.0)),
        ]
    ]
    out.append(table(["Requests", "Errors", "Error rate"], rows, id="server", numeric=range(3)))
    by_status = server.get("by_status") or {}
    if by_status:
        status = [[escape(str(k)), escape(count(float(n)))] for k, n in sorted(by_status.items())]
        out.append(table(["Status", "Requests"], status, id="server-status", numeric=[1]))
    if server.get("since"):
        out.append(f'<p class="muted">Since {escape(str(server["since"]))}.</p>')
    return out
