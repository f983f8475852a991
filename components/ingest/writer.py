"""Writing the splits: blocks hashed and split on a thread pool, appended to Parquet in order."""

from __future__ import annotations

import base64
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from mlrail.artifacts.examples import EVAL, TEST, TRAIN, part_name
from mlrail.components.ingest.split_hash import row_buckets

__all__ = ["ROW_GROUP_ROWS", "SplitWriter", "encode_text"]

#: Rows gathered per split before a row group is written: fewer, larger row groups.
ROW_GROUP_ROWS = 64 * 1024


class SplitWriter:
    """Hashes and splits tables on a thread pool; appends the parts to the split files in order.

    Splitting a block overlaps with parsing the next ones and with writing the one before.
    """

    def __init__(
        self,
        folder: Path,
        splits: list[str],
        eval_ratio: float,
        test_ratio: float,
        pool: ThreadPoolExecutor,
    ):
        self._folder = folder
        self._splits = splits
        # bucket < eval_ratio: eval; < eval + test: test; the rest: train
        self._bounds = (eval_ratio, eval_ratio + test_ratio)
        self._pool = pool
        self._queue: queue.Queue[Future[dict[str, pa.Table]] | None] = queue.Queue(3)
        self._writers: dict[str, Any] = {}
        self._pending: dict[str, list[pa.Table]] = {s: [] for s in splits}
        self._rows = dict.fromkeys(splits, 0)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="mlrail-write", daemon=True)
        self._thread.start()

    def put(self, table: pa.Table, columns: list[str]) -> None:
        """Queue ``table`` to be split by the hash of ``columns`` (blocks while a few are in
        flight)."""
        self._raise()
        self._queue.put(self._pool.submit(self._split, table, columns))

    def finish(self, schema: pa.Schema) -> dict[str, int]:
        """Write what is left and close the files (an empty split gets the schema, no rows)."""
        self._queue.put(None)
        self._thread.join()
        self._raise()
        encoded = encode_text(schema.empty_table()).schema
        # the last row groups of the splits, side by side: the tail of the run
        for done in [self._pool.submit(self._flush, s, encoded, True) for s in self._splits]:
            done.result()
        return self._rows

    def abort(self) -> None:
        """Stop the writing thread and close the files; safe after :meth:`finish`."""
        if self._thread.is_alive():
            self._error = self._error or RuntimeError("aborted")
            self._queue.put(None)
            self._thread.join()
        for w in self._writers.values():
            w.close()
        self._writers.clear()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _split(self, table: pa.Table, columns: list[str]) -> dict[str, pa.Table]:
        # text as dictionaries once: the hash, the filter and the Parquet writer all use them
        # (measured: the write a fifth faster than when it builds its own dictionaries)
        table = encode_text(table)
        bucket = row_buckets(table, columns)
        below = [bucket < bound for bound in self._bounds]
        masks = {EVAL: below[0], TEST: below[1] & ~below[0], TRAIN: ~below[1]}
        return {s: table.filter(pa.array(masks[s])) for s in self._splits}

    def _work(self) -> None:
        while (future := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain: the main thread stops at its next put
            try:
                for split, part in future.result().items():
                    if part.num_rows:
                        self._pending[split].append(part)
                        self._flush(split, part.schema)
            except BaseException as e:
                self._error = e

    def _flush(self, split: str, schema: pa.Schema, final: bool = False) -> None:
        pending = self._pending[split]
        rows = sum(t.num_rows for t in pending)
        if rows < ROW_GROUP_ROWS and not final:
            return
        writer = self._writers.get(split)
        if writer is None:
            (self._folder / split).mkdir()
            writer = _writer(self._folder / split / part_name(0), schema)
            self._writers[split] = writer
        if rows:
            # one dictionary per text column and row group, as Parquet stores it
            part = pa.concat_tables(pending).unify_dictionaries()
            writer.write_table(part, row_group_size=rows)
            self._rows[split] += rows
        pending.clear()
        if final:
            writer.close()
            del self._writers[split]


def encode_text(table: pa.Table) -> pa.Table:
    """``table`` with its text columns dictionary-encoded."""
    for i, f in enumerate(table.schema):
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
            table = table.set_column(i, f.name, table.column(i).dictionary_encode())
    return table


def _writer(path: Path, schema: pa.Schema) -> Any:
    """A Parquet writer for tables whose text columns are dictionaries (see ``_encode_text``).

    The Arrow schema stored in the file (``ARROW:schema``, which pyarrow reads back) is the one
    with plain text columns: readers get ``string`` as from any Parquet file, while the writer
    takes the dictionaries as they are instead of building its own.
    """
    plain = pa.schema(
        [
            pa.field(f.name, f.type.value_type, f.nullable, f.metadata)
            if pa.types.is_dictionary(f.type)
            else f
            for f in schema
        ]
    )
    writer = pq.ParquetWriter(
        path,
        schema,
        store_schema=False,  # the plain one is stored below
        use_dictionary=[f.name for f in schema if pa.types.is_dictionary(f.type)],
        write_statistics=False,  # measured: a fifth of the write; validate computes its own
    )
    # (a schema's own metadata is dropped with store_schema=False: added to the footer instead,
    # so types Parquet cannot name, e.g. durations and zones, read back as they were written)
    stored = base64.b64encode(plain.serialize().to_pybytes())
    writer.add_key_value_metadata({"ARROW:schema": stored.decode()})
    return writer
