"""merge: the shards' examples and statistics as one examples and one statistics artifact.

The fan-in of a sharded pipeline: ``plan`` lists the shards, each shard's ingest and statistics
steps run side by side (``dsl.ParallelFor``), and this step gathers what they wrote
(``dsl.Collected``), so validate, train, evaluate and export_onnx read one artifact of each, as
after one ingest over the whole source.

Inputs are matched to the plan's shards by the ``source`` their metadata names (ingest writes
the source it read; the statistics step copies its examples'), never by their position in the
collected lists: each shard must come exactly once, and the outputs are in the plan's order
whatever order the orchestrator collected them in.

Output ``examples`` (the layout :mod:`mlrail.artifacts.examples` owns)::

    examples/<split>/part-00000.parquet, part-00001.parquet, ...
        every part of that split of every shard, renumbered in shard order; a part with no rows
        is left out unless the whole split has none (then the first shard's empty part keeps
        the columns and their types)

Each part is a hard link to the shard's file when both are on one filesystem, else a copy of
its bytes; artifacts are never changed in place, so a link is as safe as a copy and costs
nothing. A part is rewritten only when its columns differ in type or order from the union's: a
column that is integers in one shard and floats in another is float64 in every part (the
widening one ingest over the whole source applies, :mod:`mlrail.sources`), so readers see one
schema. Shards with different columns are refused, as a whole-source read refuses them.

Why parts and not a manifest of references to the shards' artifacts: every reader
(:func:`~mlrail.artifacts.examples.open_split`) and the release record take the examples
layout as it is, and on a cluster KFP downloads a step's input artifacts, not the artifacts
another file points at; a self-contained artifact also keeps KFP's lineage and caching honest.

Output ``statistics``: :func:`mlrail.validation.merge.merge_statistics` over the shards'
statistics artifacts, in shard order (TFX's ExampleStatistics layout, with each split's
mergeable partial state): exact where the quantity allows (counts, missing, min, max, mean,
variance, value counts), within the sketches' stated bound for quantiles and histograms.

The merged examples' ``fingerprint`` is the SHA-256 of the shards' names and fingerprints in
order: the same data in the same shards gives the same fingerprint (not the one an unsharded
ingest of the same files gives, which hashes the bytes themselves).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from mlrail.artifacts.examples import part_files, part_name, split_names
from mlrail.errors import DataError
from mlrail.io import atomic_dir
from mlrail.redact import redact
from mlrail.sources.schema import merge as widen
from mlrail.validation.merge import merge_statistics

__all__ = ["MAX_LISTED_FILES", "MergeResult", "ShardArtifact", "merge", "merge_examples", "ordered"]

log = logging.getLogger(__name__)
# a local run shows this logger's records on the terminal as they come (mlrail.local.progress)
_progress = logging.getLogger("mlrail.progress.merge")

#: How many file names the merged examples' metadata lists (the count is kept).
MAX_LISTED_FILES = 100
# rows per batch when a part is rewritten with widened types (memory: one batch)
_BATCH_ROWS = 64 * 1024
_FINGERPRINT_VERSION = b"mlrail-shards-v1"


@dataclass(frozen=True)
class ShardArtifact:
    """One collected input: its local path and the metadata its producer wrote."""

    path: str
    metadata: Mapping[str, Any]


@dataclass(frozen=True)
class MergeResult:
    """What merge wrote.

    Attributes:
        rows: Rows per split, in split order.
        fingerprint: SHA-256 of the shards' names and fingerprints, in order.
        source: The source the plan split (credentials masked).
        format: ``csv``, ``parquet`` or ``jsonl``.
        span: The latest day of a span window read ("" without one).
        spans: The days read, oldest first.
        files: The files read, in order.
        num_files: How many files were read (``files`` may list fewer: see the adapter).
        shards: How many shards.
        rewritten: How many parts were rewritten (column types widened or reordered).
    """

    rows: dict[str, int]
    fingerprint: str
    source: str
    format: str
    span: str = ""
    spans: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    num_files: int = 0
    shards: int = 0
    rewritten: int = 0

    @property
    def splits(self) -> list[str]:
        return list(self.rows)


def ordered(
    shards: Sequence[Mapping[str, Any]], artifacts: Sequence[ShardArtifact], what: str
) -> list[ShardArtifact]:
    """``artifacts`` in the order of ``shards``, each matched by the ``source`` it names.

    Args:
        shards: The plan's shards (each with its masked ``name``).
        artifacts: The collected artifacts, in any order.
        what: What they are, for errors (``examples``, ``statistics``).

    Raises:
        DataError: a shard with no artifact or with several, or an artifact of no shard.
    """
    by_source: dict[str, list[ShardArtifact]] = {}
    for a in artifacts:
        by_source.setdefault(str(a.metadata.get("source", "")), []).append(a)
    out = []
    for shard in shards:
        name = str(shard["name"])
        found = by_source.pop(name, [])
        if len(found) != 1:
            raise DataError(
                f"shard {name}: {len(found)} {what} artifacts name it as their source "
                f"(expected 1; {len(artifacts)} collected for {len(shards)} shards)"
            )
        out.append(found[0])
    if by_source:
        extra = ", ".join(sorted(map(repr, by_source)))
        raise DataError(f"{what} of no planned shard: source {extra}")
    return out


def merge_examples(
    shard_dirs: Sequence[str | Path], examples_dir: str | Path
) -> tuple[dict[str, int], int]:
    """Write the union of the shards' examples (layout in the module doc) to ``examples_dir``.

    Args:
        shard_dirs: Each shard's examples folder, in shard order.
        examples_dir: The folder to write; replaced as a whole, and only on success.

    Returns:
        Rows per split, and how many parts were rewritten.

    Raises:
        DataError: naming the shard, when the shards' splits or columns differ, a column's
            types cannot be widened to one, or a part cannot be read.
    """
    if not shard_dirs:
        raise DataError("no shards to merge")
    roots = [Path(d) for d in shard_dirs]
    splits = split_names(roots[0])
    for root in roots[1:]:
        if split_names(root) != splits:
            raise DataError(
                f"{root}: splits {split_names(root)} differ from {roots[0]}'s {splits} "
                "(every shard's ingest must use the same eval and test ratios)"
            )
    rows: dict[str, int] = {}
    rewritten = 0
    with atomic_dir(examples_dir) as tmp:
        for split in splits:
            parts = [(root, f) for root in roots for f in part_files(root / split)]
            schema = _union_schema(split, parts)
            (tmp / split).mkdir()
            counts = [(p, pq.ParquetFile(p[1]).metadata.num_rows) for p in parts]
            kept = [p for p, n in counts if n] or [parts[0]]
            rows[split] = sum(n for _, n in counts)
            for index, (_, part) in enumerate(kept):
                dest = tmp / split / part_name(index)
                if _plain(pq.read_schema(part)) == schema:
                    _link(part, dest)
                else:
                    _rewrite(part, dest, schema)
                    rewritten += 1
    return rows, rewritten


def _plain(schema: pa.Schema) -> pa.Schema:
    """The columns' names and types only (nullability and metadata aside)."""
    return pa.schema([(f.name, f.type) for f in schema])


def _union_schema(split: str, parts: list[tuple[Path, Path]]) -> pa.Schema:
    """The columns of the first part, each with the type all parts' types widen to."""
    first_root, first = parts[0]
    try:
        base = _plain(pq.read_schema(first))
        types: dict[str, pa.DataType | None] = dict(zip(base.names, base.types, strict=True))
        for root, part in parts[1:]:
            schema = _plain(pq.read_schema(part))
            if set(schema.names) != set(base.names):
                missing = sorted(set(base.names) - set(schema.names))
                new = sorted(set(schema.names) - set(base.names))
                raise DataError(
                    f"{root}: columns differ from {first_root}'s in split {split!r}: "
                    f"missing {missing}, new {new}"
                )
            for name, t in zip(schema.names, schema.types, strict=True):
                have = types[name]
                types[name] = widen(have, t)
                if types[name] is None:
                    raise DataError(
                        f"{root}: column {name!r} is {t} there and {have} in an earlier shard; "
                        "no type holds both"
                    )
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"{split}: cannot read a shard's Parquet schema: {e}") from e
    return pa.schema([(n, t) for n, t in types.items()])


def _link(src: Path, dest: Path) -> None:
    """``dest`` as a hard link to ``src``, or a copy when the filesystem cannot link."""
    try:
        os.link(src, dest)
    except OSError:  # another filesystem (EXDEV), or one without links
        shutil.copyfile(src, dest)


def _rewrite(src: Path, dest: Path, schema: pa.Schema) -> None:
    """``src`` with its columns in ``schema``'s order and types, a batch at a time."""
    try:
        pf = pq.ParquetFile(src)
        with pq.ParquetWriter(dest, schema) as writer:
            for batch in pf.iter_batches(batch_size=_BATCH_ROWS, columns=schema.names):
                table = pa.Table.from_batches([batch]).select(schema.names).cast(schema)
                writer.write_table(table)
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"{src}: cannot rewrite with the shards' common types: {e}") from e


def fingerprint(names: Sequence[str], fingerprints: Sequence[str]) -> str:
    """SHA-256 of the shards' names and fingerprints, in order (see the module doc)."""
    h = hashlib.sha256(_FINGERPRINT_VERSION)
    for name, fp in zip(names, fingerprints, strict=True):
        h.update(b"\0" + name.encode() + b"\0" + fp.encode())
    return h.hexdigest()


def merge(
    shards: Sequence[Mapping[str, Any]],
    examples: Sequence[ShardArtifact],
    statistics: Sequence[ShardArtifact],
    examples_dir: str | Path,
    statistics_dir: str | Path,
    *,
    source: str = "",
) -> MergeResult:
    """Merge the shards' examples and statistics (layouts in the module doc).

    Args:
        shards: The plan's output: each shard's ``name`` and ``span``, in order.
        examples: Each shard's examples artifact (ingest's), in any order.
        statistics: Each shard's statistics artifact, in any order.
        examples_dir: Where the merged examples go.
        statistics_dir: Where the merged statistics go.
        source: The source the plan split, for the metadata (credentials are masked).

    Returns:
        Rows per split, the fingerprint and what was read.

    Raises:
        DataError: naming the shard, when an input is missing, doubled or unreadable, or the
            shards cannot be one artifact (see :func:`merge_examples`).
    """
    if not shards:
        raise DataError("the plan has no shards")
    ex = ordered(shards, examples, "examples")
    st = ordered(shards, statistics, "statistics")
    rows, rewritten = merge_examples([a.path for a in ex], examples_dir)
    merge_statistics([a.path for a in st], statistics_dir)
    names = [str(s["name"]) for s in shards]
    spans = [str(s["span"]) for s in shards if s.get("span")]
    files = [str(f) for a in ex for f in a.metadata.get("files", [])]
    formats = {str(a.metadata.get("format", "")) for a in ex}
    _progress.info(
        "%d shard(s): %s", len(shards), ", ".join(f"{s} {n:,}" for s, n in rows.items())
    )  # fmt: skip
    if rewritten:
        log.info("%d part(s) rewritten with the shards' common column types", rewritten)
    return MergeResult(
        rows=rows,
        fingerprint=fingerprint(names, [str(a.metadata.get("fingerprint", "")) for a in ex]),
        source=redact(source),
        format=formats.pop() if len(formats) == 1 else "",
        span=spans[-1] if spans else "",
        spans=spans,
        files=files,
        num_files=sum(int(a.metadata.get("num_files", 0)) for a in ex),
        shards=len(shards),
        rewritten=rewritten,
    )
