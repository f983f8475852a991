"""ingest: read a data source and write deterministic train/eval(/test) splits as Parquet.

Reading (formats, folders, globs, URIs, spans, streaming, errors) is :mod:`mlrail.sources`.

Output: the ``examples`` artifact, in the layout :mod:`mlrail.artifacts.examples` owns
(``<split>/part-00000.parquet`` for train, eval and, when test_ratio > 0, test). Each file holds
its split's rows in one or more row groups, text columns dictionary-encoded; a split with no rows
is still written (the schema, zero rows).

Every row lands in a split by a hash of its key column (or of the whole row when no key is
given), so the same row always goes to the same split, whatever the order of the rows and files,
the block size or the file format: :mod:`.split_hash` has the hash, :mod:`.writer` the
streaming writer.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from mlrail import sources
from mlrail.artifacts.examples import EVAL, TEST, TRAIN
from mlrail.components.ingest.split_hash import hashed_columns
from mlrail.components.ingest.writer import SplitWriter
from mlrail.io import atomic_dir
from mlrail.redact import redact

__all__ = ["MAX_LISTED_FILES", "IngestResult", "ingest"]

log = logging.getLogger(__name__)
# a local run shows this logger's records on the terminal as they come (mlrail.local.progress)
_progress = logging.getLogger("mlrail.progress.ingest")

#: How many file names the component lists in the artifact's metadata (the count is kept).
MAX_LISTED_FILES = 100


@dataclass(frozen=True)
class IngestResult:
    """What ingest read and wrote.

    Attributes:
        source: The source read (its span pattern filled when it reads one span; a URI's
            credentials masked).
        fingerprint: SHA-256 of the input's bytes, file names and sizes.
        rows: Rows per split, in split order.
        span: The span date (``YYYY-MM-DD``), "" without a span pattern.
        spans: The days of the span window that had files.
        missing_spans: The days of the span window that had none.
        files: The files read, in order.
        format: ``csv``, ``parquet`` or ``jsonl``.
    """

    source: str
    fingerprint: str
    rows: dict[str, int]
    span: str = ""
    spans: list[str] = field(default_factory=list)
    missing_spans: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    format: str = ""

    @property
    def splits(self) -> list[str]:
        return list(self.rows)


def ingest(
    source: str,
    examples_dir: str,
    *,
    eval_ratio: float = 0.2,
    test_ratio: float = 0.0,
    key_column: str | None = None,
    span_date: str = "",
    scheduled_time: str = "",
    span_window: int = 1,
    block_size: int = sources.BLOCK_SIZE,
) -> IngestResult:
    """Read ``source`` and write its splits under ``examples_dir`` (layout in the module doc).

    Args:
        source: What to read (see :mod:`mlrail.sources`); may hold a span pattern.
        examples_dir: The folder to write; replaced as a whole, and only on success.
        eval_ratio: Share of rows for the eval split.
        test_ratio: Share of rows for an optional test split (0 for none).
        key_column: Column whose hash decides the split; None to hash the whole row.
        span_date: ``YYYY-MM-DD`` filling the span pattern (backfills).
        scheduled_time: The run's scheduled time; fills the pattern when ``span_date`` is empty.
        span_window: How many daily spans to read, ending at the span date.
        block_size: Bytes per block read (memory in flight is a few blocks).

    Returns:
        Rows per split, the fingerprint, and the files and spans read.

    Raises:
        DataError: bad input (see :mod:`mlrail.sources`) or a missing key column.
        ValueError: ratios out of range, or a span pattern with no date.
    """
    if not 0.0 < eval_ratio < 1.0 or not 0.0 <= test_ratio < 1.0 or eval_ratio + test_ratio >= 1.0:
        raise ValueError(
            f"eval_ratio={eval_ratio} and test_ratio={test_ratio} must be in [0, 1) "
            "with eval_ratio > 0 and a non-empty share left for train"
        )
    resolved = sources.resolve(
        source, span_date=span_date, scheduled_time=scheduled_time, span_window=span_window
    )
    splits = [TRAIN, EVAL] + ([TEST] if test_ratio > 0 else [])
    # one pool parses blocks and splits them (measured: faster than a pool for each)
    with ThreadPoolExecutor(sources.worker_count(), thread_name_prefix="mlrail-ingest") as pool:

        def write(blocks: sources.Blocks) -> tuple[dict[str, int], str]:
            with atomic_dir(examples_dir) as tmp:  # a pass that widens a column is redone
                writer = SplitWriter(tmp, splits, eval_ratio, test_ratio, pool)
                rows = _write_splits(blocks, writer, key_column, resolved)
            return rows, blocks.fingerprint

        rows, fingerprint = sources.stream(resolved, write, block_size=block_size, executor=pool)
    _progress.info(
        "read %s rows from %d file(s): %s",
        f"{sum(rows.values()):,}", len(resolved.files),
        ", ".join(f"{split} {count:,}" for split, count in rows.items()),
    )  # fmt: skip
    one_span = resolved.span and len(resolved.patterns) == 1  # the source, its date filled in
    return IngestResult(
        # the metadata is kept in the pipeline's database: no credentials of a URI in it
        source=redact(resolved.patterns[0] if one_span else resolved.source),
        fingerprint=fingerprint,
        rows=rows,
        span=resolved.span,
        spans=list(resolved.spans),
        missing_spans=list(resolved.missing_spans),
        files=[f.name for f in resolved.files],
        format=resolved.format,
    )


#: The first count of rows read that gets a progress line; then 2x, 5x, 10x... it.
_FIRST_SHOWN = 10_000


def _next_shown(count: int) -> int:
    """The next count of the 1-2-5 series after ``count`` (10k → 20k → 50k → 100k)."""
    digits = len(str(count)) - 1
    lead = count // 10**digits
    return {1: 2, 2: 5}.get(lead, 10) * 10**digits


def _write_splits(
    blocks: sources.Blocks,
    writer: SplitWriter,
    key_column: str | None,
    resolved: sources.Resolved,
) -> dict[str, int]:
    """Hash, split and write every block; the next block is parsed while one is written."""
    try:
        columns: list[str] | None = None
        read, shown = 0, _FIRST_SHOWN
        for table in blocks:
            if columns is None:
                columns = hashed_columns(table.schema, key_column, redact(resolved.source))
            writer.put(table, columns)
            read += table.num_rows
            if read >= shown:  # 10k, 20k, 50k, 100k, ...: a few lines, however large the data
                _progress.info("%s rows read", f"{read:,}")
                while shown <= read:
                    shown = _next_shown(shown)
        assert blocks.schema is not None  # read_blocks raises on an input with no rows
        return writer.finish(blocks.schema)
    finally:
        writer.abort()
