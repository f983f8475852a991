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
):
    """Reads a CSV or Parquet file and writes deterministic train/eval(/test) Parquet splits.

    Args:
        source: A local path, a URI pyarrow's filesystems understand (s3://, gs://) or
            ``bundled:penguins``.
        examples: The splits, one folder per split holding ``part-*.parquet``.
        eval_ratio: Share of rows for the eval split.
        test_ratio: Share of rows for an optional test split (0 for none).
        key_column: Column whose hash decides the split; empty to hash the whole row.
    """
    from mlrail.components.ingest import core

    result = core.ingest(
        source,
        examples.path,
        eval_ratio=eval_ratio,
        test_ratio=test_ratio,
        key_column=key_column or None,
    )
    examples.metadata.update(
        {"splits": result.splits, "fingerprint": result.fingerprint, "source": result.source}
    )
    examples.metadata.update({f"rows_{split}": n for split, n in result.rows.items()})
