"""The validate component: a thin KFP adapter over :mod:`mlrail.components.validate.core`."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Output

from mlrail.components._images import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def validate(
    examples: Input[Dataset],
    statistics: Output[Artifact],
    schema: Output[Artifact],
    anomalies: Output[Artifact],
    curated_schema: str = "",
    min_examples: int = 1,
) -> bool:
    """Computes statistics, infers the schema (or uses a curated one) and finds anomalies.

    Args:
        examples: The splits written by ingest.
        statistics: Per-split DatasetFeatureStatisticsList (statistics.pb, statistics.json).
        schema: The Schema the data was checked against (schema.pbtxt).
        anomalies: Anomalies found, as anomalies.pbtxt and anomalies.json.
        curated_schema: Path or URI of a schema.pbtxt to check against instead of inferring
            one (empty: infer from the train split).
        min_examples: Fewest examples a split may have.

    Returns:
        True when no anomaly was found: the gate in front of training.
    """
    from mlrail.components.validate import core

    report = core.validate(
        examples.path,
        statistics.path,
        schema.path,
        anomalies.path,
        curated_schema=curated_schema,
        min_examples=min_examples,
    )
    statistics.metadata.update({f"num_examples_{s}": n for s, n in report.num_examples().items()})
    schema.metadata["num_features"] = len(report.schema.feature)
    anomalies.metadata.update(
        {"num_anomalies": report.num_anomalies, "drift_detected": report.drift_detected}
    )
    return report.ok
