"""The charts of one feature, one per split side by side (inline SVG through :mod:`mlrail.charts`).

Numeric splits share their axes (equal-width histograms); categorical splits share their
categories and scale (top-value bars).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from tensorflow_metadata.proto.v0 import statistics_pb2

from mlrail.charts import Bar, count, escape, hbars, histogram, pct, plural, swatch
from mlrail.components.validate.report.words import (
    Feature,
    View,
    frequencies,
    shown,
    standard_histogram,
    stats_kind,
)

__all__ = ["MAX_BARS", "figures", "ranked"]

MAX_BARS = 10  # categories drawn per string feature; the rest are counted as "+N more"
_LABEL_CHARS = 16  # category labels in charts are cut to this many characters


def _histogram(
    feature: str,
    split: str,
    hist: statistics_pb2.Histogram,
    present: float,
    domain: tuple[float, float],
    top: float,
    colour: str,
) -> str:
    """Equal-width buckets as shares of the split's present values, drawn on ``domain`` with
    ``top`` (a share) as the full height."""
    buckets = [(b.low_value, b.high_value, b.sample_count) for b in hist.buckets]
    nan = f"NaN: {count(hist.num_nan)} ({pct(hist.num_nan, present)})" if hist.num_nan else ""
    return histogram(
        buckets,
        title=f"{split}: histogram of {feature}, share of values",
        total=present,
        domain=domain,
        top=top,
        colour=colour,
        note=nan,
    )


def _bars(
    feature: str,
    split: str,
    s: statistics_pb2.StringStatistics,
    categories: Sequence[str],
    top: float,
    colour: str,
) -> str:
    """Horizontal bars: each category's share of the split's present values."""
    freq = frequencies(s)
    complete = len(freq) >= s.unique
    present = s.common_stats.num_non_missing or sum(freq.values())
    bars = []
    for cat in categories:
        label, name = (cat, cat) if cat else ("(empty)", "(empty string)")
        n = freq.get(cat)
        if n is None and not complete:
            bars.append(Bar(label, None, "not recorded", name=name))
            continue
        n = n or 0.0
        share = n / present if present else 0.0
        bars.append(Bar(label, share, pct(n, present), f"{cat}: {count(n)}", name=name))
    drawn = sum(1 for b in bars if b.value)
    more = s.unique - drawn
    return hbars(
        bars,
        title=f"{split}: top values of {feature}, share",
        top=top,
        colour=colour,
        footer=f"+{plural(more, 'more value', 'more values')}" if more > 0 else "",
        label_chars=_LABEL_CHARS,
    )


def ranked(s: statistics_pb2.StringStatistics) -> list[tuple[str, float]]:
    return sorted(frequencies(s).items(), key=lambda kv: (-kv[1], kv[0]))


def _categories(stats: Iterable[statistics_pb2.StringStatistics]) -> list[str]:
    """The values drawn for every split, one list so the splits' bars line up: the splits' most
    frequent values taken in turns (each split's first, then each one's second, ...), so a value
    common in one split only still shows; at most ``MAX_BARS``."""
    orders = [[v for v, _ in ranked(s)] for s in stats]
    out: dict[str, None] = {}
    for rank in range(max(map(len, orders), default=0)):
        for values in orders:
            if rank < len(values):
                out.setdefault(values[rank])
            if len(out) == MAX_BARS:
                return list(out)
    return list(out)


def figures(view: View, feat: Feature) -> str:
    """One chart per split, side by side; numeric splits share their axes, categorical splits
    their categories and scale."""
    hists: dict[str, tuple[statistics_pb2.Histogram, float]] = {}
    strs: dict[str, statistics_pb2.StringStatistics] = {}
    for split in view.splits:
        f = feat.stats.get(split)
        if f is not None and stats_kind(f) == "num_stats":
            h = standard_histogram(f.num_stats)
            if h is not None and any(b.sample_count > 0 for b in h.buckets):
                counted = sum(b.sample_count for b in h.buckets) + h.num_nan
                hists[split] = (h, f.num_stats.common_stats.num_non_missing or counted)
        elif f is not None and stats_kind(f) == "string_stats":
            if f.string_stats.common_stats.num_non_missing:
                strs[split] = f.string_stats

    edges = [
        e
        for h, _ in hists.values()
        for b in h.buckets
        for e in (b.low_value, b.high_value)
        if math.isfinite(e)
    ]
    lo, hi = (min(edges), max(edges)) if edges else (0.0, 1.0)
    if hi <= lo:  # a single value: give it a visible width
        lo, hi = lo - 0.5, hi + 0.5
    num_top = max(
        (b.sample_count / present for h, present in hists.values() for b in h.buckets),
        default=0.0,
    )
    cats = _categories(strs.values())
    cat_top = max(
        (
            frequencies(s).get(c, 0.0) / s.common_stats.num_non_missing
            for s in strs.values()
            for c in cats
        ),
        default=0.0,
    )

    figures = []
    for split in view.splits:
        colour = view.colours[split]
        if split in hists:
            h, present = hists[split]
            chart = _histogram(shown(feat.name), split, h, present, (lo, hi), num_top, colour)
        elif split in strs:
            chart = _bars(shown(feat.name), split, strs[split], cats, cat_top, colour)
        elif split in feat.stats:
            chart = '<div class="nochart">no values</div>'
        elif view.rows[split] == 0:
            chart = '<div class="nochart">no rows</div>'
        else:
            chart = '<div class="nochart">absent</div>'
        caption = f"<figcaption>{swatch(colour)}{escape(split)}</figcaption>"
        figures.append(f"<figure>{caption}{chart}</figure>")
    return f'<div class="charts">{"".join(figures)}</div>'
