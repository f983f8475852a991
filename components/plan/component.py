"""The plan component: a thin KFP adapter over :mod:`mlrail.components.plan.core`."""

from kfp import dsl

from mlrail.components._images import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def plan(
    source: str,
    span_date: str = "",
    scheduled_time: str = "",
    span_window: int = 1,
) -> list:
    """Lists the shards of a data source (its files, or the days of a span window) with their
    sizes, for dsl.ParallelFor; a source with no data file fails here, before any shard is read.

    Args:
        source: A file, folder or glob (``data/*.csv``) as a local path or a URI pyarrow's
            filesystems understand (s3://, gs://), or ``bundled:penguins``; may hold a
            {YYYY}/{MM}/{DD} span pattern.
        span_date: YYYY-MM-DD filling the span pattern (backfills).
        scheduled_time: The recurring run's scheduled time; fills the pattern when
            ``span_date`` is empty.
        span_window: How many daily spans, ending at the span date: one shard per day that
            has files.

    Returns:
        Output: The shards in the source's order, each {"source": what its ingest reads,
            "name": the same with credentials masked, "span": its day or "", "files": how
            many files, "bytes": their size}.
    """
    from mlrail.components.plan import core

    shards = core.plan(
        source, span_date=span_date, scheduled_time=scheduled_time, span_window=span_window
    )
    return [s.item() for s in shards]
