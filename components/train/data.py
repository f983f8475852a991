"""Training input from a split's Parquet files: held in memory when it fits, else streamed.

A split (:func:`mlrail.artifacts.examples.open_split`) is read one row group at a time in record
batches of at most ``read_rows`` rows (:func:`batches`) and decoded column by column
(:mod:`.blocks`: text as int32 codes into small vocabularies), so nothing runs once per row in
Python or in ``tf.data``. A split that takes at most :data:`CACHE_BYTES` decoded is read once
and kept; each epoch only a permutation of its rows crosses from Python, and ``tf.data``
gathers the batches in graph. A larger one is streamed through a window of bounded size: each
window crosses once, with the seeded order its rows are passed on in, and ``tf.data`` gathers
them in graph and cuts them into batches. Data order
depends only on the seed: the permutations are seeded, and a streamed split's row groups are
visited in a seeded order each epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlrail.artifacts.examples import Split, stream
from mlrail.artifacts.modelspec import CLASSIFICATION, ModelSpec, class_key
from mlrail.components.train.blocks import Block, concat, decode, windows
from mlrail.components.train.shards import Chunk, Shard, plan_shard
from mlrail.datetimes import is_datetime
from mlrail.errors import DataError

__all__ = [
    "BLOCK_ROWS",
    "CACHE_BYTES",
    "READ_ROWS",
    "SHUFFLE_ROWS",
    "Batch",
    "LabelSummary",
    "batches",
    "check_columns",
    "dataset",
    "summarize_column",
    "summarize_labels",
]

#: Rows per record batch read from Parquet: half a window, as decoding costs per batch about
#: as much again as per row at 8192 rows (1M rows streamed: 0.40 s a pass read at 8192, 0.18 s
#: at 131,072).
READ_ROWS = 65_536
#: Rows of the shuffle window when the split is streamed (a window holds up to this plus
#: :data:`READ_ROWS` rows, about 80 MB for 100 float columns):
#: two of ingest's row groups, so rows of different row groups meet in a batch.
SHUFFLE_ROWS = 131_072
#: About this many rows (a multiple of the batch size) are gathered at once from a held split,
#: and a streamed window passes on a multiple of it.
BLOCK_ROWS = 8192
#: A split that takes at most this many bytes decoded (:func:`_row_bytes`: 76 a row for 10
#: numbers and 6 text columns, so up to 7M rows) is read once and kept in memory.
CACHE_BYTES = 512 * 2**20


@dataclass
class LabelSummary:
    """One pass over a split's label column: what the task and the classes are decided from.

    ``counts`` maps each class (as
    :func:`~mlrail.artifacts.modelspec.class_key` writes it) to its rows;
    for numbers it becomes ``None`` once the label is seen to be continuous (a fractional or
    infinite value, or more than ``max_classes`` distinct values), so a regression label costs
    no memory.
    """

    type: pa.DataType
    numeric: bool
    max_classes: int
    counts: dict[str, int] | None
    labelled: int = 0
    rows: int = 0

    @classmethod
    def empty(cls, type: pa.DataType, max_classes: int) -> LabelSummary:
        """A summary of no rows of a label of ``type``.

        Raises:
            DataError: when ``type`` is neither numbers, booleans nor strings (no file named:
                the caller names it).
        """
        if pa.types.is_dictionary(type):  # dictionary-encoded: its values are the labels
            type = type.value_type
        numeric = (
            pa.types.is_integer(type)
            or pa.types.is_floating(type)
            or pa.types.is_decimal(type)
            or pa.types.is_null(type)
        )
        text = pa.types.is_string(type) or pa.types.is_large_string(type)
        if not (numeric or text or pa.types.is_boolean(type)):
            raise DataError(f"type {type}: a label must be numbers, booleans or strings")
        counts: dict[str, int] | None = None if numeric and max_classes <= 0 else {}
        return cls(type=type, numeric=numeric, max_classes=max_classes, counts=counts)


def summarize_column(s: LabelSummary, col: pa.Array | pa.ChunkedArray) -> None:
    """Add one batch of label values to ``s``."""
    s.rows += len(col)
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if s.numeric:
        values = col.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        present = values[~np.isnan(values)]  # nulls come through as NaN
        s.labelled += len(present)
        if s.counts is None:
            return
        if not np.all(np.isfinite(present) & (present == np.round(present))):
            s.counts = None
            return
        uniq, n = np.unique(present, return_counts=True)
        for v, c in zip(uniq.tolist(), n.tolist(), strict=True):
            key = class_key(float(v))
            s.counts[key] = s.counts.get(key, 0) + int(c)
        if len(s.counts) > s.max_classes:
            s.counts = None
        return
    present_col = col.drop_null()
    s.labelled += len(present_col)
    assert s.counts is not None
    for d in pc.value_counts(present_col).to_pylist():
        key = class_key(d["values"])
        s.counts[key] = s.counts.get(key, 0) + int(d["counts"])


def summarize_labels(
    split: Split, label: str, max_classes: int, read_rows: int = READ_ROWS
) -> LabelSummary:
    """Read ``label`` alone, in batches, and count its classes (see :class:`LabelSummary`).

    Raises:
        DataError: naming the split when the label column is absent or of another type than
            numbers, booleans or strings.
    """
    file_schema = pq.ParquetFile(split.files[0]).schema_arrow
    if label not in file_schema.names:
        raise DataError(
            f"{split.path}: label column {label!r} is not in the data "
            f"(columns: {', '.join(file_schema.names)})"
        )
    try:
        s = LabelSummary.empty(file_schema.field(label).type, max_classes)
    except DataError as e:
        raise DataError(f"{split.path}: label column {label!r}: {e}") from e
    for _, rb in stream(split, batch_size=read_rows, columns=[label], chunks=split.chunks()):
        summarize_column(s, rb.column(0))
    return s


def _numeric_type(t: pa.DataType) -> bool:
    """What :meth:`ModelSpec.features` reads as float32 (a dictionary by its values)."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    return (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_decimal(t)
        or pa.types.is_null(t)
    )


def check_columns(split: Split, spec: ModelSpec) -> list[str]:
    """Problems, each naming the file and column, with the inputs and label in every file.

    Read from the footers before training starts, so that a bad part fails the step with its
    name instead of deep inside a ``tf.data`` pipeline.
    """
    problems = []
    for file in split.files:
        schema = pq.ParquetFile(file).schema_arrow
        for i in spec.inputs:
            if i.column not in schema.names:
                problems.append(f"{file}: column {i.column!r} (a model input) is missing")
            elif i.dtype == "float32" and not _numeric_type(schema.field(i.column).type):
                problems.append(
                    f"{file}: column {i.column!r} should be numeric, "
                    f"found {schema.field(i.column).type}"
                )
            elif i.dtype == "datetime" and not (
                is_datetime(schema.field(i.column).type)
                or pa.types.is_null(schema.field(i.column).type)
            ):
                problems.append(
                    f"{file}: column {i.column!r} should be dates or timestamps, "
                    f"found {schema.field(i.column).type}"
                )
        if spec.label not in schema.names:
            problems.append(f"{file}: label column {spec.label!r} is missing")
    return problems


@dataclass(frozen=True)
class Batch:
    """Model inputs (``[n, 1]`` arrays), targets and per-row weights of labelled rows."""

    features: dict[str, np.ndarray]
    labels: np.ndarray
    weights: np.ndarray


def _blocks(
    split: Split,
    spec: ModelSpec,
    *,
    class_weights: np.ndarray | None,
    read_rows: int,
    order: list[tuple[int, int]] | None = None,
) -> Iterator[Block]:
    """The labelled rows of the ``order`` chunks (all by default) as blocks of at most
    ``read_rows`` rows; text read dictionary-encoded, as Parquet stores it."""
    columns = [i.column for i in spec.inputs] + [spec.label]
    chunks = split.chunks() if order is None else order
    dictionaries: dict[str, Any] = {}
    for file, rb in stream(
        split, batch_size=read_rows, columns=columns, chunks=chunks, dictionary=True
    ):
        b = decode(pa.Table.from_batches([rb]), spec, str(file), class_weights, dictionaries)
        if b is not None:
            yield b


def batches(
    split: Split,
    spec: ModelSpec,
    *,
    class_weights: np.ndarray | None = None,
    read_rows: int = READ_ROWS,
    order: list[tuple[int, int]] | None = None,
) -> Iterator[Batch]:
    """The split's labelled rows as :class:`Batch` es of at most ``read_rows`` rows.

    Rows without a label are skipped. ``class_weights[c]`` is the weight of a row of class
    ``c`` (1 for every row when ``None``). ``order`` lists the ``(file, row group)`` chunks to
    read (all, in file order, by default). Features are what
    :meth:`~mlrail.artifacts.modelspec.ModelSpec.features` gives (text as Python strings).
    """
    for b in _blocks(split, spec, class_weights=class_weights, read_rows=read_rows, order=order):
        features = {**b.numbers, **b.strings()}
        yield Batch({i.name: features[i.name] for i in spec.inputs}, b.labels, b.weights)


def _pieces(
    split: Split,
    spec: ModelSpec,
    pieces: list[tuple[Chunk, int, int]],
    *,
    class_weights: np.ndarray | None,
    read_rows: int,
) -> Iterator[Block]:
    """The labelled rows ``start`` to ``stop`` of each ``(chunk, start, stop)`` (a
    :class:`~.shards.Shard`'s pieces), in that order, read chunk by chunk."""
    for chunk, start, stop in pieces:
        at = 0
        for b in _blocks(
            split, spec, class_weights=class_weights, read_rows=read_rows, order=[chunk]
        ):
            lo, hi = max(start - at, 0), min(stop - at, len(b))
            at += len(b)
            if lo < hi:
                yield b if (lo, hi) == (0, len(b)) else b.take(slice(lo, hi))
            if at >= stop:
                break


def dataset(
    split: Split,
    spec: ModelSpec,
    *,
    rows: int,
    batch_size: int,
    seed: int,
    shuffle: bool,
    class_weights: np.ndarray | None = None,
    read_rows: int = READ_ROWS,
    shuffle_rows: int | None = None,
    cache_rows: int | None = None,
    shard: tuple[int, int] | None = None,
) -> Any:
    """A ``tf.data.Dataset`` of ``(features, labels, weights)`` batches of ``batch_size`` rows.

    ``features`` maps each input name to a ``[batch, 1]`` float32, string or (dates) float64
    tensor; ``labels`` is ``[batch]`` int64 (class index) or float32 (regression); ``weights``
    is ``[batch]`` float32.

    A split of at most ``cache_rows`` rows (``None``: as many as fit in :data:`CACHE_BYTES`,
    read when called) is read once and held in memory, text as codes; each epoch its rows
    are permuted whole (with ``shuffle``) and the batches gathered from tensors in graph. A
    larger split is streamed: rows decoded column by column (:mod:`.blocks`), row groups
    visited in a seeded order each epoch (with ``shuffle``) and rows permuted through a window
    of ``shuffle_rows`` rows (``None``: :data:`SHUFFLE_ROWS`; :func:`.blocks.windows`): each
    window crosses to ``tf.data`` once, as a matrix per dtype (text as int32 codes into the
    window's small vocabularies) with the order its passed-on rows go in (about half a
    window, whole batches but at the end), and is gathered in graph and cut into batches by
    ``rebatch``. The order depends only on ``seed``.

    ``rows`` is the number of labelled rows (:func:`summarize_labels`): the dataset declares
    its length from it, as Keras needs to end an epoch without a warning, and a pass that
    yields another number of batches fails.

    ``shard`` = ``(index, count)`` makes this worker ``index`` of ``count`` data-parallel
    workers (``None`` or a count of 1: the whole split). The worker reads only its own part,
    :func:`.shards.plan_shard`'s: the ``index``-th of ``count`` runs of the split's labelled
    rows (in the order of :meth:`~mlrail.artifacts.examples.Split.chunks`, the split's fixed
    list) whose lengths differ by at most one row, reading only the row groups its run
    touches; a row group a run boundary falls in is read by both workers it is cut between
    (at most two such row groups per worker), each keeping its own rows of it. The part is
    held in memory when it has at most ``cache_rows`` labelled rows (the part's rows, not the
    split's), else streamed as above; both paths share the assignment. The workers thus read
    disjoint parts that together cover the split. Every worker yields the same number of
    batches per epoch, ``ceil(rows / (count * batch_size))`` (``rows`` is still the whole
    split's), as the all-reduce of synchronous training needs; that is never fewer rows than
    a part holds, so an epoch over all workers sees every labelled row, as one worker's
    does, and a worker's last batch is filled from its part's next pass (in a new order with
    ``shuffle``): at most ``batch_size`` rows more than its part holds, seen again, where one
    worker's last batch is short instead. ``batch_size`` is then the per-worker batch.

    Raises:
        DataError: no labelled rows (in this worker's part, with ``shard``).
        ValueError: a ``shard`` that is not ``(index, count)`` with ``0 <= index < count``.
    """
    own = plan_shard(split, spec.label, shard)
    shard = None if own is None else (own.index, own.count)
    shuffle_rows = SHUFFLE_ROWS if shuffle_rows is None else shuffle_rows
    if cache_rows is None:
        cache_rows = CACHE_BYTES // _row_bytes(spec)
    where = split.path if shard is None else f"{split.path} (shard {shard[0]} of {shard[1]})"
    if own is not None and not own.pieces:
        raise DataError(
            f"{where}: no labelled rows ({split.rows} rows, {len(split.chunks())} row groups)"
        )
    rng = np.random.default_rng(seed) if shuffle else None
    if (split.rows if own is None else own.rows) <= cache_rows:
        # read once (still in record batches) and kept, text as codes; then per epoch only a
        # permutation crosses from Python, and tf.data gathers the batches in graph
        read = list(_read(split, spec, own, class_weights=class_weights, read_rows=read_rows))
        held = concat(read).compact() if read else None
        del read
        if held is None or not len(held):
            raise DataError(f"{where}: no labelled rows")
        return _in_memory(held, spec, rows=rows, batch_size=batch_size, rng=rng, shard=shard)

    block_rows = max(1, BLOCK_ROWS // batch_size) * batch_size

    def generate() -> Iterator[tuple[Any, ...]]:
        # a new order of the row groups at every pass: what reshuffle_each_iteration does
        # for a buffer
        parts = _read(split, spec, own, class_weights=class_weights, read_rows=read_rows, rng=rng)
        empty = True
        for w, order in windows(parts, rows=block_rows, window=shuffle_rows, rng=rng):
            empty = False
            if len(order):
                yield order, _packed(spec, w)
        if empty and shard is not None:  # else repeat() would spin forever
            raise DataError(f"{where}: no labelled rows")

    import tensorflow as tf

    signature = (tf.TensorSpec((None,), tf.int32), _packed_signature(spec))
    ds = tf.data.Dataset.from_generator(generate, output_signature=signature)
    # a window's rows gathered at once, then cut: cutting them into blocks first (a flat_map
    # of gathers) cost more than the gathers
    ds = ds.map(_gatherer(spec))
    return _batched(ds, rows, batch_size, shard).prefetch(tf.data.AUTOTUNE)


def _read(
    split: Split,
    spec: ModelSpec,
    own: Shard | None,
    *,
    class_weights: np.ndarray | None,
    read_rows: int,
    rng: np.random.Generator | None = None,
) -> Iterator[Block]:
    """The blocks of the whole split (``own`` None) or of this worker's pieces; with ``rng``
    the row groups (or pieces) in a permuted order, else in the split's."""
    kw: dict[str, Any] = {"class_weights": class_weights, "read_rows": read_rows}
    if own is None:
        chunks = split.chunks()
        order = chunks if rng is None else [chunks[i] for i in rng.permutation(len(chunks))]
        return _blocks(split, spec, order=order, **kw)
    pieces = list(own.pieces)
    if rng is not None:
        pieces = [pieces[i] for i in rng.permutation(len(pieces))]
    return _pieces(split, spec, pieces, **kw)


def _row_bytes(spec: ModelSpec) -> int:
    """Bytes a row takes in memory once decoded: numbers 4 (dates 8), text 4 (a code), the
    label 8 and the weight 4."""
    return 12 + sum(8 if i.dtype == "datetime" else 4 for i in spec.inputs)


def _number_specs(spec: ModelSpec) -> dict[str, Any]:
    import tensorflow as tf

    dtypes = {"float32": tf.float32, "datetime": tf.float64}
    return {i.name: dtypes[i.dtype] for i in spec.inputs if i.dtype in dtypes}


def _label_spec(spec: ModelSpec) -> Any:
    import tensorflow as tf

    return tf.int64 if spec.task in CLASSIFICATION else tf.float32


def _groups(spec: ModelSpec) -> dict[Any, list[str]]:
    """The number inputs by dtype, in the spec's order (one matrix each)."""
    numbers = _number_specs(spec)
    return {d: [k for k, e in numbers.items() if e == d] for d in dict.fromkeys(numbers.values())}


def _packed(spec: ModelSpec, b: Block) -> tuple[Any, ...]:
    """``b``'s rows as :func:`_gatherer` reads them: one matrix per number dtype and one of the
    text columns' codes, a column per row (so a gathered column is a contiguous row, cut out
    without a copy), each text column's codes shifted into the vocabularies put end to end
    (one gather of strings per block)."""
    text = [i.name for i in spec.inputs if i.dtype == "string"]
    mats = {
        d.name: np.concatenate([b.numbers[k].reshape(1, -1) for k in keys])
        for d, keys in _groups(spec).items()
    }
    if not text:
        return mats, {}, b.labels, b.weights
    shift = np.cumsum([0] + [len(b.vocab[k]) for k in text[:-1]], dtype=np.int32)
    codes = np.concatenate(
        [b.codes[k].reshape(1, -1) + s for k, s in zip(text, shift, strict=True)]
    )
    vocab = np.concatenate([b.vocab[k] for k in text])
    return mats, {"codes": codes, "vocab": vocab}, b.labels, b.weights


def _packed_signature(spec: ModelSpec) -> tuple[Any, ...]:
    """The ``tf.TensorSpec`` s of what :func:`_packed` returns."""
    import tensorflow as tf

    text = [i.name for i in spec.inputs if i.dtype == "string"]
    mats = {d.name: tf.TensorSpec((len(keys), None), d) for d, keys in _groups(spec).items()}
    strings = (
        {
            "codes": tf.TensorSpec((len(text), None), tf.int32),
            "vocab": tf.TensorSpec((None,), tf.string),
        }
        if text
        else {}
    )
    return (
        mats,
        strings,
        tf.TensorSpec((None,), _label_spec(spec)),
        tf.TensorSpec((None,), tf.float32),
    )


def _gatherer(spec: ModelSpec) -> Any:
    """A function of ``(index, rows)`` (rows as :func:`_packed` gives them) to the batch
    ``(features, labels, weights)`` of the rows ``index`` selects, in graph."""
    import tensorflow as tf

    groups = _groups(spec)
    text = [i.name for i in spec.inputs if i.dtype == "string"]
    names = [i.name for i in spec.inputs]

    def gather(index: Any, data: Any) -> tuple[Any, Any, Any]:
        mats, strings, y, w = data
        features = {}
        for dtype, keys in groups.items():
            m = tf.gather(mats[dtype.name], index, axis=1)
            features.update({k: tf.reshape(m[j], (-1, 1)) for j, k in enumerate(keys)})
        if text:
            s = tf.gather(strings["vocab"], tf.gather(strings["codes"], index, axis=1))
            features.update({k: tf.reshape(s[j], (-1, 1)) for j, k in enumerate(text)})
        return {k: features[k] for k in names}, tf.gather(y, index), tf.gather(w, index)

    return gather


def _in_memory(
    held: Block,
    spec: ModelSpec,
    *,
    rows: int,
    batch_size: int,
    rng: np.random.Generator | None,
    shard: tuple[int, int] | None,
) -> Any:
    """The batches of ``held``: each pass, the rows' order (a seeded permutation, or as read)
    is cut into blocks of row indices (about :data:`BLOCK_ROWS`, whole batches), each block
    gathered from tensors in graph and cut into batches."""
    import tensorflow as tf

    n = len(held)
    # packed and gathered as a streamed window is: one matrix per dtype, one of codes
    data = tf.nest.map_structure(tf.constant, _packed(spec, held))

    def order() -> Iterator[np.ndarray]:
        yield np.arange(n, dtype=np.int32) if rng is None else rng.permutation(n).astype(np.int32)

    index = tf.data.Dataset.from_generator(order, output_signature=tf.TensorSpec((None,), tf.int32))
    # gathered in blocks of whole batches, then cut: a gather per batch costs a function call
    # per op and batch in tf.data, which at batch 32 took longer than the model's step
    index = index.rebatch(max(1, BLOCK_ROWS // batch_size) * batch_size)
    ds = tf.data.Dataset.zip((index, tf.data.Dataset.from_tensors(data).repeat()))
    ds = ds.map(_gatherer(spec))
    return _batched(ds, rows, batch_size, shard).prefetch(tf.data.AUTOTUNE)


def _batched(ds: Any, rows: int, batch_size: int, shard: tuple[int, int] | None) -> Any:
    """``ds`` (blocks of rows) in batches: ``ceil(rows / batch_size)`` of them, or with
    ``shard`` the same number on every worker (see :func:`dataset`); not prefetched."""
    import tensorflow as tf

    if shard is None:
        steps = -(-rows // batch_size)
        ds = ds.rebatch(batch_size).apply(tf.data.experimental.assert_cardinality(steps))
    else:
        steps = max(1, -(-rows // (shard[1] * batch_size)))
        ds = ds.repeat().rebatch(batch_size).take(steps)
        # the worker streams its own part: tf.distribute must not shard it again
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        ds = ds.with_options(options)
    return ds
