"""The train component: a thin KFP adapter over :mod:`mlrail.components.train.core`."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from mlrail.components._images import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def train(
    examples: Input[Dataset],
    schema: Input[Artifact],
    statistics: Input[Artifact],
    model: Output[Model],
    training_metrics: Output[Metrics],
    curves: Output[HTML],
    tensorboard: Output[Artifact],
    label: str,
    task: str = "auto",
    hparams: dict = {},  # noqa: B006 (a literal in the IR; never mutated)
    module_file: str = "",
    module_file_sha256: str = "",
    workers: int = 1,
    distribution: dict = {},  # noqa: B006 (a literal in the IR; never mutated)
):
    """Trains a Keras 3 model whose preprocessing (imputation, normalisation, lookups) is inside it.

    Args:
        examples: The splits written by ingest; trains on ``train``, validates on ``eval``.
        schema: The schema validate checked the data against.
        statistics: The statistics validate computed (means, deviations, vocabularies).
        label: The column to predict.
        task: ``auto`` (from the label), ``binary``, ``multiclass`` or ``regression``.
        hparams: epochs, batch_size, learning_rate, hidden_units, dropout, class_weights
            (``"balanced"`` or {class: weight}), early_stopping_patience (0: off), seed.
        module_file: A Python file (local path or URI, e.g. ``s3://bucket/model.py``) defining
            ``build_model(schema, statistics, hparams)`` and optionally ``train(model,
            train_dataset, eval_dataset, hparams, callbacks)``; empty: mlrail's default model.
            Its code runs in this step, with the step's credentials.
        module_file_sha256: The module's SHA-256 (64 hex digits): the file is refused, before
            any of it runs, unless its bytes hash to this; empty: not pinned.
        workers: 1: this step trains; more: that many data-parallel workers (TensorFlow's
            MultiWorkerMirroredStrategy), each streaming its own shard of the train split's row
            groups; ``batch_size`` is the global batch and must divide by it.
        distribution: Where the workers run: launcher (``auto``: a Kubeflow Trainer TrainJob
            of runtime ``mlrail-train`` when this step runs in a cluster, processes on this
            machine otherwise; ``trainjob``; ``local``), timeout_seconds (default 21600),
            namespace, runtime, image, cpu, memory, poll_seconds.

    Returns:
        model: SavedModel, ``model.keras``, ``model_spec.json``, ``history.json`` and
            ``training.json`` (rows trained and evaluated on, rows without a label, epochs).
        training_metrics: Loss and metrics, train and eval, of the epoch whose weights were
            kept; epochs run and the best epoch.
        curves: The training curves per epoch (train and eval), one HTML page.
        tensorboard: TensorBoard event files (``train/``, ``validation/``) of each epoch.
    """
    from mlrail.components.train import distributed

    result = distributed.train(
        examples.path,
        schema.path,
        statistics.path,
        model.path,
        label=label,
        task=task,
        hparams=hparams,
        module_file=module_file,
        module_file_sha256=module_file_sha256,
        curves_file=curves.path,
        tensorboard_dir=tensorboard.path,
        workers=workers,
        distribution=distribution,
        uris={
            "examples": examples.uri,
            "schema": schema.uri,
            "statistics": statistics.uri,
            "model": model.uri,
        },
    )
    model.metadata.update(
        {
            "framework": "keras",
            "label": label,
            "task": result.spec.task,
            "rows": result.rows,
            "dropped_unlabelled": result.dropped_unlabelled,
            "workers": workers,
        }
    )
    for name, value in result.metrics().items():
        training_metrics.log_metric(name, value)
