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

The package, by module (the names above are all imported from ``mlrail.sources``; the modules
are its parts, not an API of their own):

- :mod:`~mlrail.sources.resolver`: a source to its files (folders, globs, URIs, bundled data);
  :mod:`~mlrail.sources.spans` fills span patterns.
- :mod:`~mlrail.sources.reading`: :func:`read_blocks`, :func:`stream`, :func:`read_table`,
  :func:`columns`.
- :mod:`~mlrail.sources.blocks`: :class:`Blocks`, the stream, which runs the others:
  :mod:`~mlrail.sources.chunks` (bytes read, cut at record ends and hashed),
  :mod:`~mlrail.sources.parse` (a block parsed, and why not), :mod:`~mlrail.sources.csvtext`
  (CSV records found in text), :mod:`~mlrail.sources.schema` (names checked, types widened) and
  :mod:`~mlrail.sources.inference` (numbers or dates with a stray word).
"""

from mlrail.sources.blocks import Blocks, worker_count
from mlrail.sources.chunks import BLOCK_SIZE
from mlrail.sources.parse import NULL_VALUES
from mlrail.sources.reading import columns, read_blocks, read_table, stream
from mlrail.sources.resolver import BUNDLED, Resolved, SourceFile, resolve, resolve_source
from mlrail.sources.schema import SchemaWidened
from mlrail.sources.spans import resolve_span

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
