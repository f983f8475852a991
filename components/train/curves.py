"""Training progress: one log line per epoch, the per-epoch history, TensorBoard scalars and an
HTML page of the training curves.

TensorBoard logs are written with TensorFlow's own ``tf.summary.write`` and the scalars plugin's
metadata, in the layout of ``keras.callbacks.TensorBoard`` (``train/`` and ``validation/`` run
folders, tags ``epoch_loss``, ``epoch_<metric>``): Keras' callback needs the ``tensorboard``
package for ``tf.summary.scalar``, which TensorFlow 2.21 no longer installs, and these event
files are what that callback would write for epoch scalars, read by TensorBoard as they are.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import keras

from mlrail import charts
from mlrail.components.train.results import split_history

__all__ = ["EpochLog", "ScalarWriter", "curves_html"]

log = logging.getLogger("mlrail.components.train")


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
