"""plan: the shards of a data source, for a pipeline that reads them side by side.

A shard is what one ingest reads: one file of a file, folder or glob source, or one day of a
span window (a source holding ``{YYYY}``, ``{MM}``, ``{DD}``; the day's files, however many).
Which files a source names, and the errors for one that names none, are :mod:`mlrail.sources`'
(its :func:`~mlrail.sources.resolve`), so a shard is read exactly as a whole-source ingest
would read that file or day. Nothing is read but the listing: the sizes are the files'.

Output (the component's return value, the items ``dsl.ParallelFor`` iterates), one JSON object
per shard, in the source's order (files sorted, days oldest first)::

    {"source": "data/part-0001.csv",   what the shard's ingest reads: a path or URI, written so
                                       that it names only this file (its query kept, glob
                                       characters in a file's name escaped), or the day's
                                       pattern with its date filled in
     "name": "data/part-0001.csv",     the same with a URI's credentials masked (logs, the UI,
                                       and the ``source`` metadata its ingest writes)
     "span": "2026-03-04",             the shard's day ("" for a source without a span pattern)
     "files": 1,                       how many files it holds
     "bytes": 81234}                   their size when listed

A URI's credentials stay in ``source`` when the source has them (the shard must be readable);
give them through the environment (the object-store Secret) instead, as everywhere in mlrail.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import asdict, dataclass
from typing import Any

from mlrail import sources
from mlrail.redact import redact

__all__ = ["Shard", "plan"]

log = logging.getLogger(__name__)
# a local run shows this logger's records on the terminal as they come (mlrail.local.progress)
_progress = logging.getLogger("mlrail.progress.plan")

# glob characters as mlrail.sources reads them: in a URI "?" starts the query
_GLOB_PATH = re.compile(r"[*?\[]")
_GLOB_URI = re.compile(r"[*\[]")


@dataclass(frozen=True)
class Shard:
    """One shard: what one ingest reads (see the module doc for each field)."""

    source: str
    name: str
    span: str
    files: int
    bytes: int

    def item(self) -> dict[str, Any]:
        """The shard as the JSON object the component outputs."""
        return asdict(self)


def plan(
    source: str, *, span_date: str = "", scheduled_time: str = "", span_window: int = 1
) -> list[Shard]:
    """The shards of ``source``: one per file, or one per day of a span window with files.

    Args:
        source: A file, folder, glob or URI, or ``bundled:<name>``; may hold a span pattern.
        span_date: ``YYYY-MM-DD`` filling the span pattern (backfills).
        scheduled_time: The run's scheduled time; fills the pattern when ``span_date`` is empty.
        span_window: How many daily spans, ending at the span date.

    Returns:
        The shards, in the source's order.

    Raises:
        DataError: naming the source, when it names no data file (a missing file, an empty
            folder, a glob that matches nothing, a window with no day present), mixes formats
            or holds a file of unknown type.
        ValueError: a span pattern with no date, or ``span_window`` < 1.
    """
    resolved = sources.resolve(
        source, span_date=span_date, scheduled_time=scheduled_time, span_window=span_window
    )
    if resolved.span:
        shards = _days(resolved, span_window)
    else:
        path = sources.resolve_source(source)
        shards = [
            Shard(_file_source(path, f.relpath), f.name, "", 1, f.size) for f in resolved.files
        ]
    total = sum(s.bytes for s in shards)
    _progress.info(
        "%d shard(s) of %s, %s bytes", len(shards), redact(source), f"{total:,}"
    )  # fmt: skip
    return shards


def _days(resolved: sources.Resolved, span_window: int) -> list[Shard]:
    """A shard per day of the window that has files (a day's pattern may be a folder or glob)."""
    end = dt.date.fromisoformat(resolved.span)
    shards = []
    # resolve() looked up one pattern per day, oldest first
    for back, pattern in zip(range(span_window - 1, -1, -1), resolved.patterns, strict=True):
        day = (end - dt.timedelta(days=back)).isoformat()
        if day not in resolved.spans:
            continue
        files = sources.resolve(pattern).files
        shards.append(Shard(pattern, redact(pattern), day, len(files), sum(f.size for f in files)))
    return shards


def _file_source(path: str, relpath: str) -> str:
    """A source naming exactly the file ``relpath`` of ``path`` (a file, folder or glob).

    ``relpath`` is relative to the part of ``path`` before its first glob character (its
    folder, or itself when ``path`` is a file), as :class:`mlrail.sources.SourceFile` says; a
    URI's query (``?endpoint_override=...``) is kept.
    """
    base, query = path, ""
    if "://" in path and "?" in path:
        base, query = path.split("?", 1)
        query = "?" + query
    if not relpath:
        return path
    glob = _GLOB_URI if "://" in base else _GLOB_PATH
    parts = base.split("/")
    lead = 3 if "://" in base else 0  # a URI's scheme and bucket are never globbed
    first = next((i for i, p in enumerate(parts) if i >= lead and glob.search(p)), len(parts))
    root = "/".join(parts[:first]).rstrip("/")
    # a file named a[1].csv must not be read as a glob: [[] is a literal [
    escaped = glob.sub(lambda m: f"[{m[0]}]", relpath)
    return f"{root}/{escaped}{query}" if root else f"{escaped}{query}"
