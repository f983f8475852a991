"""Data sources: resolve a source to files, stream them as Arrow tables, fingerprint their bytes.

A *source* is a local path or a URI pyarrow's filesystems understand (``file://``, ``s3://``
with the endpoint from ``AWS_ENDPOINT_URL`` or ``?endpoint_override=...`` for MinIO, ``gs://``),
or ``bundled:<name>``. It names a file, a folder (its data files, sorted; hidden files and files
starting with ``_`` such as ``_SUCCESS`` are skipped, sub-folders are not read) or a glob
(``data/*.csv``, ``data/2024-*/part-*.parquet``; ``*``, ``?`` and ``[...]`` in a path,
``*`` and ``[...]`` in a URI, where ``?`` starts the query). It may hold a span pattern
``{YYYY}``, ``{MM}``, ``{DD}`` filled from the run's date; with ``span_window=N`` the last N
daily spans ending at that date are read, and each day's pattern may itself be a glob or a folder.

Formats, by extension: CSV (``.csv``, ``.txt``; RFC 4180, quoted fields may span lines, a
UTF-8 BOM is dropped, text must be UTF-8), Parquet (``.parquet``, ``.pq``) and JSON Lines
(``.jsonl``, ``.ndjson``, ``.json``: one object per line; a missing key is null). One source is
one format.

Public API::

    resolved = resolve("s3://bucket/events/{YYYY}-{MM}-{DD}/*.csv",
                       scheduled_time="2026-03-04T02:00:00Z", span_window=7)
    resolved.files, resolved.format, resolved.spans, resolved.missing_spans

    blocks = read_blocks(resolved)     # an iterator of pa.Table, every one with the same schema
    for table in blocks:
        ...
    blocks.schema, blocks.rows, blocks.fingerprint     # once the iterator is exhausted

    table, fingerprint = read_table(resolved)           # all in memory: small inputs only

Streaming: a reader thread reads each file in blocks of about ``block_size`` bytes (a CSV block
is cut after its last line end outside a quoted field, by quote parity, counted only in blocks
holding a quote) and hashes them; a pool of threads parses several blocks at a time, each with
one single-threaded pyarrow call that never splits it again, so line ends inside quoted fields
need no quote-aware splitter; blocks come out in file order. A few blocks are in flight at
once: memory does not grow with the input. Parquet is read a record batch at a time.
``block_size`` bounds the bytes behind a table (a longer record makes its block longer).

Missing values: in CSV exactly the strings of :data:`NULL_VALUES` (``""``, ``NA``, ``N/A``,
``n/a``, ``NULL``, ``null``, ``#N/A``, ``#N/A N/A``, ``#NA``, ``<NA>``; whole field, case as
written) are missing, in every column, text columns included; in JSON Lines a ``null`` or a
missing key; in Parquet a null. Nothing else is missing. In particular NaN is a *value*, as
in TFDV: ``nan``, ``NaN``, ``-nan``, ``inf``, ``-Infinity``... in a number column are the
float values NaN and ±inf (statistics count NaN in ``num_nan``, not as missing), and in a text
column they are text. (pyarrow's default null spellings also hold ``nan``, ``NaN``, ``-nan``,
``1.#QNAN``, ``-1.#IND``...: a 1M-row file with 9,880 ``nan`` had 9,880 missing values where
TFDV counts 9,880 NaN.) A CSV text column whose values are 90% or more numbers (NaN and
infinity spellings count as numbers), or 90% or more ISO dates or datetimes, is refused, naming
its first other value: a stray ``n/a-ish`` or ``1.#QNAN`` among numbers, or ``soon`` among
dates, would otherwise make a measurement or a date a category. (Past the first block a word
in a number column is refused as a type change; a word in a date column makes it text, so
the same rule then applies: the answer does not depend on where the blocks are cut.)

Column names: any string a header can hold is a column name, kept exactly (capitals, spaces,
punctuation, leading digits, non-ASCII, names equal after case-folding, very long names) and
the empty name (a pandas index written as ``,a,b``). Two columns with exactly the same name
are refused, naming the file and the name.

Types, as read: CSV numbers are ``int64``/``float64`` (an integer beyond int64 is read as a
float, rounded), ``true``/``false`` booleans, ISO dates ``date32``, ISO datetimes
``timestamp[s]`` (with a zone or ``Z``: converted to UTC, ``timestamp[s, tz=UTC]``),
``HH:MM:SS`` ``time32`` (not a model input: validate reports it), the rest text; dates and
datetimes with and without a zone in one column are refused, naming one of each. JSON Lines
values are numbers, booleans, text, lists and objects; pyarrow infers ``timestamp[s]`` for a
key whose strings in the first block are all ISO dates or datetimes (a date is its midnight, a
zone converted to UTC), else they stay text; when a later block holds other text in such a
key, the key is read again as the text it is (a JSON string is never refused for being mostly
numbers or dates: JSON says what is a number, and has no dates). Parquet keeps the file's types (a
dictionary-encoded column is its values' type; ``string_view`` is read as ``string``).
Files or blocks of one source widen to a common type: integers of any width and floats to
``int64`` or ``float64`` (``uint64`` with a signed integer, or a decimal with anything else, to
``float64``), a date and a timestamp to the timestamp, timestamps to the finer unit (a zone
wins over none, which is UTC), dates or timestamps and text to text. Other combinations are a
:class:`~mlrail.errors.DataError`.
Types no step models (binary, lists, structs, maps, time of day, durations, ...) are read as
they are: ingest carries them into the splits, validate reports each as an anomaly naming the
column and its type.

Types: the first block decides each column's type, later blocks and files are read as those types.
When a later block needs a wider type (a float in a column so far all integers, a value in a
column so far all empty) after rows have been handed out, :class:`SchemaWidened` is raised: read
again with ``column_types=error.column_types`` (:func:`read_table` does so). Each restart widens
at least one column, so there are at most about two per column. A value that fits no common type
(a word in a number column) is a :class:`~mlrail.errors.DataError`.

Fingerprint: the SHA-256 of every file's bytes in order, each preceded by its name relative to the
source (``""`` for a single file) and its size, so two data sets at one URI differ and a copy of a
file keeps its fingerprint.

Every problem with the data is a :class:`~mlrail.errors.DataError` naming the file and, where
there is one, the column and the line (or byte offset). A URI's credentials
(``s3://KEY:SECRET@bucket/...``, ``?secret_key=...``) never appear in an error, a log line or a
file's ``name``: they are masked (:func:`mlrail.redact.redact`).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import fnmatch
import hashlib
import importlib.resources
import json
import logging
import os
import queue
import re
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.json as pajson
import pyarrow.parquet as pq

from mlrail.datetimes import is_datetime
from mlrail.errors import DataError
from mlrail.io import filesystem
from mlrail.redact import redact

__all__ = [
    "BLOCK_SIZE",
    "BUNDLED",
    "NULL_VALUES",
    "Blocks",
    "Resolved",
    "SchemaWidened",
    "SourceFile",
    "columns",
    "read_blocks",
    "read_table",
    "resolve",
    "resolve_source",
    "resolve_span",
    "stream",
    "worker_count",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Data sets shipped inside the package, addressable as ``bundled:<name>``.
BUNDLED = {"penguins": "penguins.csv"}

#: The CSV fields that are missing values, whole and case-sensitive (see the module doc): the
#: usual spreadsheet and database spellings (pandas writes "" and shows "<NA>"; the bundled
#: penguins data says NA), and no NaN spelling, because NaN is a value.
NULL_VALUES = ("", "NA", "N/A", "n/a", "NULL", "null", "#N/A", "#N/A N/A", "#NA", "<NA>")

#: Bytes per block. Measured on a 237 MB CSV (2 cores): 8 MiB ingests faster than 2, 4 or
#: 16 MiB (per-block overhead below, caches above); a few blocks in flight stay small.
BLOCK_SIZE = 8 << 20

_EXTENSIONS = {
    ".csv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
_SPAN_TOKENS = re.compile(r"\{(YYYY|MM|DD)\}")
_GLOB_PATH = re.compile(r"[*?\[]")
_GLOB_URI = re.compile(r"[*\[]")  # in a URI, "?" starts the query (endpoint_override=...)
_PARQUET_BATCH_ROWS = 128 * 1024
_QUEUE_DEPTH = 2  # blocks read ahead of the parser: the bound on memory in flight
_PIECE = 1 << 20  # bytes read, hashed and quote-counted at a time: while in the CPU's cache


@dataclass(frozen=True)
class SourceFile:
    """One file of a source.

    Attributes:
        name: The file as a user would write it (a path or URI, credentials masked by
            :func:`mlrail.redact.redact`); errors name it.
        path: Its path inside ``filesystem``.
        relpath: Its name relative to the source (``""`` when the source is this file).
        size: Its size in bytes when it was listed.
        filesystem: The pyarrow filesystem holding it.
    """

    name: str
    path: str
    relpath: str
    size: int
    filesystem: Any = field(compare=False, repr=False)


@dataclass(frozen=True)
class Resolved:
    """A source resolved to its files.

    Attributes:
        source: The source as given.
        files: The files to read, in order (spans oldest first, files sorted within a span).
        format: ``csv``, ``parquet`` or ``jsonl``.
        span: The span date (``YYYY-MM-DD``, the last day of the window); "" without a pattern.
        spans: The days of the window that had files, oldest first.
        missing_spans: The days of the window that had none.
        patterns: What was looked up: the source with each span's date filled in.
    """

    source: str
    files: tuple[SourceFile, ...]
    format: str
    span: str = ""
    spans: tuple[str, ...] = ()
    missing_spans: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()


class SchemaWidened(Exception):
    """A later block needs a wider column type than the rows already streamed were given.

    Read the source again with ``column_types=error.column_types``: the first blocks then get the
    wider type too. Not a :class:`~mlrail.errors.DataError`: the data is fine.

    Attributes:
        column_types: The types to read every column with (the widened ones included).
        reason: What was found, for the log.
    """

    def __init__(self, column_types: dict[str, pa.DataType], reason: str) -> None:
        super().__init__(reason)
        self.column_types = column_types
        self.reason = reason


# ----------------------------------------------------------------------------------- resolving


def resolve_source(source: str) -> str:
    """Map ``bundled:<name>`` to the packaged file; return anything else unchanged."""
    if source.startswith("bundled:"):
        name = source.removeprefix("bundled:")
        if name not in BUNDLED:
            raise DataError(f"{source}: no bundled data set {name!r} (have: {', '.join(BUNDLED)})")
        return str(importlib.resources.files("mlrail") / "data" / BUNDLED[name])
    return source


def _span_day(source: str, span_date: str, scheduled_time: str) -> dt.date:
    for given in (span_date, scheduled_time):
        try:
            day = dt.datetime.fromisoformat(given.replace("Z", "+00:00")).date() if given else None
        except ValueError:
            day = None  # e.g. an unresolved placeholder on a run that was not scheduled
        if day is not None:
            return day
    raise ValueError(
        f"{redact(source)}: has a span pattern ({{YYYY}}, {{MM}}, {{DD}}) but no date to fill it: "
        f"give span_date (YYYY-MM-DD), or run on a schedule (scheduled time {scheduled_time!r})"
    )


def _fill(source: str, day: dt.date) -> str:
    values = {"YYYY": f"{day.year:04d}", "MM": f"{day.month:02d}", "DD": f"{day.day:02d}"}
    return _SPAN_TOKENS.sub(lambda m: values[m.group(1)], source)


def resolve_span(source: str, span_date: str = "", scheduled_time: str = "") -> tuple[str, str]:
    """Fill a span pattern such as ``data/{YYYY}-{MM}-{DD}.csv`` from the run's date.

    The date is ``span_date`` (an explicit ``YYYY-MM-DD``, for backfills) or else the day of
    ``scheduled_time`` (KFP's scheduled-time placeholder on a recurring run, RFC 3339). A source
    without a pattern is returned as it is.

    Returns:
        The resolved source and the span as ``YYYY-MM-DD`` ("" when the source has no pattern).

    Raises:
        ValueError: the source has a pattern but neither argument holds a date.
    """
    if not _SPAN_TOKENS.search(source):
        return source, ""
    day = _span_day(source, span_date, scheduled_time)
    return _fill(source, day), day.isoformat()


def resolve(
    source: str, *, span_date: str = "", scheduled_time: str = "", span_window: int = 1
) -> Resolved:
    """Resolve ``source`` (see the module doc) to the files to read.

    Args:
        source: A path, URI, glob or folder, or ``bundled:<name>``; may hold a span pattern.
        span_date: ``YYYY-MM-DD`` filling the span pattern (backfills).
        scheduled_time: The run's scheduled time (RFC 3339); fills the pattern when
            ``span_date`` is empty.
        span_window: How many daily spans to read, ending at the span date (inclusive).

    Returns:
        The files, their format and the spans found and missing.

    Raises:
        DataError: no file matches (naming every pattern tried), a file of unknown type, or
            files of several formats.
        ValueError: a span pattern without a date, or ``span_window`` < 1.
    """
    try:
        return _resolve(source, span_date, scheduled_time, span_window)
    except DataError as e:
        raise _redacted(e) from e.__cause__


def _redacted(error: DataError) -> DataError:
    """``error`` with the credentials of any URI in its message masked (see mlrail.redact)."""
    text = str(error)
    masked = redact(text)
    return error if masked == text else DataError(masked)


def _resolve(source: str, span_date: str, scheduled_time: str, span_window: int) -> Resolved:
    if span_window < 1:
        raise ValueError(f"span_window={span_window} must be at least 1")
    path = resolve_source(source)
    if not _SPAN_TOKENS.search(path):
        files = _expand(path, _root(path), required=True)
        return Resolved(source, tuple(files), _format_of(source, files), patterns=(path,))
    end = _span_day(source, span_date, scheduled_time)
    root = _root(path)
    found: list[SourceFile] = []
    spans: list[str] = []
    missing: list[str] = []
    patterns: list[str] = []
    for back in range(span_window - 1, -1, -1):
        day = end - dt.timedelta(days=back)
        pattern = _fill(path, day)
        patterns.append(pattern)
        files = _expand(pattern, root, required=False)
        (spans if files else missing).append(day.isoformat())
        found += files
    if not found:
        raise DataError(f"{source}: no files for its span(s); tried: {', '.join(patterns)}")
    if missing:
        log.warning("%s: no files for span(s) %s", redact(source), ", ".join(missing))
    return Resolved(
        source,
        tuple(found),
        _format_of(source, found),
        span=end.isoformat(),
        spans=tuple(spans),
        missing_spans=tuple(missing),
        patterns=tuple(patterns),
    )


def _root(pattern: str) -> str:
    """The folder fingerprint names are relative to: the pattern up to its first wildcard."""
    base = _split(pattern)[0]
    if not _SPAN_TOKENS.search(base) and not _globbed(base):
        return base  # a file (relpath "") or a folder
    parts = base.split("/")
    glob = _GLOB_URI if "://" in pattern else _GLOB_PATH
    first = next(i for i, p in enumerate(parts) if glob.search(p) or _SPAN_TOKENS.search(p))
    return "/".join(parts[:first])


def _split(pattern: str) -> tuple[str, str]:
    """A URI's path and its query (kept for the filesystem: endpoint_override=...)."""
    if "://" in pattern and "?" in pattern:
        base, query = pattern.split("?", 1)
        return base, "?" + query
    return pattern, ""


def _globbed(pattern: str) -> bool:
    base = _split(pattern)[0]
    return bool((_GLOB_URI if "://" in pattern else _GLOB_PATH).search(base))


def _hidden(name: str) -> bool:
    return name.startswith((".", "_"))


def _expand(pattern: str, root: str, *, required: bool) -> list[SourceFile]:
    """The data files ``pattern`` names: itself, a folder's files, or a glob's matches."""
    base, query = _split(pattern)
    parts = base.split("/")
    glob = _GLOB_URI if "://" in base else _GLOB_PATH
    # a URI's scheme and bucket are never globbed ("s3:", "", "bucket")
    lead = 3 if "://" in base else 0
    first = next((i for i, p in enumerate(parts) if i >= lead and glob.search(p)), len(parts))
    static, wild = "/".join(parts[:first]), parts[first:]
    fs, fs_path = filesystem((static or ".") + query)
    try:
        if not wild:
            info = fs.get_file_info(fs_path)
            if info.type == pafs.FileType.NotFound:
                if required:
                    raise DataError(f"{pattern}: no such file")
                return []
            matches = [(info, static)]
        else:
            matches = _walk(fs, fs_path, static, wild)
            if not matches and required:
                raise DataError(f"{pattern}: matches no file")
        files: list[SourceFile] = []
        for info, name in matches:
            if info.type == pafs.FileType.Directory:
                listed = sorted(
                    fs.get_file_info(pafs.FileSelector(info.path)), key=lambda i: i.base_name
                )
                data = [
                    (i, f"{name.rstrip('/')}/{i.base_name}")
                    for i in listed
                    if i.type == pafs.FileType.File
                    and not _hidden(i.base_name)
                    and _extension(i.base_name) in _EXTENSIONS
                ]
                if not data and required:
                    raise DataError(
                        f"{name}: a folder with no data files "
                        f"({', '.join(sorted(set(_EXTENSIONS)))})"
                    )
                files += [_file(fs, i, n, root) for i, n in data]
            elif not wild or _extension(info.base_name) in _EXTENSIONS:
                files.append(_file(fs, info, name, root))
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{pattern}: cannot list: {e}") from e
    if wild and not files and required:
        raise DataError(f"{pattern}: matches no data file ({', '.join(sorted(_EXTENSIONS))})")
    return files


def _walk(fs: Any, fs_path: str, name: str, wild: list[str]) -> list[tuple[Any, str]]:
    level: list[tuple[Any, str]] = [(None, name)]
    paths = [fs_path]
    for depth, segment in enumerate(wild):
        last = depth == len(wild) - 1
        found: list[tuple[Any, str]] = []
        found_paths: list[str] = []
        for (_, parent), path in zip(level, paths, strict=True):
            infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
            for info in sorted(infos, key=lambda i: i.base_name):
                if not fnmatch.fnmatchcase(info.base_name, segment):
                    continue
                if _hidden(info.base_name) and not _hidden(segment):
                    continue
                if not last and info.type != pafs.FileType.Directory:
                    continue
                prefix = parent.rstrip("/") + "/" if parent else ""
                found.append((info, prefix + info.base_name))
                found_paths.append(info.path)
        level, paths = found, found_paths
    return level


def _extension(name: str) -> str:
    name = name.lower()
    return name[name.rfind(".") :] if "." in name else ""


def _file(fs: Any, info: Any, name: str, root: str) -> SourceFile:
    rel = name[len(root) :].lstrip("/") if name.startswith(root) else name
    # the name is for people (errors, logs, metadata): never with the URI's credentials
    return SourceFile(
        name=redact(name), path=info.path, relpath=rel, size=info.size or 0, filesystem=fs
    )


def _format_of(source: str, files: list[SourceFile]) -> str:
    formats: dict[str, str] = {}
    for f in files:
        fmt = _EXTENSIONS.get(_extension(_split(f.name)[0]))
        if fmt is None:
            raise DataError(
                f"{f.name}: unknown file type; expected "
                f"{', '.join(sorted(_EXTENSIONS))} (CSV, Parquet or JSON Lines)"
            )
        formats.setdefault(fmt, f.name)
    if len(formats) > 1:
        listed = ", ".join(f"{fmt} ({name})" for fmt, name in formats.items())
        raise DataError(f"{source}: mixes file formats: {listed}; one source is one format")
    return next(iter(formats))


# ------------------------------------------------------------------------------------ reading


def read_blocks(
    source: Resolved | str,
    *,
    column_types: dict[str, pa.DataType] | None = None,
    block_size: int = BLOCK_SIZE,
    executor: Executor | None = None,
    allow_empty: bool = False,
    fingerprint: bool = True,
) -> Blocks:
    """Stream ``source`` as Arrow tables with one schema (see the module doc).

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
            return _csv_header(first)
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


def _csv_header(f: Any) -> list[str]:
    """The first record of a CSV file (a quoted name may span lines), BOM and blank lines
    skipped as the reader skips them."""
    size = 1 << 16
    with f.filesystem.open_input_stream(f.path) as stream:
        data = b""
        while True:
            more = stream.read(size)
            data += more
            text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
            lines = text.lstrip("\r\n").splitlines(keepends=True)
            reader = csv.reader(lines)
            header = next(reader, None)
            # complete when the record ended before the data read so far did, or at the end
            if header is not None and (reader.line_num < len(lines) or not more):
                return header
            if not more:
                raise DataError(f"{f.name}: the file is empty (no header)")
            size *= 4


@dataclass
class _Chunk:
    """Whole records (lines) of one file, starting at byte ``offset``."""

    file: SourceFile
    offset: int
    data: Any  # a memoryview over a bytearray: no copy on the way to pyarrow
    first: bool  # starts at the file's first byte (holds the CSV header)
    buffer: bytearray | None = None  # what ``data`` views, reused once the chunk is parsed
    names: list[str] | None = None  # CSV: the file's header, for the chunks after the first


@dataclass
class _Mixed:
    """Running counts for a text column that may be numbers (or dates) with a stray word."""

    values: int = 0
    numeric: int = 0  # values that are numbers (or dates: what the state counts)
    # the first other value: its block (without its bytes), the block's length, row and value
    first_bad: tuple[_Chunk, int, int, Any] | None = None
    dropped: bool = False  # under half: the column is not that
    # dates only: the first value with a time zone and the first without
    zoned: str | None = None
    naive: str | None = None


# a number as pyarrow's float parser reads it, NaN and infinity spellings included
_NUMBER = r"(?i)^\s*[-+]?((\d+\.?\d*|\.\d+)(e[-+]?\d+)?|nan(\([0-9a-z_]*\))?|inf(inity)?)\s*$"
# an ISO 8601 date or datetime, as pyarrow's CSV reader infers them
_ISO_DATE = r"^\s*\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?\s*$"
_ZONED = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)\s*$"  # a time with its zone
# what a text column may be with a stray word in it, and the pattern of its values
_MIXED = {"numbers": _NUMBER, "dates": _ISO_DATE}
_STOP = object()


def worker_count() -> int:
    """How many threads CPU work (parsing, hashing) is worth spreading over: the usable cores,
    at most 4 (more blocks in flight would cost memory for little)."""
    try:
        return max(1, min(4, len(os.sched_getaffinity(0))))
    except AttributeError:  # not on Linux
        return max(1, min(4, os.cpu_count() or 1))


class _NoFingerprint:
    """Stands in for the hash when the fingerprint was not asked for."""

    def update(self, data: Any) -> None:
        pass

    def hexdigest(self) -> str:
        raise RuntimeError("this source was read with fingerprint=False")


class Blocks(Iterator[pa.Table]):
    """The tables of a resolved source, one per block; see :func:`read_blocks`.

    Attributes:
        resolved: What is read.
        schema: The schema every table has (set by the first table).
        rows: Rows handed out so far.
    """

    def __init__(
        self,
        resolved: Resolved,
        *,
        column_types: dict[str, pa.DataType] | None = None,
        block_size: int = BLOCK_SIZE,
        executor: Executor | None = None,
        allow_empty: bool = False,
        fingerprint: bool = True,
    ) -> None:
        self.resolved = resolved
        self._executor = executor
        self._allow_empty = allow_empty
        self._workers = worker_count()
        self.schema: pa.Schema | None = None
        self.rows = 0
        self._block_size = block_size
        self._hints = dict(column_types or {})
        self._types: dict[str, pa.DataType] = dict(self._hints)  # settled column types
        self._names: list[str] = []  # the columns, in the first file's order
        self._first_file = ""
        self._file_names: list[str] = []  # the current CSV file's header
        self._seen_null: set[str] = set()  # columns handed out all null so far
        self._mixed: dict[tuple[str, str], _Mixed] = {}  # (column, "numbers" or "dates")
        self._settled: set[str] = set()  # text columns that clearly hold words
        self._sha: Any = hashlib.sha256() if fingerprint else _NoFingerprint()
        self._spare: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        self._quotes: np.ndarray | None = None
        self._done = False
        self._gen: Generator[pa.Table, None, None] = self._run()

    def __next__(self) -> pa.Table:
        try:
            return next(self._gen)
        except DataError as e:  # a message may hold the source as given, credentials and all
            raise _redacted(e) from e.__cause__

    def close(self) -> None:
        """Stop reading (threads included); safe to call twice."""
        self._gen.close()

    def __enter__(self) -> Blocks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def fingerprint(self) -> str:
        """SHA-256 (hex) of the input's bytes, names and sizes; only once every block is read."""
        if not self._done:
            raise RuntimeError("the fingerprint is known once every block has been read")
        return self._sha.hexdigest()

    # ------------------------------------------------------------------------------ the stream

    def _run(self) -> Generator[pa.Table, None, None]:
        if self.resolved.format == "parquet":
            yield from self._parquet()
        else:
            yield from self._text(self.resolved.format)
        if self.rows == 0 and not self._allow_empty:
            self._no_rows()
        if self.rows == 0 and self.schema is None:
            fields = [pa.field(n, self._types.get(n, pa.null())) for n in self._names]
            yield self._emit(pa.schema(fields).empty_table())
        if self.schema is None:  # pragma: no cover - one table was handed out
            raise AssertionError("no schema")
        self._check_mixed()
        self._done = True

    def _emit(self, table: pa.Table) -> pa.Table:
        if self.schema is None:
            self.schema = table.schema
        self.rows += table.num_rows
        return table

    def _no_rows(self) -> None:
        files = self.resolved.files
        if len(files) == 1:
            what = (
                "has a header but no data rows" if self.resolved.format == "csv" else "has no rows"
            )
            raise DataError(f"{files[0].name}: {what}")
        raise DataError(f"{self.resolved.source}: no data rows in any of its {len(files)} files")

    # ----------------------------------------------------------------------------- text formats

    def _text(self, fmt: str) -> Iterator[pa.Table]:
        """Read blocks on one thread, parse them on a pool, settle and hand them out in order.

        The first block with rows is parsed alone (over pyarrow's threads): it decides the column
        types the others are parsed with. Each later block is parsed by one pyarrow call on one
        thread, several blocks at a time, so pyarrow never splits a block itself and a quoted
        field may hold line ends.
        """
        chunks: queue.Queue[Any] = queue.Queue(maxsize=_QUEUE_DEPTH)
        stop = threading.Event()
        reader = threading.Thread(
            target=self._produce, args=(fmt, chunks, stop), name="mlrail-read", daemon=True
        )
        workers = self._workers
        pool = self._executor or ThreadPoolExecutor(workers, thread_name_prefix="mlrail-parse")
        pending: deque[tuple[_Chunk, Future[pa.Table], dict[str, pa.DataType] | None]] = deque()
        reader.start()
        try:
            more = True
            while True:
                while more and len(pending) <= workers and (self.rows or not pending):
                    chunk = chunks.get()
                    if chunk is _STOP:
                        more = False
                        break
                    if isinstance(chunk, BaseException):
                        raise chunk
                    if fmt == "csv":
                        self._start_csv_chunk(chunk)
                    alone = not self.rows and not pending
                    types = dict(self._types)
                    job = pool.submit(_parse_chunk, chunk, fmt, types, alone)
                    pending.append((chunk, job, types if alone else None))
                if not pending:
                    break
                chunk, future, retry = pending.popleft()
                try:
                    table = future.result()
                except (pa.ArrowException, UnicodeDecodeError) as e:
                    table = self._parse_error(chunk, fmt, e, retry)
                table = self._conform(table, chunk, fmt)
                if fmt == "csv":
                    self._track_mixed(table, chunk)
                self._release(chunk)
                if table.num_rows:
                    yield self._emit(table)
        finally:
            stop.set()
            if pool is self._executor:  # not ours to shut down: drop what is queued, let run out
                for _, job, _ in pending:
                    job.cancel()
                wait([job for _, job, _ in pending])
            else:
                pool.shutdown(wait=True, cancel_futures=True)
            with contextlib.suppress(queue.Empty):
                while True:  # unblock a reader waiting on a full queue
                    chunks.get_nowait()
            reader.join()

    def _produce(self, fmt: str, chunks: queue.Queue[Any], stop: threading.Event) -> None:
        """Read each file in blocks cut at record ends, hash the bytes, queue the blocks."""

        def put(item: Any) -> bool:
            while not stop.is_set():
                with contextlib.suppress(queue.Full):
                    chunks.put(item, timeout=0.1)
                    return True
            return False

        try:
            for f in self.resolved.files:
                self._sha.update(f"{f.relpath}\0{f.size}\0".encode())
                for chunk in self._file_chunks(f, fmt == "csv"):
                    if not put(chunk):
                        return
            put(_STOP)
        except BaseException as e:  # handed to the consumer, which raises it
            put(e)

    def _file_chunks(self, f: SourceFile, is_csv: bool) -> Iterator[_Chunk]:
        if f.size == 0:
            raise DataError(f"{f.name}: the file is empty (0 bytes)")
        try:
            stream = f.filesystem.open_input_stream(f.path)
        except FileNotFoundError as e:
            raise DataError(f"{f.name}: no such file") from e
        except (OSError, pa.ArrowException) as e:
            raise DataError(f"{f.name}: cannot read: {e}") from e
        carry = b""
        offset = 0
        size = self._block_size
        with stream:
            while True:
                buf = self._buffer(len(carry) + size)
                buf[: len(carry)] = carry
                end, limit, eof = len(carry), len(carry) + size, False
                quotes = self._quotes_in(buf, 0, end) if is_csv else 0
                while end < limit:  # in pieces, each hashed and counted while in the cache
                    try:
                        n = stream.readinto(memoryview(buf)[end : min(end + _PIECE, limit)])
                    except (OSError, pa.ArrowException) as e:
                        raise DataError(f"{f.name}: cannot read: {e}") from e
                    if not n:
                        eof = True
                        break
                    self._sha.update(memoryview(buf)[end : end + n])
                    if is_csv:
                        quotes += self._quotes_in(buf, end, end + n)
                    end += n
                if eof:  # the rest is the last record(s)
                    if end:
                        yield _Chunk(f, offset, memoryview(buf)[:end], offset == 0, buf)
                    return
                if is_csv:
                    cut = _cut_csv(buf, end, quotes, self._quotes_in)
                else:
                    cut = buf.rfind(b"\n", 0, end) + 1
                if cut == 0:  # no record ends in this block (a huge record): read more
                    carry, size = bytes(buf[:end]), size * 2
                    self._spare.put(buf)
                    continue
                carry = bytes(buf[cut:end])
                yield _Chunk(f, offset, memoryview(buf)[:cut], offset == 0, buf)
                size = self._block_size
                offset += cut

    # Fresh memory for every block costs page faults (measured: a tenth of the CPU time of an
    # ingest), so block buffers and the quote-counting scratch are reused.

    def _buffer(self, size: int) -> bytearray:
        with contextlib.suppress(queue.Empty):
            buf = self._spare.get_nowait()
            if len(buf) >= size:
                return buf
        return bytearray(max(size, self._block_size + self._block_size // 4))

    def _quotes_in(self, buf: bytearray, start: int, stop: int) -> int:
        """How many '"' are in ``buf[start:stop]`` (a piece of at most ``_PIECE`` bytes)."""
        if buf.find(b'"', start, stop) < 0:
            return 0
        if self._quotes is None:
            self._quotes = np.empty(_PIECE, bool)
        total = 0
        data = np.frombuffer(buf, dtype=np.uint8, count=stop)
        for at in range(start, stop, _PIECE):
            piece = data[at : min(at + _PIECE, stop)]
            total += int(np.count_nonzero(np.equal(piece, 0x22, out=self._quotes[: len(piece)])))
        return total

    def _release(self, chunk: _Chunk) -> None:
        """Hand ``chunk``'s buffer back to the reader: nothing refers to it any more."""
        if chunk.buffer is not None and self._spare.qsize() < _QUEUE_DEPTH + self._workers + 2:
            chunk.data = None
            self._spare.put(chunk.buffer)
        chunk.buffer = None

    def _parse_error(
        self,
        chunk: _Chunk,
        fmt: str,
        error: Exception,
        retry: dict[str, pa.DataType] | None = None,
    ) -> pa.Table:
        """The slow path after pyarrow refused a block: what is wrong, and where.

        Args:
            chunk: The block.
            fmt: Its format.
            error: What pyarrow said.
            retry: The types of a parse split over pyarrow's threads, to try again as one
                block (pyarrow's threads refuse a record longer than their 1 MiB blocks).

        Returns:
            The block read as one block, or with wider types when that is all it needed and no
            rows were handed out yet (else :class:`SchemaWidened` or a
            :class:`~mlrail.errors.DataError`).
        """
        if retry is not None:
            with contextlib.suppress(pa.ArrowException, UnicodeDecodeError):
                return _parse_chunk(chunk, fmt, retry)
        data = bytes(chunk.data)
        _check_utf8(chunk, data)
        if fmt != "csv":
            if not data.strip():  # blank lines only: pyarrow calls that an empty file
                if chunk.first and len(data) == chunk.file.size:
                    raise DataError(
                        f"{chunk.file.name}: the file is empty ({len(data)} bytes of blank lines)"
                    ) from error
                return pa.table({})
            self._json_error(chunk, error)
        f = chunk.file
        text = data.decode("utf-8").removeprefix("\ufeff")
        expected = None if chunk.first else len(chunk.names or [])
        for line, fields, raw in _records(text):
            if expected is None:
                expected = len(fields)
            elif len(fields) != expected:
                raise DataError(
                    f"{f.name}: malformed CSV: line {self._line(chunk, line)}: expected "
                    f"{expected} fields, found {len(fields)}: {raw[:200]!r}"
                ) from error
        # the records are well formed, so a value is not of its column's type: read the block
        # with its own types (text stays text) and see whether they widen or clash
        text_types = {n: t for n, t in self._types.items() if _is_text(t)}
        try:
            return _parse_chunk(chunk, "csv", text_types)
        except pa.ArrowException as e:
            raise DataError(f"{f.name}: malformed CSV near line {self._line(chunk, 1)}: {e}") from e

    # ------------------------------------------------------------------------------------- CSV

    def _start_csv_chunk(self, chunk: _Chunk) -> None:
        """Give ``chunk`` its file's header; at a file's first chunk, read and check the header."""
        if not chunk.first:
            chunk.names = self._file_names
            return
        f = chunk.file
        head = bytes(chunk.data[: _header_end(chunk.data)])
        if not head.removeprefix(b"\xef\xbb\xbf").strip():
            raise DataError(f"{f.name}: the file is empty ({f.size} bytes of blank lines)")
        try:
            names = pacsv.read_csv(
                pa.BufferReader(head), read_options=pacsv.ReadOptions(use_threads=False)
            ).column_names
        except UnicodeDecodeError:
            _check_utf8(chunk, head)
            raise
        except pa.ArrowInvalid as e:
            raise DataError(f"{f.name}: line 1: unreadable header: {e}") from e
        _check_names(f.name, names)
        if not self._names:
            self._names, self._first_file = list(names), f.name
        elif names != self._names:
            _same_columns(f.name, names, self._first_file, self._names)
        self._file_names = list(names)

    def _conform(self, table: pa.Table, chunk: _Chunk, fmt: str) -> pa.Table:
        """Give ``table`` the stream's columns and types, settling them on first sight.

        Raises:
            SchemaWidened: a column needs a wider type than rows already handed out have.
            DataError: a value of a type that does not go with its column's.
        """
        f = chunk.file
        if fmt != "csv":
            self._json_columns(table, chunk)
        columns = []
        for name in self._names:
            if name not in table.column_names:  # JSON Lines: a key no line of the block has
                columns.append(pa.nulls(table.num_rows, self._types.get(name, pa.null())))
                continue
            column = table.column(name)
            t, have = column.type, self._types.get(name)
            if pa.types.is_binary(t) or pa.types.is_large_binary(t):
                _check_utf8(chunk, bytes(chunk.data))  # pyarrow reads bad UTF-8 as binary
            if have is None:
                if pa.types.is_null(t):
                    self._seen_null.add(name)
                elif self.rows and name in self._seen_null:
                    # rows already handed out have this column as null: they need it typed
                    raise SchemaWidened(
                        {**self._types, name: t},
                        f"{f.name}: column {name!r} has its first values at byte "
                        f"{chunk.offset} ({t}); reading again",
                    )
                else:
                    self._types[name] = t
                columns.append(column)
                continue
            merged = _merge(have, t)
            if merged is None:
                self._type_change(chunk, fmt, name, have)
            elif merged != have:
                if self.rows:
                    raise SchemaWidened(
                        {**self._types, name: merged},
                        f"{f.name}: column {name!r} needs {merged} from byte {chunk.offset} "
                        f"on ({t} after {have}); reading again",
                    )
                self._types[name] = merged
            want = self._types[name]
            # int to float may round beyond 2**53: that is what widening the column means
            columns.append(column.cast(want, safe=False) if t != want else column)
        return pa.table(columns, names=self._names)

    def _type_change(self, chunk: _Chunk, fmt: str, name: str, have: pa.DataType) -> None:
        """Raise the error for a value in ``name`` that is not ``have``, with its line."""
        if fmt != "csv":
            self._json_error(chunk, None)
            raise DataError(
                f"{chunk.file.name}: column {name!r} changes type near line "
                f"{self._line(chunk, 1)}: not {_kind(have)} like the lines before it"
            )
        as_text = {n: pa.string() for n in chunk.names or self._file_names}
        column = _parse_chunk(chunk, "csv", as_text).column(name)
        row, value = _first_not(column, have)
        at = self._record_line(chunk, row) if row >= 0 else "?"
        raise DataError(
            f"{chunk.file.name}: column {name!r} changes type at line {at}: {value!r} is not "
            f"{_kind(have)} like the rows before it; fix the value, or leave it empty if missing"
        )

    def _track_mixed(self, table: pa.Table, chunk: _Chunk) -> None:
        """Count numbers and dates in text columns, to refuse them with a few stray words.

        pyarrow reads such a column as text, which would silently turn a measurement (or a
        date) into a category with thousands of values; one "n/a" or "12,5" among numbers is
        almost always a typo. A column stops being checked once it clearly holds words (under
        half numbers and under half dates).
        """
        for name in table.column_names:
            if name in self._settled:
                continue
            column = table.column(name)
            if not _is_text(column.type):
                continue
            values = len(column) - column.null_count
            if not values:
                continue
            if (name, "numbers") not in self._mixed:  # most text columns are words, seen soon
                sample = column.slice(0, 1024)
                seen = len(sample) - sample.null_count
                if seen and all(
                    (pc.sum(pc.match_substring_regex(sample, pattern)).as_py() or 0) < 0.5 * seen
                    for pattern in _MIXED.values()
                ):
                    self._settled.add(name)
                    continue
            alive = False
            for what, pattern in _MIXED.items():
                state = self._mixed.setdefault((name, what), _Mixed())
                if state.dropped:
                    continue
                mask = pc.match_substring_regex(column, pattern)
                matched = pc.sum(mask).as_py() or 0
                if matched < values and state.first_bad is None:
                    bad = pc.and_(column.is_valid(), pc.invert(pc.fill_null(mask, True)))
                    row = int(pc.index(bad, True).as_py())
                    where = _Chunk(chunk.file, chunk.offset, None, chunk.first, names=chunk.names)
                    state.first_bad = (where, len(chunk.data), row, column[row].as_py())
                if what == "dates" and (state.zoned is None or state.naive is None):
                    self._zones(state, column)
                state.values += values
                state.numeric += matched
                state.dropped = state.numeric < 0.5 * state.values
                alive = alive or not state.dropped
            if not alive:
                self._settled.add(name)

    @staticmethod
    def _zones(state: _Mixed, column: pa.ChunkedArray) -> None:
        """Note the first date/time value of ``column`` with a time zone and the first without."""
        dated = pc.match_substring_regex(column, _ISO_DATE)
        zoned = pc.match_substring_regex(column, _ZONED)
        for want, attr in ((True, "zoned"), (False, "naive")):
            if getattr(state, attr) is None:
                hits = pc.and_(dated, zoned if want else pc.invert(zoned))
                row = pc.index(pc.fill_null(hits, False), True).as_py()
                if row >= 0:
                    setattr(state, attr, column[row].as_py())

    def _check_mixed(self) -> None:
        for (name, what), state in self._mixed.items():
            if name in self._settled or state.dropped:
                continue
            if what == "dates" and state.first_bad is None and state.values:
                # every value is an ISO date or datetime, yet pyarrow read them as text
                f = self.resolved.files[0].name if len(self.resolved.files) == 1 else (
                    redact(self.resolved.source)
                )  # fmt: skip
                why = (
                    f"some with a time zone (first {state.zoned!r}), some without (first "
                    f"{state.naive!r}); give every value a zone (or Z), or none"
                    if state.zoned is not None and state.naive is not None
                    else "one of them is not a real date or time (such as 2012-02-30); fix it"
                )
                raise DataError(
                    f"{f}: column {name!r} holds ISO dates and times that cannot be read as one "
                    f"type: {why}"
                )
            if state.first_bad is None:
                continue
            if state.numeric < 0.9 * state.values:
                continue
            where, length, row, value = state.first_bad
            where.data = memoryview(_read_range(where.file, where.offset, length))
            raise DataError(
                f"{where.file.name}: column {name!r} holds {what} except for "
                f"{state.values - state.numeric} value(s), first at line "
                f"{self._record_line(where, row)}: {value!r}; fix the value, or leave it empty "
                "if missing"
            )

    # ------------------------------------------------------------------------------ JSON Lines

    def _json_columns(self, table: pa.Table, chunk: _Chunk) -> None:
        """Add the block's new keys to the columns (a missing key is null)."""
        if not self._names:  # the first block's keys, then those an earlier pass found later
            self._first_file = chunk.file.name
            hinted = [n for n in self._hints if n not in table.column_names]
            self._names = list(table.column_names) + hinted
        for name in table.column_names:
            if name in self._names:
                continue
            if self.rows:
                raise SchemaWidened(
                    {**self._types, name: table.column(name).type},
                    f"{chunk.file.name}: key {name!r} first appears at byte {chunk.offset}; "
                    "reading again",
                )
            self._names.append(name)

    def _json_error(self, chunk: _Chunk, error: Exception | None) -> None:
        """Find the first line that is not a JSON object, or whose value changes type."""
        f = chunk.file
        data = bytes(chunk.data)
        _check_utf8(chunk, data)
        kinds = {n: _kind(t) for n, t in self._types.items()}
        for i, line in enumerate(data.decode("utf-8").removeprefix("\ufeff").split("\n")):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(
                    f"{f.name}: line {self._line(chunk, i + 1)}: not valid JSON: {e.msg} "
                    f"(column {e.colno})"
                ) from error
            if not isinstance(obj, dict):
                raise DataError(
                    f"{f.name}: line {self._line(chunk, i + 1)}: expected a JSON object, "
                    f"found {type(obj).__name__}"
                ) from error
            for key, value in obj.items():
                kind = _json_kind(value)
                if kind is None:
                    continue
                have = kinds.setdefault(key, kind)
                if have != kind:
                    raise DataError(
                        f"{f.name}: column {key!r} changes type at line "
                        f"{self._line(chunk, i + 1)}: {value!r} is not {have} like the lines "
                        "before it"
                    ) from error
        if error is not None:
            raise DataError(
                f"{f.name}: unreadable JSON near line {self._line(chunk, 1)}: {error}"
            ) from error

    # --------------------------------------------------------------------------------- Parquet

    def _parquet(self) -> Iterator[pa.Table]:
        files = self.resolved.files
        stop = threading.Event()
        failure: list[BaseException] = []
        hasher = threading.Thread(
            target=self._hash_files, args=(stop, failure), name="mlrail-hash", daemon=True
        )
        try:
            schema = self._parquet_schema()
            if not isinstance(self._sha, _NoFingerprint):
                hasher.start()
            for f in files:
                pf = _open_parquet(f)
                try:
                    for batch in pf.iter_batches(batch_size=_PARQUET_BATCH_ROWS):
                        table = pa.Table.from_batches([batch]).select(schema.names)
                        if table.schema != schema:
                            table = table.cast(schema, safe=False)  # int to float: widened
                        if table.num_rows:
                            yield self._emit(table)
                except (OSError, pa.ArrowException) as e:
                    raise DataError(f"{f.name}: not a readable Parquet file: {e}") from e
            if self.schema is None:
                self.schema = schema
            if hasher.is_alive():
                hasher.join()
            if failure:
                raise failure[0]
        finally:
            stop.set()
            if hasher.is_alive():
                hasher.join()

    def _parquet_schema(self) -> pa.Schema:
        """One schema for every file, from their footers, before any row is read."""
        types: dict[str, pa.DataType] = {}
        for f in self.resolved.files:
            schema = _open_parquet(f).schema_arrow
            names = schema.names
            _check_names(f.name, names)
            if not self._names:
                self._names, self._first_file = list(names), f.name
            elif set(names) != set(self._names):
                _same_columns(f.name, names, self._first_file, self._names)
            for name in names:
                t = self._hints.get(name) or schema.field(name).type
                if pa.types.is_dictionary(t):  # e.g. pandas categoricals: their values count
                    t = t.value_type
                if pa.types.is_string_view(t):  # one text type for the steps after
                    t = pa.string()
                merged = _merge(types.get(name), t)
                if merged is None:
                    raise DataError(
                        f"{f.name}: column {name!r} is {t}, but {types[name]} in the files "
                        "before it"
                    )
                types[name] = merged
        return pa.schema([(n, types[n]) for n in self._names])

    def _hash_files(self, stop: threading.Event, failure: list[BaseException]) -> None:
        for f in self.resolved.files:
            self._sha.update(f"{f.relpath}\0{f.size}\0".encode())
            try:
                with f.filesystem.open_input_stream(f.path) as stream:
                    while not stop.is_set() and (data := stream.read(self._block_size)):
                        self._sha.update(data)
            except (OSError, pa.ArrowException) as e:
                failure.append(DataError(f"{f.name}: cannot read (for its fingerprint): {e}"))
                return

    # ---------------------------------------------------------------------------- line finding

    def _line(self, chunk: _Chunk, line_in_chunk: int) -> int:
        """The file's line number of line ``line_in_chunk`` (1-based) of ``chunk``."""
        return _lines_before(chunk.file, chunk.offset) + line_in_chunk

    def _record_line(self, chunk: _Chunk, row: int) -> int | str:
        """The line where data row ``row`` (0-based) of a CSV chunk starts."""
        text = bytes(chunk.data).decode("utf-8", errors="replace").removeprefix("\ufeff")
        records = _records(text)
        if chunk.first:
            next(records, None)  # the header
        for n, (line, _, _) in enumerate(records):
            if n == row:
                return self._line(chunk, line)
        return f"? (data row {row + 1} of the block at byte {chunk.offset})"


def _parse_chunk(
    chunk: _Chunk, fmt: str, types: dict[str, pa.DataType], alone: bool = False
) -> pa.Table:
    """Parse one chunk on the calling thread (a pool runs several at a time).

    One pyarrow call reads the whole chunk as a single block: pyarrow then never looks for line
    ends itself, so a quoted field may hold line ends without its slower quote-aware splitter.
    A CSV chunk parsed ``alone`` (the first, whose types the others wait for) is split by
    pyarrow over its threads instead, quote-aware.
    """
    data = pa.BufferReader(pa.py_buffer(chunk.data))
    block = len(chunk.data) + 1
    if fmt == "csv":
        read = pacsv.ReadOptions(use_threads=alone, column_names=chunk.names)
        if not alone:
            read.block_size = block
        return pacsv.read_csv(
            data,
            read_options=read,
            parse_options=pacsv.ParseOptions(newlines_in_values=alone),
            # NULL_VALUES mean missing in a text column too, as in a number column
            convert_options=pacsv.ConvertOptions(
                column_types=types, null_values=list(NULL_VALUES), strings_can_be_null=True
            ),
        )
    # one block, always: pyarrow refuses a line longer than its block
    read = pajson.ReadOptions(use_threads=False, block_size=block)
    table = pajson.read_json(data, read_options=read)
    # a key an earlier pass found to be text, which pyarrow took for timestamps in this block:
    # read again as the text it is, the keys in their order (rare: it costs a second parse)
    retyped = [
        (n, t)
        for n, t in types.items()
        if _is_text(t) and n in table.column_names and is_datetime(table.schema.field(n).type)
    ]
    if retyped:
        parse = pajson.ParseOptions(
            explicit_schema=pa.schema(retyped), unexpected_field_behavior="infer"
        )
        order = table.column_names
        data = pa.BufferReader(pa.py_buffer(chunk.data))
        table = pajson.read_json(data, read_options=read, parse_options=parse).select(order)
    return table


# ------------------------------------------------------------------------------------ helpers


def _cut_csv(buf: bytearray, end: int, quotes: int, count: Any) -> int:
    """Where to cut ``buf[:end]``: after its last line end outside a quoted field (RFC 4180).

    A line end is inside quotes when an odd number of quotes comes before it in the block (a
    block always starts outside quotes; an escaped quote is two).

    Args:
        buf: The block.
        end: Where its bytes end.
        quotes: How many quotes ``buf[:end]`` holds.
        count: ``count(buf, start, stop)``, the quotes in ``buf[start:stop]``.

    Returns:
        The cut; 0 when no line end is outside quotes.
    """
    p = buf.rfind(b"\n", 0, end)
    if p < 0:
        return 0
    quotes -= count(buf, p, end)  # those before p
    while quotes % 2:  # p is inside a quoted field: try the line end before it
        q = buf.rfind(b"\n", 0, p)
        if q < 0:
            return 0
        quotes -= count(buf, q, p)
        p = q
    return p + 1


def _header_end(data: Any) -> int:
    """Where the first CSV record of ``data`` ends: after its first line end outside quotes.

    Blank lines before it are skipped, as pyarrow skips them.
    """
    for limit in (1 << 16, len(data)):  # a header is short: look at its first 64 KiB first
        view = bytes(data[:limit])
        start = len(view) - len(view.removeprefix(b"\xef\xbb\xbf").lstrip(b"\r\n"))
        while (p := view.find(b"\n", start)) >= 0:
            if view.count(b'"', 0, p) % 2 == 0:
                return p + 1
            start = p + 1
        if limit >= len(data):
            break
    return len(data)


def _records(text: str) -> Iterator[tuple[int, list[str], str]]:
    """CSV records of ``text`` as (line where each starts, fields, raw text); blank lines skipped.

    The slow path's reader (Python's csv module), used to find the line of a bad record.
    """
    raw: list[str] = []
    # the csv module refuses fields over 128 KiB by default; pyarrow reads them, so must this.
    # (A process-wide setting, only ever raised.)
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))

    def lines() -> Iterator[str]:
        start = 0
        while start < len(text):
            end = text.find("\n", start)
            end = len(text) if end < 0 else end + 1
            raw.append(text[start:end])
            yield text[start:end]
            start = end

    line = 1
    for fields in csv.reader(lines(), strict=False):
        count, record = len(raw), "".join(raw).rstrip("\r\n")
        raw.clear()
        if fields:
            yield line, fields, record
        line += count


def _check_names(name: str, names: list[str]) -> None:
    """Refuse a header naming one column twice (any other name, "" included, is a name)."""
    if len(set(names)) == len(names):
        return
    first: dict[str, int] = {}
    for i, n in enumerate(names):
        if n in first:
            raise DataError(
                f"{name}: duplicate column name {n!r} in the header "
                f"(columns {first[n] + 1} and {i + 1}); rename one of them"
            )
        first[n] = i


def _same_columns(name: str, names: list[str], first: str, expected: list[str]) -> None:
    missing = [n for n in expected if n not in names]
    new = [n for n in names if n not in expected]
    if missing or new:
        parts = ([f"missing {', '.join(map(repr, missing))}"] if missing else []) + (
            [f"new {', '.join(map(repr, new))}"] if new else []
        )
        raise DataError(f"{name}: columns differ from {first}: {'; '.join(parts)}")


def _check_utf8(chunk: _Chunk, data: bytes) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        offset = chunk.offset + e.start
        line = _lines_before(chunk.file, chunk.offset) + data.count(b"\n", 0, e.start) + 1
        raise DataError(
            f"{chunk.file.name}: not UTF-8 text: byte 0x{data[e.start]:02x} "
            f"at offset {offset} (line {line})"
        ) from e


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _is_number(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


_UNITS = ("s", "ms", "us", "ns")


def _merge(have: pa.DataType | None, new: pa.DataType) -> pa.DataType | None:
    """The type holding both ``have`` and ``new`` (see the module doc), or None."""
    if have is None or pa.types.is_null(have):
        return new
    if pa.types.is_null(new) or new == have:
        return have
    if _is_number(have) and _is_number(new):
        if pa.types.is_integer(have) and pa.types.is_integer(new):
            unsigned = [pa.types.is_unsigned_integer(t) for t in (have, new)]
            if all(unsigned):
                return pa.uint64()
            if not any(unsigned) or pa.uint64() not in (have, new):
                return pa.int64()
        return pa.float64()  # also uint64 with a signed integer: no integer type holds both
    if _is_text(have) and _is_text(new):
        return have
    if (is_datetime(have) and _is_text(new)) or (_is_text(have) and is_datetime(new)):
        # ISO strings read as dates in one block, with other text in another: the column is
        # text (a CSV column of 90% dates or more is then refused, naming the other value)
        return new if _is_text(new) else have
    dated = (pa.types.is_date(have) or pa.types.is_timestamp(have)) and (
        pa.types.is_date(new) or pa.types.is_timestamp(new)
    )
    if dated:
        if pa.types.is_date(have) and pa.types.is_date(new):
            return pa.date64() if pa.date64() in (have, new) else have
        stamps = [t for t in (have, new) if pa.types.is_timestamp(t)]
        unit = max((t.unit for t in stamps), key=_UNITS.index)
        zones = {t.tz for t in stamps} | ({None} if len(stamps) == 1 else set())
        # a stored timestamp is UTC whatever its zone says: only the label changes
        return pa.timestamp(unit, zones.pop() if len(zones) == 1 else "UTC")
    return None


def _kind(t: pa.DataType | None) -> str:
    if t is None or pa.types.is_null(t):
        return "empty"
    if _is_number(t):
        return "a number"
    if pa.types.is_boolean(t):
        return "a boolean"
    if _is_text(t):
        return "text"
    if pa.types.is_temporal(t):
        return f"a date/time ({t})"
    return str(t)


def _json_kind(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "a list" if isinstance(value, list) else "an object"


def _first_not(column: pa.ChunkedArray, t: pa.DataType | None) -> tuple[int, Any]:
    """The first row of ``column`` (read as text or inferred) that does not convert to ``t``."""
    values = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if t is None:
        return -1, None
    text = values.cast(pa.string()) if not _is_text(values.type) else values

    def converts(n: int) -> bool:
        try:
            text.slice(0, n).cast(t)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False
        return True

    if converts(len(text)):
        return -1, None
    lo, hi = 0, len(text)  # text[:lo] converts, text[:hi] does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if converts(mid) else (lo, mid)
    return hi - 1, text[hi - 1].as_py()


def _open_parquet(f: SourceFile) -> Any:
    if f.size == 0:
        raise DataError(f"{f.name}: the file is empty (0 bytes)")
    try:
        # no pre-buffering: it reads a whole row group (1M rows by pyarrow default) up front,
        # which measured 1.9x the peak memory on 5M rows than on 1M
        return pq.ParquetFile(f.filesystem.open_input_file(f.path), pre_buffer=False)
    except FileNotFoundError as e:
        raise DataError(f"{f.name}: no such file") from e
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{f.name}: not a readable Parquet file: {e}") from e


def _lines_before(f: SourceFile, offset: int) -> int:
    """How many line ends come before byte ``offset`` of ``f`` (slow path: reads it again)."""
    count = 0
    with f.filesystem.open_input_stream(f.path) as stream:
        left = offset
        while left > 0 and (data := stream.read(min(left, BLOCK_SIZE))):
            count += data.count(b"\n")
            left -= len(data)
    return count


def _read_range(f: SourceFile, offset: int, length: int) -> bytes:
    with f.filesystem.open_input_file(f.path) as stream:
        return bytes(stream.read_at(length, offset))
