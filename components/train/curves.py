"""Training progress: epoch lines on the progress logger, one log line per epoch, the per-epoch
history, TensorBoard scalars and an HTML page of the training curves.

TensorBoard logs are written with TensorFlow's own ``tf.summary.write`` and the scalars plugin's
metadata, in the layout of ``keras.callbacks.TensorBoard`` (``train/`` and ``validation/`` run
folders, tags ``epoch_loss``, ``epoch_<metric>``): Keras' callback needs the ``tensorboard``
package for ``tf.summary.scalar``, which TensorFlow 2.21 no longer installs, and these event
files are what that callback would write for epoch scalars, read by TensorBoard as they are.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras

from mlrail import charts
from mlrail.components.train.results import split_history

__all__ = [
    "EPOCH_LINES",
    "PROGRESS_SECONDS",
    "EpochLog",
    "EpochProgress",
    "ScalarWriter",
    "curves_html",
]

log = logging.getLogger("mlrail.components.train")
# a local run shows this logger's records on the terminal as they come (mlrail.local.progress)
_progress = logging.getLogger("mlrail.progress.train")

#: At most about this many epoch lines of progress: a long training shows every k-th epoch...
EPOCH_LINES = 20
#: ...unless this many seconds passed since the last line (then a line, of an epoch or a step).
PROGRESS_SECONDS = 30.0


def _epoch_figures(logs: dict[str, Any]) -> str:
    """``loss 0.05, accuracy 0.989, val_loss 0.0185, val_accuracy 1``: loss first, then the
    metrics, train before eval."""

    def order(key: str) -> tuple[bool, bool, str]:
        name = key.removeprefix("val_")
        return key.startswith("val_"), name != "loss", name

    return ", ".join(f"{k} {float(logs[k]):.4g}" for k in sorted(logs, key=order))


class EpochProgress(keras.callbacks.Callback):
    """Reports epochs on the ``mlrail.progress.train`` logger (a local run's terminal): each
    one up to :data:`EPOCH_LINES` epochs, else the first, every k-th and the last one run
    (early stopping included), and any epoch when :data:`PROGRESS_SECONDS` passed since the
    last line; an epoch longer than that reports its step (``epoch 3/60: step 977 of 1953``)
    every :data:`PROGRESS_SECONDS`, so a long training is never silent for long.

    Args:
        epochs: The most epochs the fit runs.
        steps: Steps in an epoch.
        clock: Seconds, monotonic (a test passes its own).
    """

    def __init__(
        self, epochs: int, steps: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.epochs, self.steps, self.clock = epochs, steps, clock
        self.every = max(1, -(-epochs // EPOCH_LINES))
        self.last = clock()
        self.epoch = 0
        self.shown = 0
        self.ended: tuple[int, dict[str, Any]] | None = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.clock() - self.last >= PROGRESS_SECONDS:
            _progress.info(
                "epoch %d/%d: step %d of %d", self.epoch + 1, self.epochs, batch + 1, self.steps
            )
            self.last = self.clock()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        done = epoch + 1
        self.ended = (done, dict(logs or {}))
        late = self.clock() - self.last >= PROGRESS_SECONDS
        if done == 1 or done % self.every == 0 or done == self.epochs or late:
            self._show(done, logs or {})

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.ended is not None and self.ended[0] != self.shown:  # stopped early
            self._show(*self.ended)

    def _show(self, done: int, logs: dict[str, Any]) -> None:
        _progress.info("epoch %d/%d: %s", done, self.epochs, _epoch_figures(logs))
        self.shown, self.last = done, self.clock()


class EpochLog(keras.callbacks.Callback):
    """Records each epoch's logs in :attr:`history` and logs one line per epoch."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.epochs = epochs
        self.history: dict[str, list[float]] = {}

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        for k, v in logs.items():
            self.history.setdefault(k, []).append(float(v))
        figures = ", ".join(f"{k} {float(v):.4g}" for k, v in sorted(logs.items()))
        log.info("epoch %d/%d: %s", epoch + 1, self.epochs, figures)


class ScalarWriter(keras.callbacks.Callback):
    """Epoch scalars as TensorBoard event files in ``log_dir/train`` and ``log_dir/validation``."""

    def __init__(self, log_dir: str | Path) -> None:
        super().__init__()
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        self._tf = tf
        self._root = Path(log_dir)
        self._writers: dict[str, Any] = {}
        self._metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
        )

    def _writer(self, run: str) -> Any:
        if run not in self._writers:
            self._writers[run] = self._tf.summary.create_file_writer(str(self._root / run))
        return self._writers[run]

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        tf = self._tf
        for key, value in (logs or {}).items():
            run, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            with self._writer(run).as_default():
                tf.summary.write(
                    f"epoch_{name}",
                    tf.constant(float(value), tf.float32),
                    step=epoch,
                    metadata=self._metadata,
                )

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        for w in self._writers.values():
            w.close()


def curves_html(
    history: dict[str, list[float]], *, best_epoch: int, stopped_early: bool, title: str
) -> str:
    """One self-contained page: a chart per metric (train solid, eval dashed) and a summary.

    Args:
        history: Per-epoch values as Keras names them (``loss``, ``val_loss``, ...).
        best_epoch: The 1-based epoch whose weights were kept.
        stopped_early: Whether early stopping ended training before the last epoch.
        title: The page's title and heading.
    """
    # the loss first, the one early stopping watches; then the metrics in Keras' order
    per_metric = dict(sorted(split_history(history).items(), key=lambda kv: kv[0] != "loss"))
    epochs = len(history.get("loss", []))
    kept = (
        f"weights of epoch {best_epoch} (lowest eval loss) kept"
        + (", stopped early" if stopped_early else "")
        if best_epoch != epochs or stopped_early
        else "weights of the last epoch kept"
    )
    rows = []
    for name, (train, evals) in per_metric.items():
        at = best_epoch - 1
        rows.append(
            [
                charts.escape(name),
                charts.num(train[at]) if at < len(train) else "",
                charts.num(evals[at]) if at < len(evals) else "",
            ]
        )
    body = [
        f"<h1>{charts.escape(title)}</h1>",
        f"<p>{charts.plural(epochs, 'epoch', 'epochs')}; {charts.escape(kept)}.</p>",
        charts.table(
            ["metric", f"train, epoch {best_epoch}", f"eval, epoch {best_epoch}"],
            rows,
            id="final",
            numeric=(1, 2),
        ),
    ]
    x = list(range(1, epochs + 1))
    markers = epochs <= 60
    for name, (train, evals) in per_metric.items():
        series = [charts.Series("train", x, _finite(train), markers=markers)]
        if evals:
            series.append(charts.Series("eval", x, _finite(evals), dashed=True, markers=markers))
        body.append(f"<h2>{charts.escape(name)}</h2>")
        body.append(
            charts.line_chart(
                series, title=f"{name} per epoch", x_label="epoch", y_label=name, width=420
            )
        )
    return charts.page(title, body)


def _finite(values: list[float]) -> list[float]:
    return [v if math.isfinite(v) else math.nan for v in values]
