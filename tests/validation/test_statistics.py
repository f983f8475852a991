from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from datasketches import kll_doubles_sketch
from tensorflow_metadata.proto.v0 import statistics_pb2

from mlrail.errors import DataError
from mlrail.validation.statistics import (
    EXACT_VALUES,
    KLL_K,
    compute_statistics,
    statistics_from_batches,
)

_FNS = statistics_pb2.FeatureNameStatistics
_STANDARD = statistics_pb2.Histogram.STANDARD
_QUANTILES = statistics_pb2.Histogram.QUANTILES


def _features(ds: statistics_pb2.DatasetFeatureStatistics) -> dict[str, _FNS]:
    return {f.path.step[0]: f for f in ds.features}


def _hist(f: _FNS, kind: int) -> statistics_pb2.Histogram:
    return next(h for h in f.num_stats.histograms if h.type == kind)


def _batches(table: pa.Table, size: int) -> list[pa.RecordBatch]:
    return table.to_batches(max_chunksize=size)


def test_small_data_figures_are_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(50, 7, 1000)
    mask = rng.random(1000) < 0.1
    table = pa.table({"x": pa.array(x, mask=mask), "k": rng.integers(-5, 5, 1000)})
    f = _features(statistics_from_batches("train", _batches(table, 97)))
    present = x[~mask]
    n = f["x"].num_stats
    assert f["x"].type == _FNS.FLOAT and f["k"].type == _FNS.INT
    assert n.common_stats.num_missing == mask.sum()
    assert n.common_stats.num_non_missing == len(present)
    assert (n.min, n.max) == (present.min(), present.max())
    assert n.mean == pytest.approx(present.mean(), rel=1e-13)
    assert n.std_dev == pytest.approx(present.std(), rel=1e-12)
    assert n.median == np.median(present)
    # at most EXACT_VALUES values: buckets from every value, not a sketch
    std = _hist(f["x"], _STANDARD)
    edges = np.linspace(present.min(), present.max(), 11)
    assert [b.sample_count for b in std.buckets] == list(np.histogram(present, edges)[0])
    assert [b.low_value for b in std.buckets] == list(edges[:-1])
    quantiles = _hist(f["x"], _QUANTILES)
    expected = np.quantile(present, np.linspace(0, 1, 11))
    assert [b.low_value for b in quantiles.buckets] == pytest.approx(list(expected[:-1]))
    assert quantiles.buckets[-1].high_value == present.max()
    assert {b.sample_count for b in quantiles.buckets} == {len(present) / 10}
    k = f["k"].num_stats
    assert k.num_zeros == np.count_nonzero(table["k"].to_numpy() == 0)


def test_moments_merged_across_batches_keep_their_precision() -> None:
    # values around 1e9 with a spread of 0.03: a running sum of squares loses every digit here
    x = 1e9 + np.random.default_rng(1).random(200_000) * 0.1
    f = _features(statistics_from_batches("d", _batches(pa.table({"x": x}), 1_000)))["x"]
    assert f.num_stats.mean == pytest.approx(x.mean(), rel=1e-15)
    assert f.num_stats.std_dev == pytest.approx(x.std(), rel=1e-6)  # naive: 0.0


def _rank(sorted_values: np.ndarray, value: float) -> tuple[float, float]:
    """The normalized ranks a value may stand for: below it, and up to it."""
    n = len(sorted_values)
    lo = np.searchsorted(sorted_values, value, side="left") / n
    return lo, np.searchsorted(sorted_values, value, side="right") / n


def test_large_data_is_sketched_within_the_bound_whatever_the_batches() -> None:
    rows = 3 * EXACT_VALUES
    rng = np.random.default_rng(2)
    x = rng.exponential(3.0, rows)
    table = pa.table(
        {
            "x": pa.array(x, mask=rng.random(rows) < 0.05),
            "k": rng.integers(0, 1000, rows),
            "s": pa.array(rng.integers(0, 50, rows).astype(str)),
        }
    )
    runs = [
        statistics_from_batches("d", table),
        statistics_from_batches("d", _batches(table, 4_099)),
        statistics_from_batches("d", iter(_batches(table, 4_099))),
        statistics_from_batches("d", (b for b in _batches(table, 100_000))),
        statistics_from_batches("d", _batches(table, EXACT_VALUES)),
        statistics_from_batches("d", [table.slice(0, 10), table.slice(10, rows - 11), table[-1:]]),
    ]
    rank_error = kll_doubles_sketch.get_normalized_rank_error(KLL_K, False)
    share_error = kll_doubles_sketch.get_normalized_rank_error(KLL_K, True)
    first = _features(runs[0])
    for run in runs:
        other = _features(run)
        for name in ("x", "k"):
            a, b = first[name].num_stats, other[name].num_stats
            # exact figures equal (to rounding); the sketch's within its bound of the truth
            assert (a.min, a.max, a.num_zeros) == (b.min, b.max, b.num_zeros)
            assert a.common_stats == b.common_stats
            assert a.mean == pytest.approx(b.mean, rel=1e-14)
            assert a.std_dev == pytest.approx(b.std_dev, rel=1e-12)
            present = np.sort(table[name].drop_null().to_numpy().astype(np.float64))
            lo, hi = _rank(present, b.median)
            assert lo - rank_error <= 0.5 <= hi + rank_error
            std = _hist(other[name], _STANDARD)
            assert sum(h.sample_count for h in std.buckets) == pytest.approx(len(present))
            assert (std.buckets[0].low_value, std.buckets[-1].high_value) == (a.min, a.max)
            edges = [h.low_value for h in std.buckets] + [std.buckets[-1].high_value]
            exact = np.histogram(present, edges)[0]
            got = np.array([h.sample_count for h in std.buckets])
            assert np.abs(got - exact).max() <= share_error * len(present)
        assert other["s"].string_stats == first["s"].string_stats
    # above EXACT_VALUES values the median is the sketch's, not the exact one
    present = table["x"].drop_null().to_numpy()
    assert first["x"].num_stats.median != np.median(present)


def test_string_counts_are_exact_across_many_merges() -> None:
    rng = np.random.default_rng(3)
    values = np.array([f"v{i:04d}" for i in range(3000)] + ["é"])
    col = pa.array(values[rng.integers(0, len(values), 300_000)], mask=rng.random(300_000) < 0.02)
    table = pa.table({"s": col})
    s = _features(statistics_from_batches("d", _batches(table, 2_000)))["s"].string_stats
    expected = pc.value_counts(col.drop_null()).to_pylist()
    expected.sort(key=lambda d: (-d["counts"], d["values"]))
    assert s.unique == len(expected) == 3001
    assert s.common_stats.num_missing == col.null_count
    ranked = [(b.label, b.sample_count) for b in s.rank_histogram.buckets]
    assert ranked == [(d["values"], d["counts"]) for d in expected[:1000]]
    assert [v.value for v in s.top_values] == [d["values"] for d in expected[:20]]
    # average length in bytes, as TFDV ("é" is two bytes)
    nbytes = sum(len(d["values"].encode()) * d["counts"] for d in expected)
    assert s.avg_length == pytest.approx(nbytes / (len(col) - col.null_count))


def test_dictionary_encoded_strings_count_as_plain_ones() -> None:
    col = pa.array(["b", "a", None, "b", "c", "b"])
    plain = statistics_from_batches("d", [pa.table({"s": col})])
    encoded = statistics_from_batches("d", [pa.table({"s": col.dictionary_encode()})])
    assert plain == encoded
    assert plain.features[0].string_stats.top_values[0].value == "b"


def test_a_column_null_or_absent_in_early_batches_is_typed_later() -> None:
    batches = [
        pa.table({"a": [1.0, 2.0], "late": pa.nulls(2)}),
        pa.table({"a": [3.0]}),  # "late" absent here
        pa.table({"a": [4.0, 5.0], "late": pa.array([None, 7], pa.int64())}),
    ]
    f = _features(statistics_from_batches("d", batches))["late"]
    assert f.type == _FNS.INT
    assert f.num_stats.common_stats.num_missing == 4
    assert (f.num_stats.min, f.num_stats.max, f.num_stats.mean) == (7, 7, 7)


def test_integers_then_floats_make_a_float_column() -> None:
    batches = [pa.table({"a": [1, 2]}), pa.table({"a": [2.5]})]
    f = _features(statistics_from_batches("d", batches))["a"]
    assert f.type == _FNS.FLOAT and f.num_stats.mean == pytest.approx(5.5 / 3)


def test_a_column_changing_between_numbers_and_strings_is_named() -> None:
    batches = [pa.table({"a": [1.0, 2.0], "b": ["x", "y"]}), pa.table({"a": ["3"], "b": ["z"]})]
    with pytest.raises(DataError, match=r"data\.csv: column 'a' changes type: .* from row 3"):
        statistics_from_batches("d", batches, source="data.csv")


def test_nan_and_infinity_are_values_kept_apart() -> None:
    x = [1.0, float("nan"), 3.0, float("inf"), None, float("-inf"), 0.0]
    f = _features(statistics_from_batches("d", [pa.table({"x": x})]))["x"]
    n = f.num_stats
    assert n.common_stats.num_missing == 1 and n.common_stats.num_non_missing == 6
    assert (n.min, n.max) == (-math.inf, math.inf)
    assert n.mean == pytest.approx(4 / 3) and n.num_zeros == 1
    std = _hist(f, _STANDARD)
    assert std.num_nan == 1
    infinite = [(b.low_value, b.sample_count) for b in std.buckets if math.isinf(b.low_value)]
    assert infinite == [(-math.inf, 1), (math.inf, 1)]
    assert sum(b.sample_count for b in std.buckets if math.isfinite(b.low_value)) == 3


def test_one_distinct_value_is_a_point_bucket() -> None:
    f = _features(statistics_from_batches("d", [pa.table({"x": [2.0, 2.0, 2.0]})]))["x"]
    std = _hist(f, _STANDARD)
    assert [(b.low_value, b.high_value, b.sample_count) for b in std.buckets] == [(2, 2, 3)]


def test_booleans_are_integers() -> None:
    f = _features(statistics_from_batches("d", [pa.table({"b": [True, False, True, None]})]))
    assert f["b"].type == _FNS.INT and f["b"].num_stats.mean == pytest.approx(2 / 3)


def test_no_rows_still_gives_the_columns() -> None:
    empty = pa.table({"x": pa.array([], pa.float64()), "s": pa.array([], pa.string())})
    ds = statistics_from_batches("eval", [empty])
    assert ds.num_examples == 0
    assert [(f.path.step[0], f.type) for f in ds.features] == [
        ("x", _FNS.FLOAT),
        ("s", _FNS.STRING),
    ]
    assert statistics_from_batches("eval", []).num_examples == 0


def test_parquet_parts_are_read_as_one_split(tmp_path: Path) -> None:
    split = tmp_path / "ex" / "train"
    split.mkdir(parents=True)
    pq.write_table(pa.table({"a": [1.0, 2.0], "s": ["x", "y"]}), split / "part-00000.parquet")
    pq.write_table(pa.table({"a": [3.0], "s": ["x"], "new": [5]}), split / "part-00001.parquet")
    pq.write_table(pa.table({"a": pa.array([], pa.float64())}), split / "part-00002.parquet")
    ds = compute_statistics(tmp_path / "ex").datasets[0]
    f = _features(ds)
    assert ds.name == "train" and ds.num_examples == 3
    assert f["a"].num_stats.mean == 2.0
    assert f["new"].num_stats.common_stats.num_missing == 2
    assert {v.value: v.frequency for v in f["s"].string_stats.top_values} == {"x": 2, "y": 1}


def test_a_header_only_parquet_split_has_typed_columns_and_no_rows(tmp_path: Path) -> None:
    (tmp_path / "eval").mkdir()
    pq.write_table(pa.table({"x": pa.array([], pa.int64())}), tmp_path / "eval" / "p.parquet")
    ds = compute_statistics(tmp_path).datasets[0]
    assert ds.num_examples == 0 and ds.features[0].type == _FNS.INT


def test_a_type_change_between_parquet_parts_is_named(tmp_path: Path) -> None:
    split = tmp_path / "ex" / "train"
    split.mkdir(parents=True)
    pq.write_table(pa.table({"a": np.arange(300_000.0)}), split / "part-00000.parquet")
    pq.write_table(pa.table({"a": ["x"] * 10}), split / "part-00001.parquet")
    with pytest.raises(DataError, match=rf"{split}: column 'a' changes type"):
        compute_statistics(tmp_path / "ex")


def test_reading_ahead_stops_when_the_reader_stops() -> None:
    from threading import Event, Thread

    from mlrail.validation.statistics import _read_ahead

    exhausted = Event()

    def batches() -> Iterator[pa.RecordBatch]:
        yield pa.record_batch({"a": [0]})
        yield pa.record_batch({"a": [1]})
        exhausted.set()  # both read: the second waits in the queue, the end marker behind it

    def consume_one() -> None:
        stream = _read_ahead(batches())
        next(stream)
        exhausted.wait()
        stream.close()  # as when counting fails: the reading thread must end, not wait

    consumer = Thread(target=consume_one, daemon=True)
    consumer.start()
    consumer.join(timeout=30)  # a deadlock guard, not a speed check
    assert not consumer.is_alive()
