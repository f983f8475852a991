"""The report validate makes of what it found (the findings themselves are
:mod:`mlrail.validation.findings`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from mlrail import events
from mlrail.validation.findings import Anomaly, Comparison
from mlrail.validation.partial import PartialStatistics

__all__ = ["ValidationReport"]


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
    #: split → the mergeable state ``statistics`` was summarised from, written beside it
    #: (``Split-<split>/mlrail_partial.bin``) so the artifact merges with other shards'
    partials: dict[str, PartialStatistics] = field(default_factory=dict)

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
