"""The validate component: a thin KFP adapter over :mod:`mlrail.components.validate.core`."""

from typing import Optional

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Output

from mlrail.components._images import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def validate(
    examples: Input[Dataset],
    statistics: Output[Artifact],
    schema: Output[Artifact],
    anomalies: Output[Artifact],
    report: Output[HTML],
    summary: Output[Markdown],
    curated_schema: str = "",
    baseline_statistics: str = "",
    min_examples: int = 1,
    events_sink: str = "",
    model_name: str = "",
    pipeline: str = "",
    run_id: str = "",
    run_name: str = "",
    precomputed_statistics: Optional[Input[Artifact]] = None,  # noqa: UP045
) -> bool:
    """Computes statistics, infers the schema (or uses a curated one), finds anomalies and drift.

    Args:
        examples: The splits written by ingest.
        curated_schema: Path or URI of a schema.pbtxt to check against instead of inferring
            one (empty: infer from the train split).
        baseline_statistics: Path or URI of an earlier run's statistics (its artifact folder,
            a ``Split-<split>`` folder or a FeatureStats.pb); each split is compared with the
            same split there (drift). Empty: none.
        min_examples: Fewest examples a split may have.
        events_sink: CloudEvents sink for data.anomalies_found and data.drift_detected: an
            http(s) URL (binary mode; add #structured for structured), a file path or file://
            URI for JSON Lines, or empty for $K_SINK (none if unset). A sink that is down never
            fails this step: the anomalies artifact's metadata says so.
        model_name: The model the data is for (the events' subject).
        pipeline: The pipeline's name (the events' source).
        run_id: The run's id, e.g. dsl.PIPELINE_JOB_ID_PLACEHOLDER (the events' source).
        run_name: The run's name, e.g. dsl.PIPELINE_JOB_NAME_PLACEHOLDER.
        precomputed_statistics: Statistics of these examples with their mergeable states
            (merge's, in the sharded pipeline), read instead of a pass over every row; absent:
            computed here.

    Returns:
        statistics: TFX's ExampleStatistics layout: ``Split-<split>/FeatureStats.pb`` per split
            (train, eval, test), each a DatasetFeatureStatisticsList of one dataset that TFDV
            reads as it is, and statistics.json with every split's headline figures.
        schema: The Schema the data was checked against (schema.pbtxt).
        anomalies: TFX's ExampleAnomalies layout: ``Split-<split>/SchemaDiff.pb`` per split,
            each an Anomalies proto with that split's anomalies and skew and drift values, and
            anomalies.json with the whole finding.
        report: The statistics, anomalies, skew and drift of every feature, as one HTML page.
        summary: The verdict, anomalies and largest skew/drift values, in Markdown.
        Output: True when no anomaly was found: the gate in front of training.
    """
    from mlrail import events
    from mlrail.artifacts import tfmd
    from mlrail.components.validate import core

    result = core.validate(
        examples.path,
        statistics.path,
        schema.path,
        anomalies.path,
        curated_schema=curated_schema,
        baseline_statistics=baseline_statistics,
        min_examples=min_examples,
        report_file=report.path,
        summary_file=summary.path,
        events_sink=events_sink,
        model_name=model_name,
        pipeline=pipeline,
        run_id=run_id,
        run_name=run_name,
        event_links={
            "anomalies": anomalies.uri,
            "statistics": statistics.uri,
            "report": report.uri,
        },
        precomputed_statistics=(
            precomputed_statistics.path if precomputed_statistics is not None else ""
        ),
    )
    statistics.metadata.update({f"num_examples_{s}": n for s, n in result.num_examples().items()})
    # TFX's ExampleStatistics/ExampleAnomalies property: the splits, as a JSON list in a string
    statistics.metadata["split_names"] = tfmd.split_names_metadata(statistics.path)
    anomalies.metadata["split_names"] = tfmd.split_names_metadata(anomalies.path)
    schema.metadata["num_features"] = len(result.schema.feature)
    anomalies.metadata.update(
        {
            "num_anomalies": result.num_anomalies,
            # metadata lives in the pipeline's database: the first few, anomalies.json has all
            "anomalies": core.anomaly_lines(result),
            "drift_detected": result.drift_detected,
            "drift_baseline": result.baseline,
            **events.summary(result.deliveries),
        }
    )
    return result.ok
