"""The statistics component: a thin KFP adapter over :mod:`mlrail.components.statistics.core`."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Output

from mlrail.components._images import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def statistics(examples: Input[Dataset], statistics: Output[Artifact]):
    """Computes the statistics of every split of the examples, with each split's mergeable
    state, so that the statistics of shards merge into those of the whole.

    Args:
        examples: The splits written by ingest (one shard's, in a sharded pipeline).

    Returns:
        statistics: TFX's ExampleStatistics layout, ``Split-<split>/FeatureStats.pb`` per split
            with its mergeable state (``mlrail_partial.bin``) beside it; its metadata names the
            examples' source, by which merge matches it to its shard.
    """
    from mlrail.artifacts import tfmd
    from mlrail.components.statistics import core

    rows = core.statistics(examples.path, statistics.path)
    statistics.metadata.update({f"num_examples_{s}": n for s, n in rows.items()})
    statistics.metadata["split_names"] = tfmd.split_names_metadata(statistics.path)
    statistics.metadata["source"] = examples.metadata.get("source", "")
