"""The data steps fanned out over shards: plan → (ingest → statistics) per shard → merge.

    plan ─▶ ParallelFor(shards, parallelism) ─┬─ ingest(shard) ─▶ statistics ─┐
                                              └─ ...                          ├─▶ merge
                                                                 dsl.Collected┘

plan lists the shards (the files of a source, or the days of a span window); each shard's
ingest writes its splits and its statistics step their mergeable statistics; merge gathers both
into one examples artifact (the shards' parts) and one statistics artifact, which the steps
after read as they read one ingest's output and validate's statistics.

``parallelism`` (how many shards run at once; 0: no limit) is fixed when the pipeline is
compiled: KFP's ``dsl.ParallelFor`` takes it as a number, and the compiled pipeline holds it as
a constant (``iteratorPolicy.parallelismLimit``), not as a run parameter.
"""

from __future__ import annotations

from typing import Any

from kfp import dsl

from mlrail.components.ingest import ingest
from mlrail.components.merge import merge
from mlrail.components.plan import plan
from mlrail.components.statistics import statistics
from mlrail.pipelines._cluster import cluster_settings

__all__ = ["RESOURCES", "shard_data"]

#: Requests and limits of the sharded data steps on a cluster (each shard's ingest takes the
#: training pipeline's; kfp.local ignores them).
RESOURCES = {
    "plan": {"cpu": "500m", "memory": "1G"},
    "statistics": {"cpu": "1", "memory": "2G"},
    "merge": {"cpu": "1", "memory": "2G"},
}


def shard_data(
    *,
    source: Any,
    eval_ratio: Any,
    test_ratio: Any,
    key_column: Any,
    span_date: Any,
    span_window: Any,
    object_store_secret: Any,
    parallelism: int,
    ingest_resources: dict[str, str],
) -> dsl.PipelineTask:
    """Add plan, the per-shard ingest and statistics, and merge to the pipeline being defined.

    Args:
        source: The pipeline's ``source`` (a folder, glob or span pattern).
        eval_ratio: As for ingest.
        test_ratio: As for ingest.
        key_column: As for ingest.
        span_date: As for ingest; plan fills the pattern, each shard is one day's files.
        span_window: As for ingest: one shard per day present.
        object_store_secret: The object store's Secret (plan lists, ingest reads the source).
        parallelism: Most shards read at once (0: no limit); fixed at compile time.
        ingest_resources: CPU and memory of each shard's ingest.

    Returns:
        The merge task: its ``examples`` and ``statistics`` stand for ingest's examples and
        validate's statistics.
    """
    # Retries as for ingest: a flaky object store, at most 10 + 20 s lost on a bad source.
    plan_task = cluster_settings(
        plan(
            source=source,
            span_date=span_date,
            span_window=span_window,
            scheduled_time=dsl.PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER,
        ),
        **RESOURCES["plan"],
        object_store_secret=object_store_secret,
    ).set_retry(num_retries=2, backoff_duration="10s", backoff_factor=2.0)
    with dsl.ParallelFor(plan_task.output, parallelism=parallelism, name="shards") as shard:
        # the shard's source names its file (or its day's files): no span pattern is left
        ingest_task = cluster_settings(
            ingest(
                source=shard.source,
                eval_ratio=eval_ratio,
                test_ratio=test_ratio,
                key_column=key_column,
            ),
            **ingest_resources,
            object_store_secret=object_store_secret,
        ).set_retry(num_retries=2, backoff_duration="10s", backoff_factor=2.0)
        statistics_task = cluster_settings(
            statistics(examples=ingest_task.outputs["examples"]), **RESOURCES["statistics"]
        )
    return cluster_settings(
        merge(
            shards=plan_task.output,
            shard_examples=dsl.Collected(ingest_task.outputs["examples"]),
            shard_statistics=dsl.Collected(statistics_task.outputs["statistics"]),
            source=source,
        ),
        **RESOURCES["merge"],
    )
