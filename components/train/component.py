"""The train component: a thin KFP adapter over :mod:`mlrail.components.train.core`."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model, Output

from mlrail.components._images import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def train(
    examples: Input[Dataset],
    schema: Input[Artifact],
    statistics: Input[Artifact],
    model: Output[Model],
    label: str,
    task: str = "auto",
    hparams: dict = {},  # noqa: B006 (a literal in the IR; never mutated)
):
    """Trains a Keras 3 model whose preprocessing (imputation, normalisation, lookups) is inside it.

    Args:
        examples: The splits written by ingest; trains on ``train``.
        schema: The schema validate checked the data against.
        statistics: The statistics validate computed (means, deviations, vocabularies).
        model: SavedModel, ``model.keras`` and ``model_spec.json``.
        label: The column to predict.
        task: ``auto`` (from the label), ``binary``, ``multiclass`` or ``regression``.
        hparams: epochs, batch_size, learning_rate, hidden_units, dropout, seed.
    """
    from mlrail.components.train import core

    result = core.train(
        examples.path,
        schema.path,
        statistics.path,
        model.path,
        label=label,
        task=task,
        hparams=hparams,
    )
    model.metadata.update(
        {"framework": "keras", "label": label, "task": result.spec.task, "rows": result.rows}
    )
