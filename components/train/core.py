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
                          "epochs", "best_epoch", "stopped_early", "batch_size",
                          "learning_rate", "early_stopping_patience", "chosen",
                          "workers"}: the rows trained and evaluated on, those left out for
                          having no label (null, or NaN), the hyperparameters used that depend
                          on the rows, which of them train chose ("auto"), and how many
                          data-parallel workers trained (1 without a multi-worker strategy)

``curves`` is one self-contained HTML page (inline SVG, a chart per metric); ``tensorboard``
holds TensorBoard event files, ``train/`` and ``validation/``, with each epoch's scalars.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mlrail.artifacts.modelspec import CLASSIFICATION, IDENTIFIER_TAG, TASKS, ModelSpec
from mlrail.components.train.hparams import check_hparams, class_weight_vector, resolve_hparams
from mlrail.components.train.results import TrainResult, best_epoch
from mlrail.components.train.task import MAX_AUTO_CLASSES, MAX_CLASSES, task_and_classes
from mlrail.errors import DataError, ModelError

__all__ = ["compile_model", "train"]

log = logging.getLogger("mlrail.components.train")
# a local run shows this logger's records on the terminal as they come (mlrail.local.progress)
_progress = logging.getLogger("mlrail.progress.train")

_STEPS_PER_EXECUTION = 32
#: How the progress line names the hyperparameters train chose.
_NAMES = {"batch_size": "batch size", "early_stopping_patience": "patience"}


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


def compile_model(model: Any, spec: ModelSpec, hp: dict[str, Any]) -> None:
    """Compile ``model`` as train does: Adam at ``hp["learning_rate"]`` (resolved, not
    ``"auto"``), the task's loss and metric, several steps per call into the compiled step
    (one under a ``MultiWorkerMirroredStrategy`` in scope: Keras 3's multi-step loop around
    its collective ops fails)."""
    import keras
    import tensorflow as tf

    steps = _STEPS_PER_EXECUTION
    if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
        steps = 1

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
        steps_per_execution=steps,
    )


def _eval_split(examples_dir: Path, label: str, classes: list[str]) -> tuple[Any, int, int]:
    """The eval split (``None`` when absent), its labelled rows and its rows without a label;
    a class train lacks fails."""
    from mlrail.artifacts.examples import EVAL, open_split
    from mlrail.components.train import data

    folder = examples_dir / EVAL
    split = open_split(folder) if folder.is_dir() else None
    rows = dropped = 0
    if split is not None:
        labels = data.summarize_labels(split, label, MAX_CLASSES)
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


def _train_dataset(
    split: Any,
    spec: ModelSpec,
    *,
    rows: int,
    batch_size: int,
    seed: int,
    class_weights: np.ndarray | None,
    strategy: Any,
) -> Any:
    """The shuffled train split: one dataset, or under ``strategy`` a shard per worker."""
    from mlrail.components.train import data

    if strategy is None:
        return data.dataset(
            split, spec, rows=rows, batch_size=batch_size, seed=seed, shuffle=True,
            class_weights=class_weights,
        )  # fmt: skip
    replicas = int(strategy.num_replicas_in_sync)
    if batch_size % replicas:
        raise ValueError(
            f"hyperparameter batch_size={batch_size}: must divide by the strategy's "
            f"{replicas} replicas (it is the global batch)"
        )

    def per_worker(ctx: Any) -> Any:
        return data.dataset(
            split, spec, rows=rows, batch_size=ctx.get_per_replica_batch_size(batch_size),
            seed=seed, shuffle=True, class_weights=class_weights,
            shard=(ctx.input_pipeline_id, ctx.num_input_pipelines),
        )  # fmt: skip

    return strategy.distribute_datasets_from_function(per_worker)


def _workers(strategy: Any) -> int:
    """The data-parallel workers of ``strategy``'s cluster (1 without one)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return 1
    spec = resolver.cluster_spec()
    return max(1, sum(spec.num_tasks(job) for job in ("chief", "worker") if job in spec.jobs))


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
    strategy: Any = None,
) -> TrainResult:
    """Train on the ``train`` split, validate on ``eval``; write the outputs (module doc).

    Args:
        examples_dir: ingest's splits (``train/``, ``eval/``: Parquet parts).
        schema_dir: validate's schema (a folder holding ``schema.pbtxt``, or the file).
        statistics_dir: validate's statistics (a folder holding ``statistics.pb``, or the file).
        model_dir: Where the model artifact goes (written atomically).
        label: The column to predict.
        task: ``auto`` (from the label), ``binary``, ``multiclass`` or ``regression``.
        hparams: Hyperparameters (:func:`.hparams.check_hparams`).
        module_file: A user module (local path or URI) defining ``build_model`` and
            optionally ``train``; empty: the default model. Importing it runs its code.
        module_file_sha256: The module's SHA-256, checked on the bytes read before any of
            them runs; empty: not pinned.
        curves_file: Where the HTML training curves go (none when ``None``).
        tensorboard_dir: Where TensorBoard logs go (none when ``None``).
        strategy: A ``tf.distribute.Strategy`` (e.g. ``MultiWorkerMirroredStrategy``) to
            build, compile and fit the model under; ``None``: the default (one device). The
            train split is then read through ``strategy.distribute_datasets_from_function``:
            each worker streams its own shard of it (:func:`.data.dataset`'s ``shard``) in
            per-replica batches of ``batch_size / replicas`` rows (``batch_size`` stays the
            global batch, so it must divide by the number of replicas); the eval split is
            left to the strategy to distribute. Every worker calls :func:`train` with the
            same arguments except ``model_dir`` and the output files, which each worker needs
            for itself (a chief's are the ones to keep).

    Raises:
        DataError: the data cannot be trained on (named file, column).
        ModelError: the user module breaks its contract (named file, what is wrong).
        ValueError: a bad hyperparameter or task.
    """
    from mlrail.artifacts.examples import TRAIN, open_split
    from mlrail.artifacts.tfmd import load_schema, load_statistics
    from mlrail.components.train import data

    hp = check_hparams(hparams)
    if task != "auto" and task not in TASKS:
        raise ValueError(f"task {task!r}: expected auto, {', '.join(TASKS)}")
    module = None
    if module_file:
        from mlrail.components.train.user_module import load_module

        module = load_module(module_file, sha256=module_file_sha256)

    train_split = open_split(Path(examples_dir) / TRAIN)
    where = str(train_split.path)
    max_classes = {"auto": MAX_AUTO_CLASSES, "regression": 0}.get(task, MAX_CLASSES)
    labels = data.summarize_labels(train_split, label, max_classes)
    task, classes = task_and_classes(labels, label, task, where)
    if hp["class_weights"] is not None and task not in CLASSIFICATION:
        raise ValueError(
            "hyperparameter class_weights: only for classification (task is regression)"
        )
    weights = class_weight_vector(hp["class_weights"], classes, labels.counts or {})
    replicas = 1 if strategy is None else int(strategy.num_replicas_in_sync)
    hp, chosen = resolve_hparams(hp, labels.labelled, replicas)
    _progress.info(
        "batch size %d, learning rate %g, early stopping patience %d%s",
        hp["batch_size"], hp["learning_rate"], hp["early_stopping_patience"],
        f" ({' and '.join(_NAMES[c] for c in chosen)} chosen for {labels.labelled} train rows)"
        if chosen else "",
    )  # fmt: skip

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _progress.info("%d rows to train on; loading TensorFlow", labels.labelled)  # some seconds
    import keras

    from mlrail.components.train import model as default
    from mlrail.components.train.curves import EpochLog, EpochProgress, ScalarWriter, curves_html
    from mlrail.io import atomic_dir, atomic_write_json, atomic_write_text

    schema = default.prepare_schema(load_schema(schema_dir), label, task, classes)
    stats = load_statistics(statistics_dir)
    spec = default.model_spec(schema, stats, where=str(statistics_dir))
    columns = {i.column for i in spec.inputs}
    for f in schema.feature:
        if f.name != label and f.name not in columns:
            why = (
                "it is an identifier (unique per row)"
                if IDENTIFIER_TAG in f.annotation.tag
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
        # variables made under the strategy's scope are the ones it mirrors and all-reduces
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            if module is None:
                model = default.default_model(schema, stats, dict(hp))
            else:
                model, spec = _user_model(module, module_file, schema, stats, spec, hp)
            if not model.compiled:
                compile_model(model, spec, hp)
        problems = data.check_columns(train_split, spec)
        if eval_split is not None:
            problems += data.check_columns(eval_split, spec)
        if problems:
            raise DataError("; ".join(problems))
        train_ds = _train_dataset(
            train_split, spec, rows=labels.labelled, batch_size=int(hp["batch_size"]),
            seed=seed, class_weights=weights, strategy=strategy,
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
        epoch_log = EpochLog(epochs)
        steps = -(-labels.labelled // int(hp["batch_size"]))
        callbacks: list[Any] = [epoch_log, EpochProgress(epochs, steps)]
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
            _progress.info(
                "training %s (%s) on %d rows, %d eval rows, up to %d epochs",
                source, task, labels.labelled, eval_rows, epochs,
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
                if not epoch_log.history:
                    raise ModelError(
                        f"module_file {module_file}: train ran no epoch with the callbacks it "
                        "was given (pass callbacks=callbacks to model.fit)"
                    )
    hist = epoch_log.history
    best = best_epoch(hist, early)
    stopped = bool(stopper is not None and stopper.stopped_epoch > 0)
    log.info("kept the weights of epoch %d of %d", best, len(hist.get("loss", [])))
    _progress.info(
        "kept the weights of epoch %d of %d%s; saving the model",
        best, len(hist.get("loss", [])), " (stopped early: no lower eval loss)" if stopped else "",
    )  # fmt: skip
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
                "batch_size": int(hp["batch_size"]),
                "learning_rate": float(hp["learning_rate"]),
                "early_stopping_patience": int(hp["early_stopping_patience"]),
                "chosen": chosen,
                "workers": _workers(strategy),
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
        batch_size=int(hp["batch_size"]),
        learning_rate=float(hp["learning_rate"]),
        early_stopping_patience=int(hp["early_stopping_patience"]),
    )
