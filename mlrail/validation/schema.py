"""Schema inference from statistics, in TFDV's Schema proto.

Reading and writing ``schema.pbtxt`` is :mod:`mlrail.artifacts.tfmd`'s.
"""

from __future__ import annotations

import math

import numpy as np
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

# the annotation tag of an identifier-like column (train leaves it out of the default model)
from mlrail.artifacts.modelspec import IDENTIFIER_TAG as IDENTIFIER
from mlrail.errors import DataError
from mlrail.validation.statistics import DATETIME, UNSUPPORTED, common_stats, custom_str

__all__ = [
    "IDENTIFIER",
    "IDENTIFIER_MIN_SHARE",
    "IDENTIFIER_MIN_VALUES",
    "UNSUPPORTED_TAG",
    "MAX_STRING_DOMAIN_SIZE",
    "has_tag",
    "infer_schema",
]

#: a string feature with at most this many distinct values gets a string domain (as TFDV)
MAX_STRING_DOMAIN_SIZE = 100

# Inferred comparators carry no threshold: the threshold is then the distance's critical value
# at the sizes compared, never below a practical-effect floor (mlrail.validation.thresholds).
# A fixed threshold could not serve both a 64-row eval split (noise alone reaches L-infinity
# 0.2 and JS 0.1-0.3 there) and a 100k-row serving window, where JS 0.09 (a column scaled by
# 1.5) is a real change. A curated schema may still set one, used as given.

# An identifier-like text column (an id, a free-text field): one whose distinct values are at
# least IDENTIFIER_MIN_SHARE of its non-missing values, counted over at least
# IDENTIFIER_MIN_VALUES of them. A vocabulary of such a column is as large as the data and
# teaches a model nothing that carries to new rows. The floor on values keeps small data's
# categories out (30 penguins on 30 islands are all distinct); 95%, not 100%, catches ids with
# a few repeats (a re-sent event) and free text with a few stock answers. Integer ids are left
# as numbers: an integer's meaning (a count, a code) cannot be told from its distinctness.
IDENTIFIER_MIN_SHARE = 0.95
IDENTIFIER_MIN_VALUES = 50
#: the annotation tag of a column of a type no step can use (validate reports an anomaly)
UNSUPPORTED_TAG = "mlrail.unsupported"

_Type = statistics_pb2.FeatureNameStatistics


def has_tag(feat: schema_pb2.Feature, tag: str) -> bool:
    """Whether the schema feature carries the annotation ``tag`` (e.g. :data:`IDENTIFIER`)."""
    return tag in feat.annotation.tag


def _identifier(s: statistics_pb2.StringStatistics) -> str | None:
    """Why a text feature is identifier-like (see ``IDENTIFIER_MIN_SHARE``), or None."""
    present = s.common_stats.num_non_missing
    if present < IDENTIFIER_MIN_VALUES or s.unique < IDENTIFIER_MIN_SHARE * present:
        return None
    return (
        f"{s.unique:,} distinct values in {present:,} non-missing ({s.unique / present:.0%}; "
        f"identifier-like from {IDENTIFIER_MIN_SHARE:.0%} over at least "
        f"{IDENTIFIER_MIN_VALUES} values): an id or free text, left out of the default model"
    )


def _float32_at_most(x: float) -> float:
    """The largest float32 that is not above ``x``."""
    f = np.float32(x)
    return float(f) if float(f) <= x else float(np.nextafter(f, np.float32(-np.inf)))


def infer_schema(
    stats: statistics_pb2.DatasetFeatureStatisticsList,
    split: str = "train",
    *,
    ranges: bool = False,
) -> schema_pb2.Schema:
    """Infer a Schema from the statistics of ``split``, as TFDV's ``infer_schema`` would.

    Per feature: its type; ``presence.min_count = 1`` when the split has a value, and
    ``min_fraction = 1`` when it has no missing value; a string domain (the values seen) for a
    string feature with at most ``MAX_STRING_DOMAIN_SIZE`` distinct values; for floats,
    ``float_domain.disallow_inf``; and skew and drift comparators (``infinity_norm`` for
    strings, ``jensen_shannon_divergence`` for numbers) with no threshold, which mlrail reads
    as "the size-dependent default" (:mod:`.thresholds`: the distance's critical value at the
    sizes compared, with a floor). A curated schema sets a threshold to fix one.

    mlrail's additions (TFDV reads them as ordinary schema fields):

    - a date or timestamp column (statistics marked ``mlrail.datetime``) is ``FLOAT`` with
      ``time_domain { integer_format: UNIX_DAYS }`` (its values are days since 1970-01-01
      UTC) instead of a float domain, compared for skew and drift like a number;
    - an identifier-like text column (``IDENTIFIER_MIN_SHARE``) gets ``annotation { tag:
      "mlrail.identifier" comment: "<why, with the counts>" }`` and no string domain and no
      comparators: train leaves it out of the default model; it is reported, not an anomaly;
    - a column of a type no step uses (statistics marked ``mlrail.unsupported_type``) is
      ``BYTES`` with ``annotation { tag: "mlrail.unsupported" comment: "<the type>" }`` and
      nothing else; validation reports it as an anomaly.
    - a string domain is the feature's own (``string_domain`` inside it) when the column is
      named "", which a top-level domain could not be referred to by.

    Args:
        stats: Statistics with a dataset named ``split``.
        split: The dataset to infer from.
        ranges: Also write each numeric feature's observed minimum and maximum as
            ``int_domain``/``float_domain`` bounds — a starting point for a person to edit into
            a curated schema. Off by default, as in TFDV: with inferred bounds an eval value
            just outside train's range would be an anomaly, and any fresh sample has one.

    Returns:
        The inferred Schema.

    Raises:
        DataError: when ``stats`` has no dataset named ``split``.
    """
    by_name = {d.name: d for d in stats.datasets}
    if split not in by_name:
        raise DataError(f"no {split!r} split to infer a schema from (have: {', '.join(by_name)})")
    schema = schema_pb2.Schema()
    for f in by_name[split].features:
        name = f.path.step[0]
        feat = schema.feature.add(name=name)
        common = common_stats(f)
        unsupported = custom_str(f, UNSUPPORTED)
        if unsupported is not None:
            feat.type = schema_pb2.BYTES
            feat.annotation.tag.append(UNSUPPORTED_TAG)
            feat.annotation.comment.append(f"type {unsupported}: not supported by mlrail")
            continue
        if f.type == _Type.FLOAT and custom_str(f, DATETIME) is not None:
            feat.type = schema_pb2.FLOAT
            feat.time_domain.integer_format = schema_pb2.TimeDomain.UNIX_DAYS
            feat.skew_comparator.jensen_shannon_divergence.SetInParent()
            feat.drift_comparator.jensen_shannon_divergence.SetInParent()
        elif f.type in (_Type.INT, _Type.FLOAT):
            n = f.num_stats
            if f.type == _Type.INT:
                feat.type = schema_pb2.INT
                if ranges and common.num_non_missing:
                    # an IntDomain holds int64: a bound the statistics' float64 puts at or past
                    # 2**63 (a uint64, or int64's own extremes, rounded) is left open
                    if n.min >= -(2.0**63):
                        feat.int_domain.min = math.floor(n.min)
                    if n.max < 2.0**63:
                        feat.int_domain.max = math.ceil(n.max)
            else:
                feat.type = schema_pb2.FLOAT
                # Unlike TFDV, infinities are refused unless a curated schema allows them: no
                # instrument measures ±inf, and one would make every prediction it touches NaN.
                feat.float_domain.disallow_inf = True
                if ranges and math.isfinite(n.min) and math.isfinite(n.max):
                    # FloatDomain holds float32: round outwards, or the observed extremes
                    # themselves would fall outside the range once stored
                    feat.float_domain.min = _float32_at_most(n.min)
                    feat.float_domain.max = -_float32_at_most(-n.max)
            feat.skew_comparator.jensen_shannon_divergence.SetInParent()
            feat.drift_comparator.jensen_shannon_divergence.SetInParent()
        else:
            feat.type = schema_pb2.BYTES
            s = f.string_stats
            why = _identifier(s)
            if why is not None:
                feat.annotation.tag.append(IDENTIFIER)
                feat.annotation.comment.append(why)
            else:
                if (
                    0 < s.unique <= MAX_STRING_DOMAIN_SIZE
                    and len(s.rank_histogram.buckets) == s.unique
                ):
                    values = sorted(b.label for b in s.rank_histogram.buckets)
                    if name:
                        schema.string_domain.add(name=name).value.extend(values)
                        feat.domain = name
                    else:
                        feat.string_domain.value.extend(values)
                feat.skew_comparator.infinity_norm.SetInParent()
                feat.drift_comparator.infinity_norm.SetInParent()
        if common.num_non_missing > 0:
            # not for a column with no value in train (all null): it may have none elsewhere
            feat.presence.min_count = 1
            if common.num_missing == 0:
                feat.presence.min_fraction = 1.0
    return schema
