"""The register component: a thin KFP adapter over :mod:`mlrail.components.register.core`."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from mlrail.components._images import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def register(
    onnx_model: Input[Model],
    examples: Input[Dataset],
    schema: Input[Artifact],
    statistics: Input[Artifact],
    metrics: Input[Metrics],
    blessing: Input[Artifact],
    registered_model: Output[Artifact],
    model_name: str = "model",
    registry_uri: str = "",
    requested_by: str = "",
    reason: str = "",
    pipeline_name: str = "",
    pipeline_version: str = "",
    run_id: str = "",
    run_name: str = "",
    kfp_ui_url: str = "",
    image: str = "",
    events_sink: str = "",
) -> str:
    """Records the exported model as a version in the MLflow Model Registry, with its evidence.

    One version per model identity: a model already registered under the same identity is not
    registered again; its version is the output (``created`` false). A new version sends
    io.mlrail.model.registered; a version that existed sends nothing (its event was sent when
    it was created).

    Args:
        onnx_model: The model written by export_onnx (logged in MLflow's ONNX flavour, with its
            signature and an input example from its golden request).
        examples: The splits written by ingest (recorded as the run's dataset inputs).
        schema: validate's schema (its hash is a tag).
        statistics: validate's statistics (the datasets' columns and rows).
        metrics: evaluate's metrics (headline figures as tags and run metrics).
        blessing: evaluate's blessing (verdict, thresholds, baseline as tags).
        model_name: The registered model's name.
        registry_uri: MLflow tracking URI of the registry; empty for $MLFLOW_TRACKING_URI.
        requested_by: Who asked for this run.
        reason: Why it was run.
        pipeline_name: The pipeline's name.
        pipeline_version: The pipeline's version (hash of its compiled form), if known.
        run_id: The pipeline run's ID.
        run_name: The pipeline run's name.
        kfp_ui_url: Base URL of the Kubeflow Pipelines UI; the version links to the run there.
        image: The component image the run used.
        events_sink: Where io.mlrail.model.registered goes: an http(s) URL (binary mode;
            `#structured` for structured) or a JSON Lines file; empty: K_SINK, then none. A
            sink that is down never fails this step.

    Returns:
        registered_model: registered_model.json: name, version, created, identity, run id,
            URI, registry and the version's tags.
        Output: The version's number in the registry (new, or the one that already had this
            identity).
    """
    from mlrail import events
    from mlrail.components.register import core

    result = core.register(
        onnx_model.path,
        registered_model.path,
        examples_uri=examples.uri,
        examples_metadata=examples.metadata,
        schema_dir=schema.path,
        statistics_dir=statistics.path,
        metrics_path=metrics.path,
        blessing_dir=blessing.path,
        model_name=model_name,
        registry_uri=registry_uri,
        onnx_model_metadata=onnx_model.metadata,
        pipeline=core.Pipeline(pipeline_name, pipeline_version, run_id, run_name, kfp_ui_url),
        image=image,
        requested_by=requested_by,
        reason=reason,
        events_sink=events_sink,
        event_links={"registered_model": registered_model.uri},
    )
    registered_model.metadata.update(
        {
            "name": result.name,
            "version": result.version,
            "created": result.created,
            "identity": result.identity,
            "uri": result.uri,
            "registry": result.registry,
        }
    )
    for delivery in result.deliveries:  # none when the version existed already
        print(delivery.line())
    registered_model.metadata.update(events.summary(result.deliveries))
    return result.version
