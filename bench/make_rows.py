"""Synthetic rows with a learnable label, for the training benchmarks (not a benchmark itself).

    python bench/make_rows.py OUT [--rows 1000000] [--files 1] [--format parquet|csv] [--seed 0]

``OUT`` is a file (``--files 1``) or a folder of ``part-NNNNN.<format>`` files. The rows are
deterministic for a seed, made and written 500,000 at a time (memory stays flat at 10M rows):

- ``num_0`` … ``num_9``: floats of different scales and offsets, 2% nulls in ``num_0``-``num_2``;
- ``cat_0`` … ``cat_5``: strings with 3, 5, 10, 20, 60 and 200 distinct values (the last two
  above mlrail's one-hot limit, so they are embedded);
- ``label``: 0/1 drawn from a logistic model of the features (linear terms, two interactions,
  a sine, and a per-category effect), so a model can learn it but not perfectly: the Bayes
  rate of the label is printed (the log loss of the true probabilities, the floor for eval loss).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

__all__ = ["CATEGORIES", "NUMERIC", "make_rows", "table"]

NUMERIC = 10
CATEGORIES = (3, 5, 10, 20, 60, 200)
_CHUNK = 500_000


def table(rows: int, seed: int, start: int = 0) -> tuple[pa.Table, np.ndarray]:
    """``rows`` rows (the chunk beginning at row ``start`` of the seed's sequence) and the true
    probability of ``label == 1`` for each."""
    rng = np.random.default_rng([seed, start])
    coef = np.random.default_rng(seed).normal(size=NUMERIC)  # the same model in every chunk
    scale = np.array([1, 10, 100, 0.1, 1, 5, 1000, 1, 2, 50], np.float64)
    offset = np.array([0, 50, -300, 0, 10, 0, 5000, -2, 0, 100], np.float64)
    z = rng.normal(size=(rows, NUMERIC))
    logit = z @ coef * 0.6 + 0.8 * z[:, 0] * z[:, 1] - 0.6 * z[:, 2] * z[:, 3] + np.sin(2 * z[:, 4])
    cols: dict[str, pa.Array] = {}
    for k in range(NUMERIC):
        v = z[:, k] * scale[k] + offset[k]
        mask = (rng.random(rows) < 0.02) if k < 3 else None
        cols[f"num_{k}"] = pa.array(v, mask=mask)
    for k, n in enumerate(CATEGORIES):
        codes = rng.integers(0, n, size=rows)
        effect = np.random.default_rng([seed, 99, k]).normal(scale=0.7, size=n)
        logit += effect[codes]
        names = np.array([f"c{k}_{v}" for v in range(n)], dtype=object)
        cols[f"cat_{k}"] = pa.array(names[codes], pa.string())
    p = 1.0 / (1.0 + np.exp(-(logit - 0.3)))
    cols["label"] = pa.array((rng.random(rows) < p).astype(np.int64))
    return pa.table(cols), p


def make_rows(
    out: str | Path, rows: int, files: int = 1, fmt: str = "parquet", seed: int = 0
) -> float:
    """Write the rows (module doc); returns the label's Bayes log loss."""
    out = Path(out)
    paths = [out] if files == 1 else [out / f"part-{f:05d}.{fmt}" for f in range(files)]
    if files > 1:
        out.mkdir(parents=True, exist_ok=True)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
    per_file = -(-rows // files)
    loss_sum = 0.0
    for f, path in enumerate(paths):
        n_file = min(per_file, rows - f * per_file)
        writer = None
        tmp = path.with_name(path.name + ".tmp")
        for start in range(0, n_file, _CHUNK):
            t, p = table(min(_CHUNK, n_file - start), seed, f * per_file + start)
            y = t.column("label").to_numpy()
            loss_sum -= float(np.sum(np.log(np.where(y == 1, p, 1 - p))))
            if fmt == "parquet":
                writer = writer or pq.ParquetWriter(tmp, t.schema)
                writer.write_table(t)
            else:
                if writer is None:
                    writer = pcsv.CSVWriter(tmp, t.schema)
                writer.write_table(t)
        if writer is not None:
            writer.close()
        tmp.replace(path)
    return loss_sum / rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=1)
    ap.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    bayes = make_rows(a.out, a.rows, a.files, a.format, a.seed)
    print(
        f"{a.rows} rows -> {a.out}; Bayes log loss of the label {bayes:.4f} "
        f"(a constant guess: {_constant_loss(a.out):.4f})"
    )


def _constant_loss(out: str) -> float:
    path = Path(out)
    files = [path] if path.is_file() else sorted(path.glob("part-*"))
    if files[0].suffix != ".parquet":
        return math.nan
    y = np.concatenate(
        [pq.read_table(f, columns=["label"]).column("label").to_numpy() for f in files]
    )
    q = float(y.mean())
    return -(q * math.log(q) + (1 - q) * math.log(1 - q))


if __name__ == "__main__":
    main()
