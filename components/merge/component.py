"""The merge component: a thin KFP adapter over :mod:`mlrail.components.merge.core`."""

from typing import List  # noqa: UP035 (KFP reads typing.List in Input[List[...]])

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Output

from mlrail.components._images import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def merge(
    shards: list,
    source: str,
    shard_examples: Input[List[Dataset]],  # noqa: UP006
    shard_statistics: Input[List[Artifact]],  # noqa: UP006
    examples: Output[Dataset],
    statistics: Output[Artifact],
):
    """Merges the shards' examples and statistics (the fan-in of dsl.ParallelFor) into one
    examples artifact and one statistics artifact, read downstream as after a single ingest.

    Args:
        shards: The plan step's output: the shards, in order.
        source: The source the plan split, for the metadata.
        shard_examples: Each shard's examples (ingest's output, through dsl.Collected).
        shard_statistics: Each shard's statistics (the statistics step's output, through
            dsl.Collected).

    Returns:
        examples: The union of the shards' splits, one folder per split holding
            ``part-*.parquet`` in shard order; its metadata as ingest's (rows per split, a
            fingerprint of the shards' fingerprints, the files and spans read) and the number
            of shards.
        statistics: TFX's ExampleStatistics layout, ``Split-<split>/FeatureStats.pb`` per
            split: the shards' statistics merged (exact counts, moments and value counts;
            quantiles and histograms within the sketches' bound).
    """
    from mlrail.artifacts import tfmd
    from mlrail.components.merge import core

    result = core.merge(
        shards,
        [core.ShardArtifact(a.path, a.metadata) for a in shard_examples],
        [core.ShardArtifact(a.path, a.metadata) for a in shard_statistics],
        examples.path,
        statistics.path,
        source=source,
    )
    examples.metadata.update(
        {
            "splits": result.splits,
            "fingerprint": result.fingerprint,
            "source": result.source,
            "format": result.format,
            "span": result.span,
            "spans": result.spans,
            # metadata lives in the pipeline's database: a long listing is cut, its count kept
            "files": result.files[: core.MAX_LISTED_FILES],
            "num_files": result.num_files,
            "num_shards": result.shards,
        }
    )
    examples.metadata.update({f"rows_{split}": n for split, n in result.rows.items()})
    statistics.metadata.update({f"num_examples_{s}": n for s, n in result.rows.items()})
    # TFX's ExampleStatistics property: the splits, as a JSON list in a string
    statistics.metadata["split_names"] = tfmd.split_names_metadata(statistics.path)
