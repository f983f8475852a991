import re

import pytest

from mlrail.errors import MlrailError
from mlrail.events.types import COMMON, PREFIX, TYPES, event_type, markdown_table

# what issue 13 §5 asks to be heard, as <noun>.<verb>
WANTED = {
    "run.succeeded",
    "run.failed",
    "data.anomalies_found",
    "data.drift_detected",
    "model.not_blessed",
    "model.registered",
    "model.deployed",
    "model.canary_started",
    "model.promoted",
    "model.rolled_back",
    "serving.skew_detected",
    "serving.drift_detected",
    "serving.performance_dropped",
}


def test_one_prefix_and_noun_verb_names() -> None:
    assert {t.short for t in TYPES.values()} == WANTED
    for name, t in TYPES.items():
        assert name == t.name and name.startswith(PREFIX)
        assert re.fullmatch(r"[a-z]+\.[a-z_]+", t.short), name
        assert t.meaning and t.required
        assert set(COMMON) <= set(t.optional)  # every event may point at its evidence
        assert "links" in COMMON and "run_id" in COMMON


def test_the_facts_each_type_must_carry() -> None:
    assert list(event_type("run.failed").required) == ["state", "failed_task"]
    assert list(event_type("model.not_blessed").required) == ["failed_checks"]
    assert list(event_type("model.rolled_back").required) == ["version", "from_version"]
    assert list(event_type("model.registered").required) == ["version"]


def test_what_is_known_only_sometimes_is_optional() -> None:
    # the failed step is known in a local run only: KFP's final status names the group
    assert {"failed_step", "step_error", "error", "error_code"} <= set(
        event_type("run.failed").optional
    )
    assert {"baseline", "decided_on"} <= set(event_type("model.not_blessed").optional)
    assert {"created", "identity", "model_uri", "registry"} <= set(
        event_type("model.registered").optional
    )


def test_full_and_short_names_find_the_same_type() -> None:
    assert event_type("io.mlrail.model.deployed") is event_type("model.deployed")
    with pytest.raises(MlrailError, match=r"'model\.exploded' is not one of mlrail's: run\."):
        event_type("model.exploded")


def test_the_docs_table_lists_every_type_and_field() -> None:
    table = markdown_table()
    for t in TYPES.values():
        (row,) = [r for r in table.splitlines() if r.startswith(f"| `{t.name}` |")]
        for k in t.required:
            assert f"`{k}`" in row and f"[`{k}`]" not in row
        for k in t.optional:
            assert f"[`{k}`]" in row or k in COMMON
    assert table.endswith("Every type may also carry `pipeline`, `run_id`, `run_name`, `links`.")
