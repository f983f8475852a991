"""The training pipeline: from a data file to a deployed ONNX model, with two gates.

    ingest → validate → (ok?) train → evaluate → (blessed?) export_onnx → deploy

Two gates: no training on data with anomalies, and no export or deploy of a model that is not
blessed. export_onnx fails the run (and so blocks deploy) when ONNX Runtime does not match the
SavedModel on every eval row.
"""

from kfp import dsl

from mlrail.components.deploy import deploy
from mlrail.components.evaluate import evaluate
from mlrail.components.export_onnx import export_onnx
from mlrail.components.ingest import ingest
from mlrail.components.train import train
from mlrail.components.validate import validate

__all__ = ["training"]

# Requests and limits per step on the cluster (kfp.local ignores them).
_RESOURCES = {
    "ingest": ("1", "2G"),
    "validate": ("1", "2G"),
    "train": ("2", "4G"),
    "evaluate": ("1", "2G"),
    "export_onnx": ("1", "4G"),
    "deploy": ("500m", "1G"),
}


def _resources(task: dsl.PipelineTask, step: str) -> dsl.PipelineTask:
    cpu, memory = _RESOURCES[step]
    return (
        task.set_cpu_request(cpu)
        .set_cpu_limit(cpu)
        .set_memory_request(memory)
        .set_memory_limit(memory)
    )


@dsl.pipeline(name="training", description="From a data file to a served ONNX model, gated.")
def training(
    source: str = "bundled:penguins",
    label: str = "species",
    task: str = "auto",
    eval_ratio: float = 0.2,
    key_column: str = "",
    hparams: dict = {},  # noqa: B006 (a literal in the IR; never mutated)
    thresholds: dict = {},  # noqa: B006 (a literal in the IR; never mutated)
    parity_tolerance: float = 1e-4,
    model_name: str = "penguins",
    deploy_target: str = "render",
    model_repository: str = "",
    namespace: str = "mlrail",
):
    """Trains, checks and deploys a model for one label of one tabular data file.

    Args:
        source: CSV or Parquet file: a path, an s3:// or gs:// URI, or bundled:penguins.
        label: The column to predict.
        task: auto, binary, multiclass or regression.
        eval_ratio: Share of rows held out for evaluation.
        key_column: Column whose hash decides the split; empty to hash the whole row.
        hparams: Training hyperparameters (epochs, batch_size, learning_rate, hidden_units,
            dropout, seed).
        thresholds: Metric bounds for the blessing, e.g. {"accuracy": ">= 0.9"}.
        parity_tolerance: Largest ONNX Runtime vs SavedModel difference allowed.
        model_name: Name of the model in the repository and of the InferenceService.
        deploy_target: local (a local model repository) or render (an InferenceService manifest).
        model_repository: Folder of the local model repository (deploy_target local).
        namespace: Namespace of the InferenceService (deploy_target render).
    """
    ingest_task = _resources(
        ingest(source=source, eval_ratio=eval_ratio, key_column=key_column), "ingest"
    ).set_retry(num_retries=3, backoff_duration="30s", backoff_factor=2.0)
    validate_task = _resources(validate(examples=ingest_task.outputs["examples"]), "validate")
    with dsl.If(validate_task.outputs["Output"] == True, name="data-ok"):  # noqa: E712 (KFP condition)
        train_task = _resources(
            train(
                examples=ingest_task.outputs["examples"],
                schema=validate_task.outputs["schema"],
                statistics=validate_task.outputs["statistics"],
                label=label,
                task=task,
                hparams=hparams,
            ),
            "train",
        )
        evaluate_task = _resources(
            evaluate(
                model=train_task.outputs["model"],
                examples=ingest_task.outputs["examples"],
                thresholds=thresholds,
            ),
            "evaluate",
        )
        with dsl.If(evaluate_task.outputs["Output"] == True, name="model-blessed"):  # noqa: E712
            export_task = _resources(
                export_onnx(
                    model=train_task.outputs["model"],
                    examples=ingest_task.outputs["examples"],
                    model_name=model_name,
                    tolerance=parity_tolerance,
                ),
                "export_onnx",
            ).set_caching_options(False)
            _resources(
                deploy(
                    onnx_model=export_task.outputs["onnx_model"],
                    target=deploy_target,
                    model_name=model_name,
                    model_repository=model_repository,
                    namespace=namespace,
                ),
                "deploy",
            ).set_caching_options(False)
