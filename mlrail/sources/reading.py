"""Reading a source: as a stream of tables, again when a column widens, all at once, or its
column names only."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from mlrail.errors import DataError
from mlrail.redact import redact
from mlrail.sources.blocks import Blocks
from mlrail.sources.chunks import BLOCK_SIZE
from mlrail.sources.csvtext import csv_header
from mlrail.sources.resolver import Resolved, resolve
from mlrail.sources.schema import SchemaWidened

__all__ = ["columns", "read_blocks", "read_table", "stream"]

log = logging.getLogger("mlrail.sources")  # the package's one logger, named as users set it
T = TypeVar("T")


def read_blocks(
    source: Resolved | str,
    *,
    column_types: dict[str, pa.DataType] | None = None,
    block_size: int = BLOCK_SIZE,
    executor: Executor | None = None,
    allow_empty: bool = False,
    fingerprint: bool = True,
) -> Blocks:
    """Stream ``source`` as Arrow tables with one schema (see :mod:`mlrail.sources`).

    Args:
        source: A :class:`Resolved` source, or a source string to resolve (no span).
        column_types: Types to read columns with, from :attr:`SchemaWidened.column_types`.
        block_size: About how many bytes of CSV or JSON Lines each table comes from.
        executor: Threads to parse blocks on, shared with the caller's own work on the tables
            (measured: fewer threads than cores' worth twice over is faster); by default a
            pool of :func:`worker_count` threads of its own.
        allow_empty: A header but no rows yields one table with no rows (the header's columns,
            typed null) instead of a DataError: validation reports it as an anomaly.
        fingerprint: Hash the bytes for :attr:`Blocks.fingerprint` (False when no one reads it:
            SHA-256 is about a fifth of the CPU of reading a CSV, and Parquet is read twice).

    Returns:
        An iterator of tables; its ``schema``, ``rows`` and ``fingerprint`` once exhausted.
    """
    resolved = source if isinstance(source, Resolved) else resolve(source)
    return Blocks(
        resolved,
        column_types=column_types,
        block_size=block_size,
        executor=executor,
        allow_empty=allow_empty,
        fingerprint=fingerprint,
    )


def stream(source: Resolved | str, use: Callable[[Blocks], T], **options: Any) -> T:
    """``use(blocks)`` over :func:`read_blocks` of ``source``, again with wider column types
    each time a column widens (:class:`SchemaWidened`); at most about two passes per column.

    ``use`` must make any output it writes safe to redo (e.g. inside ``mlrail.io.atomic_dir``).
    ``options`` are :func:`read_blocks`' (not ``column_types``).
    """
    resolved = source if isinstance(source, Resolved) else resolve(source)
    types: dict[str, pa.DataType] = {}
    while True:
        try:
            with read_blocks(resolved, column_types=types, **options) as blocks:
                return use(blocks)
        except SchemaWidened as e:
            log.info("%s; reading %s again", e.reason, redact(resolved.source))
            types = e.column_types


def read_table(source: Resolved | str, *, block_size: int = BLOCK_SIZE) -> tuple[pa.Table, str]:
    """Read all of ``source`` into one table (see :func:`stream`).

    Returns:
        The table and the fingerprint of its bytes.
    """

    def whole(blocks: Blocks) -> tuple[pa.Table, str]:
        tables = list(blocks)
        return pa.concat_tables(tables), blocks.fingerprint

    return stream(source, whole, block_size=block_size)


def columns(source: str, wanted: Iterable[str] = ()) -> list[str]:
    """The column names of a data source, read as cheaply as the format allows.

    CSV: the header record of the first file (every file of a source has the same columns);
    Parquet: the first file's schema (its footer, no rows); JSON Lines: the keys of the first
    block, and only when one of ``wanted`` is not among them, the keys of every line (a key
    may first appear late).

    Raises:
        DataError: the source names no readable file, naming it.
        ValueError: a span pattern with no date to fill it.
    """
    resolved = resolve(source)
    first = resolved.files[0]
    try:
        if resolved.format == "parquet":
            with first.filesystem.open_input_file(first.path) as f:
                return list(pq.read_schema(f).names)
        if resolved.format == "csv":
            return csv_header(first)
    except FileNotFoundError as e:
        raise DataError(f"{first.name}: no such file") from e
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{first.name}: cannot read its header: {e}") from e
    # a first look: one block of about 1 MiB, not the reader's 8
    with read_blocks(resolved, fingerprint=False, allow_empty=True, block_size=1 << 20) as blocks:
        names = list(next(blocks).column_names)
    if all(n in names for n in wanted):
        return names

    def every_key(blocks: Any) -> list[str]:
        for table in blocks:
            names.extend(n for n in table.column_names if n not in names)
        return names

    return stream(resolved, every_key, fingerprint=False, allow_empty=True)
