"""What validation finds: anomalies, skew/drift comparisons, and the report that holds them."""

from __future__ import annotations

from dataclasses import dataclass, field

from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from mlrail import events

__all__ = ["JENSEN_SHANNON", "L_INFTY", "Anomaly", "Comparison", "ValidationReport"]

#: The distances, by the names of TFDV's ``DriftSkewInfo.Measurement.Type``.
L_INFTY = "L_INFTY"
JENSEN_SHANNON = "JENSEN_SHANNON_DIVERGENCE"


@dataclass(frozen=True)
class Anomaly:
    """One problem found in one split: which feature, which TFDV anomaly type, and what.

    ``feature`` is None for a problem of the whole split (``DATASET_LOW_NUM_EXAMPLES``): ""
    is a column's name like any other (a pandas index written to CSV has it).
    """

    split: str
    feature: str | None
    type: str
    description: str


@dataclass(frozen=True)
class Comparison:
    """One distance between two distributions of one feature, reported even below threshold.

    ``kind`` is "skew" (``split`` against train, in this run) or "drift" (``split`` against the
    same split of the baseline statistics); ``measure`` is "L_INFTY" (categorical features) or
    "JENSEN_SHANNON_DIVERGENCE" (numeric features), as in TFDV's ``DriftSkewInfo``.
    ``threshold`` is ``None`` when the schema sets no comparator for the feature.
    """

    feature: str
    kind: str
    measure: str
    split: str
    against: str
    value: float
    threshold: float | None

    @property
    def exceeded(self) -> bool:
        return self.threshold is not None and self.value > self.threshold


@dataclass
class ValidationReport:
    statistics: statistics_pb2.DatasetFeatureStatisticsList
    schema: schema_pb2.Schema
    anomalies: list[Anomaly] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    #: where the baseline statistics for drift came from ("" when there was none)
    baseline: str = ""
    #: the lifecycle events validate sent about it, in order (:mod:`.lifecycle`)
    deliveries: list[events.Delivery] = field(default_factory=list)

    @property
    def drift_detected(self) -> bool:
        return any(c.kind == "drift" and c.exceeded for c in self.comparisons)

    @property
    def ok(self) -> bool:
        return not self.anomalies

    @property
    def num_anomalies(self) -> int:
        return len(self.anomalies)

    def num_examples(self) -> dict[str, int]:
        return {d.name: d.num_examples for d in self.statistics.datasets}
