"""merge's examples union: shards ingested apart read as one ingest of the whole source."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlrail.artifacts.examples import open_split, read_split, split_names, stream
from mlrail.components.ingest.core import ingest
from mlrail.components.merge.core import ShardArtifact, merge_examples, ordered
from mlrail.components.plan.core import plan
from mlrail.errors import DataError
from tests.components.merge.shards import penguin_shards


def _rows(split_dir: Path) -> list[tuple[Any, ...]]:
    """The split's rows, sorted, NaN and None made comparable."""
    table = read_split(split_dir)
    out = []
    for row in table.to_pylist():
        out.append(
            tuple(
                (
                    k,
                    "<none>"
                    if v is None
                    else (
                        "<nan>"
                        if isinstance(v, float) and math.isnan(v)
                        else float(v)
                        if isinstance(v, int)
                        else v
                    ),
                )
                for k, v in sorted(row.items())
            )
        )
    return sorted(out, key=repr)


def _ingest_shards(tmp_path: Path, source: Path, **kw: Any) -> list[Path]:
    dirs = []
    for i, shard in enumerate(plan(str(source))):
        out = tmp_path / f"shard-{i}"
        ingest(shard.source, str(out), **kw)
        dirs.append(out)
    return dirs


@pytest.mark.parametrize("test_ratio", [0.0, 0.15])
def test_a_row_lands_in_the_same_split_whichever_shard_reads_it(
    tmp_path: Path, test_ratio: float
) -> None:
    penguin_shards(tmp_path / "data", 3)
    whole = tmp_path / "whole"
    ingest(str(tmp_path / "data"), str(whole), test_ratio=test_ratio)
    merged = tmp_path / "merged"
    rows, _ = merge_examples(
        _ingest_shards(tmp_path, tmp_path / "data", test_ratio=test_ratio), merged
    )
    assert split_names(merged) == split_names(whole)
    assert sum(rows.values()) == 344
    for split in split_names(whole):
        assert _rows(merged / split) == _rows(whole / split), split
        assert rows[split] == open_split(whole / split).rows
    # the bundled file whole, too: the same rows in the same splits as the three files
    single = tmp_path / "single"
    ingest("bundled:penguins", str(single), test_ratio=test_ratio)
    for split in split_names(whole):
        assert _rows(single / split) == _rows(merged / split)


def test_the_union_is_the_shards_parts_in_shard_order_linked_not_copied(tmp_path: Path) -> None:
    penguin_shards(tmp_path / "data", 3)
    shards = _ingest_shards(tmp_path, tmp_path / "data")
    merged = tmp_path / "merged"
    merge_examples(shards, merged)
    for split in ("train", "eval"):
        parts = open_split(merged / split).files
        assert [p.name for p in parts] == [f"part-0000{i}.parquet" for i in range(3)]
        for i, part in enumerate(parts):
            original = shards[i] / split / "part-00000.parquet"
            assert os.path.samefile(part, original)  # a hard link: no bytes copied
    # readers take it as they take one ingest's artifact: every batch of every part
    batches = [b for _, b in stream(open_split(merged / "train"), batch_size=50)]
    assert sum(b.num_rows for b in batches) == open_split(merged / "train").rows


def test_a_column_that_widens_across_shards_has_one_type_in_every_part(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    ints = "".join(f"{i},{i * 2},c{i % 3}\n" for i in range(40))
    floats = "".join(f"{i},{i * 2 + 0.5},c{i % 3}\n" for i in range(40, 80))
    empty = "".join(f"{i},{i},\n" for i in range(80, 120))  # no text at all: a null column
    for name, body in (("a", ints), ("b", floats), ("c", empty)):
        (tmp_path / "data" / f"{name}.csv").write_text("id,x,cat\n" + body)
    whole = tmp_path / "whole"
    ingest(str(tmp_path / "data"), str(whole))
    merged = tmp_path / "merged"
    _, rewritten = merge_examples(_ingest_shards(tmp_path, tmp_path / "data"), merged)
    assert rewritten >= 2  # the integer x and the null cat parts
    for split in ("train", "eval"):
        schemas = {pq.read_schema(p).remove_metadata() for p in open_split(merged / split).files}
        assert len(schemas) == 1
        (schema,) = schemas
        assert schema.field("x").type == pa.float64() and schema.field("cat").type == pa.string()
        assert _rows(merged / split) == _rows(whole / split)


def test_shards_with_other_columns_are_refused_naming_the_shard(tmp_path: Path) -> None:
    for name, header in (("a", "x,y"), ("b", "x,z")):
        (tmp_path / "data").mkdir(exist_ok=True)
        (tmp_path / "data" / f"{name}.csv").write_text(
            header + "\n" + "".join(f"{i},{i}\n" for i in range(50))
        )
    shards = _ingest_shards(tmp_path, tmp_path / "data")
    with pytest.raises(DataError, match=r"shard-1: columns differ from .*shard-0's"):
        merge_examples(shards, tmp_path / "merged")
    assert not (tmp_path / "merged").exists()  # nothing half-written


def test_a_column_with_no_common_type_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("x\n" + "".join(f"{i}\n" for i in range(50)))
    (tmp_path / "data" / "b.csv").write_text("x\n" + "".join(f"w{i}\n" for i in range(50)))
    shards = _ingest_shards(tmp_path, tmp_path / "data")
    with pytest.raises(DataError, match=r"shard-1: column 'x' is string there and int64"):
        merge_examples(shards, tmp_path / "merged")


def test_empty_parts_are_left_out_unless_the_split_is_empty(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    # one row per file: most shards have an empty eval part
    for i in range(4):
        (tmp_path / "data" / f"{i}.csv").write_text(f"x\n{i}\n")
    merged = tmp_path / "merged"
    rows, _ = merge_examples(_ingest_shards(tmp_path, tmp_path / "data"), merged)
    for split, n in rows.items():
        parts = open_split(merged / split).files
        assert len(parts) == max(n, 1)
        assert open_split(merged / split).rows == n


def test_inputs_are_matched_to_shards_by_their_source_not_their_position() -> None:
    shards = [{"name": "a.csv"}, {"name": "b.csv"}]
    b, a = ShardArtifact("/b", {"source": "b.csv"}), ShardArtifact("/a", {"source": "a.csv"})
    assert ordered(shards, [b, a], "examples") == [a, b]
    with pytest.raises(DataError, match="shard b.csv: 0 examples artifacts name it"):
        ordered(shards, [a], "examples")
    with pytest.raises(DataError, match="shard a.csv: 2 statistics artifacts name it"):
        ordered(shards, [a, a, b], "statistics")
    with pytest.raises(DataError, match="examples of no planned shard: source 'c.csv'"):
        ordered(shards, [a, b, ShardArtifact("/c", {"source": "c.csv"})], "examples")
