"""monitor on a window of payload logs, beside validate on the same rows as one Parquet file.

    python bench/bench_monitor.py [--records 1000000] [--runs 3] [--epochs 10] [--keep DIR]

Setup (once, in a child process, under a temporary folder deleted at the end unless ``--keep``
names one; a kept folder is reused): the real pipeline on ``bundled:penguins`` (ingest,
validate, train for ``--epochs`` epochs, export_onnx, evaluate into a blessing folder, so the eval
predictions profile exists) and the model repository from the ONNX model. Then the window:
``--records`` single-row requests, each a penguins row drawn with replacement with small noise
added to its numbers (a missing value stays missing), answered by the real ONNX model (ONNX
Runtime, batched) and written with the server's own writer
(:class:`mlrail.serving.payload_log.partitioned.PartitionedWriter`) in the payload-log layout,
spread over the 12 hours before the window's end; the same rows (the request's inputs, in the
training columns and types) are written as one Parquet file (pyarrow defaults).

Every figure comes from a fresh child process (``python bench_monitor.py --job JOB DIR``) so that
its peak RSS (``wait4``'s ``ru_maxrss``) is the job's own; the child times only the job, after
its imports. Jobs:

- ``monitor``: :func:`mlrail.components.monitor.core.monitor` over the window with
  ``BaselineSources(baseline_statistics=<validate's statistics>, baseline_predictions=
  <blessing>/predictions, model_repository=<repository>)``: reading, decoding, statistics,
  skew, anomalies, prediction drift, estimated accuracy, and its outputs (statistics, anomalies,
  HTML report) written to a temporary folder;
- ``validate``: :func:`mlrail.components.validate.files.validate_source` on the Parquet file with
  the training schema (``curated_schema``) and the training statistics as the baseline
  (``baseline_split="train"``): the same statistics, anomalies and skew against the same training
  evidence, on the rows as a table; no artifacts written (as bench_data.py);
- ``phases`` (once per run, not in the table's ratio): monitor's stages timed apart in one
  process: listing, reading and decoding the JSON lines into columns (``decode_window``), then
  the checks (``check_version``: statistics, skew, anomalies, predictions, estimate), then
  writing the outputs.

Each run executes monitor, validate and phases once, alternating, so a busy machine slows all of
them; each ratio (monitor / validate) is computed within its run. The table shows the median of
``--runs`` runs (min-max), records/s and peak RSS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODEL = "penguins"
JOBS = ("monitor", "validate")
#: The window's end (fixed, so a kept window stays inside it); the records fill the 12 hours
#: before it. The writer's retention is off (it would prune hours older than a week).
WINDOW_END = "2026-12-01T12:00:00Z"
WINDOW = "12h"
SEED = 20261203


def layout(folder: Path) -> dict[str, Path]:
    """Where the setup puts each thing under ``folder``."""
    return {
        "examples": folder / "model" / "examples",
        "statistics": folder / "model" / "statistics",
        "schema": folder / "model" / "schema",
        "anomalies": folder / "model" / "anomalies",
        "trained": folder / "model" / "trained",
        "onnx": folder / "model" / "onnx_model",
        "blessing": folder / "model" / "blessing",
        "repository": folder / "model" / "models",
        "logs": folder / "logs",
        "parquet": folder / "rows.parquet",
    }


# --- setup, in a child process ----------------------------------------------------------------


def make_model(folder: Path, epochs: int) -> None:
    """ingest → validate → train → export_onnx → evaluate on penguins; the model repository."""
    from mlrail.components.evaluate.core import evaluate
    from mlrail.components.export_onnx.core import export_onnx
    from mlrail.components.ingest.core import ingest
    from mlrail.components.train.core import train
    from mlrail.components.validate.core import validate

    p = layout(folder)
    ingest("bundled:penguins", str(p["examples"]))
    validate(p["examples"], p["statistics"], p["schema"], p["anomalies"])
    train(
        p["examples"],
        p["schema"],
        p["statistics"],
        p["trained"],
        label="species",
        hparams={"epochs": epochs},
    )
    export_onnx(p["trained"], p["examples"], p["onnx"], model_name=MODEL)
    evaluate(p["onnx"], p["examples"], folder / "model" / "metrics.json", p["blessing"])
    shutil.copytree(p["onnx"] / "model_repository", p["repository"])


def make_window(folder: Path, records: int) -> None:
    """``records`` logged single-row requests answered by the real model, and the same rows
    as one Parquet file."""
    import numpy as np
    import onnxruntime as ort
    import orjson
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlrail.artifacts.identity import model_identity
    from mlrail.artifacts.modelspec import ModelSpec
    from mlrail.serving.payload_log.documents import utc_time
    from mlrail.serving.payload_log.partitioned import PartitionedWriter

    p = layout(folder)
    model_dir = p["repository"] / MODEL
    version = sorted(d.name for d in model_dir.iterdir() if d.is_dir() and d.name.isdigit())[-1]
    served = model_dir / version
    spec = ModelSpec.read(served)
    onnx_file = next(served.rglob("*.onnx"))
    identity = model_identity(onnx_file)
    rng = np.random.default_rng(SEED)
    # the pool: every row ingest read (both splits), in the training columns and types
    penguins = pa.concat_tables(pq.read_table(p["examples"] / split) for split in ("train", "eval"))
    pick = rng.integers(0, penguins.num_rows, records)
    columns: dict[str, Any] = {}  # the request's values, per input, in V2 form
    integer_of: dict[str, bool] = {}
    table: dict[str, pa.Array] = {}  # the same, in the training column's type
    for i in spec.inputs:
        column = penguins.column(i.column).combine_chunks().take(pa.array(pick))
        if i.dtype == "string":
            values = np.array(["" if v is None else v for v in column.to_pylist()], dtype=object)
            columns[i.column] = ("BYTES", values)
            table[i.column] = column.cast(pa.string())
        else:
            x = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
            noise = rng.normal(0.0, 0.02, records) * np.nanstd(x)
            # integers stay integers, the others keep one decimal (as the data has them)
            integer = integer_of[i.column] = pa.types.is_integer(column.type)
            x = np.round(x + noise, 0 if integer else 1)
            columns[i.column] = ("FP32", x)
            table[i.column] = pa.array(x, mask=np.isnan(x)).cast(column.type)
    pq.write_table(pa.table(table), p["parquet"])

    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    feeds = {}
    for item in session.get_inputs():
        datatype, values = columns[item.name]
        values = values if datatype == "BYTES" else values.astype(np.float32)
        feeds[item.name] = values.reshape(-1, 1)
    output = session.get_outputs()[0]
    answers: list[list[float]] = []
    for s in range(0, records, 65536):
        chunk = session.run([output.name], {k: v[s : s + 65536] for k, v in feeds.items()})[0]
        # as the server answers: float32 written by orjson (its shortest repr)
        answers += orjson.loads(orjson.dumps(chunk, option=orjson.OPT_SERIALIZE_NUMPY))
    width = len(answers[0])
    end = dt.datetime.fromisoformat(WINDOW_END).timestamp()
    span = 12 * 3600.0
    times = np.sort(end - span + rng.random(records) * (span - 1.0))
    latencies = np.round(rng.gamma(4.0, 0.08, records), 3)
    with PartitionedWriter(p["logs"], retention_hours=None, host="bench") as writer:
        batch: list[dict[str, Any]] = []
        for r in range(records):
            inputs = []
            for name, (datatype, values) in columns.items():
                v = values[r]
                if datatype == "FP32":  # as a JSON client sends it: 3750, 39.1, null
                    v = None if np.isnan(v) else int(v) if integer_of[name] else float(v)
                inputs.append({"name": name, "datatype": datatype, "shape": [1, 1], "data": [v]})
            batch.append(
                {
                    "id": f"req-{r}",
                    "model": MODEL,
                    "version": version,
                    "identity": identity,
                    "timestamp": utc_time(float(times[r])),
                    "latency_ms": float(latencies[r]),
                    "inputs": inputs,
                    "outputs": [
                        {
                            "name": output.name,
                            "datatype": "FP32",
                            "shape": [1, width],
                            "data": answers[r],
                        }
                    ],
                }
            )
            if len(batch) == 10_000:
                writer.write(batch)
                batch = []
        writer.write(batch)


def setup(folder: Path, records: int, epochs: int) -> None:
    """The model (unless already made under ``folder``), then the window (unless already made
    with ``records`` records)."""
    p = layout(folder)
    if not (p["blessing"] / "predictions").is_dir():
        shutil.rmtree(folder / "model", ignore_errors=True)
        make_model(folder, epochs)
    marker = folder / "window.json"
    if not marker.is_file() or json.loads(marker.read_text())["records"] != records:
        shutil.rmtree(p["logs"], ignore_errors=True)
        make_window(folder, records)
        marker.write_text(json.dumps({"records": records}))


# --- jobs, each run in a child process --------------------------------------------------------


def _sources(p: dict[str, Path]) -> Any:
    from mlrail.components.monitor.core import BaselineSources

    return BaselineSources(
        baseline_statistics=str(p["statistics"]),
        baseline_schema=str(p["schema"]),
        baseline_predictions=str(p["blessing"] / "predictions"),
        model_repository=str(p["repository"]),
    )


def _job(job: str, folder: Path) -> dict[str, Any]:
    """Run one job on the setup under ``folder``; return its wall time and what it handled."""
    p = layout(folder)
    if job == "monitor":
        from mlrail.components.monitor.core import monitor

        sources = _sources(p)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            start = time.perf_counter()
            report = monitor(
                str(p["logs"]),
                MODEL,
                out / "statistics",
                out / "anomalies",
                out / "report.html",
                window=WINDOW,
                window_end=WINDOW_END,
                sources=sources,
            )
            seconds = time.perf_counter() - start
        return {
            "seconds": seconds,
            "rows": report.decoded.stats.records,
            "decoded": sum(v.rows for v in report.versions),
            "skipped": report.decoded.stats.num_skipped,
            "skewed": sorted(c.feature for v in report.versions for c in v.skewed),
            "drifted": sorted(c.feature for v in report.versions for c in v.drifted),
        }
    if job == "validate":
        from mlrail.components.validate.files import validate_source

        start = time.perf_counter()
        result = validate_source(
            str(p["parquet"]),
            curated_schema=str(p["schema"]),
            baseline_statistics=str(p["statistics"]),
            baseline_split="train",
        )
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "rows": sum(result.num_examples().values())}
    if job == "phases":
        return _phases(p)
    raise SystemExit(f"unknown job {job!r}")


def _phases(p: dict[str, Path]) -> dict[str, Any]:
    """monitor's stages timed apart, as :func:`~mlrail.components.monitor.core.monitor` runs
    them (one version answers the whole window)."""
    from mlrail.components.monitor import core
    from mlrail.components.monitor.baseline import find_baseline
    from mlrail.components.monitor.checks import check_version
    from mlrail.components.monitor.decode import decode_window
    from mlrail.components.monitor.findings import MonitorReport
    from mlrail.components.monitor.logs import ReadStats, iter_records, list_files, log_window
    from mlrail.validation.statistics import statistics_from_batches

    sources = _sources(p)
    times: dict[str, float] = {}
    span = log_window(str(p["logs"]), MODEL, window=WINDOW, window_end=WINDOW_END)
    # a pass of its own that only lists the files and parses the JSON lines into records
    start = time.perf_counter()
    count = sum(1 for _ in iter_records(span, list_files(span), ReadStats()))
    times["read"] = time.perf_counter() - start
    baselines = {}

    def spec_of(key: Any) -> Any:
        baselines[key] = find_baseline(MODEL, key[0], key[1], sources)
        return baselines[key].spec

    start = time.perf_counter()
    decoded = decode_window(span, spec_of)  # reads again, and decodes into columns
    times["read_decode"] = time.perf_counter() - start
    report = MonitorReport(MODEL, decoded, unresolved={})
    start = time.perf_counter()
    for key, rows in decoded.groups.items():
        report.versions.append(
            check_version(
                key[0],
                key[1],
                rows.features,
                rows.outputs,
                rows.keys.column("timestamp").to_numpy(zero_copy_only=False),
                rows.latencies,
                baselines[key],
                max_accuracy_drop=0.05,
            )
        )
    times["checks"] = time.perf_counter() - start
    # the serving statistics alone (check_version computes them first, then compares)
    start = time.perf_counter()
    for rows in decoded.groups.values():
        statistics_from_batches("serving", rows.features)
    times["input_statistics"] = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        start = time.perf_counter()
        # monitor's own writer (statistics, anomalies, HTML report); private, but it is the stage
        core._write(report, out / "statistics", out / "anomalies", out / "report.html")
        times["write"] = time.perf_counter() - start
    return {"rows": count, **times}


def run_child(job: str, folder: Path) -> dict[str, Any]:
    """The job in a fresh interpreter: its own timing, and its peak RSS in MB from wait4."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--job", job, str(folder)], stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"job {job} on {folder} failed with exit code {process.returncode}")
    figures: dict[str, Any] = json.loads(out.splitlines()[-1])
    figures["rss_mb"] = usage.ru_maxrss / 1024  # KiB on Linux
    return figures


def summary(values: list[float], digits: int = 2) -> str:
    return (
        f"{statistics.median(values):.{digits}f} "
        f"({min(values):.{digits}f}-{max(values):.{digits}f})"
    )


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10, help="training epochs of the model")
    parser.add_argument(
        "--keep", type=Path, help="make (or reuse) the model and data here and keep them"
    )
    parser.add_argument("--job", nargs=2, metavar=("JOB", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--make", nargs=3, metavar=("DIR", "N", "E"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        setup(Path(args.make[0]), int(args.make[1]), int(args.make[2]))
        return 0
    if args.job:
        print(json.dumps(_job(args.job[0], Path(args.job[1]))))
        return 0
    if args.runs < 1 or args.records < 1:
        parser.error("--runs and --records must be positive")

    folder = args.keep or Path(tempfile.mkdtemp(prefix="mlrail-bench-monitor-"))
    try:
        return _bench(folder, args)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


def _bench(folder: Path, args: argparse.Namespace) -> int:
    # setup in a child: a forked job would start from the parent's peak RSS
    subprocess.run(
        [sys.executable, __file__, "--make", str(folder), str(args.records), str(args.epochs)],
        check=True,
    )
    p = layout(folder)
    files = list(p["logs"].rglob("*.jsonl"))
    log_mb = sum(f.stat().st_size for f in files) / 1e6
    runs: dict[str, list[dict[str, Any]]] = {job: [] for job in (*JOBS, "phases")}
    loads = [loadavg()]
    for _ in range(args.runs):
        for job in (*JOBS, "phases"):
            runs[job].append(run_child(job, folder))
        loads.append(loadavg())
    check = runs["monitor"][0]
    print(
        f"{args.records:,} logged single-row requests (penguins rows with noise, answered by the "
        f"real ONNX model), window {WINDOW}: {len(files)} files, {log_mb:.0f} MB of JSON lines; "
        f"the same rows as Parquet: {p['parquet'].stat().st_size / 1e6:.1f} MB\n"
        f"monitor read {check['rows']:,} records, decoded {check['decoded']:,}, skipped "
        f"{check['skipped']}; skewed {check['skewed'] or 'none'}, drifted "
        f"{check['drifted'] or 'none'}\n"
        f"{args.runs} runs, each job in a fresh process; {os.cpu_count()} CPUs; load average "
        f"(1/5/15 min) before and after each run: {' | '.join(loads)}\n"
        "median (min-max) across runs; ratio = monitor / validate, within each run"
    )
    header = f"{'job':<10}{'seconds':>26}{'k records/s':>14}{'peak RSS MB':>24}"
    print(header)
    print("-" * len(header))
    for job in JOBS:
        figures = runs[job]
        seconds = [r["seconds"] for r in figures]
        rate = [r["rows"] / r["seconds"] / 1e3 for r in figures]
        rss = [r["rss_mb"] for r in figures]
        print(
            f"{job:<10}{summary(seconds):>26}{statistics.median(rate):>14.1f}{summary(rss, 0):>24}"
        )
    pairs = list(zip(runs["monitor"], runs["validate"], strict=True))
    time_ratio = [m["seconds"] / v["seconds"] for m, v in pairs]
    rss_ratio = [m["rss_mb"] / v["rss_mb"] for m, v in pairs]
    print(f"{'ratio':<10}{summary(time_ratio) + 'x':>26}{'':>14}{summary(rss_ratio) + 'x':>24}")

    print("\nwhere monitor's time goes (phases job: the stages run apart in one process):")
    phases = runs["phases"]
    read = [r["read"] for r in phases]
    decode = [r["read_decode"] - r["read"] for r in phases]
    rows = [
        ("list + read + parse JSON lines", read),
        ("decode records into columns", decode),
        ("checks (check_version)", [r["checks"] for r in phases]),
        ("  of which input statistics", [r["input_statistics"] for r in phases]),
        ("write statistics, anomalies, report", [r["write"] for r in phases]),
    ]
    total = [r["read_decode"] + r["checks"] + r["write"] for r in phases]
    for name, values in rows:
        share = statistics.median(v / t for v, t in zip(values, total, strict=True))
        print(f"  {name:<38}{summary(values):>24} s {share:>6.0%}")
    print(f"  {'total':<38}{summary(total):>24} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
