import datetime as dt
import json
import math

import pytest
from cloudevents.http import from_json
from hypothesis import given
from hypothesis import strategies as st

from mlrail.artifacts.jsonsafe import finite
from mlrail.errors import MlrailError
from mlrail.events import make_event, source_for, to_json_line


def test_attributes() -> None:
    when = dt.datetime(2026, 12, 2, 21, 0, 5, 123000, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    event = make_event(
        "model.deployed",
        {"version": "3", "target": "kserve"},
        subject="penguins",
        source=source_for("training", "run 1/2"),
        event_id="abc",
        time=when,
    )
    assert {k: event[k] for k in event} == {
        "specversion": "1.0",
        "type": "io.mlrail.model.deployed",
        "source": "/mlrail/pipelines/training/runs/run%201%2F2",
        "subject": "penguins",
        "id": "abc",
        "time": "2026-12-02T19:00:05.123000Z",
        "datacontenttype": "application/json",
    }
    assert event.get_data() == {"version": "3", "target": "kserve"}


def test_defaults_a_fresh_id_now_and_no_subject() -> None:
    a = make_event("model.promoted", {"version": "1"})
    b = make_event("model.promoted", {"version": "1"})
    assert a["id"] != b["id"] and a["source"] == "/mlrail"
    assert "subject" not in a
    sent = dt.datetime.fromisoformat(a["time"])
    assert sent.tzinfo is not None and sent.utcoffset() == dt.timedelta(0)


def test_a_missing_required_field_is_named() -> None:
    with pytest.raises(MlrailError, match=r"model\.rolled_back: data has no 'from_version'"):
        make_event("model.rolled_back", {"version": "2"})


@pytest.mark.parametrize(
    ("value", "why"), [(b"\x00", "bytes"), ({1, 2}, "set"), (object(), "object")]
)
def test_data_json_cannot_hold_is_refused_naming_the_field(value: object, why: str) -> None:
    with pytest.raises(MlrailError, match=rf"data field 'extra' is not JSON.*{why}"):
        make_event("model.promoted", {"version": "1", "extra": {"deep": [value]}})


def test_nan_and_infinity_become_null() -> None:
    event = make_event(
        "model.not_blessed", {"failed_checks": [{"value": math.nan}], "x": -math.inf}
    )
    assert event.get_data() == {"failed_checks": [{"value": None}], "x": None}
    assert b"NaN" not in to_json_line(event) and b"Infinity" not in to_json_line(event)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), _json, max_size=5))
def test_any_json_payload_round_trips_as_one_line(extra: dict[str, object]) -> None:
    data = {**extra, "version": "7"}
    line = to_json_line(make_event("model.promoted", data, subject="ペンギン"))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    parsed = from_json(line)
    assert parsed["subject"] == "ペンギン"
    assert parsed.get_data() == finite(data)
    json.loads(line, parse_constant=pytest.fail)  # strict JSON: no NaN/Infinity literals
