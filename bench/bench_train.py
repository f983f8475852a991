"""train's epoch time: the streamed input pipeline against the in-memory floor, same model.

    python bench/bench_train.py [--rows 1000000] [--batch-sizes 32,auto] [--epochs 3] [--runs 3]
                                [--data-dir /tmp/mlrail-bench-train]
    python bench/bench_train.py --defaults [--rows 1000000] [--data-dir ...]

The data (made once, then reused from ``--data-dir``) is ``bench/make_rows.py``'s: ``--rows``
rows of 10 numbers and 6 text columns with a learnable 0/1 label, written to Parquet and put
through mlrail's own ingest and validate (so the split layout, row groups and statistics are
the ones train reads in a run).

Epochs (the default): for each batch size (``auto``: what train chooses for the rows), each run
fits mlrail's default model, built and compiled as train does, on each of (in rotated order):

- ``floor``: the train split's rows read once into memory and cut into batches up front
  (``from_tensor_slices`` over ``[steps, batch, ...]`` tensors: the input costs nothing);
- ``train's``: ``data.dataset(...)`` as train calls it: for a split that fits in
  ``data.CACHE_BYTES`` (1M rows do), held in memory and permuted and gathered each epoch;
- ``streamed``: ``data.dataset(..., cache_rows=0)``, the path of a split too large to hold:
  Parquet row groups in a seeded order, decoded, shuffled through a window and batched each
  epoch.

Each fit runs ``--epochs`` epochs without eval data; the first epoch (tracing, warm-up) is
reported on its own, the others give the per-epoch figure. A run's ratio is way / floor of
that run's medians, so a busy machine slows both sides; the table shows the median of ``--runs``
runs (min-max). Also shown: each input pipeline alone (one pass, iterated in graph).

``--defaults``: train's eval loss and time with today's defaults against the former ones
(batch 32, learning rate 0.01, patience 10), on the bundled penguins and on ``--rows`` rows
(``--rows 0``: the penguins alone):
``core.train`` end to end (early stopping on the eval split as in a run), one run each, seed 42.

Targets (mlrail issue 16): streamed <= 1.5x the floor per epoch, same model and batch size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from make_rows import make_rows  # noqa: E402

LABEL = "label"


def prepare(data_dir: Path, rows: int) -> Path:
    """``rows`` rows through mlrail's ingest and validate (made once per size)."""
    from mlrail.components.ingest.core import ingest
    from mlrail.components.validate.core import validate

    root = data_dir / f"rows-{rows}"
    if (root / "statistics").is_dir():
        return root
    root.mkdir(parents=True, exist_ok=True)
    source = root / "rows.parquet"
    if not source.is_file():
        make_rows(source, rows)
    ingest(str(source), str(root / "examples"))
    validate(root / "examples", root / "statistics", root / "schema", root / "anomalies")
    return root


class _Timer:
    """A Keras callback keeping each epoch's wall time."""

    def __init__(self) -> None:
        import keras

        class Cb(keras.callbacks.Callback):
            def on_epoch_begin(cb, epoch: int, logs: Any = None) -> None:
                self.start = time.perf_counter()

            def on_epoch_end(cb, epoch: int, logs: Any = None) -> None:
                self.times.append(time.perf_counter() - self.start)

        self.start = 0.0
        self.times: list[float] = []
        self.callback = Cb()


class Setup:
    """What train builds for the split: its spec, schema and statistics, the label's rows."""

    def __init__(self, root: Path) -> None:
        from mlrail.artifacts.examples import open_split
        from mlrail.artifacts.tfmd import load_schema, load_statistics
        from mlrail.components.train import data
        from mlrail.components.train import model as default
        from mlrail.components.train.task import MAX_AUTO_CLASSES, task_and_classes

        self.split = open_split(root / "examples" / "train")
        labels = data.summarize_labels(self.split, LABEL, MAX_AUTO_CLASSES)
        task, classes = task_and_classes(labels, LABEL, "auto", str(self.split.path))
        self.schema = default.prepare_schema(load_schema(root / "schema"), LABEL, task, classes)
        self.stats = load_statistics(root / "statistics")
        self.spec = default.model_spec(self.schema, self.stats)
        self.rows = labels.labelled

    def model(self, hp: dict[str, Any]) -> Any:
        import keras

        from mlrail.components.train import model as default
        from mlrail.components.train.core import compile_model

        keras.utils.set_random_seed(int(hp["seed"]))
        m = default.default_model(self.schema, self.stats, dict(hp))
        compile_model(m, self.spec, hp)
        return m

    def dataset(self, batch_size: int, cache_rows: int | None = None) -> Any:
        """What train fits on (``cache_rows=0``: streamed from Parquet whatever the size)."""
        from mlrail.components.train import data

        return data.dataset(
            self.split, self.spec, rows=self.rows, batch_size=batch_size, seed=1, shuffle=True,
            cache_rows=cache_rows,
        )  # fmt: skip

    def floor(self, batch_size: int) -> Any:
        """The rows in memory, cut into ``[steps, batch, ...]`` tensors up front."""
        import numpy as np
        import tensorflow as tf

        from mlrail.components.train import data

        parts = list(data.batches(self.split, self.spec))
        steps = self.rows // batch_size
        keep = steps * batch_size

        def cut(arrays: list[np.ndarray]) -> Any:
            a = np.concatenate(arrays)[:keep]
            a = a.astype(str) if a.dtype == object else a
            return tf.constant(a.reshape(steps, batch_size, *a.shape[1:]))

        x = {k: cut([b.features[k] for b in parts]) for k in parts[0].features}
        y = cut([b.labels for b in parts])
        w = cut([b.weights for b in parts])
        return tf.data.Dataset.from_tensor_slices((x, y, w)).prefetch(tf.data.AUTOTUNE)


def _fit(setup: Setup, ds: Any, hp: dict[str, Any], epochs: int) -> list[float]:
    timer = _Timer()
    setup.model(hp).fit(ds, epochs=epochs, callbacks=[timer.callback], verbose=0, shuffle=False)
    return timer.times


def _pass(ds: Any) -> float:
    import tensorflow as tf

    start = time.perf_counter()
    ds.reduce(tf.constant(0, tf.int64), lambda k, _: k + 1)
    return time.perf_counter() - start


def _fmt(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f}  ({min(values):.2f}-{max(values):.2f})"


def epochs(a: argparse.Namespace) -> None:
    from mlrail.components.train import data
    from mlrail.components.train.hparams import check_hparams, resolve_hparams

    setup = Setup(prepare(a.data_dir, a.rows))
    held = setup.rows * data._row_bytes(setup.spec) <= data.CACHE_BYTES
    print(f"{setup.rows} train rows, {len(setup.split.chunks())} row groups; train holds them "
          f"in memory: {'yes' if held else 'no, it streams them'}; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
    for size in a.batch_sizes.split(","):
        given = {} if size == "auto" else {"batch_size": int(size)}
        hp, _ = resolve_hparams(check_hparams(given), setup.rows)
        bs = int(hp["batch_size"])
        floor_ds = setup.floor(bs)
        ways = {
            "floor": lambda ds=floor_ds: ds,
            "train's": lambda bs=bs: setup.dataset(bs),
            "streamed": lambda bs=bs: setup.dataset(bs, cache_rows=0),
        }
        if not held:
            del ways["train's"]  # the same as streamed
        per: dict[str, list[float]] = {w: [] for w in ways}
        first: dict[str, list[float]] = {w: [] for w in ways}
        alone: dict[str, list[float]] = {w: [] for w in ways if w != "floor"}
        for run in range(a.runs):
            order = list(ways)[run % len(ways) :] + list(ways)[: run % len(ways)]
            for way in order:  # rotated: none always runs first
                times = _fit(setup, ways[way](), hp, a.epochs)
                first[way].append(times[0])
                per[way].append(statistics.median(times[1:]))
            for way in alone:
                alone[way].append(_pass(ways[way]()))
            print(f"  run {run + 1}: " + ", ".join(f"{w} {per[w][-1]:.2f} s" for w in ways)
                  + f" (load {os.getloadavg()[0]:.2f})", file=sys.stderr, flush=True)  # fmt: skip
        steps = -(-setup.rows // bs)
        print(
            f"batch {bs} ({size}), learning rate {hp['learning_rate']:g}, {steps} steps/epoch;"
            f" s/epoch, median of {a.runs} runs (min-max), epochs 2-{a.epochs} of a fit:"
        )
        for way in ways:
            line = f"  {way:<9} {_fmt(per[way])}"
            if way != "floor":
                ratios = [x / f for x, f in zip(per[way], per["floor"], strict=True)]
                line += f"   ratio to the floor {_fmt(ratios)}"
                line += f"   input alone (one pass) {_fmt(alone[way])}"
            print(line + f"   first epoch {_fmt(first[way])}", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


def defaults(a: argparse.Namespace) -> None:
    import importlib.resources

    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from mlrail.components.ingest.core import ingest
    from mlrail.components.train.core import train
    from mlrail.components.validate.core import validate

    with tempfile.TemporaryDirectory() as tmp:
        penguins = Path(tmp) / "penguins"
        penguins.mkdir()
        csv = importlib.resources.files("mlrail.data").joinpath("penguins.csv")
        pq.write_table(pcsv.read_csv(str(csv)), penguins / "rows.parquet")
        ingest(str(penguins / "rows.parquet"), str(penguins / "examples"))
        validate(penguins / "examples", penguins / "statistics", penguins / "schema",
                 penguins / "anomalies")  # fmt: skip
        sets = [("penguins", penguins, "species")]
        if a.rows:  # --rows 0: the penguins alone (the former defaults take long on many rows)
            sets.append((f"{a.rows} rows", prepare(a.data_dir, a.rows), LABEL))
        for name, root, label in sets:
            former = {"batch_size": 32, "learning_rate": 0.01, "early_stopping_patience": 10}
            for which, hp in (("former defaults", former), ("today's defaults", {})):
                start = time.perf_counter()
                r = train(root / "examples", root / "schema", root / "statistics",
                          Path(tmp) / "model", label=label, hparams=hp)  # fmt: skip
                took = time.perf_counter() - start
                m = r.metrics()
                print(f"{name:<16} {which:<18} eval loss {m.get('eval_loss', float('nan')):.4f}, "
                      f"eval accuracy {m.get('eval_accuracy', float('nan')):.4f}; "
                      f"batch {r.batch_size}, lr {r.learning_rate:g}, patience "
                      f"{r.early_stopping_patience}; {int(m['epochs'])} epochs "
                      f"(best {r.best_epoch}); {took:.1f} s (load {os.getloadavg()[0]:.2f})",
                      flush=True)  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch-sizes", default="32,auto")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--data-dir", type=Path, default=Path("/tmp/mlrail-bench-train"))
    ap.add_argument("--defaults", action="store_true", help="eval loss: defaults vs former")
    a = ap.parse_args()
    if a.epochs < 2:
        ap.error("--epochs: at least 2 (the first is warm-up)")
    (defaults if a.defaults else epochs)(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
