"""Statistics artifacts that merge: each shard's written with its mergeable state, then merged.

A fan-out over data shards computes each shard's statistics on its own
(:func:`statistics_artifact`: TFX's layout plus each split's state,
``Split-<split>/mlrail_partial.bin``, :mod:`mlrail.artifacts.tfmd`), and one step merges them
(:func:`merge_statistics`) into the artifact of the whole, in the same layout, so it merges
again and every reader (train, TFDV) takes it as it takes one pass's. The merged statistics
equal one pass's over the same rows: counts, missing, zeros, min/max and value counts exactly,
mean and standard deviation to float rounding, median, quantiles and histograms within the KLL
sketch's bound (:mod:`.statistics`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from tensorflow_metadata.proto.v0 import statistics_pb2

from mlrail.artifacts.tfmd import ordered_splits, partial_file, read_partials, write_statistics
from mlrail.errors import DataError
from mlrail.validation.partial import PartialStatistics
from mlrail.validation.statistics import compute_partials, summaries, summarize

__all__ = [
    "merge_statistics",
    "read_partial_statistics",
    "statistics_artifact",
    "write_partial_statistics",
]


def read_partial_statistics(folder: str | Path) -> dict[str, PartialStatistics]:
    """The mergeable state of each split of a statistics artifact (its folder, local or a URI).

    Raises:
        DataError: naming the folder, when it is not a statistics artifact or a split has no
            mergeable state; naming the file, when a state is unreadable or of another format.
    """
    return {
        split: PartialStatistics.from_bytes(data, partial_file(folder, split))
        for split, data in read_partials(folder).items()
    }


def write_partial_statistics(
    output: str | Path, partials: Mapping[str, PartialStatistics]
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Write the statistics artifact of ``partials`` (split → its state), atomically: each
    split's ``FeatureStats.pb`` and mergeable state, and ``statistics.json``.

    Returns:
        The statistics written, a dataset per split, in the order of ``partials``.
    """
    stats = summaries(partials.values())
    write_statistics(
        output, stats, summarize(stats), {s: p.to_bytes() for s, p in partials.items()}
    )
    return stats


def statistics_artifact(
    examples_dir: str | Path, output: str | Path
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Compute the statistics of every split of an examples artifact (one streaming pass per
    split) and write them as a mergeable statistics artifact: a shard's statistics step.

    Raises:
        DataError: as :func:`.statistics.compute_partials`. Nothing is written then.
    """
    return write_partial_statistics(output, compute_partials(examples_dir))


def merge_statistics(
    inputs: Sequence[str | Path], output: str | Path
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Merge the statistics artifacts of shards into the artifact of the whole.

    Each split is the merge of that split in every input that has it (a split missing from
    some inputs is fine); the inputs are read one at a time, so memory holds one merged state
    and one input's.

    Args:
        inputs: The shards' statistics artifact folders (local or URIs), each written with its
            mergeable states (:func:`statistics_artifact`, validate).
        output: Where the merged artifact goes (the same layout, mergeable again).

    Returns:
        The merged statistics, a dataset per split (train, eval, test, then by name).

    Raises:
        DataError: naming the folder, when an input is not a statistics artifact or has a
            split without its mergeable state; naming the file, when a state cannot be read;
            naming the column and both files, when a column's types cannot meet (numbers in
            one shard, text in another). Nothing is written then.
    """
    if not inputs:
        raise DataError("no statistics artifacts to merge")
    merged: dict[str, PartialStatistics] = {}
    for folder in inputs:
        for split, part in read_partial_statistics(folder).items():
            mine = merged.get(split)
            if mine is None:
                mine = merged[split] = PartialStatistics(split, part.source)
            mine.merge(part)
    return write_partial_statistics(output, {s: merged[s] for s in ordered_splits(merged)})
