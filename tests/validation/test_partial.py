"""The mergeable statistics state: one pass and N merged shards agree (exactly where the quantity
allows, within the sketch's bound where it does not), and the state's bytes round-trip."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
from datasketches import kll_doubles_sketch
from tensorflow_metadata.proto.v0 import statistics_pb2

from mlrail.datetimes import arrow_days, is_datetime
from mlrail.errors import DataError
from mlrail.validation.accumulators import EXACT_VALUES, KLL_K
from mlrail.validation.partial import FORMAT_VERSION, PartialStatistics, merge_partials
from mlrail.validation.statistics import partial_from_batches, summary

RANK_ERROR = kll_doubles_sketch.get_normalized_rank_error(KLL_K, False)
SHARE_ERROR = kll_doubles_sketch.get_normalized_rank_error(KLL_K, True)
#: the mean and standard deviation of merged shards against one pass: float rounding only
MOMENTS_RTOL = 1e-12
_STANDARD = statistics_pb2.Histogram.STANDARD
_QUANTILES = statistics_pb2.Histogram.QUANTILES


def mixed_table(rows: int, seed: int) -> pa.Table:
    """Float (nulls, NaN, ±inf), int, bool, string, date, timestamp, binary and sparse columns."""
    rng = np.random.default_rng(seed)
    f = rng.normal(50.0, 7.0, rows)
    f[rng.random(rows) < 0.01] = np.nan
    f[rng.random(rows) < 0.001] = np.inf
    f[rng.random(rows) < 0.001] = -np.inf
    day0 = dt.date(2020, 1, 1).toordinal() - dt.date(1970, 1, 1).toordinal()
    words = np.array([f"w{i:03d}" for i in range(300)] + ["é", ""])
    return pa.table(
        {
            "f": pa.array(f, mask=rng.random(rows) < 0.05),
            "i": pa.array(rng.integers(-1000, 1000, rows)),
            "b": pa.array(rng.random(rows) < 0.3),
            "s": pa.array(words[rng.zipf(1.5, rows) % len(words)], mask=rng.random(rows) < 0.02),
            "d": pa.array(day0 + rng.integers(0, 2000, rows), pa.int32()).cast(pa.date32()),
            "t": pa.array(rng.integers(0, 10**9, rows) * 10**6, pa.timestamp("us", tz="UTC")),
            "raw": pa.array([b"x"] * rows, pa.binary()),
            "sparse": pa.array(rng.normal(size=rows), mask=rng.random(rows) < 0.999),
        }
    )


def shards(table: pa.Table, cuts: list[int]) -> list[pa.Table]:
    """``table`` cut at ``cuts``; column "z" all-null (type null) in the first shard and float
    elsewhere, column "late" absent from the first shard."""
    bounds = [0, *cuts, table.num_rows]
    out = []
    for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        part = table.slice(a, b - a)
        z = pa.nulls(b - a) if k == 0 else pa.array(np.arange(a, b, dtype=np.float64))
        part = part.append_column("z", z)
        if k:
            part = part.append_column("late", pa.array(np.arange(a, b) % 7))
        out.append(part)
    return out


def _whole(parts: list[pa.Table]) -> list[pa.Table]:
    return parts  # one pass reads the same rows, in order, in one stream


def _features(
    ds: statistics_pb2.DatasetFeatureStatistics,
) -> dict[str, statistics_pb2.FeatureNameStatistics]:
    return {f.path.step[0]: f for f in ds.features}


def _hist(f: statistics_pb2.FeatureNameStatistics, kind: int) -> statistics_pb2.Histogram:
    return next(h for h in f.num_stats.histograms if h.type == kind)


def _finite(parts: list[pa.Table], name: str) -> np.ndarray:
    """The column's finite values as the statistics see them (dates as days), sorted."""
    values = []
    for p in parts:
        if name not in p.column_names or pa.types.is_null(p[name].type):
            continue
        col = p[name].drop_null()
        if is_datetime(col.type):
            values.append(np.asarray(arrow_days(col), dtype=np.float64))
        else:
            values.append(col.to_numpy().astype(np.float64))
    x = np.concatenate(values) if values else np.empty(0)
    return np.sort(x[np.isfinite(x)])


def _assert_agree(
    one: statistics_pb2.DatasetFeatureStatistics,
    merged: statistics_pb2.DatasetFeatureStatistics,
    parts: list[pa.Table],
) -> None:
    """Exact figures equal; moments to rounding; sketch figures within the bound of the truth."""
    assert (one.name, one.num_examples) == (merged.name, merged.num_examples)
    a_all, b_all = _features(one), _features(merged)
    assert list(a_all) == list(b_all)  # features in order of first appearance
    for name, a in a_all.items():
        b = b_all[name]
        assert (a.type, list(a.custom_stats)) == (b.type, list(b.custom_stats)), name
        if a.HasField("string_stats") or a.HasField("bytes_stats"):
            assert a == b, name  # counts, value counts, average length: all exact
            continue
        x, y = a.num_stats, b.num_stats
        assert x.common_stats == y.common_stats, name
        assert (x.min, x.max, x.num_zeros) == (y.min, y.max, y.num_zeros), name
        scale = max(abs(x.mean), x.std_dev)  # the mean's rounding is relative to the spread
        assert abs(x.mean - y.mean) <= MOMENTS_RTOL * scale, name
        assert y.std_dev == pytest.approx(x.std_dev, rel=MOMENTS_RTOL), name
        truth = _finite(parts, name)
        for stat in (x, y):
            hists = {h.type: h for h in stat.histograms}
            if not len(truth):  # no finite value: no quantiles (the infinities' buckets only)
                assert _QUANTILES not in hists, name
                continue
            std, q = hists[_STANDARD], hists.get(_QUANTILES)
            exact = len(truth) <= EXACT_VALUES
            lo = np.searchsorted(truth, stat.median, "left") / len(truth)
            hi = np.searchsorted(truth, stat.median, "right") / len(truth)
            slack = 0.0 if exact else RANK_ERROR
            assert lo - slack <= 0.5 <= hi + slack, (name, stat.median)
            finite = [h for h in std.buckets if math.isfinite(h.low_value)]
            if len(finite) > 1:
                cuts = [h.low_value for h in finite] + [finite[-1].high_value]
                counts = np.array([h.sample_count for h in finite])
                error = np.abs(counts - np.histogram(truth, cuts)[0]).max()
                assert error <= (0 if exact else SHARE_ERROR * len(truth)), name
            assert q is not None and q.buckets[0].low_value == truth[0]
        if not x.histograms:
            assert not y.histograms, name
            continue
        # the infinities are counted exactly, apart
        inf_a = [
            (h.low_value, h.sample_count)
            for h in _hist(a, _STANDARD).buckets
            if math.isinf(h.low_value)
        ]
        inf_b = [
            (h.low_value, h.sample_count)
            for h in _hist(b, _STANDARD).buckets
            if math.isinf(h.low_value)
        ]
        assert inf_a == inf_b, name
        assert _hist(a, _STANDARD).num_nan == _hist(b, _STANDARD).num_nan, name


def _merged(parts: list[pa.Table], *, through_bytes: bool) -> PartialStatistics:
    states = [partial_from_batches("train", [p], source=f"shard {k}") for k, p in enumerate(parts)]
    if through_bytes:
        states = [PartialStatistics.from_bytes(s.to_bytes(), s.source) for s in states]
    return merge_partials(states, "train")


@pytest.mark.parametrize(
    ("rows", "cuts"),
    [
        (200_000, [100_000]),  # 2 shards, each above EXACT_VALUES: sketches merged
        (200_000, [0, 40_000, 40_000, 100_000, 199_999]),  # empty shards, a one-row shard
        (200_000, list(range(20_000, 200_000, 20_000))),  # 10 exact shards, merged past it
        (50_000, [10_000, 30_000]),  # everything exact: equal to one pass
    ],
)
def test_one_pass_and_merged_shards_agree(rows: int, cuts: list[int]) -> None:
    parts = shards(mixed_table(rows, seed=rows + len(cuts)), cuts)
    one = summary(partial_from_batches("train", _whole(parts)))
    for through_bytes in (False, True):
        merged = summary(_merged(parts, through_bytes=through_bytes))
        _assert_agree(one, merged, parts)
        if rows <= EXACT_VALUES:
            assert (
                _features(merged)["f"].num_stats.histograms
                == _features(one)["f"].num_stats.histograms
            )


def test_a_column_all_null_in_one_shard_and_absent_in_another_is_typed_by_the_rest() -> None:
    parts = shards(mixed_table(3_000, seed=4), [1_000, 2_000])
    f = _features(summary(_merged(parts, through_bytes=True)))
    assert f["z"].type == statistics_pb2.FeatureNameStatistics.FLOAT
    assert f["z"].num_stats.common_stats.num_missing == 1_000
    assert f["late"].num_stats.common_stats.num_missing == 1_000
    assert f["late"].type == statistics_pb2.FeatureNameStatistics.INT
    assert f["d"].custom_stats[0].str == "date32[day]"


def test_merging_leaves_the_parts_as_they_were() -> None:
    parts = shards(mixed_table(100_000, seed=6), [70_000])
    states = [partial_from_batches("train", [p]) for p in parts]
    before = [s.to_bytes() for s in states]
    before_stats = [summary(s) for s in states]
    merge_partials(states, "train")
    assert [summary(s) for s in states] == before_stats
    assert [len(s.to_bytes()) for s in states] == [len(b) for b in before]


def test_the_bytes_round_trip_exactly() -> None:
    for rows in (300, 3 * EXACT_VALUES):  # exact values; sketches
        state = partial_from_batches("eval", mixed_table(rows, seed=rows))
        back = PartialStatistics.from_bytes(state.to_bytes(), "x.bin")
        assert (back.name, back.rows, back.source) == ("eval", rows, "x.bin")
        assert summary(back) == summary(state)
        assert back.to_bytes() == state.to_bytes()
    empty = partial_from_batches("e", [])
    assert summary(PartialStatistics.from_bytes(empty.to_bytes(), "e.bin")).num_examples == 0


def test_the_bytes_are_an_arrow_file_with_their_format_version() -> None:
    state = partial_from_batches("train", mixed_table(500, seed=1))
    table = ipc.open_file(pa.BufferReader(state.to_bytes())).read_all()
    meta = table.schema.metadata
    assert meta[b"mlrail.partial"] == str(FORMAT_VERSION).encode() == b"1"
    assert (meta[b"dataset"], meta[b"rows"]) == (b"train", b"500")
    assert table.column("name").to_pylist()[:3] == ["f", "i", "b"]
    assert table.column("kind").to_pylist()[:3] == ["float", "int", "int"]


def _rewritten(data: bytes, **changes: object) -> bytes:
    table = ipc.open_file(pa.BufferReader(data)).read_all()
    meta = dict(table.schema.metadata)
    for key, value in changes.items():
        if key == "version":
            meta[b"mlrail.partial"] = str(value).encode()
        else:
            i = table.schema.get_field_index(key)
            table = table.set_column(i, key, pa.array(value, table.schema.field(i).type))
    table = table.replace_schema_metadata(meta)
    sink = pa.BufferOutputStream()
    with ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    return bytes(sink.getvalue())


def test_bytes_of_another_version_or_inconsistent_ones_are_named() -> None:
    data = partial_from_batches("train", pa.table({"x": [1.0, 2.0], "s": ["a", "b"]})).to_bytes()
    with pytest.raises(
        DataError, match=r"^p\.bin: partial statistics format 2; this mlrail reads format 1"
    ):
        PartialStatistics.from_bytes(_rewritten(data, version=2), "p.bin")
    with pytest.raises(
        DataError, match=r"^p\.bin: inconsistent partial statistics: column 'x': 5 finite"
    ):
        PartialStatistics.from_bytes(_rewritten(data, count=[5, None]), "p.bin")
    with pytest.raises(DataError, match=r"^p\.bin: inconsistent partial statistics: column 'x'"):
        PartialStatistics.from_bytes(_rewritten(data, kind=["bogus", "string"]), "p.bin")
    with pytest.raises(DataError, match=r"^p\.bin: not mlrail's partial statistics"):
        PartialStatistics.from_bytes(b"FeatureStats, not Arrow", "p.bin")
    sketched = partial_from_batches("train", pa.table({"x": np.arange(EXACT_VALUES + 1.0)}))
    bad_sketch = _rewritten(sketched.to_bytes(), sketch=[b"not a sketch"])
    with pytest.raises(DataError, match=r"^p\.bin: inconsistent partial statistics"):
        PartialStatistics.from_bytes(bad_sketch, "p.bin")
    both = _rewritten(sketched.to_bytes(), values=[[1.0]])
    with pytest.raises(DataError, match=r"exactly one of values and sketch"):
        PartialStatistics.from_bytes(both, "p.bin")
    other = pa.BufferOutputStream()
    with ipc.new_file(other, pa.schema([("a", pa.int64())])) as w:
        w.write_table(pa.table({"a": [1]}))
    with pytest.raises(DataError, match=r"^p\.bin: not mlrail's partial statistics \(no"):
        PartialStatistics.from_bytes(bytes(other.getvalue()), "p.bin")


def test_kinds_that_cannot_meet_are_named_with_both_parts() -> None:
    a = partial_from_batches("train", pa.table({"x": [1.0]}), source="a/FeatureStats")
    b = partial_from_batches("train", pa.table({"x": ["one"]}), source="b/part")
    with pytest.raises(
        DataError,
        match=r"^b/part: column 'x' is string \(string\) there but float \(double\) in a/",
    ):
        merge_partials([a, b], "train")
    # integers and floats meet as floats, as in one pass
    c = partial_from_batches("train", pa.table({"x": [2]}))
    f = summary(merge_partials([c, a], "train")).features[0]
    assert f.type == statistics_pb2.FeatureNameStatistics.FLOAT and f.num_stats.mean == 1.5
