"""The stream: a resolved source's tables, one per block, every one with the same schema.

:class:`Blocks` runs the pieces the sibling modules hold: the reader thread
(:mod:`~mlrail.sources.chunks`), the parsing pool (:mod:`~mlrail.sources.parse`), the columns'
names and types settled on first sight and widened after (:mod:`~mlrail.sources.schema`), and
the CSV rule for numbers or dates with a stray word (:mod:`~mlrail.sources.inference`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
from collections import deque
from collections.abc import Generator, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from mlrail.errors import DataError
from mlrail.sources.chunks import (
    BLOCK_SIZE,
    QUEUE_DEPTH,
    STOP,
    Chunk,
    ChunkReader,
    Hash,
    check_utf8,
    hash_files,
    open_parquet,
)
from mlrail.sources.csvtext import header_end
from mlrail.sources.inference import MixedColumns
from mlrail.sources.parse import parse_chunk, parse_error, type_change
from mlrail.sources.resolver import Resolved, SourceFile, redacted
from mlrail.sources.schema import (
    SchemaWidened,
    check_names,
    merge,
    read_type,
    same_columns,
)

__all__ = ["Blocks", "worker_count"]

_PARQUET_BATCH_ROWS = 128 * 1024


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
    """The tables of a resolved source, one per block; see :func:`~mlrail.sources.read_blocks`.

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
        self._mixed = MixedColumns()
        self._sha: Hash = hashlib.sha256() if fingerprint else _NoFingerprint()
        self._done = False
        self._gen: Generator[pa.Table, None, None] = self._run()

    def __next__(self) -> pa.Table:
        try:
            return next(self._gen)
        except DataError as e:  # a message may hold the source as given, credentials and all
            raise redacted(e) from e.__cause__

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
        self._mixed.check(self.resolved)
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

    def _header(self, f: SourceFile, names: list[str]) -> None:
        """Take a file's columns: no name twice, and the first file's columns in any order."""
        check_names(f.name, names)
        if not self._names:
            self._names, self._first_file = list(names), f.name
        else:
            same_columns(f.name, names, self._first_file, self._names)

    # ----------------------------------------------------------------------------- text formats

    def _text(self, fmt: str) -> Iterator[pa.Table]:
        """Read blocks on one thread, parse them on a pool, settle and hand them out in order.

        The first block with rows is parsed alone (over pyarrow's threads): it decides the column
        types the others are parsed with. Each later block is parsed by one pyarrow call on one
        thread, several blocks at a time, so pyarrow never splits a block itself and a quoted
        field may hold line ends.
        """
        chunks: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_DEPTH)
        stop = threading.Event()
        workers = self._workers
        chunker = ChunkReader(
            self.resolved.files, fmt == "csv", self._sha, self._block_size, workers
        )
        reader = threading.Thread(
            target=chunker.produce, args=(chunks, stop), name="mlrail-read", daemon=True
        )
        pool = self._executor or ThreadPoolExecutor(workers, thread_name_prefix="mlrail-parse")
        pending: deque[tuple[Chunk, Future[pa.Table], dict[str, pa.DataType] | None]] = deque()
        reader.start()
        try:
            more = True
            while True:
                while more and len(pending) <= workers and (self.rows or not pending):
                    chunk = chunks.get()
                    if chunk is STOP:
                        more = False
                        break
                    if isinstance(chunk, BaseException):
                        raise chunk
                    if fmt == "csv":
                        self._start_csv_chunk(chunk)
                    alone = not self.rows and not pending
                    types = dict(self._types)
                    job = pool.submit(parse_chunk, chunk, fmt, types, alone)
                    pending.append((chunk, job, types if alone else None))
                if not pending:
                    break
                chunk, future, retry = pending.popleft()
                try:
                    table = future.result()
                except (pa.ArrowException, UnicodeDecodeError) as e:
                    table = parse_error(chunk, fmt, e, self._types, retry)
                table = self._conform(table, chunk, fmt)
                if fmt == "csv":
                    self._mixed.track(table, chunk)
                chunker.release(chunk)
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

    def _start_csv_chunk(self, chunk: Chunk) -> None:
        """Give ``chunk`` its file's header; at a file's first chunk, read and check the header."""
        if not chunk.first:
            chunk.names = self._file_names
            return
        f = chunk.file
        head = bytes(chunk.data[: header_end(chunk.data)])
        if not head.removeprefix(b"\xef\xbb\xbf").strip():
            raise DataError(f"{f.name}: the file is empty ({f.size} bytes of blank lines)")
        try:
            names = pacsv.read_csv(
                pa.BufferReader(head), read_options=pacsv.ReadOptions(use_threads=False)
            ).column_names
        except UnicodeDecodeError:
            check_utf8(chunk, head)
            raise
        except pa.ArrowInvalid as e:
            raise DataError(f"{f.name}: line 1: unreadable header: {e}") from e
        self._header(f, names)
        self._file_names = list(names)

    def _conform(self, table: pa.Table, chunk: Chunk, fmt: str) -> pa.Table:
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
                check_utf8(chunk, bytes(chunk.data))  # pyarrow reads bad UTF-8 as binary
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
            merged = merge(have, t)
            if merged is None:
                type_change(chunk, fmt, name, have, self._types, self._file_names)
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

    def _json_columns(self, table: pa.Table, chunk: Chunk) -> None:
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

    # --------------------------------------------------------------------------------- Parquet

    def _parquet(self) -> Iterator[pa.Table]:
        files = self.resolved.files
        stop = threading.Event()
        failure: list[BaseException] = []
        hasher = threading.Thread(
            target=hash_files,
            args=(files, self._sha, self._block_size, stop, failure),
            name="mlrail-hash",
            daemon=True,
        )
        try:
            schema = self._parquet_schema()
            if not isinstance(self._sha, _NoFingerprint):
                hasher.start()
            for f in files:
                pf = open_parquet(f)
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
            schema = open_parquet(f).schema_arrow
            names = schema.names
            self._header(f, names)
            for name in names:
                t = read_type(self._hints.get(name) or schema.field(name).type)
                merged = merge(types.get(name), t)
                if merged is None:
                    raise DataError(
                        f"{f.name}: column {name!r} is {t}, but {types[name]} in the files "
                        "before it"
                    )
                types[name] = merged
        return pa.schema([(n, types[n]) for n in self._names])
