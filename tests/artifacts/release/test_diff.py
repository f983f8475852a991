"""The changes between two releases: model, metrics, data, schema and code."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mlrail.artifacts import release
from mlrail.artifacts.release import BuildInfo, Record, Request
from mlrail.artifacts.release.record import Feature
from tests.artifacts.release.runs import ODD_COLUMN, Run, assert_valid

WHO = Request("ada", "")


def _pair(first_run: Run, second_run: Run) -> tuple[Record, Record]:
    first = release.build_record(
        first_run.paths,
        model_name="penguins",
        request=WHO,
        build=BuildInfo(pipeline_version="p1", image="img:0.1", image_digest="sha256:aa"),
    )
    first = replace(first, number=1)
    second = release.build_record(
        second_run.paths,
        model_name="penguins",
        request=WHO,
        build=BuildInfo(pipeline_version="p2", image="img:0.1", image_digest="sha256:bb"),
        previous=first,
    )
    return first, second


def test_the_record_names_the_previous_release_and_its_changes(
    first_run: Run, second_run: Run
) -> None:
    first, second = _pair(first_run, second_run)
    assert second.previous is not None and second.changes is not None
    assert (second.previous.number, second.previous.sha256) == (1, first.model.sha256)
    c = second.changes
    assert c.model.sha256.changed and c.model.identity.changed  # another weight
    assert (c.model.sha256.old, c.model.sha256.new) == (first.model.sha256, second.model.sha256)
    metrics = {m.name: m for m in c.metrics}
    assert (metrics["accuracy"].old, metrics["accuracy"].new) == (0.95, 0.91)
    assert metrics["accuracy"].change == pytest.approx(-0.04)
    assert metrics["log_loss"].change is None  # null on both sides: no change to compute
    assert c.data.fingerprint.changed
    rows = {m.name: m for m in c.data.rows}
    assert rows["train"].old == first.data.rows["train"]
    assert rows["train"].new == second.data.rows["train"]
    assert c.data.sources_added == second.data.sources
    assert c.data.sources_removed == first.data.sources
    assert c.schema.hash.changed and c.schema.compared
    assert [(t.name, t.old, t.new) for t in c.schema.changed_type] == [
        (ODD_COLUMN, "FLOAT", "BYTES")
    ]
    assert (c.schema.added, c.schema.removed) == ([], [])
    assert not c.code.mlrail_version.changed
    assert (c.code.pipeline_version.old, c.code.pipeline_version.new) == ("p1", "p2")
    assert (c.code.image.old, c.code.image.new) == ("img:0.1@sha256:aa", "img:0.1@sha256:bb")
    assert_valid(second)


def test_features_added_and_removed(first_run: Run, second_run: Run) -> None:
    first, second = _pair(first_run, second_run)
    old = replace(first, data=replace(first.data, features=[Feature("a", "INT")]))
    new = replace(
        second, data=replace(second.data, features=[Feature("a", "INT"), Feature("b", "FLOAT")])
    )
    c = release.diff(old, new)
    assert (c.schema.added, c.schema.removed, c.schema.changed_type) == (["b"], [], [])
    c = release.diff(new, old)
    assert (c.schema.added, c.schema.removed) == ([], ["b"])


def test_no_feature_comparison_without_both_schemas(first_run: Run, second_run: Run) -> None:
    first, second = _pair(first_run, second_run)
    c = release.diff(replace(first, data=replace(first.data, features=None)), second)
    assert not c.schema.compared
    assert (c.schema.added, c.schema.removed, c.schema.changed_type) == ([], [], [])


def test_the_same_release_twice_changes_nothing(first_run: Run) -> None:
    rec = release.build_record(first_run.paths, model_name="penguins", request=WHO)
    c = release.diff(rec, rec)
    assert not (c.model.sha256.changed or c.data.fingerprint.changed or c.schema.hash.changed)
    assert all(m.change in (0, None) for m in c.metrics + c.data.rows)
    assert not (c.code.image.changed or c.code.pipeline_version.changed)


def test_metrics_only_in_one_release_are_listed(first_run: Run) -> None:
    rec = release.build_record(first_run.paths, model_name="penguins", request=WHO)
    other = replace(rec, evidence=replace(rec.evidence, metrics={"rmse": 1.5}))
    names = {m.name: (m.old, m.new, m.change) for m in release.diff(rec, other).metrics}
    assert names["rmse"] == (None, 1.5, None)
    assert names["accuracy"] == (0.95, None, None)
