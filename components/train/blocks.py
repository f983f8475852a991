"""Training rows in columnar blocks: decoded from Arrow without per-row Python, shuffled in NumPy.

A :class:`Block` holds labelled rows: numbers as ``[n, 1]`` arrays, each text column as
``[n, 1]`` int32 codes into a small vocabulary (the Parquet dictionary as read, so no Python
string is made per row), the targets and the row weights. :func:`windows` turns a stream of
blocks into windows of rows, each with the seeded order its rows are passed on in: this is where
the shuffle happens, a permutation of whole windows (``tf.data`` gathers the rows in graph),
instead of row by row in ``tf.data`` (which cost more than the model itself; see
``bench/bench_train.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrail.artifacts.modelspec import CLASSIFICATION, ModelSpec, class_key
from mlrail.errors import DataError

__all__ = ["Block", "concat", "decode", "label_targets", "windows"]


@dataclass(frozen=True)
class Block:
    """Labelled rows, column by column (module doc)."""

    numbers: dict[str, np.ndarray]
    codes: dict[str, np.ndarray]
    vocab: dict[str, np.ndarray]
    labels: np.ndarray
    weights: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, rows: Any) -> Block:
        """The rows ``rows`` (a slice or an index array) select; the vocabularies are shared."""
        return Block(
            {k: v[rows] for k, v in self.numbers.items()},
            {k: v[rows] for k, v in self.codes.items()},
            self.vocab,
            self.labels[rows],
            self.weights[rows],
        )

    def strings(self) -> dict[str, np.ndarray]:
        """Each text column as ``[n, 1]`` Python strings (a missing one is "")."""
        return {k: self.vocab[k][c] for k, c in self.codes.items()}

    def compact(self) -> Block:
        """The same rows with vocabularies cut to the values they use (kept rows of a window
        must not carry every vocabulary the window had)."""
        codes, vocab = {}, {}
        for k, c in self.codes.items():
            # a mask over the vocabulary, not np.unique: linear, and this runs every window
            used = np.zeros(len(self.vocab[k]), bool)
            used[c] = True
            codes[k] = (np.cumsum(used, dtype=np.int32) - 1)[c]
            vocab[k] = self.vocab[k][used]
        return dataclasses.replace(self, codes=codes, vocab=vocab)


def concat(blocks: list[Block]) -> Block:
    """One block of the rows of ``blocks``, in order (vocabularies appended, each one once: the
    blocks of one row group share theirs; codes shifted)."""
    if len(blocks) == 1:
        return blocks[0]
    first = blocks[0]
    codes, vocab = {}, {}
    for k in first.codes:
        start: dict[int, int] = {}  # id of a vocabulary (all alive here) -> its first code
        kept, shifted, total = [], [], 0
        for b in blocks:
            v = b.vocab[k]
            if id(v) not in start:
                start[id(v)] = total
                kept.append(v)
                total += len(v)
            shifted.append(b.codes[k] + np.int32(start[id(v)]))
        codes[k] = np.concatenate(shifted)
        vocab[k] = np.concatenate(kept)
    return Block(
        {k: np.concatenate([b.numbers[k] for b in blocks]) for k in first.numbers},
        codes,
        vocab,
        np.concatenate([b.labels for b in blocks]),
        np.concatenate([b.weights for b in blocks]),
    )


def _text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def _codes(
    col: pa.ChunkedArray | pa.Array, last: tuple[pa.Array, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray, pa.Array | None]:
    """A text column as int32 codes, a vocabulary whose last entry is "" (a missing value) and
    the Arrow dictionary it came from; another type as its ``str()`` per value, which is what
    :meth:`~mlrail.artifacts.modelspec.ModelSpec.features` gives for it. ``last`` (the previous
    batch's dictionary and vocabulary): its vocabulary is reused when the dictionary is the same
    (the batches of one Parquet row group share it)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if pa.types.is_dictionary(col.type) and _text(col.type.value_type):
        d = col
    elif _text(col.type):
        d = col.dictionary_encode()
    else:
        values = np.array(["" if v is None else str(v) for v in col.to_pylist()], dtype=object)
        return np.arange(len(values), dtype=np.int32).reshape(-1, 1), values, None
    if last is not None and d.dictionary.equals(last[0]):
        vocab = last[1]
    else:
        vocab = np.append(d.dictionary.to_numpy(zero_copy_only=False).astype(object), "")
    codes = d.indices.fill_null(len(vocab) - 1).to_numpy(zero_copy_only=False).astype(np.int32)
    return codes.reshape(-1, 1), vocab, d.dictionary


def label_targets(table: pa.Table, spec: ModelSpec, where: str) -> tuple[np.ndarray, np.ndarray]:
    """What :meth:`~mlrail.artifacts.modelspec.ModelSpec.labels` returns (targets, the mask of
    labelled rows) computed on whole columns: Python sees each distinct class once, not each row.
    """
    if spec.label not in table.column_names:
        raise DataError(f"{where}: label column {spec.label!r} is missing")
    col = table.column(spec.label)
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    t = col.type
    number = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
    if not (number or _text(t) or pa.types.is_boolean(t)):
        return spec.labels(table, where)  # anything else: row by row, as the spec reads it
    present = pc.is_valid(col)
    if pa.types.is_floating(t):
        present = pc.and_(present, pc.invert(pc.is_nan(col).fill_null(False)))
    mask = present.to_numpy(zero_copy_only=False)
    if spec.task not in CLASSIFICATION:
        wide = col.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        return np.where(mask, wide, np.nan).astype(np.float32), mask
    values = pc.unique(col.filter(present))
    index = {c: i for i, c in enumerate(spec.classes)}
    keys = [class_key(v) for v in values.to_pylist()]
    lookup = np.array([index.get(k, -1) for k in keys] + [-1], dtype=np.int64)
    bad = sorted({k for k in keys if k not in index})
    if bad:
        raise DataError(
            f"{where}: label column {spec.label!r} has value(s) the model was not "
            f"trained on: {', '.join(map(repr, bad[:10]))}"
        )
    pos = pc.index_in(col, value_set=values).fill_null(len(keys))
    y = lookup[pos.to_numpy(zero_copy_only=False)]
    return np.where(mask, y, -1), mask


def decode(
    table: pa.Table,
    spec: ModelSpec,
    where: str,
    class_weights: np.ndarray | None,
    dictionaries: dict[str, tuple[pa.Array, np.ndarray]] | None = None,
) -> Block | None:
    """The labelled rows of ``table`` as a :class:`Block` (``None`` when none has a label).

    Numbers and dates are read by :meth:`~mlrail.artifacts.modelspec.ModelSpec.features`, so
    they are exactly what evaluate and the server feed the model; text is kept as codes.
    ``dictionaries`` (updated here) holds each text column's last dictionary and vocabulary,
    so that consecutive batches of a row group share one vocabulary.
    """
    y, mask = label_targets(table, spec, where)
    if not mask.any():
        return None
    every = bool(mask.all())
    text = [i for i in spec.inputs if i.dtype == "string"]
    others = dataclasses.replace(spec, inputs=[i for i in spec.inputs if i.dtype != "string"])
    numbers = {k: v if every else v[mask] for k, v in others.features(table, where).items()}
    codes, vocab = {}, {}
    for i in text:
        if i.column not in table.column_names:
            raise DataError(f"{where}: column {i.column!r} (a model input) is missing")
        last = None if dictionaries is None else dictionaries.get(i.name)
        c, vocab[i.name], arrow = _codes(table.column(i.column), last)
        if dictionaries is not None and arrow is not None:
            dictionaries[i.name] = (arrow, vocab[i.name])
        codes[i.name] = c if every else c[mask]
    y = y if every else y[mask]
    if class_weights is None:
        w = np.ones(len(y), np.float32)
    else:
        w = class_weights[y].astype(np.float32)
    return Block(numbers, codes, vocab, y, w)


def windows(
    blocks: Iterable[Block], *, rows: int, window: int, rng: np.random.Generator | None
) -> Iterator[tuple[Block, np.ndarray]]:
    """The rows of ``blocks`` again, as ``(window, order)`` pairs: the rows ``window.take(order)``
    come next (``len(order)`` a multiple of ``rows`` but at the end).

    With ``rng``, rows go through a window of about ``window`` rows: once that many are read
    they are permuted, the first ones are passed on (``order``) and about half a window is
    carried (copied out, its vocabularies cut to what it uses) to be mixed with the rows read
    next; at the end what is left is permuted and passed on. Without ``rng`` the order is kept.
    So at most a window and a block of rows are held here, plus the window last passed on.
    """
    window = max(window, 2 * rows)
    held: list[Block] = []
    n = 0
    for b in blocks:
        held.append(b)
        n += len(b)
        if n < window:
            continue
        cat = concat(held)
        order = np.arange(n) if rng is None else rng.permutation(n)
        out = (n - (window // 2 if rng is not None else 0)) // rows * rows
        rest = cat.take(order[out:]).compact() if out < n else None
        yield cat, order[:out].astype(np.int32)
        held, n = ([rest] if rest is not None else []), n - out
    if n:
        cat = concat(held)
        order = np.arange(n) if rng is None else rng.permutation(n)
        yield cat, order.astype(np.int32)
