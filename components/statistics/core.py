"""statistics: the mergeable statistics of an examples artifact, one shard's in a sharded run.

The statistics validate computes (:mod:`mlrail.validation.statistics`: one streaming pass per
split, the same figures), written with each split's mergeable state so that merge combines the
shards' statistics into those of the whole (:mod:`mlrail.validation.merge`) and validate need
not read every shard again.

Output (TFX's ``ExampleStatistics`` layout, :mod:`mlrail.artifacts.tfmd`)::

    statistics/
      Split-<split>/FeatureStats.pb      DatasetFeatureStatisticsList with the split's dataset
      Split-<split>/mlrail_partial.bin   the split's mergeable state (mlrail.validation.partial)
      statistics.json                    the headline figures of every split
"""

from __future__ import annotations

from pathlib import Path

from mlrail.validation.merge import statistics_artifact

__all__ = ["statistics"]


def statistics(examples_dir: str | Path, statistics_dir: str | Path) -> dict[str, int]:
    """Compute the statistics of every split of ``examples_dir`` and write them with their
    mergeable states (layout in the module doc; the folder is written atomically).

    Returns:
        Rows per split.

    Raises:
        DataError: naming the folder or file, when the examples cannot be read. Nothing is
            written then.
    """
    stats = statistics_artifact(examples_dir, statistics_dir)
    return {ds.name: ds.num_examples for ds in stats.datasets}
