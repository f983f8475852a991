"""train: a Keras 3 model, mlrail's default or a user's, trained on a stream of the train split.

The default model is built from the schema and statistics alone (:mod:`.model`): numbers are
imputed (NaN and ±inf → the train mean) and normalised, strings go through a StringLookup over
the schema's domain (or the statistics' values), one-hot or embedded by vocabulary size. The
exported model therefore takes raw feature values, so training and serving cannot drift apart
through a separate transform. A user's module (``module_file``, :mod:`.user_module` has its
contract) may build the model instead, and may take over the training loop.

Data is streamed from the Parquet splits in record batches through ``tf.data`` (:mod:`.data`);
the ``eval`` split gives the validation loss that early stopping watches (the weights of the
epoch with the lowest eval loss are kept). With one seed, data and hyperparameters, two runs
give the same weights: seeds are set, TensorFlow's op determinism is on while training, and
the data order is seeded.

Output layout of the ``model`` artifact::

    model/
      saved_model/        Keras ``model.export`` (TF SavedModel, signature ``serve``)
      model.keras         the Keras model (custom layers registered under "mlrail>")
      model_spec.json     inputs, output, task, label and classes (mlrail.artifacts.modelspec)
      history.json        per-epoch loss and metrics, as Keras names them (val_*: eval split)
      training.json       {"rows", "dropped_unlabelled", "eval_rows", "eval_dropped_unlabelled",
                          "epochs", "best_epoch", "stopped_early"}: the rows trained and
                          evaluated on, and those left out for having no label (null, or NaN)

``curves`` is one self-contained HTML page (inline SVG, a chart per metric); ``tensorboard``
holds TensorBoard event files, ``train/`` and ``validation/``, with each epoch's scalars.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mlrail.artifacts.modelspec import CLASSIFICATION, TASKS, ModelSpec
from mlrail.errors import DataError, ModelError

__all__ = [
    "DEFAULT_HPARAMS",
    "TrainResult",
    "check_hparams",
    "class_weight_vector",
    "infer_task",
    "split_history",
    "train",
]

log = logging.getLogger("mlrail.components.train")

DEFAULT_HPARAMS: dict[str, Any] = {
    "epochs": 60,
    "batch_size": 32,
    "learning_rate": 0.01,
    "hidden_units": [32, 16],
    "dropout": 0.0,
    "class_weights": None,
    "early_stopping_patience": 10,
    "seed": 42,
}
#: Classification with more classes than this is refused unless the task is given explicitly.
_MAX_AUTO_CLASSES = 20
#: A classifier asked for explicitly may have up to this many classes.
_MAX_CLASSES = 100_000
_STEPS_PER_EXECUTION = 32


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _class_weights_ok(v: Any) -> bool:
    if v is None or v == "balanced":
        return True
    return (
        isinstance(v, dict)
        and bool(v)
        and all(isinstance(k, str) and _number(w) and w > 0 for k, w in v.items())
    )


_HPARAM_CHECKS: dict[str, tuple[Any, str]] = {
    "epochs": (_positive_int, "a whole number > 0"),
    "batch_size": (_positive_int, "a whole number > 0"),
    "learning_rate": (lambda v: _number(v) and v > 0, "a number > 0"),
    "hidden_units": (
        lambda v: isinstance(v, list) and all(_positive_int(u) for u in v),
        "a list of whole numbers > 0 (the hidden layers' sizes), e.g. [32, 16]",
    ),
    "dropout": (lambda v: _number(v) and 0 <= v < 1, "a number in [0, 1)"),
    "class_weights": (
        _class_weights_ok,
        'null, "balanced" or a {class: weight > 0} mapping, e.g. {"Chinstrap": 2.0}',
    ),
    "early_stopping_patience": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "a whole number >= 0 (epochs without a lower eval loss before stopping; 0: never stop)",
    ),
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
}


def check_hparams(hparams: dict[str, Any] | None) -> dict[str, Any]:
    """The defaults overlaid with ``hparams``, each checked; a clear error names a bad one.

    Keys: ``epochs``; ``batch_size``; ``learning_rate`` (Adam's, for a model train compiles);
    ``hidden_units`` (the default model's hidden layer sizes); ``dropout`` (after each hidden
    layer); ``class_weights`` (``None``, ``"balanced"`` — scikit-learn's ``n / (k * n_c)`` —
    or ``{class: weight}``, missing classes weighing 1); ``early_stopping_patience`` (epochs
    without a lower eval loss before stopping, the best epoch's weights restored; 0: off);
    ``seed``. Whole numbers may arrive as floats (KFP passes JSON numbers as floats); they are
    accepted when they are integral.

    Raises:
        ValueError: naming the unknown or the bad hyperparameter and what was expected.
    """

    def whole(v: Any) -> Any:
        return int(v) if isinstance(v, float) and v.is_integer() else v

    given: dict[str, Any] = {}
    for k, v in (hparams or {}).items():
        if isinstance(v, list):
            given[k] = [whole(u) for u in v]
        else:
            given[k] = v if k in ("learning_rate", "dropout", "class_weights") else whole(v)
    unknown = set(given) - set(DEFAULT_HPARAMS)
    if unknown:
        raise ValueError(
            f"unknown hyperparameter(s): {', '.join(sorted(unknown))} "
            f"(known: {', '.join(DEFAULT_HPARAMS)})"
        )
    for name, value in given.items():
        ok, expected = _HPARAM_CHECKS[name]
        if not ok(value):
            raise ValueError(f"hyperparameter {name}={value!r}: expected {expected}")
    return {**DEFAULT_HPARAMS, **given}


def _task(summary: Any, label: str, where: str) -> str:
    """binary / multiclass when the label has few whole or text values; else regression."""
    if not summary.labelled:
        raise DataError(f"{where}: label column {label!r} has no values")
    if summary.counts is None:
        return "regression"
    return "binary" if len(summary.counts) == 2 else "multiclass"


def infer_task(table: pa.Table, label: str, where: str) -> str:
    """The task :func:`train` infers for ``label`` in ``table`` (``task="auto"``)."""
    from mlrail.components.train.data import LabelSummary, summarize_column

    if label not in table.column_names:
        raise DataError(
            f"{where}: label column {label!r} is not in the data "
            f"(columns: {', '.join(table.column_names)})"
        )
    try:
        summary = LabelSummary.empty(table.schema.field(label).type, _MAX_AUTO_CLASSES)
    except DataError as e:
        raise DataError(f"{where}: label column {label!r}: {e}") from e
    summarize_column(summary, table.column(label))
    return _task(summary, label, where)


def class_weight_vector(
    class_weights: str | dict[str, float] | None, classes: list[str], counts: dict[str, int]
) -> np.ndarray | None:
    """Per class index, the weight of its rows; ``None`` when every row weighs 1.

    ``"balanced"`` is scikit-learn's ``compute_class_weight("balanced")`` over the train
    split's class counts (computed from the counts, so the labels are never held in memory).

    Raises:
        ValueError: naming classes of a ``{class: weight}`` mapping the label does not have.
    """
    if class_weights is None:
        return None
    if class_weights == "balanced":
        from sklearn.utils.class_weight import compute_class_weight

        index = np.arange(len(classes))
        n = np.array([counts[c] for c in classes], dtype=np.float64)
        # one sample per class weighted by its count is the same as the full label column
        return np.asarray(
            compute_class_weight("balanced", classes=index, y=index, sample_weight=n),
            dtype=np.float32,
        )
    assert isinstance(class_weights, dict)
    unknown = sorted(set(class_weights) - set(classes))
    if unknown:
        raise ValueError(
            f"hyperparameter class_weights: {', '.join(map(repr, unknown))} "
            f"not among the classes ({', '.join(map(repr, classes))})"
        )
    return np.array([float(class_weights.get(c, 1.0)) for c in classes], dtype=np.float32)


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
    labelled rows; ``dropped_unlabelled`` the train rows without a label.
    """

    spec: ModelSpec
    history: dict[str, list[float]]
    rows: int
    dropped_unlabelled: int
    eval_rows: int = 0
    best_epoch: int = 0
    stopped_early: bool = False
    eval_dropped_unlabelled: int = 0

    def metrics(self) -> dict[str, float]:
        """Flat figures for a KFP ``Metrics`` artifact: each metric at the kept epoch.

        ``train_<metric>`` and ``eval_<metric>`` (Keras' names, e.g. ``train_loss``,
        ``eval_accuracy``), plus ``epochs`` run, ``best_epoch``, ``rows``, ``eval_rows``,
        ``dropped_unlabelled`` and ``eval_dropped_unlabelled``.
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
        for name, (tr, ev) in split_history(self.history).items():
            if 0 <= at < len(tr):
                out[f"train_{name}"] = tr[at]
            if 0 <= at < len(ev):
                out[f"eval_{name}"] = ev[at]
        # KFP metrics are JSON numbers: a diverged run's NaN loss is in history.json only
        return {k: float(v) for k, v in out.items() if math.isfinite(v)}


@contextlib.contextmanager
def _deterministic(seed: int) -> Iterator[None]:
    """Seeds Python, NumPy and TensorFlow, and turns op determinism on until the block ends.

    Op determinism is process-wide (it slows some ops and makes others raise on GPU), so it
    is turned off again afterwards unless it was on before: a notebook or test that calls
    :func:`train` keeps its own setting.
    """
    import keras

    # the public API can enable determinism but neither read nor undo it
    from tensorflow.python.framework import config as tf_config

    keras.utils.set_random_seed(seed)
    was_on = tf_config.is_op_determinism_enabled()
    tf_config.enable_op_determinism()
    try:
        yield
    finally:
        if not was_on:
            tf_config.disable_op_determinism()


def _compile(model: Any, spec: ModelSpec, hp: dict[str, Any]) -> None:
    import keras

    if spec.task in CLASSIFICATION:
        loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
    else:
        loss, metrics = "mse", ["mae"]
    model.compile(
        optimizer=keras.optimizers.Adam(float(hp["learning_rate"])),
        loss=loss,
        metrics=metrics,
        # several batches per call into the compiled step: half the time of a penguins epoch
        # is Python between batches (same weights: the steps themselves are unchanged)
        steps_per_execution=_STEPS_PER_EXECUTION,
    )


def _best_epoch(history: dict[str, list[float]], early_stopping: bool) -> int:
    epochs = len(history.get("loss", []))
    val = history.get("val_loss", [])
    if not early_stopping or not val:
        return epochs
    finite = [v if math.isfinite(v) else math.inf for v in val]
    # Keras keeps the first of equal minima (it restores on a strict improvement only)
    return int(np.argmin(finite)) + 1


def _task_and_classes(labels: Any, label: str, task: str, where: str) -> tuple[str, list[str]]:
    """The task (``task``, or inferred when "auto") and, for a classifier, its sorted classes."""
    if task == "auto":
        task = _task(labels, label, where)
    elif task == "regression" and not labels.numeric:
        raise DataError(
            f"{where}: label column {label!r} holds {labels.type} values; "
            "a regression label must be numbers"
        )
    elif task in CLASSIFICATION and labels.counts is None:
        raise DataError(
            f"{where}: label column {label!r} holds fractional numbers or more than "
            f"{_MAX_CLASSES} values; not classes (use task regression)"
        )
    if not labels.labelled:
        raise DataError(f"{where}: label column {label!r} has no values")
    classes = sorted(labels.counts or {}) if task in CLASSIFICATION else []
    if task in CLASSIFICATION and len(classes) < 2:
        raise DataError(
            f"{where}: label column {label!r} has a single class {classes[0]!r}; "
            "a classifier needs at least two"
        )
    if labels.labelled < 2:
        raise DataError(f"{where}: {labels.labelled} labelled row(s); too few to train on")
    return task, classes


def _eval_split(examples_dir: Path, label: str, classes: list[str]) -> tuple[Any, int, int]:
    """The eval split (``None`` when absent), its labelled rows and its rows without a label;
    a class train lacks fails."""
    from mlrail.components.train import data

    folder = examples_dir / "eval"
    split = data.open_split(folder) if folder.is_dir() else None
    rows = dropped = 0
    if split is not None:
        labels = data.summarize_labels(split, label, _MAX_CLASSES)
        rows, dropped = labels.labelled, labels.rows - labels.labelled
        unseen = sorted(set(labels.counts or {}) - set(classes)) if classes else []
        if unseen:
            raise DataError(
                f"{split.path}: label column {label!r} has class(es) the train split "
                f"lacks: {', '.join(map(repr, unseen[:10]))}"
            )
    if not rows:
        log.warning("%s: no labelled eval rows; no eval loss and no early stopping", folder)
    if dropped:
        log.warning("%s: %d row(s) without a label %r left out", folder, dropped, label)
    return split, rows, dropped


def _user_model(
    module: Any, module_file: str, schema: Any, stats: Any, spec: ModelSpec, hp: dict[str, Any]
) -> tuple[Any, ModelSpec]:
    """The module's model, checked against the contract, and the spec of the inputs it takes."""
    from mlrail.components.train.user_module import check_model

    try:
        model = module.build_model(schema, stats, dict(hp))
    except Exception as e:
        raise ModelError(
            f"module_file {module_file}: build_model raised {type(e).__name__}: {e}"
        ) from e
    return model, check_model(model, spec, module_file)


def _user_train(
    module: Any, module_file: str, model: Any, full_spec: ModelSpec, args: tuple[Any, ...]
) -> tuple[Any, ModelSpec | None]:
    """Run the module's ``train``: the model it returned (checked like build_model's) and its
    spec, or ``(model, None)`` when it trained ``model`` in place."""
    import keras

    from mlrail.components.train.user_module import check_model

    try:
        returned = module.train(model, *args)
    except Exception as e:
        raise ModelError(f"module_file {module_file}: train raised {type(e).__name__}: {e}") from e
    if isinstance(returned, keras.Model) and returned is not model:
        return returned, check_model(returned, full_spec, module_file)
    return model, None


def train(
    examples_dir: str | Path,
    schema_dir: str | Path,
    statistics_dir: str | Path,
    model_dir: str | Path,
    *,
    label: str,
    task: str = "auto",
    hparams: dict[str, Any] | None = None,
    module_file: str = "",
    module_file_sha256: str = "",
    curves_file: str | Path | None = None,
    tensorboard_dir: str | Path | None = None,
) -> TrainResult:
    """Train on the ``train`` split, validate on ``eval``; write the outputs (module doc).

    Args:
        examples_dir: ingest's splits (``train/``, ``eval/``: Parquet parts).
        schema_dir: validate's schema (a folder holding ``schema.pbtxt``, or the file).
        statistics_dir: validate's statistics (a folder holding ``statistics.pb``, or the file).
        model_dir: Where the model artifact goes (written atomically).
        label: The column to predict.
        task: ``auto`` (from the label), ``binary``, ``multiclass`` or ``regression``.
        hparams: Hyperparameters (:func:`check_hparams`).
        module_file: A user module (local path or URI) defining ``build_model`` and
            optionally ``train``; empty: the default model. Importing it runs its code.
        module_file_sha256: The module's SHA-256, checked on the bytes read before any of
            them runs; empty: not pinned.
        curves_file: Where the HTML training curves go (none when ``None``).
        tensorboard_dir: Where TensorBoard logs go (none when ``None``).

    Raises:
        DataError: the data cannot be trained on (named file, column).
        ModelError: the user module breaks its contract (named file, what is wrong).
        ValueError: a bad hyperparameter or task.
    """
    from mlrail.components.train import data
    from mlrail.components.validate.core import load_schema, load_statistics

    hp = check_hparams(hparams)
    if task != "auto" and task not in TASKS:
        raise ValueError(f"task {task!r}: expected auto, {', '.join(TASKS)}")
    module = None
    if module_file:
        from mlrail.components.train.user_module import load_module

        module = load_module(module_file, sha256=module_file_sha256)

    train_split = data.open_split(Path(examples_dir) / "train")
    where = str(train_split.path)
    max_classes = {"auto": _MAX_AUTO_CLASSES, "regression": 0}.get(task, _MAX_CLASSES)
    labels = data.summarize_labels(train_split, label, max_classes)
    task, classes = _task_and_classes(labels, label, task, where)
    if hp["class_weights"] is not None and task not in CLASSIFICATION:
        raise ValueError(
            "hyperparameter class_weights: only for classification (task is regression)"
        )
    weights = class_weight_vector(hp["class_weights"], classes, labels.counts or {})

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from mlrail.components.train import model as default
    from mlrail.components.train.curves import EpochLog, ScalarWriter, curves_html
    from mlrail.io import atomic_dir, atomic_write_json, atomic_write_text

    schema = default.prepare_schema(load_schema(schema_dir), label, task, classes)
    stats = load_statistics(statistics_dir)
    spec = default.model_spec(schema, stats, where=str(statistics_dir))
    columns = {i.column for i in spec.inputs}
    for f in schema.feature:
        if f.name != label and f.name not in columns:
            why = (
                "it is an identifier (unique per row)"
                if default.IDENTIFIER_TAG in f.annotation.tag
                else "its name is empty"
                if not f.name
                else "it has no values in train"
            )
            log.warning("column %r is not a model input: %s", f.name, why)

    eval_split, eval_rows, eval_dropped = _eval_split(Path(examples_dir), label, classes)
    if labels.rows > labels.labelled:
        log.warning(
            "%s: %d row(s) without a label %r left out of training",
            where, labels.rows - labels.labelled, label,
        )  # fmt: skip

    source = module_file or "the default model"
    seed = int(hp["seed"])
    with _deterministic(seed):
        full_spec = spec
        if module is None:
            model = default.default_model(schema, stats, dict(hp))
        else:
            model, spec = _user_model(module, module_file, schema, stats, spec, hp)
        if not model.compiled:
            _compile(model, spec, hp)
        problems = data.check_columns(train_split, spec)
        if eval_split is not None:
            problems += data.check_columns(eval_split, spec)
        if problems:
            raise DataError("; ".join(problems))
        train_ds = data.dataset(
            train_split, spec, rows=labels.labelled, batch_size=int(hp["batch_size"]),
            seed=seed, shuffle=True, class_weights=weights,
        )  # fmt: skip
        eval_ds = (
            data.dataset(
                eval_split, spec, rows=eval_rows, batch_size=1024, seed=seed, shuffle=False
            )
            if eval_split is not None and eval_rows
            else None
        )
        if module is not None:
            from mlrail.components.train.user_module import check_outputs

            first = next(iter(data.batches(train_split, spec, read_rows=64)))
            from mlrail.artifacts.modelspec import tf_inputs

            check_outputs(np.asarray(model(tf_inputs(first.features))), spec, module_file)

        epochs = int(hp["epochs"])
        progress = EpochLog(epochs)
        callbacks: list[Any] = [progress]
        patience = int(hp["early_stopping_patience"])
        early = bool(patience and eval_ds is not None)
        stopper = None
        if early:
            stopper = keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=patience, restore_best_weights=True
            )
            callbacks.append(stopper)
        with contextlib.ExitStack() as stack:
            if tensorboard_dir is not None:
                tb = stack.enter_context(atomic_dir(tensorboard_dir))
                callbacks.append(ScalarWriter(tb))
            log.info(
                "training %s on %d rows (%d without a label skipped), %d eval rows, %d inputs",
                source, labels.labelled, labels.rows - labels.labelled, eval_rows,
                len(spec.inputs),
            )  # fmt: skip
            if getattr(module, "train", None) is None:
                model.fit(
                    train_ds,
                    validation_data=eval_ds,
                    epochs=epochs,
                    callbacks=callbacks,
                    shuffle=False,  # the dataset shuffles, seeded
                    verbose=0,
                )
            else:
                args = (train_ds, eval_ds, dict(hp), callbacks)
                model, replaced = _user_train(module, module_file, model, full_spec, args)
                spec = replaced or spec
                if not progress.history:
                    raise ModelError(
                        f"module_file {module_file}: train ran no epoch with the callbacks it "
                        "was given (pass callbacks=callbacks to model.fit)"
                    )
    hist = progress.history
    best = _best_epoch(hist, early)
    stopped = bool(stopper is not None and stopper.stopped_epoch > 0)
    log.info("kept the weights of epoch %d of %d", best, len(hist.get("loss", [])))
    with atomic_dir(model_dir) as tmp:
        model.export(str(tmp / "saved_model"), format="tf_saved_model", verbose=False)
        try:
            model.save(tmp / "model.keras")
        except Exception as e:
            raise ModelError(f"{source}: cannot save the model as .keras: {e}") from e
        spec.write(tmp)
        atomic_write_json(tmp / "history.json", hist)
        atomic_write_json(
            tmp / "training.json",
            {
                "rows": labels.labelled,
                "dropped_unlabelled": labels.rows - labels.labelled,
                "eval_rows": eval_rows,
                "eval_dropped_unlabelled": eval_dropped,
                "epochs": len(hist.get("loss", [])),
                "best_epoch": best,
                "stopped_early": stopped,
            },
        )
    if curves_file is not None:
        atomic_write_text(
            curves_file,
            curves_html(hist, best_epoch=best, stopped_early=stopped, title="Training curves"),
        )
    return TrainResult(
        spec=spec,
        history=hist,
        rows=labels.labelled,
        dropped_unlabelled=labels.rows - labels.labelled,
        eval_rows=eval_rows,
        best_epoch=best,
        stopped_early=stopped,
        eval_dropped_unlabelled=eval_dropped,
    )
