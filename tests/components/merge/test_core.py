"""merge's core on real shards: penguins in three files, each ingested and described apart."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from tensorflow_metadata.proto.v0 import statistics_pb2

from mlrail.artifacts.examples import open_split
from mlrail.artifacts.tfmd import load_statistics, read_partials
from mlrail.components.ingest.core import ingest
from mlrail.components.merge.core import ShardArtifact, merge
from mlrail.components.plan.core import plan
from mlrail.components.statistics.core import statistics
from mlrail.errors import DataError
from mlrail.validation.statistics import compute_statistics
from tests.components.merge.shards import penguin_shards


def _shards(
    tmp_path: Path, count: int = 3
) -> tuple[list[dict[str, Any]], list[ShardArtifact], list[ShardArtifact]]:
    """Plan, ingest and statistics per shard, as the pipeline runs them."""
    penguin_shards(tmp_path / "data", count)
    items = [s.item() for s in plan(str(tmp_path / "data"))]
    examples, stats = [], []
    for i, shard in enumerate(items):
        ex, st = tmp_path / f"ex-{i}", tmp_path / f"st-{i}"
        result = ingest(shard["source"], str(ex))
        statistics(ex, st)
        meta = {"source": result.source, "fingerprint": result.fingerprint, "format": "csv"}
        meta |= {"files": result.files, "num_files": len(result.files)}
        examples.append(ShardArtifact(str(ex), meta))
        stats.append(ShardArtifact(str(st), {"source": result.source}))
    return items, examples, stats


def _features(ds: statistics_pb2.DatasetFeatureStatistics) -> dict[str, Any]:
    return {f.path.step[0]: f for f in ds.features}


def test_merged_statistics_are_those_of_one_pass_over_the_whole(tmp_path: Path) -> None:
    items, examples, stats = _shards(tmp_path)
    result = merge(items, examples[::-1], stats[::-1], tmp_path / "ex", tmp_path / "st")
    merged = {ds.name: ds for ds in load_statistics(tmp_path / "st").datasets}
    whole = {ds.name: ds for ds in compute_statistics(tmp_path / "ex").datasets}
    assert sorted(merged) == sorted(whole) == ["eval", "train"]
    assert {s: ds.num_examples for s, ds in merged.items()} == result.rows
    assert sum(result.rows.values()) == 344
    for split in merged:
        m, w = _features(merged[split]), _features(whole[split])
        assert list(m) == list(w)
        for name, f in m.items():
            g = w[name]
            if f.HasField("num_stats"):
                a, b = f.num_stats, g.num_stats
                assert a.common_stats == b.common_stats and a.num_zeros == b.num_zeros
                assert (a.min, a.max) == (b.min, b.max)
                assert math.isclose(a.mean, b.mean, rel_tol=1e-12)
                assert math.isclose(a.std_dev, b.std_dev, rel_tol=1e-12)
                # under 65,536 values the distribution is every value: exact, as one pass's
                assert a.median == b.median and a.histograms == b.histograms
            else:
                assert f.string_stats == g.string_stats, name
    # the merged artifact merges again: every split keeps its mergeable state
    assert set(read_partials(tmp_path / "st")) == {"train", "eval"}


def test_the_metadata_says_what_was_read_in_plan_order(tmp_path: Path) -> None:
    items, examples, stats = _shards(tmp_path)
    result = merge(items, examples[::-1], stats, tmp_path / "ex", tmp_path / "st", source="data/")
    assert result.shards == 3 and result.format == "csv" and result.source == "data/"
    assert result.files == [s["name"] for s in items] and result.num_files == 3
    assert result.rows == {s: open_split(tmp_path / "ex" / s).rows for s in ("train", "eval")}
    assert len(result.fingerprint) == 64
    again = merge(items, examples, stats[::-1], tmp_path / "ex2", tmp_path / "st2")
    assert again.fingerprint == result.fingerprint  # the plan's order, not the collected one
    # a shard's fingerprint changes the whole's
    changed = [ShardArtifact(e.path, {**e.metadata, "fingerprint": "0" * 64}) for e in examples]
    assert merge(items, changed, stats, tmp_path / "e3", tmp_path / "s3").fingerprint != (
        result.fingerprint
    )


def test_a_span_plan_gives_the_spans(tmp_path: Path) -> None:
    items, examples, stats = _shards(tmp_path, 2)
    days = ["2026-03-01", "2026-03-03"]
    spanned = [{**s, "span": d} for s, d in zip(items, days, strict=True)]
    result = merge(spanned, examples, stats, tmp_path / "ex", tmp_path / "st")
    assert result.spans == days and result.span == "2026-03-03"


def test_a_missing_shard_or_statistics_without_state_is_refused(tmp_path: Path) -> None:
    items, examples, stats = _shards(tmp_path)
    with pytest.raises(DataError, match="0 statistics artifacts name it"):
        merge(items, examples, stats[:2], tmp_path / "ex", tmp_path / "st")
    assert not (tmp_path / "ex").exists() and not (tmp_path / "st").exists()
    # statistics written without their mergeable state (an older validate's) cannot merge
    (Path(stats[1].path) / "Split-eval" / "mlrail_partial.bin").unlink()
    with pytest.raises(DataError, match="has no mergeable statistics state"):
        merge(items, examples, stats, tmp_path / "ex", tmp_path / "st")
    with pytest.raises(DataError, match="the plan has no shards"):
        merge([], examples, stats, tmp_path / "ex", tmp_path / "st")
