"""The record's JSON form: the committed schema is current, and the reader and the JSON Schema
refuse the same broken records (missing, unknown and mistyped fields)."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import Any

import pytest

from mlrail.artifacts import release
from mlrail.artifacts.release import Record, Request, from_json, json_schema, to_json
from mlrail.errors import DataError
from tests.artifacts.release.runs import Run, assert_valid, schema_errors


@pytest.fixture
def doc(first_run: Run, second_run: Run) -> dict[str, Any]:
    """A full record (with a previous release and the changes) as JSON."""
    who = Request("ada", "first")
    first = release.build_record(first_run.paths, model_name="penguins", request=who)
    second = release.build_record(
        second_run.paths, model_name="penguins", request=who, previous=first
    )
    out = to_json(second)
    assert isinstance(out, dict)
    return out


def test_the_committed_schema_is_the_generated_one() -> None:
    """Regenerate with ``python -m mlrail.artifacts.release``."""
    assert json.loads(release.SCHEMA_FILE.read_text()) == json_schema()


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    import jsonschema

    schema = json.loads(release.SCHEMA_FILE.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_a_record_round_trips_and_is_valid(doc: dict[str, Any]) -> None:
    assert_valid(doc)
    assert to_json(from_json(Record, doc)) == doc


def _required_paths(doc: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every required field present in ``doc``, by the schema, as key paths."""
    schema = json_schema()
    out: list[tuple[str, ...]] = []

    def walk(node: Any, sub: dict[str, Any], path: tuple[str, ...]) -> None:
        if "anyOf" in sub:
            sub = sub["anyOf"][0]
        if "$ref" in sub:
            sub = schema["$defs"][sub["$ref"].rsplit("/", 1)[1]]
        if isinstance(node, dict) and sub.get("type") == "object" and "properties" in sub:
            for key in sub["required"]:
                out.append((*path, key))
            for key, value in node.items():
                walk(value, sub["properties"][key], (*path, key))
        elif isinstance(node, list) and node and "items" in sub:
            walk(node[0], sub["items"], (*path, "0"))

    walk(doc, schema, prefix)
    return out


def _drop(doc: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    broken = copy.deepcopy(doc)
    node: Any = broken
    for key in path[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    del node[path[-1]]
    return broken


def test_a_record_missing_any_required_field_is_refused(doc: dict[str, Any]) -> None:
    paths = _required_paths(doc)
    assert len(paths) > 60  # the walk reached the nested sections
    for path in paths:
        broken = _drop(doc, path)
        assert schema_errors(broken), path
        with pytest.raises(DataError, match=f"{path[-1]}: missing"):
            from_json(Record, broken)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("model", "sha256"), 12, "expected a string"),
        (("data", "rows", "train"), 1.5, "expected an integer"),
        (("data", "rows", "train"), True, "expected an integer"),
        (("evidence", "blessed"), "yes", "expected true or false"),
        (("evidence", "metrics", "accuracy"), "0.9", "expected a number"),
        (("kind",), "redeploy", "not one of deploy, promote, rollback"),
        (("format",), "mlrail.release/v2", "knows 'mlrail.release/v1' only"),
        (("created",), "yesterday", "does not match"),
        (("created",), "2026-13-45T99:00:00Z", "not a date-time"),
        (("model", "sha256"), "ABC", "does not match"),
        (("request", "requested_by"), None, "expected a string, got NoneType"),
        (("data", "features"), {"a": "INT"}, "expected a list"),
    ],
)
def test_a_mistyped_field_is_refused_by_both(
    doc: dict[str, Any], path: tuple[str, ...], value: Any, message: str
) -> None:
    broken = copy.deepcopy(doc)
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    # jsonschema checks "format": "date-time" only with rfc3339-validator installed (it is
    # not here): an impossible date that matches the pattern is the reader's alone to refuse
    if message != "not a date-time":
        assert schema_errors(broken)
    with pytest.raises(DataError, match=message) as e:
        from_json(Record, broken, where="r.json")
    assert str(e.value).startswith(f"r.json: {'.'.join(path)}")


def test_an_unknown_field_is_refused_by_both(doc: dict[str, Any]) -> None:
    broken = copy.deepcopy(doc)
    broken["where"]["replicas"] = 3
    assert schema_errors(broken)
    with pytest.raises(DataError, match="where.replicas: unknown field"):
        from_json(Record, broken)


def test_non_finite_numbers_are_written_as_null(doc: dict[str, Any]) -> None:
    rec = from_json(Record, doc)
    metrics = {"accuracy": float("nan"), "rmse": float("inf")}
    changed = to_json(replace(rec, evidence=replace(rec.evidence, metrics=metrics)))
    assert changed["evidence"]["metrics"] == {"accuracy": None, "rmse": None}
    assert_valid(changed)
