"""Which rows of the train split each data-parallel worker reads, and staging only those bytes.

:func:`plan_shard` decides, for worker ``index`` of ``count``, which labelled rows it keeps (an
equal run of the split's) and so which row groups it reads (those the run touches):
:func:`.data.dataset` reads by that plan, and :func:`stage_split` copies from the artifact
store only what the worker will read, so the plan is made once, here, for both.

:func:`stage_split` copies a split at a URI into a local folder as *sparse* files: each Parquet
part keeps its size and layout, but only these byte ranges are fetched (ranged reads through
pyarrow's filesystem) and written, the rest left as holes that take no disk and read as zeros:

- the footer (and the 4-byte magic at the start): row groups, columns, offsets;
- the label column's chunk of every row group: the label's classes and row count are the whole
  split's, which every worker must agree on (the model's output, the batch size chosen from the
  rows, the steps per epoch);
- every column of the row groups the worker's run touches (:func:`plan_shard`), the one or two
  it shares with a neighbour's run included.

The local copy is then read as any split (:func:`mlrail.artifacts.examples.open_split`), with
the same ``(file, row group)`` list as the store's, so the plan made on it is the store's. A
read of a range that was not fetched fails (a Parquet page header of zeros is refused), it
cannot pass silently. Why a copy rather than reading from the store while training: a split
too large to hold in memory is read again every epoch, from local disk instead of the network,
and the training code reads local files only.
"""

from __future__ import annotations

import fnmatch
import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlrail.artifacts.examples import PART_GLOB, Split, open_split, stream
from mlrail.errors import DataError

__all__ = ["Shard", "Staged", "check_shard", "labelled_rows", "plan_shard", "stage_split"]

log = logging.getLogger("mlrail.components.train")

#: Rows per record batch when only the label column is read.
_LABEL_ROWS = 65_536
#: Most bytes fetched by one ranged read (a row group may be tens of MB).
_FETCH_BYTES = 16 * 2**20
_MAGIC = b"PAR1"

Chunk = tuple[int, int]


def check_shard(shard: tuple[int, int] | None) -> tuple[int, int] | None:
    """``shard`` as ``(index, count)``, or ``None`` when there is one worker; a bad one fails."""
    if shard is None:
        return None
    index, count = shard
    if not (isinstance(index, int) and isinstance(count, int) and 0 <= index < count):
        raise ValueError(
            f"shard {shard!r}: expected (worker index, worker count), 0 <= index < count"
        )
    return None if count == 1 else (index, count)


@dataclass(frozen=True)
class Shard:
    """What worker ``index`` of ``count`` reads of a split (:func:`plan_shard`).

    ``pieces`` are ``(chunk, start, stop)``: a ``(file, row group)`` of
    :meth:`~mlrail.artifacts.examples.Split.chunks` and the labelled rows of it this worker
    keeps, ``start`` to ``stop`` by their position among the chunk's labelled rows (all of
    them but in the first and last piece, where the run may begin or end inside the chunk).
    """

    index: int
    count: int
    pieces: tuple[tuple[Chunk, int, int], ...]

    @property
    def chunks(self) -> list[Chunk]:
        """The ``(file, row group)`` chunks this worker reads."""
        return [c for c, _, _ in self.pieces]

    @property
    def rows(self) -> int:
        """The labelled rows this worker keeps."""
        return sum(stop - start for _, start, stop in self.pieces)


def _labelled(col: pa.Array) -> int:
    """Rows of ``col`` with a label (not null, not NaN: what training keeps)."""
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    present = pc.is_valid(col)
    if pa.types.is_floating(col.type):
        present = pc.and_(present, pc.invert(pc.is_nan(col).fill_null(False)))
    return int(pc.sum(present).as_py() or 0)


def labelled_rows(split: Split, label: str) -> dict[Chunk, int]:
    """The labelled rows of each chunk of ``split``, from its ``label`` column alone."""
    counts = {}
    for chunk in split.chunks():
        counts[chunk] = sum(
            _labelled(rb.column(0))
            for _, rb in stream(split, batch_size=_LABEL_ROWS, columns=[label], chunks=[chunk])
        )
    return counts


def plan_shard(split: Split, label: str, shard: tuple[int, int] | None) -> Shard | None:
    """The part of ``split`` worker ``index`` of ``count`` (``shard``) trains on.

    The split's labelled rows, in the order of
    :meth:`~mlrail.artifacts.examples.Split.chunks` (the split's fixed list), cut into
    ``count`` runs whose lengths differ by at most one row (``index * total // count`` to
    ``(index + 1) * total // count``); worker ``index`` takes the ``index``-th and reads only
    the row groups it touches (none without a labelled row). The parts are disjoint and
    together are every labelled row once, so with the same steps on every worker an epoch
    over all of them sees every labelled row once, as one worker's does. Whole row groups
    (``i::count``) would not: their labelled rows differ by up to a row group's, which the
    equal steps would cut from some workers and repeat on others. The cost: a row group a
    run boundary falls in is read (fetched, decoded) by every worker whose run it holds rows
    of, so a worker reads at most two row groups of which it keeps only part, its first and
    its last (at most ``count - 1`` boundaries fall inside a row group).
    Reads the label column (every worker reads it all: the plan must be the same on every
    worker).

    Returns:
        The plan; ``None`` for no shard (one worker: the whole split).

    Raises:
        ValueError: a ``shard`` that is not ``(index, count)`` with ``0 <= index < count``.
        DataError: naming the file whose label column cannot be read.
    """
    shard = check_shard(shard)
    return None if shard is None else _plan(split.chunks(), labelled_rows(split, label), shard)


def _plan(every: list[Chunk], counts: dict[Chunk, int], shard: tuple[int, int]) -> Shard:
    """:func:`plan_shard` from each chunk's labelled rows."""
    index, count = shard
    total = sum(counts.values())
    lo, hi = index * total // count, (index + 1) * total // count
    pieces, at = [], 0
    for c in every:
        start, stop = max(lo - at, 0), min(hi - at, counts[c])
        if start < stop:
            pieces.append((c, start, stop))
        at += counts[c]
    return Shard(index, count, tuple(pieces))


@dataclass(frozen=True)
class Staged:
    """What :func:`stage_split` fetched: bytes read of the parts' total, chunks of all."""

    split: Split
    shard: Shard | None
    fetched_bytes: int
    total_bytes: int
    chunks: int
    all_chunks: int


def _chunk_range(col: Any) -> tuple[int, int]:
    """A column chunk's bytes (its dictionary page, if any, then its data pages), as Arrow's
    reader computes them for the files pyarrow writes."""
    start = col.data_page_offset
    dictionary = col.dictionary_page_offset
    if col.has_dictionary_page and dictionary and 0 < dictionary < start:
        start = dictionary
    return int(start), int(start + col.total_compressed_size)


def _merged(ranges: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """``ranges`` sorted, touching ones joined: one ranged read each."""
    cur: list[int] | None = None
    for s, e in sorted(ranges):
        if cur is not None and s <= cur[1]:
            cur[1] = max(cur[1], e)
            continue
        if cur is not None:
            yield cur[0], cur[1]
        cur = [s, e]
    if cur is not None:
        yield cur[0], cur[1]


def _without(r: tuple[int, int], held: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of the range ``r`` outside the sorted, disjoint ``held`` ranges."""
    out, (s, e) = [], r
    for hs, he in held:
        if he <= s or hs >= e:
            continue
        if hs > s:
            out.append((s, hs))
        s = max(s, he)
    if s < e:
        out.append((s, e))
    return out


class _Part:
    """One Parquet part being staged: the store's file, its sparse local copy, what is held."""

    def __init__(self, source: Any, local: Path, where: str) -> None:
        self.source, self.local, self.where = source, local, where
        self.size = int(source.size())
        self.held: list[tuple[int, int]] = []
        self.fetched = 0
        with local.open("wb") as f:
            f.truncate(self.size)  # a hole: no disk until written

    def fetch(self, ranges: list[tuple[int, int]]) -> None:
        """Copy the bytes of ``ranges`` not held yet from the store."""
        need = [r for m in _merged(ranges) for r in _without(m, self.held)]
        with self.local.open("r+b") as out:
            for s, e in need:
                for at in range(s, e, _FETCH_BYTES):
                    n = min(_FETCH_BYTES, e - at)
                    data = self.source.read_at(n, at)
                    if len(data) != n:
                        raise DataError(f"{self.where}: short read at byte {at}")
                    out.seek(at)
                    out.write(data)
                self.fetched += e - s
        self.held = list(_merged(self.held + need))


def _open_parts(src: str, dst: Path) -> tuple[list[_Part], str]:
    """The split's parts at ``src`` (name order, as :func:`open_split` takes them), each with
    its footer fetched into a sparse copy in ``dst``."""
    import pyarrow.fs as pafs

    from mlrail.io import filesystem
    from mlrail.redact import redact

    where = redact(src)
    fs, base = filesystem(src)
    try:
        infos = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{where}: cannot list the split: {e}") from e
    names = sorted(
        i.base_name
        for i in infos
        if i.type == pafs.FileType.File and fnmatch.fnmatch(i.base_name, PART_GLOB)
    )
    if not names:
        raise DataError(f"{where}: no Parquet files in this split")
    dst.mkdir(parents=True, exist_ok=True)
    parts = []
    for name in names:
        file = f"{where.rstrip('/')}/{name}"
        try:
            part = _Part(fs.open_input_file(f"{base.rstrip('/')}/{name}"), dst / name, file)
            if part.size < 12:
                raise DataError(f"{file}: not a Parquet file ({part.size} bytes)")
            length, magic = struct.unpack("<I4s", part.source.read_at(8, part.size - 8))
            if magic != _MAGIC or length + 12 > part.size:
                raise DataError(f"{file}: not a Parquet file (no footer)")
            part.fetch([(0, 4), (part.size - 8 - length, part.size)])
        except (OSError, pa.ArrowException) as e:
            raise DataError(f"{file}: cannot read: {e}") from e
        parts.append(part)
    return parts, where


def stage_split(
    src: str, dst: Path, *, label: str, shard: tuple[int, int] | None, first: bool = False
) -> Staged:
    """Copy of the split at ``src`` (a URI pyarrow's filesystems take) in ``dst`` holding what
    worker ``shard`` reads (module doc): footers, the label column, the row groups its run
    touches (about ``1/count`` of the split, plus the one or two row groups it shares with a
    neighbour).

    ``first``: also the row groups up to the first with a labelled row (a user module's
    outputs are checked on the split's first labelled rows, :func:`.data.batches` in order).
    Without ``shard`` (one worker) every byte is copied.

    Returns:
        The staged split and what was fetched.

    Raises:
        DataError: naming the part that cannot be read, or the split when the label column is
            not in its data.
    """
    parts, where = _open_parts(src, dst)
    shard = check_shard(shard)
    try:
        if shard is None:
            for p in parts:
                p.fetch([(0, p.size)])
        split = open_split(dst)
        metas = [pq.ParquetFile(f).metadata for f in split.files]

        def columns(f: int, g: int, only: str | None = None) -> list[tuple[int, int]]:
            rg = metas[f].row_group(g)
            cols = [rg.column(j) for j in range(rg.num_columns)]
            return [_chunk_range(c) for c in cols if only is None or c.path_in_schema == only]

        if shard is None:
            plan = None
            wanted = split.chunks()
        else:
            names = pq.ParquetFile(split.files[0]).schema_arrow.names
            if label not in names:
                raise DataError(
                    f"{where}: label column {label!r} is not in the data "
                    f"(columns: {', '.join(names)})"
                )
            for f, p in enumerate(parts):
                p.fetch([r for g in range(metas[f].num_row_groups) for r in columns(f, g, label)])
            counts = labelled_rows(split, label)
            plan = _plan(split.chunks(), counts, shard)
            wanted = plan.chunks
            if first:  # read in order up to the first labelled row: those row groups
                every = split.chunks()
                labelled = [k for k, c in enumerate(every) if counts[c]]
                wanted = wanted + every[: labelled[0] + 1 if labelled else 0]
            for f, g in dict.fromkeys(wanted):
                parts[f].fetch(columns(f, g))
    except DataError as e:  # read from the local copy: name the store's file
        raise DataError(str(e).replace(str(dst), where.rstrip("/"))) from e
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{where}: cannot stage: {e}") from e
    fetched = sum(p.fetched for p in parts)
    total = sum(p.size for p in parts)
    log.info(
        "%s: staged %d of %d bytes (%.0f%%; %d of %d row groups whole)",
        where, fetched, total, 100 * fetched / max(total, 1), len(set(wanted)),
        len(split.chunks()),
    )  # fmt: skip
    return Staged(split, plan, fetched, total, len(set(wanted)), len(split.chunks()))
