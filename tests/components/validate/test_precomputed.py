"""validate given statistics computed already (merge's, sharded): read, not computed again."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlrail.artifacts.tfmd import load_statistics, read_partials
from mlrail.components.ingest.core import ingest
from mlrail.components.validate.core import validate
from mlrail.errors import DataError
from mlrail.validation.merge import statistics_artifact


def _examples(tmp_path: Path, name: str, shift: int) -> Path:
    rows = "".join(f"{i},{i * 0.5 + shift},c{i % 5}\n" for i in range(300))
    (tmp_path / f"{name}.csv").write_text("id,x,cat\n" + rows)
    ingest(str(tmp_path / f"{name}.csv"), str(tmp_path / name), key_column="id")
    return tmp_path / name


def _mean(folder: Path, split: str, feature: str) -> float:
    ds = next(d for d in load_statistics(folder).datasets if d.name == split)
    return next(f for f in ds.features if f.path.step[0] == feature).num_stats.mean


def test_the_given_statistics_are_used_and_written_with_their_states(tmp_path: Path) -> None:
    a = _examples(tmp_path, "a", 0)
    b = _examples(tmp_path, "b", 1000)  # the same rows per split (split by id), other values
    statistics_artifact(a, tmp_path / "stats-a")
    out = tmp_path / "out"
    report = validate(
        b, out / "statistics", out / "schema", out / "anomalies",
        precomputed_statistics=tmp_path / "stats-a",
    )  # fmt: skip
    assert report.ok
    # a's figures, not b's: no pass over b's rows
    assert _mean(out / "statistics", "train", "x") == _mean(tmp_path / "stats-a", "train", "x")
    assert _mean(out / "statistics", "train", "x") < 1000
    assert set(read_partials(out / "statistics")) == {"train", "eval"}
    # without them, b's own
    validate(b, out / "s2", out / "sc2", out / "an2")
    assert _mean(out / "s2", "train", "x") > 1000


def test_statistics_of_other_examples_are_refused_naming_them(tmp_path: Path) -> None:
    a = _examples(tmp_path, "a", 0)
    (tmp_path / "short.csv").write_text("id,x,cat\n1,2,c\n2,3,d\n")
    ingest(str(tmp_path / "short.csv"), str(tmp_path / "short"))
    statistics_artifact(tmp_path / "short", tmp_path / "stats-short")
    out = tmp_path / "out"
    with pytest.raises(DataError, match=r"stats-short: the statistics of other examples"):
        validate(
            a, out / "statistics", out / "schema", out / "anomalies",
            precomputed_statistics=tmp_path / "stats-short",
        )  # fmt: skip
    assert not out.exists()
