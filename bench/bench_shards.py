"""Data shards side by side against one pass over the same files (issue 16).

    python bench/bench_shards.py [--rows 10000000] [--files 10] [--parallelism 2] [--runs 3]
                                 [--data-dir /tmp/mlrail-bench-shards]

What the sharded pipeline's data steps do, with the steps' own core functions, each step in a
fresh Python process as kfp.local (and a pod) runs it, at most ``--parallelism`` shard processes
at once; the whole KFP pipeline is not run (its other steps would dominate and measure nothing
about shards). Data (made once, deterministic): ``--rows`` rows in ``--files`` Parquet files
(``source/part-NN.parquet``): 6 float columns (one with 1% NaN, one with 5% nulls), 2 integer
columns, 4 text columns of 10 to 1,000 values (one with 5% nulls), a text label.

- ``statistics``: one process computing the statistics of the whole examples artifact
  (``statistics_artifact`` over every shard's parts, i.e. validate's pass), against the
  statistics step run per shard (``--files`` processes, ``--parallelism`` at once) plus one
  process merging their artifacts (``merge_statistics``). The examples are each shard's
  ingest output, made once before (and their union, hard links, for the one pass).
- ``ingest+statistics``: the whole data path: one process ingesting the source folder and
  computing its statistics, against per shard one process ingesting its file and computing the
  statistics of what it wrote, then one process running merge's core (the examples union and
  the statistics merge).

Each is run ``--runs`` times, the one pass and the sharded run alternating; the figures are the
median (min-max) of the wall times (the parent's clock: interpreter start and imports
included, as a pod pays them), the ratio sharded / one pass per run, and the peak RSS of each
process (``wait4``): the one pass's, and each shard's (median and max over the shards).

Accuracy, on the last run's artifacts: the merged statistics against the one pass's, per split
and feature: the exact fields (counts, missing, zeros, min, max, value counts, top values) must
be equal, mean and standard deviation are compared relatively; the sketched fields (median,
deciles, equal-width histogram) of both are compared with the truth (every value of the split,
sorted in numpy): the largest normalized rank error of a decile and the largest error of a
bucket's share, against the KLL bounds (``kll_doubles_sketch.get_normalized_rank_error``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
_CHUNK = 500_000


# --- data --------------------------------------------------------------------------------------


def make_source(rows: int, files: int, folder: Path) -> None:
    """``rows`` rows in ``files`` Parquet files (see the module doc), made once."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    done = folder / f".done-{rows}-{files}"
    if done.exists():
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    per = -(-rows // files)
    vocab = {
        n: np.array([f"v{n}_{j}" for j in range(n)], dtype=object) for n in (10, 50, 200, 1000)
    }
    for f in range(files):
        n = min(per, rows - f * per)
        writer = None
        for start in range(0, n, _CHUNK):
            m = min(_CHUNK, n - start)
            rng = np.random.default_rng([20261203, f, start])
            x0 = rng.normal(size=m)
            x1 = rng.lognormal(3.0, 1.0, size=m)
            x1[rng.random(m) < 0.01] = np.nan
            cols: dict[str, Any] = {
                "id": pa.array(np.arange(f * per + start, f * per + start + m)),
                "x0": pa.array(x0),
                "x1": pa.array(x1),
                "x2": pa.array(rng.normal(1000.0, 50.0, size=m), mask=rng.random(m) < 0.05),
                "x3": pa.array(rng.exponential(2.0, size=m)),
                "x4": pa.array(rng.uniform(-1, 1, size=m)),
                "x5": pa.array(x0 * 0.5 + rng.normal(size=m)),
                "n0": pa.array(rng.integers(0, 1000, size=m)),
                "n1": pa.array(rng.poisson(3.0, size=m)),
            }
            for i, k in enumerate(vocab):
                values = vocab[k][rng.zipf(1.5, size=m) % k]
                mask = (rng.random(m) < 0.05) if i == 3 else None
                cols[f"c{i}"] = pa.array(values, mask=mask)
            cols["label"] = pa.array(np.where(x0 + rng.normal(size=m) > 0, "yes", "no"))
            table = pa.table(cols)
            if writer is None:
                writer = pq.ParquetWriter(folder / f"part-{f:02d}.parquet", table.schema)
            writer.write_table(table, row_group_size=_CHUNK)
        assert writer is not None
        writer.close()
    done.touch()


# --- jobs (each in its own process) ------------------------------------------------------------


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: since its exec, unlike ``ru_maxrss``, which
    Linux carries over from the parent across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no VmHWM in /proc/self/status")


def job(name: str, args: list[str]) -> dict[str, Any]:
    """One step, as its component's core runs it; returns its figures (JSON): the seconds its
    imports took, the seconds of its work, its peak RSS."""
    start = time.perf_counter()
    # every job imports what any step imports: the same start-up cost for each process
    from mlrail.components.ingest.core import ingest
    from mlrail.components.merge.core import ShardArtifact, merge
    from mlrail.validation.merge import merge_statistics, statistics_artifact

    imported = time.perf_counter()
    out: dict[str, Any] = {}
    if name == "ingest":  # source, examples
        r = ingest(args[0], args[1])
        out = {"source": r.source, "fingerprint": r.fingerprint, "rows": r.rows}
    elif name == "statistics":  # examples, statistics
        statistics_artifact(args[0], args[1])
    elif name == "ingest+statistics":  # source, examples, statistics
        r = ingest(args[0], args[1])
        statistics_artifact(args[1], args[2])
        out = {"source": r.source, "fingerprint": r.fingerprint, "rows": r.rows}
    elif name == "merge-statistics":  # output, inputs...
        merge_statistics(args[1:], args[0])
    elif name == "merge":  # plan JSON file, examples out, statistics out
        plan = json.loads(Path(args[0]).read_text())
        merge(
            plan["shards"],
            [ShardArtifact(p, m) for p, m in plan["examples"]],
            [ShardArtifact(p, m) for p, m in plan["statistics"]],
            args[1],
            args[2],
        )
    else:
        raise SystemExit(f"no job {name!r}")
    out["imports"] = imported - start
    out["work"] = time.perf_counter() - imported
    out["rss_mb"] = _peak_rss_mb()
    return out


def run_child(name: str, *args: str | Path) -> dict[str, Any]:
    """``job`` in a fresh interpreter; adds its wall time (the parent's clock: interpreter
    start included) and CPU time (user + system, ``wait4``)."""
    cmd = [sys.executable, __file__, "--job", name, *map(str, args)]
    start = time.perf_counter()
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=tempfile.gettempdir())
    assert process.stdout is not None
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"job {name} {args} failed")
    figures: dict[str, Any] = json.loads(out)
    figures["wall"] = wall
    figures["cpu"] = usage.ru_utime + usage.ru_stime
    return figures


def fan_out(
    jobs: list[tuple[str, list[str | Path]]], parallelism: int
) -> tuple[float, list[dict[str, Any]]]:
    """Run ``jobs`` (one process each), at most ``parallelism`` at once; wall time and figures."""
    start = time.perf_counter()
    with ThreadPoolExecutor(parallelism) as pool:
        results = list(pool.map(lambda j: run_child(j[0], *j[1]), jobs))
    return time.perf_counter() - start, results


# --- the runs ----------------------------------------------------------------------------------


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    return path


def statistics_run(data: Path, files: int, parallelism: int) -> dict[str, Any]:
    one = run_child("statistics", data / "union", _fresh(data / "out" / "one-statistics"))
    outs = [_fresh(data / "out" / f"st-{i}") for i in range(files)]
    fan, shards = fan_out(
        [("statistics", [data / "shards" / f"ex-{i}", outs[i]]) for i in range(files)], parallelism
    )
    merged = run_child("merge-statistics", _fresh(data / "out" / "merged-statistics"), *outs)
    return {"one": one, "fan": fan, "shards": shards, "merge": merged}


def pipeline_run(data: Path, files: int, parallelism: int) -> dict[str, Any]:
    one = run_child(
        "ingest+statistics",
        data / "source",
        _fresh(data / "out" / "one-examples"),
        _fresh(data / "out" / "one-path-statistics"),
    )
    sources = sorted((data / "source").glob("part-*.parquet"))
    ex = [_fresh(data / "out" / f"p-ex-{i}") for i in range(files)]
    st = [_fresh(data / "out" / f"p-st-{i}") for i in range(files)]
    fan, shards = fan_out(
        [("ingest+statistics", [sources[i], ex[i], st[i]]) for i in range(files)], parallelism
    )
    plan = {
        "shards": [{"name": str(s), "span": ""} for s in sources],
        "examples": [
            [
                str(ex[i]),
                {
                    "source": r["source"],
                    "fingerprint": r["fingerprint"],
                    "files": [r["source"]],
                    "num_files": 1,
                    "format": "parquet",
                },
            ]
            for i, r in enumerate(shards)
        ],
        "statistics": [[str(st[i]), {"source": r["source"]}] for i, r in enumerate(shards)],
    }
    (data / "out" / "plan.json").write_text(json.dumps(plan))
    merged = run_child(
        "merge",
        data / "out" / "plan.json",
        _fresh(data / "out" / "merged-examples"),
        _fresh(data / "out" / "merged-path-statistics"),
    )
    return {"one": one, "fan": fan, "shards": shards, "merge": merged}


def prepare(data: Path, rows: int, files: int, parallelism: int) -> None:
    """The source files, each shard's examples and their union (not timed)."""
    from mlrail.components.merge.core import merge_examples

    make_source(rows, files, data / "source")
    (data / "out").mkdir(exist_ok=True)
    marker = data / "shards" / f".done-{rows}-{files}"
    if not marker.exists():
        _fresh(data / "shards").mkdir()
        sources = sorted((data / "source").glob("part-*.parquet"))
        fan_out(
            [("ingest", [s, data / "shards" / f"ex-{i}"]) for i, s in enumerate(sources)],
            parallelism,
        )
        merge_examples([data / "shards" / f"ex-{i}" for i in range(files)], _fresh(data / "union"))
        marker.touch()


# --- accuracy ----------------------------------------------------------------------------------


def compare(one_dir: Path, merged_dir: Path, examples: Path) -> dict[str, Any]:
    """The merged statistics against the one pass's and against the truth (module doc)."""
    import numpy as np
    import pyarrow.compute as pc
    from datasketches import kll_doubles_sketch

    from mlrail.artifacts.examples import read_split
    from mlrail.artifacts.tfmd import load_statistics
    from mlrail.validation.accumulators import KLL_K

    one = {ds.name: ds for ds in load_statistics(one_dir).datasets}
    merged = {ds.name: ds for ds in load_statistics(merged_dir).datasets}
    exact_diffs: list[str] = []
    moments = 0.0
    rank_errors = {"one": 0.0, "merged": 0.0}
    share_errors = {"one": 0.0, "merged": 0.0}
    for split, m_ds in merged.items():
        o_ds = one[split]
        if m_ds.num_examples != o_ds.num_examples:
            exact_diffs.append(f"{split}: num_examples")
        table = read_split(examples / split)
        o_feats = {f.path.step[0]: f for f in o_ds.features}
        for f in m_ds.features:
            name = f.path.step[0]
            g = o_feats[name]
            if f.HasField("string_stats"):
                a, b = f.string_stats, g.string_stats
                same = (
                    a.common_stats,
                    a.unique,
                    list(a.top_values),
                    list(a.rank_histogram.buckets),
                )
                if same != (
                    b.common_stats,
                    b.unique,
                    list(b.top_values),
                    list(b.rank_histogram.buckets),
                ):
                    exact_diffs.append(f"{split}/{name}: string statistics")
                continue
            a, b = f.num_stats, g.num_stats
            if (a.common_stats, a.num_zeros, a.min, a.max) != (
                b.common_stats,
                b.num_zeros,
                b.min,
                b.max,
            ):
                exact_diffs.append(f"{split}/{name}: counts or extremes")
            for x, y in ((a.mean, b.mean), (a.std_dev, b.std_dev)):
                moments = max(moments, abs(x - y) / max(abs(y), 1e-300))
            col = table.column(name).cast("float64")
            values = np.sort(pc.drop_null(col).to_numpy(zero_copy_only=False))
            values = values[np.isfinite(values)]
            n = len(values)
            for who, stats in (("merged", a), ("one", b)):
                hists = {h.type: h for h in stats.histograms}
                quant = hists[1]  # QUANTILES: buckets between the deciles
                edges = [bk.low_value for bk in quant.buckets][1:]
                for i, v in enumerate(edges, start=1):
                    lo = np.searchsorted(values, v, side="left") / n
                    hi = np.searchsorted(values, v, side="right") / n
                    target = i / 10
                    err = 0.0 if lo <= target <= hi else min(abs(lo - target), abs(hi - target))
                    rank_errors[who] = max(rank_errors[who], err)
                for bk in hists[0].buckets:  # STANDARD: equal width, [low, high)
                    if not math.isfinite(bk.low_value) or bk.low_value == bk.high_value:
                        continue
                    last = bk.high_value >= values[-1]
                    count = np.searchsorted(values, bk.high_value, side="right" if last else "left")
                    count -= np.searchsorted(values, bk.low_value, side="left")
                    share_errors[who] = max(share_errors[who], abs(bk.sample_count - count) / n)
    return {
        "exact_differences": exact_diffs,
        "moments_max_relative_difference": moments,
        "decile_rank_error": rank_errors,
        "bucket_share_error": share_errors,
        "bound_rank": kll_doubles_sketch.get_normalized_rank_error(KLL_K, False),
        "bound_share": kll_doubles_sketch.get_normalized_rank_error(KLL_K, True),
    }


# --- report ------------------------------------------------------------------------------------


def spread(values: list[float], fmt: str = ".1f") -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def report(name: str, runs: list[dict[str, Any]]) -> None:
    one = [r["one"]["wall"] for r in runs]
    fan = [r["fan"] for r in runs]
    merge = [r["merge"]["wall"] for r in runs]
    sharded = [f + m for f, m in zip(fan, merge, strict=True)]
    ratios = [s / o for s, o in zip(sharded, one, strict=True)]
    one_cpu = [r["one"]["cpu"] for r in runs]
    sharded_cpu = [sum(s["cpu"] for s in r["shards"]) + r["merge"]["cpu"] for r in runs]
    cpu_ratios = [s / o for s, o in zip(sharded_cpu, one_cpu, strict=True)]
    shards = [s for r in runs for s in r["shards"]]
    shard_rss = [s["rss_mb"] for s in shards]
    print(f"\n{name}:")
    print(f"  one pass, wall s:              {spread(one)}")
    print(f"  sharded, wall s:               {spread(sharded)}")
    print(f"    fan-out (all shards):        {spread(fan)}")
    print(f"    each shard's process:        {spread([s['wall'] for s in shards])}")
    print(f"      its imports:               {spread([s['imports'] for s in shards])}")
    print(f"      its work:                  {spread([s['work'] for s in shards])}")
    print(f"    merge:                       {spread(merge)}")
    print(f"      its work:                  {spread([r['merge']['work'] for r in runs])}")
    print(f"  ratio sharded / one pass:      {spread(ratios, '.2f')}")
    print(f"  CPU s, one pass:               {spread(one_cpu)}")
    print(f"  CPU s, sharded (all + merge):  {spread(sharded_cpu)}")
    print(f"  CPU ratio sharded / one pass:  {spread(cpu_ratios, '.2f')}")
    print(f"  one pass's work:               {spread([r['one']['work'] for r in runs])}")
    print(f"  peak RSS, one pass, MB:        {spread([r['one']['rss_mb'] for r in runs], '.0f')}")
    rss = f"median {statistics.median(shard_rss):.0f}, max {max(shard_rss):.0f}"
    print(f"  peak RSS per shard, MB:        {rss}")
    print(f"  peak RSS, merge, MB:           {spread([r['merge']['rss_mb'] for r in runs], '.0f')}")


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--job":
        print(json.dumps(job(sys.argv[2], sys.argv[3:])))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--files", type=int, default=10)
    p.add_argument("--parallelism", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "mlrail-bench-shards"
    )
    p.add_argument("--skip-pipeline", action="store_true", help="only the statistics figures")
    a = p.parse_args()
    data = a.data_dir.resolve()
    t = time.perf_counter()
    prepare(data, a.rows, a.files, a.parallelism)
    ready = time.perf_counter() - t
    print(f"data: {a.rows:,} rows in {a.files} Parquet files, {data} (ready in {ready:.0f} s)")
    print(f"{os.cpu_count()} CPUs; shards at once: {a.parallelism}; runs: {a.runs}")
    # other work on the machine stretches wall times, not CPU times: both are shown
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    runs = [statistics_run(data, a.files, a.parallelism) for _ in range(a.runs)]
    report("statistics (validate's pass vs per-shard statistics + merge_statistics)", runs)
    acc = compare(
        data / "out" / "one-statistics", data / "out" / "merged-statistics", data / "union"
    )
    print("\naccuracy, merged vs one pass (and both vs every value):")
    print(f"  exact fields that differ:      {acc['exact_differences'] or 'none'}")
    print(f"  mean/std, max relative diff:   {acc['moments_max_relative_difference']:.2e}")
    for who in ("one", "merged"):
        print(
            f"  {who:<6} decile rank error max:  {acc['decile_rank_error'][who]:.5f} "
            f"(bound {acc['bound_rank']:.5f}); bucket share error max: "
            f"{acc['bucket_share_error'][who]:.5f} (bound {acc['bound_share']:.5f})"
        )
    if not a.skip_pipeline:
        pruns = [pipeline_run(data, a.files, a.parallelism) for _ in range(a.runs)]
        report(
            "ingest+statistics (the data path: ingest + statistics vs per shard, then merge)", pruns
        )
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
