"""Column-wise decoding gives what the model spec gives row by row; the window shuffle keeps
every row once, in blocks of a fixed size."""

from __future__ import annotations

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


@pytest.mark.parametrize("seed", [None, 0])
def test_the_window_passes_every_row_once_in_whole_blocks(seed: int | None) -> None:
    parts = [
        _numbered(n, s, vocab) for n, s, vocab in [(700, 0, 3), (900, 700, 50), (333, 1600, 7)]
    ]
    rng = None if seed is None else np.random.default_rng(seed)
    out = list(blocks.shuffled(parts, rows=64, window=500, rng=rng))
    assert [len(b) for b in out[:-1]] == [64] * (len(out) - 1) and 0 < len(out[-1]) <= 64
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
        assert all(len(v) <= max(64 // 4, 50) for v in b.vocab.values())  # no window's vocabulary


def test_the_window_order_depends_only_on_the_seed() -> None:
    def order(seed: int) -> list[int]:
        parts = [_numbered(300, 300 * k, 5) for k in range(5)]
        rng = np.random.default_rng(seed)
        return [
            int(v) for b in blocks.shuffled(parts, rows=32, window=400, rng=rng) for v in b.labels
        ]

    assert order(1) == order(1) != order(2)
    # rows of the first part and of the last meet in the first blocks of a window of 400
    assert {v // 300 for v in order(1)[:200]} >= {0, 1}
