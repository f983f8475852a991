"""What a training run gave: the per-epoch history, the epoch kept, and the headline figures.

Read by the core (``training.json``, the ``Metrics`` artifact) and by :mod:`.curves` (the page).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mlrail.artifacts.modelspec import ModelSpec

__all__ = ["TrainResult", "best_epoch", "split_history"]


def split_history(history: dict[str, list[float]]) -> dict[str, tuple[list[float], list[float]]]:
    """Per metric, its (train, eval) values per epoch; eval is empty without an eval split."""
    return {
        k: (v, history.get(f"val_{k}", [])) for k, v in history.items() if not k.startswith("val_")
    }


@dataclass(frozen=True)
class TrainResult:
    """What one training run gave.

    ``best_epoch`` (1-based) is the epoch whose weights were saved: the one with the lowest
    eval loss when early stopping was on, else the last. ``rows`` and ``eval_rows`` count
    labelled rows; ``dropped_unlabelled`` the train rows without a label. ``batch_size``,
    ``learning_rate`` and ``early_stopping_patience`` are the ones used (chosen from the rows
    when the hparams said ``"auto"``; 0 when unknown).
    """

    spec: ModelSpec
    history: dict[str, list[float]]
    rows: int
    dropped_unlabelled: int
    eval_rows: int = 0
    best_epoch: int = 0
    stopped_early: bool = False
    eval_dropped_unlabelled: int = 0
    batch_size: int = 0
    learning_rate: float = 0.0
    early_stopping_patience: int = 0

    def metrics(self) -> dict[str, float]:
        """Flat figures for a KFP ``Metrics`` artifact: each metric at the kept epoch.

        ``train_<metric>`` and ``eval_<metric>`` (Keras' names, e.g. ``train_loss``,
        ``eval_accuracy``), plus ``epochs`` run, ``best_epoch``, ``rows``, ``eval_rows``,
        ``dropped_unlabelled``, ``eval_dropped_unlabelled``, and the ``batch_size``,
        ``learning_rate`` and ``early_stopping_patience`` used (when known).
        """
        at = self.best_epoch - 1
        out = {
            "epochs": float(len(self.history.get("loss", []))),
            "best_epoch": float(self.best_epoch),
            "rows": float(self.rows),
            "eval_rows": float(self.eval_rows),
            "dropped_unlabelled": float(self.dropped_unlabelled),
            "eval_dropped_unlabelled": float(self.eval_dropped_unlabelled),
        }
        if self.batch_size:
            out["batch_size"] = float(self.batch_size)
            out["learning_rate"] = float(self.learning_rate)
            out["early_stopping_patience"] = float(self.early_stopping_patience)
        for name, (tr, ev) in split_history(self.history).items():
            if 0 <= at < len(tr):
                out[f"train_{name}"] = tr[at]
            if 0 <= at < len(ev):
                out[f"eval_{name}"] = ev[at]
        # KFP metrics are JSON numbers: a diverged run's NaN loss is in history.json only
        return {k: float(v) for k, v in out.items() if math.isfinite(v)}


def best_epoch(history: dict[str, list[float]], early_stopping: bool) -> int:
    epochs = len(history.get("loss", []))
    val = history.get("val_loss", [])
    if not early_stopping or not val:
        return epochs
    finite = [v if math.isfinite(v) else math.inf for v in val]
    # Keras keeps the first of equal minima (it restores on a strict improvement only)
    return int(np.argmin(finite)) + 1
