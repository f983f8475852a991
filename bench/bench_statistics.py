"""The statistics pass with KLL sketches against the 65,536-row sample it replaced; merge costs.

    python bench/bench_statistics.py [--rows 1000000] [--runs 5] [--shard-rows 100000]
                                     [--merge 2,10,100] [--baseline COMMIT]
                                     [--data-dir /tmp/mlrail-bench-statistics]

The baseline is the code itself at ``--baseline`` (default: the parent of the commit that
removed the sample, found with ``git log -S"class Sample:"``), extracted with ``git archive``
into the data folder and imported in a child process through ``PYTHONPATH`` (ahead of the
editable install), so both passes are the real ones, not a copy.

Data (made once, deterministic): ``--rows`` rows of bench_data.py's synthetic table (10 float
columns with 5% nulls, 6 string columns of 5 to 5,000 values, an int label) plus ``z``, a
standard normal column, as one Parquet part of an examples artifact's ``train`` split.

Figures, each job in a fresh child process (its own timing after imports; peak RSS by wait4):

- ``pass``: ``statistics_from_batches`` over the table's 131,072-row record batches (in memory:
  the statistics alone), old and new alternating, ``--runs`` times; ratio new / old per run;
- ``parquet``: ``compute_statistics`` over the examples folder (Parquet decoding included);
- ``shard``: ``statistics_artifact`` (new) on a ``--shard-rows`` examples folder and on the
  whole: the per-shard statistics step (read, statistics, FeatureStats.pb and the mergeable
  state written), rows/s and the state's size;
- accuracy: the median, the 10% and the 90% decile of ``z``: exact (numpy), the sample's
  (deterministic) and the sketch's (varies by run: median and range over the runs);
- ``error``: the sketch's own error on ``z`` over 50 shuffles: each decile's rank error and each
  STANDARD bucket's share error, standard deviation and largest, against the stated bounds;
- ``merge``: the table cut into N shards (N of ``--merge``), each shard's artifact written (not
  timed); then ``merge_statistics`` over the N folders (read, decode, merge, summarise, write)
  and the in-memory merge of the N decoded states alone, median of 3; per shard = time / N.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CARDINALITIES = (5, 20, 100, 500, 1000, 5000)
REPO = Path(__file__).resolve().parents[1]


def make_data(rows: int, shard_rows: int, folder: Path) -> None:
    """bench_data.py's synthetic table plus a standard normal ``z``, as the train split of two
    examples folders: every row (``examples-<rows>``) and the first ``shard_rows``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(20261125)
    columns: dict[str, Any] = {}
    for i in range(10):
        values = rng.normal(loc=10.0 * i, scale=1.0 + i, size=rows)
        columns[f"num_{i}"] = pa.array(values, mask=rng.random(rows) < 0.05)
    for i, k in enumerate(CARDINALITIES):
        vocabulary = np.array([f"c{i}_{j:04d}" for j in range(k)], dtype=object)
        columns[f"cat_{i}"] = pa.array(vocabulary[rng.integers(0, k, rows)])
    columns["label"] = pa.array(rng.integers(0, 2, rows))
    columns["z"] = pa.array(np.random.default_rng(7).standard_normal(rows))
    table = pa.table(columns)
    for n in (rows, shard_rows):
        part = _part(folder, n)
        part.parent.mkdir(parents=True, exist_ok=True)
        tmp = part.with_name(f".{part.name}.tmp")
        pq.write_table(table.slice(0, n), tmp)
        os.replace(tmp, part)


def _part(folder: Path, rows: int) -> Path:
    return folder / f"examples-{rows}" / "train" / "part-00000.parquet"


def baseline_tree(commit: str, folder: Path) -> Path:
    """``mlrail/`` at ``commit``, extracted once into ``folder``."""
    tree = folder / f"baseline-{commit[:12]}"
    if not (tree / "mlrail" / "validation" / "statistics.py").is_file():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", commit, "mlrail"], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def _z_figures(ds: Any) -> dict[str, float]:
    z = next(f for f in ds.features if f.path.step[0] == "z").num_stats
    q = next(h for h in z.histograms if h.type == 1)  # QUANTILES
    return {"median": z.median, "q10": q.buckets[1].low_value, "q90": q.buckets[9].low_value}


# --- jobs, each in a child process ------------------------------------------------------------


def job(name: str, arg: str, data: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from mlrail.validation import statistics as st

    out: dict[str, Any] = {"module": st.__file__}
    if name == "pass":
        batches = pq.read_table(data / "train" / "part-00000.parquet").to_batches(131_072)
        st.statistics_from_batches("warm", batches[:1])  # thread pools, first-call costs
        start = time.perf_counter()
        ds = st.statistics_from_batches("train", batches)
        out["seconds"] = time.perf_counter() - start
        out.update(_z_figures(ds))
    elif name == "parquet":
        start = time.perf_counter()
        ds = st.compute_statistics(data).datasets[0]
        out["seconds"] = time.perf_counter() - start
    elif name == "shard":
        from mlrail.validation.merge import statistics_artifact

        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            stats = statistics_artifact(data, Path(tmp) / "st")
            out["seconds"] = time.perf_counter() - start
            state = Path(tmp) / "st" / "Split-train" / "mlrail_partial.bin"
            out["state_bytes"] = state.stat().st_size
        out["rows"] = stats.datasets[0].num_examples
    elif name == "merge":
        out.update(_merge(int(arg), data))
    elif name == "error":
        out.update(_error(int(arg), data))
    else:
        raise SystemExit(f"unknown job {name!r}")
    return out


def _merge(n: int, data: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from mlrail.validation.merge import (
        merge_statistics,
        read_partial_statistics,
        write_partial_statistics,
    )
    from mlrail.validation.partial import PartialStatistics, merge_partials
    from mlrail.validation.statistics import partial_from_batches

    table = pq.read_table(data / "train" / "part-00000.parquet")
    with tempfile.TemporaryDirectory() as tmp:
        folders = []
        for k in range(n):
            a, b = k * table.num_rows // n, (k + 1) * table.num_rows // n
            state = partial_from_batches("train", table.slice(a, b))
            folders.append(Path(tmp) / f"st{k}")
            write_partial_statistics(folders[-1], {"train": state})
        states = [read_partial_statistics(f)["train"] for f in folders]
        blobs = [s.to_bytes() for s in states]
        whole, alone, decode = [], [], []
        for r in range(3):
            start = time.perf_counter()
            merge_statistics(folders, Path(tmp) / f"merged{r}")
            whole.append(time.perf_counter() - start)
            start = time.perf_counter()
            decoded = [PartialStatistics.from_bytes(b, "bench") for b in blobs]
            decode.append(time.perf_counter() - start)
            start = time.perf_counter()
            merge_partials(decoded, "train")
            alone.append(time.perf_counter() - start)
    return {
        "seconds": statistics.median(whole),
        "decode": statistics.median(decode),
        "merge_only": statistics.median(alone),
        "state_kb": sum(len(b) for b in blobs) / n / 1024,
    }


def _error(sketches: int, data: Path) -> dict[str, Any]:
    """The sketch's errors on ``z`` over ``sketches`` shuffles: each decile's normalized rank
    error and each STANDARD bucket's share error (standard deviation and largest)."""
    import numpy as np
    import pyarrow.parquet as pq
    from datasketches import kll_doubles_sketch

    from mlrail.validation.accumulators import KLL_K

    z = pq.read_table(data / "train" / "part-00000.parquet", columns=["z"])["z"].to_numpy()
    zs = np.sort(z)
    ranks = np.linspace(0.1, 0.9, 9)
    edges = np.linspace(zs[0], zs[-1], 11)[1:-1]
    exact = np.diff(np.concatenate([[0], np.searchsorted(zs, edges), [len(z)]])) / len(z)
    rank_err, share_err = [], []
    rng = np.random.default_rng(3)
    for _ in range(sketches):
        sketch = kll_doubles_sketch(KLL_K)
        shuffled = rng.permutation(z)
        for i in range(0, len(z), 131_072):
            sketch.update(shuffled[i : i + 131_072])
        got = np.array(sketch.get_quantiles(list(ranks), inclusive=True))
        lo = np.searchsorted(zs, got, "left") / len(z)
        hi = np.searchsorted(zs, got, "right") / len(z)
        rank_err.append(np.where(lo > ranks, lo - ranks, np.where(hi < ranks, ranks - hi, 0.0)))
        share_err.append(np.array(sketch.get_pmf(list(edges))) - exact)
    r, e = np.array(rank_err), np.array(share_err)
    return {
        "rank_sd": float(r.std(axis=0).max()),
        "rank_max": float(np.abs(r).max()),
        "share_sd": float(e.std(axis=0).max()),
        "share_max": float(np.abs(e).max()),
        "rank_bound": kll_doubles_sketch.get_normalized_rank_error(KLL_K, False),
        "share_bound": kll_doubles_sketch.get_normalized_rank_error(KLL_K, True),
        "sketches": sketches,
    }


def run_child(name: str, arg: str, data: Path, tree: Path | None = None) -> dict[str, Any]:
    """A job in a fresh interpreter (``tree``: the baseline's ``mlrail`` ahead of ours)."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    cmd = [sys.executable, __file__, "--job", name, arg, str(data)]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, cwd=tempfile.gettempdir())
    assert process.stdout is not None
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"job {name} {arg} failed")
    figures: dict[str, Any] = json.loads(out)
    expected = str(tree) if tree is not None else str(REPO)
    if not figures["module"].startswith(expected):  # the baseline must be the baseline
        raise SystemExit(f"job {name} imported {figures['module']}, not from {expected}")
    figures["rss_mb"] = usage.ru_maxrss / 1024
    return figures


def spread(values: list[float], fmt: str = ".3f") -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--shard-rows", type=int, default=100_000)
    parser.add_argument("--merge", default="2,10,100")
    parser.add_argument("--baseline", default="")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "mlrail-bench-statistics"
    )
    parser.add_argument("--job", nargs=3, metavar=("JOB", "ARG", "DATA"), help=argparse.SUPPRESS)
    parser.add_argument("--make", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        make_data(args.rows, args.shard_rows, args.data_dir)
        return 0
    if args.job:
        print(json.dumps(job(args.job[0], args.job[1], Path(args.job[2]))))
        return 0

    import numpy as np
    import pyarrow.parquet as pq

    commit = args.baseline or _baseline_commit()
    tree = baseline_tree(commit, args.data_dir)
    full, shard = (_part(args.data_dir, n).parents[1] for n in (args.rows, args.shard_rows))
    if not all(_part(args.data_dir, n).is_file() for n in (args.rows, args.shard_rows)):
        # in a child: a job forked later starts its peak RSS from its parent's, kept small
        sizes = ["--rows", str(args.rows), "--shard-rows", str(args.shard_rows)]
        where = ["--data-dir", str(args.data_dir)]
        subprocess.run([sys.executable, __file__, "--make", *sizes, *where], check=True)

    runs: dict[str, list[dict[str, Any]]] = {}
    for _ in range(args.runs):
        for key, name, t in (("old", "pass", tree), ("new", "pass", None)):
            runs.setdefault(key, []).append(run_child(name, "", full, t))
        for key, t in (("old-parquet", tree), ("new-parquet", None)):
            runs.setdefault(key, []).append(run_child("parquet", "", full, t))
    shards = {
        rows: [run_child("shard", "", folder) for _ in range(3)]
        for rows, folder in ((args.shard_rows, shard), (args.rows, full))
    }
    merges = {int(n): run_child("merge", n, full) for n in args.merge.split(",")}
    error = run_child("error", "50", full)

    z = np.sort(pq.read_table(_part(args.data_dir, args.rows), columns=["z"])["z"].to_numpy())
    exact = {k: float(np.quantile(z, q)) for k, q in (("median", 0.5), ("q10", 0.1), ("q90", 0.9))}
    print(
        f"{args.rows:,} rows (10 float, 6 string, 1 int, z ~ N(0, 1)); baseline {commit[:12]} "
        f"(the 65,536-row sample); {args.runs} runs; {os.cpu_count()} CPUs; median (min-max)"
    )
    _report(args, runs, shards, merges, exact, z)
    print(
        f"\nthe sketch's error on z over {error['sketches']} shuffles (k as shipped): rank error "
        f"of a decile sd {error['rank_sd']:.5f}, largest {error['rank_max']:.5f} (bound "
        f"{error['rank_bound']:.5f}); a STANDARD bucket's share sd {error['share_sd']:.5f}, "
        f"largest {error['share_max']:.5f} (bound {error['share_bound']:.5f}, as a 99% normal "
        f"error: sd {error['share_bound'] / 2.5758:.5f})"
    )
    return 0


def _baseline_commit() -> str:
    found = subprocess.run(
        ["git", "-C", str(REPO), "log", "-1", "--format=%H", "-Sclass Sample:", "--",
         "mlrail/validation/accumulators.py"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    return subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", f"{found}^"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def _report(
    args: argparse.Namespace,
    runs: dict[str, list[dict[str, Any]]],
    shards: dict[int, list[dict[str, Any]]],
    merges: dict[int, dict[str, Any]],
    exact: dict[str, float],
    z: Any,
) -> None:
    import numpy as np

    print("\nstatistics pass                      seconds             M rows/s  peak RSS MB  ratio")
    for label, old, new in (
        ("in memory (statistics_from_batches)", "old", "new"),
        ("from Parquet (compute_statistics)", "old-parquet", "new-parquet"),
    ):
        ratio = [n["seconds"] / o["seconds"] for o, n in zip(runs[old], runs[new], strict=True)]
        for key, name in ((old, "sample"), (new, "KLL")):
            secs = [r["seconds"] for r in runs[key]]
            rate = args.rows / statistics.median(secs) / 1e6
            rss = statistics.median(r["rss_mb"] for r in runs[key])
            tail = f"  {spread(ratio, '.2f')}" if key == new else ""
            print(f"  {label:<34} {name:<6} {spread(secs)}  {rate:6.2f}  {rss:9.0f}{tail}")
    print("\nper-shard statistics step (statistics_artifact: read, pass, write; KLL)")
    for rows, got in shards.items():
        secs = [g["seconds"] for g in got]
        print(
            f"  {rows:>9,} rows  {spread(secs)} s  {rows / statistics.median(secs) / 1e6:.2f} M "
            f"rows/s  state {got[0]['state_bytes'] / 1024:.0f} KiB  peak RSS "
            f"{statistics.median(g['rss_mb'] for g in got):.0f} MB"
        )
    print("\naccuracy on z ~ N(0, 1): value (normalized rank error against the exact ranks)")

    def rank(v: float, q: float) -> float:
        lo, hi = np.searchsorted(z, v, "left") / len(z), np.searchsorted(z, v, "right") / len(z)
        return 0.0 if lo <= q <= hi else (lo - q if lo > q else q - hi)

    for key, q in (("median", 0.5), ("q10", 0.1), ("q90", 0.9)):
        old = runs["old"][0][key]
        new = [r[key] for r in runs["new"]]
        errs = [rank(v, q) for v in new]
        print(
            f"  {key:<6} exact {exact[key]:+.4f}  sample {old:+.4f} ({rank(old, q):.5f})  "
            f"KLL {spread(new, '+.4f')} ({spread(errs, '.5f')})"
        )
    print("\nmerge of N shards' states (1 split, 17 columns)      seconds   per shard  state KiB")
    for n, m in merges.items():
        print(
            f"  N={n:<4} merge_statistics (read, decode, merge, write) {m['seconds']:.3f}  "
            f"{m['seconds'] / n * 1e3:7.2f} ms   {m['state_kb']:.0f}"
        )
        print(
            f"         decode only {m['decode']:.3f} ({m['decode'] / n * 1e3:.2f} ms/shard), "
            f"merge only {m['merge_only']:.3f} ({m['merge_only'] / n * 1e3:.2f} ms/shard)"
        )


if __name__ == "__main__":
    sys.exit(main())
