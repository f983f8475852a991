"""In-process inference: ONNX Runtime against the TF SavedModel of the same model, same run.

    python bench/bench_inference.py [--model-dir DIR --onnx FILE --eval-dir DIR]
                                    [--calls 2000] [--runs 5] [--batch 1024] [--threads 0]

Without ``--model-dir``/``--onnx`` a penguins model is trained first with ``mlrail run`` in a
temporary folder (about 20 s). ``--model-dir`` is the training output (``saved_model/`` and
``model_spec.json``); the inputs are real rows of the eval split (tiled up to ``--batch``).

Fairness: both sides get pre-built inputs (numpy feeds for ONNX Runtime, ``tf.constant`` tensors
for TensorFlow's concrete ``serving_default`` function), and both hand back a numpy result, so
the timed loop holds no Python conversion of inputs for either. Both use their library's default
threading unless ``--threads N`` sets both to N intra-op threads. ORT and TF alternate within
each run, so a busy machine slows both rather than faking a ratio.

Figures per run: batch-1 latency p50 and p99 over ``--calls`` calls, and rows/s at ``--batch``
(as many calls as fit in ``--seconds``). The table shows the median of ``--runs`` runs with the
min-max across runs; each ratio is computed within a run, then summarised the same way.
Targets (mlrail issue 4): ORT >= 20x faster at batch 1, >= 2x the rows/s at batch 1,024.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def train_penguins(workdir: Path) -> tuple[Path, Path, Path]:
    """Train on the bundled penguins; return (train model dir, model.onnx, eval split dir)."""
    mlrail = Path(sys.executable).with_name("mlrail")
    cmd = [str(mlrail), "run", "--workdir", str(workdir)]
    print("training:", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, cwd=workdir.parent, stdout=sys.stderr)
    (run,) = (workdir / "pipeline_root").glob("training-*")
    return run / "train" / "model", next(workdir.glob("models/*/*/model.onnx")), eval_dir(run)


def eval_dir(run: Path) -> Path:
    return run / "ingest" / "examples" / "eval"


def find_eval_dir(model_dir: Path) -> Path:
    """The eval split of the pipeline run that produced ``model_dir`` (``<run>/train/model``)."""
    candidate = eval_dir(model_dir.parent.parent)
    if not candidate.is_dir():
        raise SystemExit(f"{candidate}: no eval split next to the model; pass --eval-dir")
    return candidate


def tile(features: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
    """``rows`` rows, repeating the given ones."""
    n = len(next(iter(features.values())))
    index = np.arange(rows) % n
    return {k: np.ascontiguousarray(v[index]) for k, v in features.items()}


def latencies(call: Callable[[], Any], calls: int, warmup: int = 200) -> list[float]:
    for _ in range(warmup):
        call()
    out = []
    for _ in range(calls):
        t = time.perf_counter()
        call()
        out.append(time.perf_counter() - t)
    return out


def rows_per_second(call: Callable[[], Any], rows: int, seconds: float) -> float:
    for _ in range(3):
        call()
    n = 0
    start = time.perf_counter()
    while True:
        call()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and n >= 5:
            return n * rows / elapsed


def percentile(times: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(times), q))


def summary(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, help="training output holding saved_model/")
    parser.add_argument("--onnx", type=Path, help="model.onnx of the same model")
    parser.add_argument("--eval-dir", type=Path, help="Parquet split for the inputs")
    parser.add_argument("--calls", type=int, default=2000, help="batch-1 calls per run")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--seconds", type=float, default=1.0, help="per throughput figure")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads, 0: default")
    args = parser.parse_args()
    if (args.model_dir is None) != (args.onnx is None):
        parser.error("give both --model-dir and --onnx, or neither")

    with tempfile.TemporaryDirectory() as tmp:
        if args.model_dir is None:
            model_dir, onnx_path, split = train_penguins(Path(tmp) / "work")
        else:
            model_dir, onnx_path = args.model_dir, args.onnx
            split = args.eval_dir or find_eval_dir(model_dir)
        return run(args, model_dir, onnx_path, args.eval_dir or split)


def run(args: argparse.Namespace, model_dir: Path, onnx_path: Path, split: Path) -> int:
    import onnxruntime as ort
    import tensorflow as tf

    from mlrail.artifacts.examples import read_split
    from mlrail.artifacts.modelspec import ModelSpec, tf_inputs

    spec = ModelSpec.read(model_dir)
    table = read_split(split)
    features = spec.features(table, str(split))
    one = tile(features, 1)
    big = tile(features, args.batch)

    options = ort.SessionOptions()
    if args.threads:
        options.intra_op_num_threads = args.threads
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    output = spec.output if spec.output in {o.name for o in session.get_outputs()} else None
    loaded = tf.saved_model.load(str(model_dir / "saved_model"))
    fn = loaded.signatures["serving_default"]
    tf_one, tf_big = tf_inputs(one), tf_inputs(big)

    def ort_call(feeds: dict[str, np.ndarray]) -> Callable[[], Any]:
        names = [output] if output else None
        return lambda: session.run(names, feeds)[0]

    def tf_call(tensors: dict[str, Any]) -> Callable[[], Any]:
        return lambda: next(iter(fn(**tensors).values())).numpy()

    # Same model on both sides: compare the outputs on the real rows.
    diff = float(np.max(np.abs(ort_call(big)() - tf_call(tf_big)())))

    figures: dict[str, dict[str, list[float]]] = {
        k: {"p50": [], "p99": [], "rows/s": []} for k in ("ort", "tf")
    }
    for _ in range(args.runs):
        for name, call1, callb in (
            ("ort", ort_call(one), ort_call(big)),
            ("tf", tf_call(tf_one), tf_call(tf_big)),
        ):
            times = latencies(call1, args.calls)
            figures[name]["p50"].append(percentile(times, 50))
            figures[name]["p99"].append(percentile(times, 99))
            figures[name]["rows/s"].append(rows_per_second(callb, args.batch, args.seconds))

    ort_f, tf_f = figures["ort"], figures["tf"]
    ratios = {
        "p50": [t / o for t, o in zip(tf_f["p50"], ort_f["p50"], strict=True)],
        "p99": [t / o for t, o in zip(tf_f["p99"], ort_f["p99"], strict=True)],
        "rows/s": [o / t for o, t in zip(ort_f["rows/s"], tf_f["rows/s"], strict=True)],
    }
    threads = args.threads or "library default"
    print(
        f"model {onnx_path} vs {model_dir / 'saved_model'}; inputs: {len(table)} eval rows of "
        f"{split}; max |ORT - TF| = {diff:.2g}\n"
        f"{args.runs} runs; batch 1: {args.calls} calls per run; batch {args.batch}: "
        f">= {args.seconds:g} s per run; intra-op threads: {threads}\n"
        f"ORT {ort.__version__}, TF {tf.__version__}; median (min-max) across runs"
    )
    rows = [
        ("batch-1 p50", "p50", "us", 1e6, "TF/ORT", 20.0),
        ("batch-1 p99", "p99", "us", 1e6, "TF/ORT", None),
        (f"batch-{args.batch} k rows/s", "rows/s", "k", 1e-3, "ORT/TF", 2.0),
    ]
    header = f"{'figure':<24}{'onnxruntime':>28}{'tensorflow':>28}{'ratio':>26}{'target':>9}"
    print(header)
    print("-" * len(header))
    for label, key, unit, scale, how, target in rows:
        cells = []
        for values in (ort_f[key], tf_f[key]):
            med, lo, hi = (v * scale for v in summary(values))
            cells.append(f"{med:,.1f} {unit} ({lo:,.1f}-{hi:,.1f})")
        med, lo, hi = summary(ratios[key])
        ratio = f"{how} {med:.1f}x ({lo:.1f}-{hi:.1f})"
        goal = f">= {target:g}x" if target else ""
        print(f"{label:<24}{cells[0]:>28}{cells[1]:>28}{ratio:>26}{goal:>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
