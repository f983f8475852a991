"""False alarms and detections of validate's (and monitor's) size-dependent skew thresholds.

A penguins-like table (5 numeric columns: a standardised bill length (normal, mean 0), bill
depth rounded to 0.1, an integer, one rounded to 25, one with three values; 3 categorical
columns, one with missing values) is drawn afresh for each
window. For each size (64 vs 270 rows, like the penguins eval/train split; 100k vs 100k, a
serving window) it prints:

- the false-alarm rate: over ``--windows`` unshifted windows (both sides from the same
  distribution, fresh samples), the share with any feature flagged;
- the shifted case: ``bill_length_z`` multiplied by 1.5 and 12.5% of ``island``'s rows moved
  from Biscoe to Dream in the data under test, each feature's test, statistic, threshold,
  allowance and p-value.

Run: ``.venv/bin/python bench/bench_drift_thresholds.py [--windows 20] [--seed 0]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pyarrow as pa
from tensorflow_metadata.proto.v0 import statistics_pb2

from mlrail.validation.comparisons import compare
from mlrail.validation.findings import Comparison
from mlrail.validation.schema import infer_schema
from mlrail.validation.statistics import statistics_from_batches

SIZES = [(270, 64), (100_000, 100_000)]


def _category(
    codes: np.ndarray, names: list[str], missing: np.ndarray | None = None
) -> pa.DictionaryArray:
    # dictionary-encoded: a million strings drawn as codes, not built as Python objects
    return pa.DictionaryArray.from_arrays(pa.array(codes, mask=missing), pa.array(names))


def table(rng: np.random.Generator, rows: int, *, shifted: bool = False) -> pa.Table:
    """A penguins-like table; ``shifted``: bill_length_z x 1.5 and 12.5% of rows from Biscoe
    to Dream in island (Biscoe holds half the rows, so a quarter of Biscoe's)."""
    bill = rng.normal(0.0, 1.0, rows)
    island = rng.choice(3, rows, p=[0.5, 0.35, 0.15])  # Biscoe, Dream, Torgersen
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


def skew(train: pa.Table, data: pa.Table) -> list[Comparison]:
    """Every feature's skew of ``data`` against ``train``, with the inferred schema."""
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    stats.datasets.append(statistics_from_batches("train", [train]))
    stats.datasets.append(statistics_from_batches("data", [data]))
    comparisons, _ = compare("skew", stats.datasets[1], stats.datasets[0], infer_schema(stats))
    return comparisons


def false_alarms(train_rows: int, rows: int, windows: int, seed: int) -> tuple[int, list[str]]:
    """How many of ``windows`` unshifted windows flag any feature, and which features."""
    flagged = 0
    which: list[str] = []
    for w in range(windows):
        rng = np.random.default_rng([seed, train_rows, rows, w])
        got = skew(table(rng, train_rows), table(rng, rows))
        over = [c.feature for c in got if c.exceeded]
        flagged += bool(over)
        which += over
    return flagged, which


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args()
    for train_rows, rows in SIZES:
        start = time.perf_counter()
        n, which = false_alarms(train_rows, rows, a.windows, a.seed)
        print(
            f"{rows:,} vs {train_rows:,} rows: {n}/{a.windows} unshifted windows flagged "
            f"({n / a.windows:.0%}){' — ' + ', '.join(which) if which else ''} "
            f"[{time.perf_counter() - start:.1f} s]"
        )
        rng = np.random.default_rng([a.seed, train_rows, rows, 10**6])
        print("  shifted (bill_length_z x 1.5, 12.5% of island Biscoe -> Dream):")
        for c in skew(table(rng, train_rows), table(rng, rows, shifted=True)):
            sizes = "" if c.sizes is None else f"{c.sizes[0]:,.0f} vs {c.sizes[1]:,.0f}"
            print(
                f"    {c.feature:18} {c.test:4} {c.measure:26} {c.value:8.4f} > "
                f"{c.threshold:.4f}? {'FLAGGED' if c.exceeded else 'no':7} "
                f"allowance {c.allowance or 0:.4f}  p {c.p_value:.2g}  values {sizes}"
            )


if __name__ == "__main__":
    main()
