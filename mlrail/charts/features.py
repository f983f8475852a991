"""One feature's charts, one per side (a split, a dataset, a window) side by side.

Numeric sides share their axes (equal-width histograms on one domain and one height);
categorical sides share their categories and scale (top-value bars), so the sides compare at a
glance whatever their sizes: every bar is a share of its side's present values.

The statistics are TFDV's ``FeatureNameStatistics``: a numeric feature's ``STANDARD`` histogram,
a string feature's rank histogram and top values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeAlias

from tensorflow_metadata.proto.v0 import statistics_pb2

from mlrail.charts.bars import Bar, hbars, histogram
from mlrail.charts.layout import swatch
from mlrail.charts.text import count, escape, pct, plural

__all__ = [
    "MAX_BARS",
    "Side",
    "feature_figures",
    "frequencies",
    "ranked",
    "standard_histogram",
]

MAX_BARS = 10  # categories drawn per string feature; the rest are counted as "+N more"
_LABEL_CHARS = 16  # category labels in charts are cut to this many characters
_STANDARD = statistics_pb2.Histogram.STANDARD

#: One side: its label (the caption and the charts' titles), its colour, and the feature's
#: statistics there (None: the side has none).
Side: TypeAlias = tuple[str, str, statistics_pb2.FeatureNameStatistics | None]


def standard_histogram(n: statistics_pb2.NumericStatistics) -> statistics_pb2.Histogram | None:
    """The equal-width histogram of a numeric feature, if it has one."""
    return next((h for h in n.histograms if h.type == _STANDARD), None)


def frequencies(s: statistics_pb2.StringStatistics) -> dict[str, float]:
    """Value → count, from the rank histogram (longer) and the top values (exact counts)."""
    out = {b.label: b.sample_count for b in s.rank_histogram.buckets}
    out.update((v.value, v.frequency) for v in s.top_values)
    return out


def ranked(s: statistics_pb2.StringStatistics) -> list[tuple[str, float]]:
    """Value and count, most frequent first (ties by value)."""
    return sorted(frequencies(s).items(), key=lambda kv: (-kv[1], kv[0]))


def _histogram(
    feature: str,
    label: str,
    hist: statistics_pb2.Histogram,
    present: float,
    domain: tuple[float, float],
    top: float,
    colour: str,
) -> str:
    """Equal-width buckets as shares of the side's present values, drawn on ``domain`` with
    ``top`` (a share) as the full height."""
    buckets = [(b.low_value, b.high_value, b.sample_count) for b in hist.buckets]
    nan = f"NaN: {count(hist.num_nan)} ({pct(hist.num_nan, present)})" if hist.num_nan else ""
    return histogram(
        buckets,
        title=f"{label}: histogram of {feature}, share of values",
        total=present,
        domain=domain,
        top=top,
        colour=colour,
        note=nan,
    )


def _bars(
    feature: str,
    label: str,
    s: statistics_pb2.StringStatistics,
    categories: Sequence[str],
    top: float,
    colour: str,
) -> str:
    """Horizontal bars: each category's share of the side's present values."""
    freq = frequencies(s)
    complete = len(freq) >= s.unique
    present = s.common_stats.num_non_missing or sum(freq.values())
    bars = []
    for cat in categories:
        text, name = (cat, cat) if cat else ("(empty)", "(empty string)")
        n = freq.get(cat)
        if n is None and not complete:
            bars.append(Bar(text, None, "not recorded", name=name))
            continue
        n = n or 0.0
        share = n / present if present else 0.0
        bars.append(Bar(text, share, pct(n, present), f"{cat}: {count(n)}", name=name))
    drawn = sum(1 for b in bars if b.value)
    more = s.unique - drawn
    return hbars(
        bars,
        title=f"{label}: top values of {feature}, share",
        top=top,
        colour=colour,
        footer=f"+{plural(more, 'more value', 'more values')}" if more > 0 else "",
        label_chars=_LABEL_CHARS,
    )


def _categories(stats: Iterable[statistics_pb2.StringStatistics]) -> list[str]:
    """The values drawn on every side, one list so the sides' bars line up: the sides' most
    frequent values taken in turns (each side's first, then each one's second, ...), so a value
    common on one side only still shows; at most ``MAX_BARS``."""
    orders = [[v for v, _ in ranked(s)] for s in stats]
    out: dict[str, None] = {}
    for rank in range(max(map(len, orders), default=0)):
        for values in orders:
            if rank < len(values):
                out.setdefault(values[rank])
            if len(out) == MAX_BARS:
                return list(out)
    return list(out)


def feature_figures(
    feature: str, sides: Sequence[Side], *, missing: Mapping[str, str] | None = None
) -> str:
    """One chart per side, side by side, each a ``<figure>`` captioned with the side's swatch
    and label, in a ``<div class="charts">``.

    A side with nothing to draw gets a ``<div class="nochart">`` instead: "no values" when it
    has the feature's statistics but no value, else its text in ``missing``.

    Args:
        feature: The feature's name, for the charts' titles ("" is shown as ``""``).
        sides: The sides, left to right; labels are distinct.
        missing: Label → what a side whose statistics are None says ("absent" when not given).

    Returns:
        The HTML (well-formed XML; every string escaped).
    """
    shown = feature if feature else '""'
    hists: dict[str, tuple[statistics_pb2.Histogram, float]] = {}
    strs: dict[str, statistics_pb2.StringStatistics] = {}
    for label, _, f in sides:
        kind = f.WhichOneof("stats") if f is not None else None
        if f is not None and kind == "num_stats":
            h = standard_histogram(f.num_stats)
            if h is not None and any(b.sample_count > 0 for b in h.buckets):
                counted = sum(b.sample_count for b in h.buckets) + h.num_nan
                hists[label] = (h, f.num_stats.common_stats.num_non_missing or counted)
        elif f is not None and kind == "string_stats":
            if f.string_stats.common_stats.num_non_missing:
                strs[label] = f.string_stats

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

    out = []
    for label, colour, f in sides:
        if label in hists:
            h, present = hists[label]
            chart = _histogram(shown, label, h, present, (lo, hi), num_top, colour)
        elif label in strs:
            chart = _bars(shown, label, strs[label], cats, cat_top, colour)
        else:
            why = "no values" if f is not None else (missing or {}).get(label, "absent")
            chart = f'<div class="nochart">{escape(why)}</div>'
        caption = f"<figcaption>{swatch(colour)}{escape(label)}</figcaption>"
        out.append(f"<figure>{caption}{chart}</figure>")
    return f'<div class="charts">{"".join(out)}</div>'
