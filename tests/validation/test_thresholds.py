"""Size-dependent skew/drift thresholds: the maths by hand, then the false-alarm and detection
targets of issue 14 by simulation (fixed seeds), then the bundled penguins' gate."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from datasketches import kll_doubles_sketch
from scipy import stats
from tensorflow_metadata.proto.v0 import statistics_pb2

from mlrail.components.ingest.core import ingest
from mlrail.validation import thresholds
from mlrail.validation.accumulators import KLL_K
from mlrail.validation.comparisons import compare, compare_all
from mlrail.validation.drift import Aligned, align, jensen_shannon_aligned
from mlrail.validation.findings import Comparison
from mlrail.validation.schema import infer_schema
from mlrail.validation.statistics import EXACT_VALUES, compute_statistics, statistics_from_batches

log2 = math.log2


def _hist(*buckets: tuple[float, float, float]) -> statistics_pb2.Histogram:
    h = statistics_pb2.Histogram(type=statistics_pb2.Histogram.STANDARD)
    for lo, hi, count in buckets:
        h.buckets.add(low_value=lo, high_value=hi, sample_count=count)
    return h


# ---------------------------------------------------------------------------------------------
# the maths, by hand


def test_align_says_which_bucket_each_piece_was_cut_from() -> None:
    # A: [0, 2) and [2, 4); B: [0, 1) and [1, 3): cut at 0, 1, 2, 3, 4; B has nothing in [3, 4)
    got = align(_hist((0, 2, 2), (2, 4, 2)), _hist((0, 1, 3), (1, 3, 1)))
    assert got.p == [1.0, 1.0, 1.0, 1.0] and got.q == [3.0, 0.5, 0.5, 0.0]
    assert got.p_from == [0, 0, 1, 1]
    assert got.q_from[:3] == [0, 1, 1] and got.q_from[3] not in (0, 1)  # an empty piece


def test_least_js_is_the_divergence_at_the_closest_spreads() -> None:
    # as above: A's first bucket can put all its half in [0, 1) and its second all in [2, 3),
    # B its second all in [2, 3): (1/2, 1/2) against (3/4, 1/4) on two buckets, the least
    aligned = align(_hist((0, 2, 2), (2, 4, 2)), _hist((0, 1, 3), (1, 3, 1)))
    p, q, m = (0.5, 0.5), (0.75, 0.25), (0.625, 0.375)
    expected = sum(a * log2(a / b) for a, b in zip(p, m, strict=True)) / 2
    expected += sum(a * log2(a / b) for a, b in zip(q, m, strict=True)) / 2
    assert thresholds.least_js(aligned) == pytest.approx(expected, abs=1e-6)
    assert jensen_shannon_aligned(aligned.p, aligned.q) > expected + 0.05  # the uniform guess
    # one bucket cut by the other side's edges can take any shape: no certain difference
    assert thresholds.least_js(align(_hist((0, 2, 4)), _hist((0, 1, 1), (1, 2, 3)))) < 1e-6
    # equal edges: nothing is guessed, the least divergence is the divergence
    same = align(_hist((0, 1, 3), (1, 2, 1)), _hist((0, 1, 1), (1, 2, 3)))
    assert thresholds.least_js(same) == pytest.approx(jensen_shannon_aligned(same.p, same.q))


def test_js_critical_is_the_g_test_quantile_over_8_n_eff_ln2() -> None:
    # equal edges, 4 buckets with mass: chi2(3); n_eff = 100 * 300 / 400 = 75
    aligned = Aligned([10, 20, 30, 40], [40, 30, 20, 10], [0, 1, 2, 3], [0, 1, 2, 3])
    js = jensen_shannon_aligned(aligned.p, aligned.q)
    got = thresholds.js_critical(js, aligned, (100, 300), 0.01)
    scale = 8 * 75 * math.log(2)
    assert got.threshold == pytest.approx(stats.chi2.ppf(0.99, 3) / scale)
    assert got.p_value == pytest.approx(stats.chi2.sf(scale * js, 3))
    assert (got.test, got.allowance, got.alpha, got.sizes) == ("chi2", 0.0, 0.01, (100, 300))
    # huge sizes: the critical value falls below the floor, which holds
    big = thresholds.js_critical(0.001, aligned, (1e7, 1e7), 0.01)
    assert big.threshold == thresholds.JS_FLOOR and big.p_value < 1e-6


def test_the_allowance_moves_the_threshold_by_what_the_alignment_guessed() -> None:
    aligned = align(_hist((0, 2, 2), (2, 4, 2)), _hist((0, 1, 3), (1, 3, 1)))
    js = jensen_shannon_aligned(aligned.p, aligned.q)
    got = thresholds.js_critical(js, aligned, (50, 50), 0.05)
    least = thresholds.least_js(aligned)
    assert got.allowance == pytest.approx(js - least)
    critical = stats.chi2.ppf(0.95, 3) / (8 * 25 * math.log(2))  # 4 pieces with mass
    assert got.threshold == pytest.approx(max(critical, thresholds.JS_FLOOR) + js - least)
    # above the threshold exactly when the least divergence is above the critical value
    assert (js > got.threshold) == (least > critical)
    assert got.p_value == pytest.approx(stats.chi2.sf(8 * 25 * math.log(2) * least, 3))


def test_l_infinity_critical_is_a_bonferroni_two_proportion_z() -> None:
    # 200 vs 100; pooled frequencies 0.3, 0.5, 0.2: 0.5 has the largest variance
    a, b = [70, 100, 30], [20, 50, 30]
    got = thresholds.l_infinity_critical(0.15, a, b, 0.05)
    sd = math.sqrt(0.25 * (1 / 200 + 1 / 100))
    assert got.threshold == pytest.approx(stats.norm.isf(0.05 / 6) * sd)
    assert got.p_value == pytest.approx(6 * stats.norm.sf(0.15 / sd))
    assert (got.test, got.sizes) == ("z", (200, 100))
    # one value on both sides: nothing can differ; the floor
    one = thresholds.l_infinity_critical(0.0, [5], [7], 0.05)
    assert one.threshold == thresholds.L_INFTY_FLOOR and one.p_value == 1.0


def test_a_sketched_histogram_counts_the_sketch_s_error_as_well_as_the_rows() -> None:
    # exact up to EXACT_VALUES values: every value counts
    assert thresholds.histogram_size(500, 1000) == 500
    assert thresholds.histogram_size(EXACT_VALUES, 4 * EXACT_VALUES) == EXACT_VALUES
    # above: the data's own noise and the sketch's, as variances, 1/n + 1/SKETCH_ROWS
    rows = 4 * EXACT_VALUES
    sketch = thresholds.SKETCH_ROWS
    assert thresholds.histogram_size(rows / 2, rows) == pytest.approx(1 / (2 / rows + 1 / sketch))
    assert thresholds.histogram_size(1e12, 10**12) == pytest.approx(sketch, rel=1e-6)
    # the sketch's documented bucket error, as a sample's 99% error at a share of one half
    eps = kll_doubles_sketch.get_normalized_rank_error(KLL_K, True)
    assert stats.norm.isf(0.005) * math.sqrt(0.25 / sketch) == pytest.approx(eps, rel=1e-4)


# ---------------------------------------------------------------------------------------------
# how compare() decides


def _stats(**tables: pa.Table) -> statistics_pb2.DatasetFeatureStatisticsList:
    out = statistics_pb2.DatasetFeatureStatisticsList()
    for name, t in tables.items():
        out.datasets.append(statistics_from_batches(name, [t]))
    return out


def test_a_set_threshold_stays_fixed_and_no_comparator_is_only_reported() -> None:
    rng = np.random.default_rng(7)
    s = _stats(
        train=pa.table({"x": rng.normal(0, 1, 500), "y": rng.normal(0, 1, 500)}),
        eval=pa.table({"x": rng.normal(3, 1, 500), "y": rng.normal(3, 1, 500)}),
    )
    schema = infer_schema(s)
    feats = {f.name: f for f in schema.feature}
    feats["x"].skew_comparator.jensen_shannon_divergence.threshold = 0.9
    feats["y"].ClearField("skew_comparator")
    got, anomalies = compare("skew", s.datasets[1], s.datasets[0], schema)
    by = {c.feature: c for c in got}
    assert (by["x"].test, by["x"].threshold, by["x"].exceeded) == ("fixed", 0.9, False)
    assert by["x"].p_value is None and by["x"].sizes is None
    assert (by["y"].test, by["y"].threshold, by["y"].exceeded) == ("", None, False)
    assert by["y"].value > 0.5 and anomalies == []


def test_the_false_alarm_rate_is_split_over_the_features_compared() -> None:
    rng = np.random.default_rng(8)
    columns = {f"f{i}": rng.normal(0, 1, 300) for i in range(4)}
    s = _stats(train=pa.table(columns), eval=pa.table(columns))
    schema = infer_schema(s)
    got, _ = compare("skew", s.datasets[1], s.datasets[0], schema)
    assert [c.alpha for c in got] == [pytest.approx(thresholds.ALPHA / 4)] * 4
    got, _ = compare("skew", s.datasets[1], s.datasets[0], schema, alpha=0.2)
    assert [c.alpha for c in got] == [pytest.approx(0.05)] * 4


# ---------------------------------------------------------------------------------------------
# the targets, by simulation: a penguins-like table, fresh samples per window


def _category(codes: np.ndarray, names: list[str], missing: np.ndarray | None = None) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(codes, mask=missing), pa.array(names))


def _table(rng: np.random.Generator, rows: int, *, shifted: bool = False) -> pa.Table:
    """5 numeric columns (a standardised one, one rounded to 0.1, an integer, one rounded to
    25, one of three values) and 3 categorical ones (one with missing values). ``shifted``:
    bill_length_z x 1.5 and 12.5% of the rows moved from Biscoe to Dream."""
    bill = rng.normal(0.0, 1.0, rows)
    island = rng.choice(3, rows, p=[0.5, 0.35, 0.15])
    if shifted:
        bill = bill * 1.5
        moved = rng.choice(np.flatnonzero(island == 0), size=round(0.125 * rows), replace=False)
        island[moved] = 1
    return pa.table(
        {
            "species": _category(
                rng.choice(3, rows, p=[0.44, 0.36, 0.2]), ["Adelie", "Gentoo", "Chinstrap"]
            ),
            "island": _category(island, ["Biscoe", "Dream", "Torgersen"]),
            "bill_length_z": bill,
            "bill_depth_mm": np.round(rng.normal(17.2, 2.0, rows), 1),
            "flipper_length_mm": np.round(rng.normal(201, 14, rows)).astype(np.int64),
            "body_mass_g": (np.round(rng.normal(4200, 800, rows) / 25) * 25).astype(np.int64),
            "sex": _category(rng.integers(0, 2, rows), ["male", "female"], rng.random(rows) < 0.03),
            "year": rng.choice([2007, 2008, 2009], rows),
        }
    )


def _skew(train: pa.Table, data: pa.Table) -> list[Comparison]:
    s = _stats(train=train, data=data)
    return compare("skew", s.datasets[1], s.datasets[0], infer_schema(s))[0]


@pytest.mark.parametrize(("train_rows", "rows"), [(270, 64), (100_000, 100_000)])
def test_at_most_one_of_20_unshifted_windows_flags_anything(train_rows: int, rows: int) -> None:
    flagged = []
    for window in range(20):
        rng = np.random.default_rng([14, train_rows, rows, window])
        over = [c.feature for c in _skew(_table(rng, train_rows), _table(rng, rows)) if c.exceeded]
        flagged += [over] if over else []
    assert len(flagged) <= 1, flagged  # <= 5% of the windows


def test_at_100k_rows_a_scale_of_1_5_and_12_5_percent_moved_are_flagged() -> None:
    rng = np.random.default_rng([14, 1])
    got = {c.feature: c for c in _skew(_table(rng, 100_000), _table(rng, 100_000, shifted=True))}
    assert {f for f, c in got.items() if c.exceeded} == {"bill_length_z", "island"}
    bill, island = got["bill_length_z"], got["island"]
    assert (bill.test, island.test) == ("chi2", "z")
    assert 0.06 < bill.value < 0.1  # the 0.089 on its sample; TFDV's JS
    assert bill.value - bill.allowance > thresholds.JS_FLOOR  # the certain part is a change
    # the histograms' effective counts: the rows' noise and the sketch's error
    sized = thresholds.histogram_size(100_000, 100_000)
    assert bill.sizes == (pytest.approx(sized), pytest.approx(sized)) and sized < 60_000
    assert island.value == pytest.approx(0.125, abs=0.005) and island.threshold < 0.03
    # the unshifted rounded columns measure well above the floor from the alignment alone
    assert got["body_mass_g"].value > 0.01 and not got["body_mass_g"].exceeded


# ---------------------------------------------------------------------------------------------
# the bundled data's gate


def test_the_bundled_penguins_split_shows_no_skew(tmp_path: Path) -> None:
    ingest("bundled:penguins", str(tmp_path / "examples"))
    s = compute_statistics(tmp_path / "examples")
    schema = infer_schema(s)
    comparisons, anomalies = compare_all(s, schema, None, "", "train")
    assert anomalies == []
    assert {c.test for c in comparisons} == {"chi2", "z"}
    # every feature compared at the sizes, none with a fixed threshold
    assert all(f.skew_comparator.ListFields() for f in schema.feature)
    assert all(
        not any(m.HasField("threshold") for _, m in f.skew_comparator.ListFields())
        for f in schema.feature
    )
