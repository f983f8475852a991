"""Splits, schema and statistics written by hand, as validate writes them (issue 10's contract).

Independent of validate's own inference, so the model's side of the contract is tested on its
own: numbers get ``num_stats``; strings ``string_stats`` with a rank histogram; a date or
timestamp column FLOAT statistics over its days since 1970-01-01 UTC with the custom statistic
``mlrail.datetime`` and a schema feature with ``time_domain { integer_format: UNIX_DAYS }``;
a column named in ``identifiers`` the annotation tag ``mlrail.identifier``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from mlrail.artifacts.tfmd import write_statistics
from mlrail.datetimes import arrow_days, is_datetime


def _numbers(col: pa.ChunkedArray) -> np.ndarray:
    if is_datetime(col.type):
        return arrow_days(col)
    return col.cast(pa.float64()).to_numpy(zero_copy_only=False)


def protos(
    table: pa.Table, identifiers: tuple[str, ...] = ()
) -> tuple[schema_pb2.Schema, statistics_pb2.DatasetFeatureStatisticsList]:
    """The schema and the ``train`` statistics of ``table``."""
    schema = schema_pb2.Schema()
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    ds = stats.datasets.add(name="train", num_examples=table.num_rows)
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        feat = schema.feature.add(name=name)
        st = ds.features.add()
        st.path.step.append(name)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            feat.type = schema_pb2.BYTES
            st.type = statistics_pb2.FeatureNameStatistics.STRING
            values = [v for v in col.to_pylist() if v is not None]
            st.string_stats.common_stats.num_non_missing = len(values)
            st.string_stats.common_stats.num_missing = table.num_rows - len(values)
            for v in sorted(set(values)):
                st.string_stats.rank_histogram.buckets.add(label=v, sample_count=values.count(v))
        else:
            feat.type = schema_pb2.FLOAT
            st.type = statistics_pb2.FeatureNameStatistics.FLOAT
            x = _numbers(col)
            present = x[np.isfinite(x)]
            n = st.num_stats
            n.common_stats.num_non_missing = int(np.sum(~np.isnan(x)))
            n.common_stats.num_missing = int(np.sum(np.isnan(x)))
            n.mean = float(present.mean()) if len(present) else 0.0
            n.std_dev = float(present.std()) if len(present) else 0.0
            if is_datetime(col.type):
                feat.time_domain.integer_format = schema_pb2.TimeDomain.UNIX_DAYS
                st.custom_stats.add(name="mlrail.datetime", str=str(col.type))
        if name in identifiers:
            feat.annotation.tag.append("mlrail.identifier")
    return schema, stats


def write_splits(
    root: Path, train: pa.Table, eval: pa.Table, identifiers: tuple[str, ...] = ()
) -> dict[str, Path]:
    """``examples/{train,eval}/part-00000.parquet``, ``schema/schema.pbtxt`` and
    ``statistics/`` (TFX's layout) under ``root``; the folders by name (and ``model``)."""
    p = {n: root / n for n in ("examples", "schema", "statistics", "model")}
    for split, table in (("train", train), ("eval", eval)):
        (p["examples"] / split).mkdir(parents=True)
        pq.write_table(table, p["examples"] / split / "part-00000.parquet")
    schema, stats = protos(train, identifiers)
    p["schema"].mkdir()
    (p["schema"] / "schema.pbtxt").write_text(text_format.MessageToString(schema))
    write_statistics(p["statistics"], stats, {})
    return p
