"""Two-worker against one-worker training on the same data (issue 16): accuracy, parity, time.

    python bench/bench_distributed.py [--rows 50000] [--epochs 4] [--batch 256] [--runs 3]
                                      [--workers 2]

Synthetic rows with a learnable 3-class label (8 numeric columns, 2 categorical) go through
ingest and validate once; then train runs ``--runs`` times with one worker and with
``--workers`` workers (TensorFlow's MultiWorkerMirroredStrategy, processes on 127.0.0.1: train's
``launcher: local``), each run a fresh ``python`` process, as a pipeline step is. The same
seed, hyperparameters and global batch for both. Printed, median (min-max) of the runs:

- eval accuracy at the kept epoch, and the ONNX parity gate on each configuration's first model
  (export_onnx's real conversion and ONNX Runtime comparison, in a process of its own);
- the step's wall time (process start to outputs written: imports, the workers' start-up,
  training, saving), start-up to the end of the first epoch (TensorFlow's imports, the
  strategy's set-up, tracing), and the steady epoch time (the later epochs, from the chief's
  epoch lines' timestamps);
- per-worker training throughput, rows/s: the rows each worker trains on in an epoch (its
  shard) over the steady epoch time;
- the ratio of each figure to the one-worker baseline measured in the same run.

And, measured from the model: the bytes all-reduced per step (every trainable variable's
gradient: elements x dtype size) and what a ring all-reduce sends per worker per step,
``2 (n - 1) / n`` of that, with the steps per epoch; and the latency of one all-reduce of that
many bytes (and of a scalar) between the workers, timed alone. On a 2-core machine two workers
share the cores the one worker had: no speed-up is expected, and the collective ops' latency is
paid at every step. Figures, not pass/fail; the machine's load average is printed too.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# One training step, in its own process (as a pipeline step), with timestamped epoch lines.
_STEP = textwrap.dedent(
    """
    import json, logging, sys, time
    started = time.time()
    logging.basicConfig(level=logging.INFO, format="%(created).3f %(name)s: %(message)s")
    from mlrail.components.train import distributed
    p = json.loads(sys.argv[1])
    result = distributed.train(
        p["examples"], p["schema"], p["statistics"], p["out"] + "/model", label="label",
        hparams=p["hparams"], curves_file=p["out"] + "/curves.html",
        tensorboard_dir=p["out"] + "/tensorboard", workers=p["workers"],
        distribution={"launcher": "local", "timeout_seconds": 3600},
    )
    print("RESULT " + json.dumps({"started": started, "ended": time.time(),
                                   "metrics": result.metrics(), "rows": result.rows}))
    """
)
# One all-reduce of a float32 tensor of N elements, timed (every worker runs this with TF_CONFIG).
_ALL_REDUCE = textwrap.dedent(
    """
    import json, os, sys, time
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import tensorflow as tf
    s = tf.distribute.MultiWorkerMirroredStrategy()
    n, repeats = int(sys.argv[1]), int(sys.argv[2])

    @tf.function
    def step():
        def f():
            ctx = tf.distribute.get_replica_context()
            return ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.ones([n]))
        return s.run(f)

    for _ in range(20):
        step()
    started = time.perf_counter()
    for _ in range(repeats):
        step()
    print("MS " + str((time.perf_counter() - started) / repeats * 1000))
    """
)
_EXPORT = textwrap.dedent(
    """
    import sys
    from mlrail.components.export_onnx.core import export_onnx
    export_onnx(sys.argv[1], sys.argv[2], sys.argv[3], model_name="bench")
    """
)


def _rows(n: int, seed: int = 0) -> pa.Table:
    """``n`` rows: ``x0``-``x7`` numbers, ``c0`` (12 values) and ``c1`` (4), and a 3-class
    ``label`` from a noisy linear score with a per-category effect (learnable, not perfectly)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8))
    c0 = rng.integers(0, 12, size=n)
    c1 = rng.integers(0, 4, size=n)
    w = np.random.default_rng(1).normal(size=8)
    score = x @ w + np.random.default_rng(2).normal(size=12)[c0] + 0.5 * (c1 == 3)
    score += rng.normal(scale=0.5, size=n)
    cuts = np.quantile(score, [1 / 3, 2 / 3])
    label = np.array(["low", "mid", "high"])[np.searchsorted(cuts, score)]
    cols: dict[str, Any] = {f"x{i}": x[:, i] for i in range(8)}
    cols["c0"] = [f"k{v}" for v in c0]
    cols["c1"] = [f"g{v}" for v in c1]
    cols["label"] = label
    return pa.table(cols)


def _prepare(folder: Path, rows: int) -> dict[str, str]:
    from mlrail.components.ingest.core import ingest
    from mlrail.components.validate.core import validate

    source = folder / "rows.parquet"
    pq.write_table(_rows(rows), source, row_group_size=8192)
    p = {n: folder / n for n in ("examples", "statistics", "schema", "anomalies")}
    ingest(str(source), str(p["examples"]))
    validate(p["examples"], p["statistics"], p["schema"], p["anomalies"])
    return {k: str(v) for k, v in p.items()}


def _epoch_times(stdout: str) -> list[float]:
    """The timestamps of the chief's ``epoch k/N`` progress lines, in order."""
    times = []
    for line in stdout.splitlines():
        stamp, _, rest = line.partition(" ")
        if rest.startswith("mlrail.progress.train: epoch "):
            times.append(float(stamp))
    return times


def _run(p: dict[str, str], out: Path, workers: int, hparams: dict[str, Any]) -> dict[str, Any]:
    args = {**p, "out": str(out), "workers": workers, "hparams": hparams}
    proc = subprocess.run(
        [sys.executable, "-c", _STEP, json.dumps(args)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"train with {workers} worker(s) failed:\n{proc.stderr[-4000:]}")
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    result = json.loads(line.removeprefix("RESULT "))
    epochs = _epoch_times(proc.stderr + proc.stdout)
    steady = (epochs[-1] - epochs[0]) / (len(epochs) - 1) if len(epochs) > 1 else math.nan
    shard_rows = result["rows"] / workers
    return {
        "accuracy": result["metrics"].get("eval_accuracy", math.nan),
        "wall": result["ended"] - result["started"],
        "startup": epochs[0] - result["started"] if epochs else math.nan,
        "epoch": steady,
        "throughput": shard_rows / steady if steady else math.nan,
        "rows": result["rows"],
    }


def _parity(model: Path, examples: str, out: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", _EXPORT, str(model), examples, str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        return {"ok": False, "error": proc.stderr.strip().splitlines()[-1]}
    parity = json.loads((out / "parity.json").read_text())
    return {k: parity[k] for k in ("ok", "rows", "max_abs_diff", "tolerance")}


def _gradient_bytes(model: Path) -> tuple[int, int]:
    """(trainable elements, their bytes) of the saved Keras model: what is all-reduced a step."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    import mlrail.components.train.layers  # noqa: F401  (registers mlrail's layers)

    m = keras.models.load_model(model / "model.keras", compile=False)
    elements = sum(int(np.prod(v.shape)) for v in m.trainable_variables)
    size = sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in m.trainable_variables)
    return elements, size


def _all_reduce_ms(elements: int, workers: int, repeats: int = 200) -> float:
    """Milliseconds per all-reduce of ``elements`` float32 values over ``workers`` processes on
    127.0.0.1 (the chief's figure)."""
    from mlrail.components.train.local_workers import free_ports
    from mlrail.components.train.multiworker import tf_config

    hosts = [f"127.0.0.1:{p}" for p in free_ports(workers)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _ALL_REDUCE, str(elements), str(repeats)],
            env={**os.environ, "TF_CONFIG": json.dumps(tf_config(hosts, i))},
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        for i in range(workers)
    ]  # fmt: skip
    outs = [p.communicate(timeout=600)[0] for p in procs]
    (line,) = [x for x in outs[0].splitlines() if x.startswith("MS ")]
    return float(line.removeprefix("MS "))


def _fmt(values: list[float], unit: str = "", digits: int = 3) -> str:
    med = statistics.median(values)
    return f"{med:.{digits}g}{unit} ({min(values):.{digits}g}-{max(values):.{digits}g})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch", type=int, default=256, help="the global batch")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    a = parser.parse_args()
    hparams = {
        "epochs": a.epochs, "batch_size": a.batch, "learning_rate": 0.003,
        "early_stopping_patience": 0, "seed": 7,
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-distributed-") as tmp:
        root = Path(tmp)
        p = _prepare(root, a.rows)
        runs: dict[int, list[dict[str, Any]]] = {1: [], a.workers: []}
        load = os.getloadavg()
        for i in range(a.runs):  # interleaved: a noisy minute hurts both alike
            for workers in runs:
                out = root / f"w{workers}-r{i}"
                runs[workers].append(_run(p, out, workers, hparams))
                print(f"run {i + 1}/{a.runs}, {workers} worker(s): {runs[workers][-1]}", flush=True)
        parity = {
            w: _parity(root / f"w{w}-r0" / "model", p["examples"], root / f"onnx{w}") for w in runs
        }
        elements, size = _gradient_bytes(root / f"w{a.workers}-r0" / "model")
        latency = {
            "gradients": [_all_reduce_ms(elements, a.workers) for _ in range(a.runs)],
            "scalar": [_all_reduce_ms(1, a.workers) for _ in range(a.runs)],
        }
        load_after = os.getloadavg()

    rows = runs[1][0]["rows"]
    steps = math.ceil(rows / a.batch)
    base = {k: statistics.median(r[k] for r in runs[1]) for k in ("wall", "epoch", "throughput")}
    print(
        f"\n{rows} train rows, {a.epochs} epochs, global batch {a.batch} ({steps} steps an "
        f"epoch), {a.runs} runs each; load average {load[0]:.1f} before, "
        f"{load_after[0]:.1f} after; {os.cpu_count()} cores"
    )
    for workers, rs in runs.items():
        ratio = {k: statistics.median(r[k] for r in rs) / base[k] for k in base}
        print(f"\n{workers} worker(s), per-worker batch {a.batch // workers}:")
        print(f"  eval accuracy       {_fmt([r['accuracy'] for r in rs], digits=4)}")
        print(f"  ONNX parity         {parity[workers]}")
        print(f"  step wall time      {_fmt([r['wall'] for r in rs], ' s')}  x{ratio['wall']:.2f}")
        print(f"  start-up to epoch 1 {_fmt([r['startup'] for r in rs], ' s')}")
        print(
            f"  steady epoch        {_fmt([r['epoch'] for r in rs], ' s')}  x{ratio['epoch']:.2f}"
        )
        print(
            f"  per-worker rows/s   {_fmt([r['throughput'] for r in rs])}  "
            f"x{ratio['throughput']:.2f} (its shard: {rows // workers} rows an epoch)"
        )
        print(f"  per-step time       {_fmt([r['epoch'] / steps * 1000 for r in rs], ' ms')}")
    n = a.workers
    ring = 2 * (n - 1) / n * size
    print(
        f"\nall-reduced per step: {elements} trainable elements = {size} bytes of gradients "
        f"(float32); a ring all-reduce over {n} workers sends {ring:.0f} bytes per worker per "
        f"step ({ring * steps / 1e6:.2f} MB per worker per epoch), plus one scalar per metric"
    )
    print(
        f"one all-reduce over {n} workers on 127.0.0.1: the gradients "
        f"{_fmt(latency['gradients'], ' ms')}, a scalar {_fmt(latency['scalar'], ' ms')} "
        f"(a step all-reduces the gradients, each metric, and whether every worker has data)"
    )


if __name__ == "__main__":
    main()
