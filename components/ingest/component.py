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
    span_window: int = 1,
):
    """Reads CSV, Parquet or JSON Lines data and writes deterministic train/eval(/test) splits.

    Args:
        source: A file, folder or glob (``data/*.csv``) as a local path or a URI pyarrow's
            filesystems understand (s3://, gs://), or ``bundled:penguins``.
        eval_ratio: Share of rows for the eval split.
        test_ratio: Share of rows for an optional test split (0 for none).
        key_column: Column whose hash decides the split; empty to hash the whole row.
        span_date: YYYY-MM-DD filling a {YYYY}/{MM}/{DD} pattern in ``source`` (backfills).
        scheduled_time: The recurring run's scheduled time; fills the pattern when
            ``span_date`` is empty.
        span_window: How many daily spans to read, ending at the span date.

    Returns:
        examples: The splits, one folder per split holding ``part-*.parquet``; its metadata
            lists the rows per split, the content fingerprint and the files and spans read.
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
        span_window=span_window,
    )
    examples.metadata.update(
        {
            "splits": result.splits,
            "fingerprint": result.fingerprint,
            "source": result.source,
            "format": result.format,
            "span": result.span,
            "spans": result.spans,
            "missing_spans": result.missing_spans,
            # metadata lives in the pipeline's database: a long listing is cut, its count kept
            "files": result.files[: core.MAX_LISTED_FILES],
            "num_files": len(result.files),
        }
    )
    examples.metadata.update({f"rows_{split}": n for split, n in result.rows.items()})
