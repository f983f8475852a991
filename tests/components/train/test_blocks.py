"""Column-wise decoding gives what the model spec gives row by row; the window shuffle keeps
every row once, in blocks of a fixed size."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from mlrail.artifacts.modelspec import InputSpec, ModelSpec
from mlrail.components.train import blocks
from mlrail.errors import DataError


def _spec(task: str, classes: list[str]) -> ModelSpec:
    return ModelSpec(
        task=task,
        label="y",
        inputs=[
            InputSpec("x", "x", "float32"),
            InputSpec("s", "s", "string"),
            InputSpec("d", "d", "string"),
            InputSpec("l", "l", "string"),
            InputSpec("b", "b", "string"),  # booleans a curated schema calls strings
        ],
        output="probabilities" if classes else "predictions",
        classes=classes,
    )


def _table(y: pa.Array) -> pa.Table:
    n = len(y)
    text = [None if i % 4 == 0 else f"v{i % 3}-é" for i in range(n)]
    return pa.table(
        {
            "x": pa.array(
                [Decimal(i) / 4 if i % 5 else None for i in range(n)], pa.decimal128(9, 2)
            ),
            "s": pa.array(text),
            "d": pa.array(text).dictionary_encode(),
            "l": pa.array(text, pa.large_string()),
            "b": pa.array([None if i % 6 == 0 else i % 2 == 0 for i in range(n)]),
            "y": y,
        }
    )


LABELS = [
    ("multiclass", ["0", "1", "2"], pa.array([i % 3 if i % 7 else None for i in range(40)])),
    ("binary", ["a", "b"], pa.array(["a", None, "b", "a"] * 10).dictionary_encode()),
    ("binary", ["False", "True"], pa.array([i % 2 == 0 if i % 7 else None for i in range(40)])),
    (
        "multiclass",
        ["1", "2.5", "3"],
        pa.array([[1.0, 2.5, 3.0, float("nan")][i % 4] if i % 9 else None for i in range(40)]),
    ),
    ("regression", [], pa.array([i / 3 if i % 7 else None for i in range(39)] + [float("nan")])),
    ("regression", [], pa.array([Decimal(i) for i in range(40)], pa.decimal128(5, 0))),
]


@pytest.mark.parametrize(("task", "classes", "y"), LABELS)
def test_decoded_columns_are_what_the_spec_reads_row_by_row(
    task: str, classes: list[str], y: pa.Array
) -> None:
    spec = _spec(task, classes)
    table = _table(y)
    want_y, want_mask = spec.labels(table, "t")
    got_y, got_mask = blocks.label_targets(table, spec, "t")
    np.testing.assert_array_equal(got_mask, want_mask)
    np.testing.assert_array_equal(got_y[got_mask], want_y[want_mask])
    assert got_y.dtype == want_y.dtype
    b = blocks.decode(table, spec, "t", None)
    assert b is not None and len(b) == int(want_mask.sum())
    want = {k: v[want_mask] for k, v in spec.features(table, "t").items()}
    got = {**b.numbers, **b.strings()}
    assert got.keys() == want.keys()
    for k, v in want.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape, k
        np.testing.assert_array_equal(got[k], v, err_msg=k)


def test_an_unknown_class_is_named_as_the_spec_names_it() -> None:
    spec = _spec("binary", ["a", "b"])
    table = _table(pa.array(["a", "b", "zz", "q"] * 10))
    with pytest.raises(DataError) as want:
        spec.labels(table, "part-00000.parquet")
    with pytest.raises(DataError) as got:
        blocks.label_targets(table, spec, "part-00000.parquet")
    assert str(got.value) == str(want.value)


def test_class_weights_and_unlabelled_rows() -> None:
    spec = _spec("binary", ["a", "b"])
    b = blocks.decode(_table(pa.array(["a", None, "b", "b"] * 10)), spec, "t", np.array([0.5, 2.0]))
    assert b is not None and len(b) == 30
    np.testing.assert_array_equal(b.weights, np.where(b.labels == 0, 0.5, 2.0))
    assert blocks.decode(_table(pa.array([None] * 40, pa.string())), spec, "t", None) is None


def _numbered(n: int, start: int, vocab: int) -> blocks.Block:
    v = np.arange(start, start + n)
    return blocks.Block(
        {"x": v.reshape(-1, 1).astype(np.float32)},
        {"s": (v % vocab).reshape(-1, 1).astype(np.int32)},
        {"s": np.array([f"w{i}" for i in range(vocab)], dtype=object)},
        v.astype(np.int64),
        np.ones(n, np.float32),
    )


def _passed(out: list[tuple[blocks.Block, np.ndarray]]) -> list[blocks.Block]:
    return [w.take(order) for w, order in out]


@pytest.mark.parametrize("seed", [None, 0])
def test_the_window_passes_every_row_once_in_whole_blocks(seed: int | None) -> None:
    parts = [
        _numbered(n, s, vocab) for n, s, vocab in [(700, 0, 3), (900, 700, 50), (333, 1600, 7)]
    ]
    rng = None if seed is None else np.random.default_rng(seed)
    out = _passed(list(blocks.windows(parts, rows=64, window=500, rng=rng)))
    assert all(len(b) % 64 == 0 for b in out[:-1]) and len(out[-1]) > 0
    labels = np.concatenate([b.labels for b in out])
    assert sorted(labels.tolist()) == list(range(1933))
    assert (labels.tolist() == list(range(1933))) == (seed is None)  # shuffled only with rng
    for b in out:  # each row keeps its own values: numbers, text and label ride together
        np.testing.assert_array_equal(b.numbers["x"][:, 0], b.labels)
        assert all(
            s == f"w{v % vocab}"
            for s, v, vocab in zip(
                b.strings()["s"][:, 0],
                b.labels,
                [3 if v < 700 else 50 if v < 1600 else 7 for v in b.labels],
                strict=True,
            )
        )


def test_the_window_order_depends_only_on_the_seed() -> None:
    def order(seed: int) -> list[int]:
        parts = [_numbered(300, 300 * k, 5) for k in range(5)]
        rng = np.random.default_rng(seed)
        out = _passed(list(blocks.windows(parts, rows=32, window=400, rng=rng)))
        return [int(v) for b in out for v in b.labels]

    assert order(1) == order(1) != order(2)
    # rows of the first part and of the last meet in the first blocks of a window of 400
    assert {v // 300 for v in order(1)[:200]} >= {0, 1}


@pytest.mark.parametrize("seed", [None, 3])
def test_the_window_holds_a_bounded_number_of_rows(seed: int | None) -> None:
    """Memory stays flat: a window holds at most ``window`` rows and a block, its carried rows'
    vocabularies are cut to what they use, and the source is read only as far as needed."""
    pulled = 0

    def source() -> Iterator[blocks.Block]:
        nonlocal pulled
        for k in range(40):  # every block its own vocabulary of 100 words
            pulled += 70
            yield _numbered(70, 70 * k, 100)

    rng = None if seed is None else np.random.default_rng(seed)
    passed = 0
    for w, order in blocks.windows(source(), rows=32, window=300, rng=rng):
        assert len(w) < 300 + 70
        assert pulled - passed <= 300 + 70  # rows read but not yet passed on: one window
        assert all(len(v) <= 100 * (len(w) // 70 + 2) for v in w.vocab.values())
        passed += len(order)
    assert passed == pulled == 2800


def test_the_carried_rows_keep_their_text_and_only_the_words_they_use() -> None:
    b = _numbered(10, 0, 4)
    b = blocks.Block(b.numbers, {"s": b.codes["s"] % 2}, b.vocab, b.labels, b.weights)
    c = b.take(np.array([9, 2, 4])).compact()
    assert c.strings()["s"][:, 0].tolist() == ["w1", "w0", "w0"]
    assert c.vocab["s"].tolist() == ["w0", "w1"] and c.codes["s"].dtype == np.int32
