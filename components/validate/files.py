"""Validate data files directly, without a pipeline: ``mlrail validate`` and ``mlrail schema``.

The files are streamed once through :mod:`mlrail.sources` (CSV, Parquet, JSON Lines; a file, a
folder, a glob or a URI) into the same statistics, schema inference, anomaly and drift code the
validate component uses, as one dataset named ``data``. When a column turns out wider than its
first block said (an integer column with a float further down), the pass starts again with the
wider type, as ingest does.

Output layout of ``validate_source(..., out_dir)``::

    out_dir/
      statistics/Split-data/FeatureStats.pb, statistics.json   (TFX's ExampleStatistics)
      schema/schema.pbtxt
      anomalies/Split-data/SchemaDiff.pb, anomalies.json      (TFX's ExampleAnomalies)
      report.html      the self-contained report (:mod:`.report`)
      summary.md       the Markdown summary
"""

from __future__ import annotations

from pathlib import Path

from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from mlrail.components.validate.core import (
    ValidationReport,
    infer_schema,
    statistics_from_batches,
    validate_tables,
    write_pages,
    write_report,
)
from mlrail.redact import redact
from mlrail.sources import Blocks, stream

__all__ = ["DATASET", "infer_source_schema", "validate_source"]

#: The name of the files' dataset in the statistics.
DATASET = "data"


def validate_source(
    source: str,
    out_dir: str | Path | None = None,
    *,
    curated_schema: str = "",
    baseline_statistics: str = "",
    baseline_split: str = "train",
    min_examples: int = 1,
) -> ValidationReport:
    """Statistics, schema (curated or inferred), anomalies and drift of the files of ``source``.

    Args:
        source: A file, folder, glob or URI (see :mod:`mlrail.sources`).
        out_dir: Where to write the artifacts and the reports (layout in the module doc);
            None to write nothing.
        curated_schema: Path or URI of a ``schema.pbtxt`` to check against; empty to infer one
            from the data itself (then only what inference cannot accept is an anomaly: an
            empty file, ±inf in a number column, too few rows, a column of a type mlrail does
            not support).
        baseline_statistics: Path or URI of an earlier run's statistics artifact (its folder,
            one ``Split-<split>`` folder of it or one ``FeatureStats.pb``), to measure drift
            against; empty for none.
        baseline_split: The baseline's dataset the files are compared with.
        min_examples: Fewest rows the data may have.

    Returns:
        The report; ``report.ok`` is False when anything was found.
    """

    def check(blocks: Blocks) -> ValidationReport:
        return validate_tables(
            {DATASET: blocks},
            curated_schema=curated_schema,
            baseline_statistics=baseline_statistics,
            baseline_split=baseline_split,
            min_examples=min_examples,
        )

    # validation never reads the fingerprint: no SHA-256 pass over the bytes
    report = stream(source, check, allow_empty=True, fingerprint=False)
    if out_dir is not None:
        out = Path(out_dir)
        write_report(
            report,
            statistics_dir=out / "statistics",
            schema_dir=out / "schema",
            anomalies_dir=out / "anomalies",
        )
        write_pages(
            report,
            html_file=out / "report.html",
            markdown_file=out / "summary.md",
            title=f"Validation of {redact(source)}",
        )
    return report


def infer_source_schema(source: str, *, ranges: bool = True) -> schema_pb2.Schema:
    """The schema inferred from the files of ``source``, for a person to review and edit.

    ``ranges`` also records each number column's observed min and max as its domain (off in the
    pipeline's own inference, where an eval value just outside train's range is no anomaly).
    """

    def infer(blocks: Blocks) -> schema_pb2.Schema:
        stats = statistics_pb2.DatasetFeatureStatisticsList()
        stats.datasets.append(statistics_from_batches(DATASET, blocks))
        return infer_schema(stats, DATASET, ranges=ranges)

    return stream(source, infer, allow_empty=True, fingerprint=False)
