"""The ingest component: a thin KFP adapter over :mod:`mlrail.components.ingest.core`."""

from kfp import dsl
from kfp.dsl import Dataset, Output

from mlrail.components._images import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def ingest(
    source: str,
    examples: Output[Dataset],
    eval_ratio: float = 0.2,
    test_ratio: float = 0.0,
    key_column: str = "",
    span_date: str = "",
    scheduled_time: str = "",
):
    """Reads a CSV or Parquet file and writes deterministic train/eval(/test) Parquet splits.

    Args:
        source: A local path, a URI pyarrow's filesystems understand (s3://, gs://) or
            ``bundled:penguins``.
        examples: The splits, one folder per split holding ``part-*.parquet``.
        eval_ratio: Share of rows for the eval split.
        test_ratio: Share of rows for an optional test split (0 for none).
        key_column: Column whose hash decides the split; empty to hash the whole row.
        span_date: YYYY-MM-DD filling a {YYYY}/{MM}/{DD} pattern in ``source`` (backfills).
        scheduled_time: The recurring run's scheduled time; fills the pattern when
            ``span_date`` is empty.
    """
    from mlrail.components.ingest import core

    result = core.ingest(
        source,
        examples.path,
        eval_ratio=eval_ratio,
        test_ratio=test_ratio,
        key_column=key_column or None,
        span_date=span_date,
        scheduled_time=scheduled_time,
    )
    examples.metadata.update(
        {
            "splits": result.splits,
            "fingerprint": result.fingerprint,
            "source": result.source,
            "span": result.span,
        }
    )
    examples.metadata.update({f"rows_{split}": n for split, n in result.rows.items()})
