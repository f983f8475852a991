"""What a check of data finds: anomalies, and skew/drift comparisons between two datasets."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["JENSEN_SHANNON", "L_INFTY", "Anomaly", "Comparison"]

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
    ``value`` is the test's statistic (the distance) and ``threshold`` the value above which it
    is an anomaly: ``None`` when the schema sets no comparator for the feature.

    ``test`` says where the threshold came from (:mod:`.thresholds`): "chi2" (the G-test's
    critical value for a Jensen–Shannon divergence at these sizes), "z" (the Bonferroni
    two-proportion z test's for an L-infinity distance), "fixed" (the schema's own threshold),
    "" (no comparator). For "chi2" and "z", ``p_value`` is the test's at the observed value,
    ``alpha`` the false-alarm rate per feature (the family-wise rate split over the features
    compared) and ``sizes`` the numbers of values behind each side (sampled histograms count
    their sample); the threshold is the critical value or the practical-effect floor, whichever
    is larger, plus for "chi2" the ``allowance``: how much the histograms' alignment may have
    added to the divergence (their buckets' edges differ; :func:`.thresholds.js_critical`).
    """

    feature: str
    kind: str
    measure: str
    split: str
    against: str
    value: float
    threshold: float | None
    test: str = ""
    p_value: float | None = None
    alpha: float | None = None
    sizes: tuple[float, float] | None = None
    allowance: float | None = None

    @property
    def exceeded(self) -> bool:
        return self.threshold is not None and self.value > self.threshold
