"""The training pipeline with its data read in shards, side by side (issue 16).

    plan → ParallelFor(shards) { ingest → statistics } → merge → validate → (ok?) train → ...

Everything after merge is :mod:`mlrail.pipelines.training`, with the same parameters: merge's
examples are the union of the shards' splits (read by train, evaluate and export_onnx as one
ingest's), and validate takes merge's statistics instead of reading every row again. A shard
is a file of the source (a folder or glob), or a day of a span window. Compile with
``mlrail compile training_sharded``; run locally with ``mlrail run --shards``.

A variant, not a ``shards`` switch on the training pipeline: how many shards run at once is a
number KFP fixes at compile time (:mod:`mlrail.pipelines._shards`), and a run-time switch
would put both data paths, each with its own gate, into every training run's graph. Here each
compiled pipeline is one plain path, and ``sharded_pipeline(parallelism)`` compiles another
limit.
"""

from typing import Any

from kfp import dsl

from mlrail.pipelines.training import DESCRIPTION, pipeline_function

__all__ = ["PARALLELISM", "sharded_pipeline", "training_sharded"]

#: Shards read at once by ``training_sharded`` (0 would be no limit: every shard's pod at once).
PARALLELISM = 4


def sharded_pipeline(parallelism: int = PARALLELISM) -> Any:
    """The sharded training pipeline, reading at most ``parallelism`` shards at once.

    Args:
        parallelism: Most shards at once, 1 or more.

    Raises:
        ValueError: ``parallelism`` below 1.
    """
    if parallelism < 1:
        raise ValueError(f"parallelism={parallelism} must be at least 1")
    return dsl.pipeline(
        name="training-sharded",
        description=f"{DESCRIPTION} The data read in shards, side by side.",
    )(pipeline_function(sharded=True, parallelism=parallelism))


training_sharded = sharded_pipeline()
