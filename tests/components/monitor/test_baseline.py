"""monitor's baseline reads validate's statistics in TFX's layout, however it is pointed at them:
the artifact folder, one ``Split-<split>`` folder, a bare ``FeatureStats.pb``, a URI, or the
statistics a release record links."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlrail.artifacts import release
from mlrail.artifacts.release import Request
from mlrail.artifacts.tfmd import read_statistics, write_statistics
from mlrail.components.monitor.baseline import BaselineSources, find_baseline
from mlrail.errors import DataError
from tests.artifacts.release.runs import ROWS_V1, Run, make_run


@pytest.fixture
def first_run(tmp_path: Path) -> Run:
    """A run's real artifacts (validate's statistics among them), its model served as version 1
    from ``<root>/repo`` (monitor reads the version's model_spec.json there)."""
    run = make_run(tmp_path / "run1", ROWS_V1)
    served = run.root / "repo" / "penguins" / "1"
    served.mkdir(parents=True)
    shutil.copy(run.root / "onnx_model" / "model_spec.json", served)
    return run


def _repo(run: Run) -> str:
    return str(run.root / "repo")


def test_an_explicit_baseline_is_the_folder_a_split_folder_or_a_file(first_run: Run) -> None:
    stats = first_run.root / "statistics"
    train = read_statistics(stats)["train"]
    for given in (
        str(stats),
        stats.as_uri(),
        str(stats / "Split-train"),
        str(stats / "Split-train" / "FeatureStats.pb"),
    ):
        found = find_baseline(
            "penguins",
            "1",
            None,
            BaselineSources(baseline_statistics=given, model_repository=_repo(first_run)),
        )
        assert found.train == train, given
        assert found.source == f"baseline statistics {given}"


def test_a_baseline_without_a_train_split_names_what_it_has(first_run: Run, tmp_path: Path):
    read = read_statistics(first_run.root / "statistics")
    write_statistics(tmp_path / "st", {"a": read["train"], "b": read["eval"]}, {})
    sources = BaselineSources(
        baseline_statistics=str(tmp_path / "st"), model_repository=_repo(first_run)
    )
    with pytest.raises(DataError, match="no 'train' split in the statistics \\(it has 'a', 'b'\\)"):
        find_baseline("penguins", "1", None, sources)
    # a folder that is no statistics artifact: named, in one line
    sources = BaselineSources(baseline_statistics=str(tmp_path), model_repository=_repo(first_run))
    with pytest.raises(DataError, match=f"^{tmp_path}: no Split-<split>/FeatureStats.pb in it"):
        find_baseline("penguins", "1", None, sources)


def test_the_statistics_a_release_record_links_are_read(first_run: Run, tmp_path: Path) -> None:
    record = release.build_record(
        first_run.paths,
        model_name="penguins",
        request=Request("ada", "first"),
        links={
            "statistics": str(first_run.root / "statistics"),
            "schema": str(first_run.root / "schema"),
            "onnx_model": str(first_run.root / "onnx_model"),
        },
        identity="onnx-graph-v1:" + "ab" * 32,
    )
    release.store(record, tmp_path / "releases")
    found = find_baseline(
        "penguins",
        "1",
        "onnx-graph-v1:" + "ab" * 32,
        BaselineSources(release_store=str(tmp_path / "releases")),
    )
    assert found.train == read_statistics(first_run.root / "statistics")["train"]
    assert found.release_number == 1 and found.source.startswith("release #1 in release store")
