"""Text for the pages and charts: escaping (HTML/XML-safe, control characters made visible),
cutting long labels, and numbers, counts and percentages written for reading."""

from __future__ import annotations

import html
import math
import re

__all__ = ["clean", "count", "cut", "escape", "num", "pct", "plural"]

# characters XML 1.0 forbids even as references; data can hold them, the page must not
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean(s: str) -> str:
    """``s`` with XML-forbidden characters written as visible escapes (``\\x01``)."""
    return _FORBIDDEN.sub(lambda m: f"\\x{ord(m.group()):02x}", s)


def escape(s: str) -> str:
    """``s`` safe as HTML/XML text or attribute value (quotes escaped, control characters shown)."""
    return html.escape(clean(s), quote=True)


def cut(s: str, n: int) -> str:
    """``s`` in at most ``n`` characters, cut in the middle: values that share a prefix (codes,
    ids) keep the ends that tell them apart."""
    if len(s) <= n:
        return s
    head = (n - 1) // 2 + (n - 1) % 2
    return s[:head] + "…" + s[len(s) - (n - 1 - head) :]


def num(x: float) -> str:
    """A float to about four significant digits; "nan", "inf" and "-inf" as such."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    a = abs(x)
    if 1e4 <= a < 1e15:  # below 10,000 no separator: years and such read as they are written
        return f"{x:,.0f}"
    return f"{x:.3g}" if a < 1e-4 else f"{x:.4g}"


def count(x: float) -> str:
    """A count with thousands separators (counts can be weighted, hence floats)."""
    return f"{int(x):,}" if float(x).is_integer() else num(x)


def pct(part: float, whole: float) -> str:
    """``part`` as a percentage of ``whole``, never rounded to 0% or 100% when it is not."""
    if not whole or math.isnan(part) or math.isnan(whole):
        return "–"
    p = 100 * part / whole
    if p == 0 or p == 100:
        return f"{p:.0f}%"
    if 0 < p < 0.1:
        return "<0.1%"
    if 99.9 < p < 100:
        return ">99.9%"
    return f"{p:.1f}%"


def plural(n: int, one: str, many: str) -> str:
    """``n`` with thousands separators and the word that fits it (``1 row``, ``2 rows``)."""
    return f"{n:,} {one if n == 1 else many}"
