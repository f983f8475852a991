"""Logged V2 requests back to the feature table, responses to the model's output (real files)."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest
import tritonclient.http as triton
from hypothesis import given
from hypothesis import strategies as st

from mlrail.artifacts.modelspec import InputSpec, ModelSpec, input_names
from mlrail.components.monitor.decode import TIMESTAMP, Decoded, decode, decode_window
from mlrail.components.monitor.logs import GroupKey, Record, iter_records, log_window
from mlrail.datetimes import arrow_days
from tests.components.monitor.payloads import (
    MODEL,
    record,
    v2_inputs,
    v2_output,
    write_records,
)

UTC = dt.UTC
END = dt.datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
T = END - dt.timedelta(minutes=30)
_DATATYPE = {"float32": "FP32", "string": "BYTES", "datetime": "FP64"}


def _spec(columns: dict[str, str], *, task: str = "multiclass", output: str = "") -> ModelSpec:
    names = input_names(columns)
    classes = ["a", "b", "c"] if task == "multiclass" else ["no", "yes"] if task == "binary" else []
    return ModelSpec(
        task=task,
        label="label",
        output=output or ("probabilities" if classes else "predictions"),
        classes=classes,
        inputs=[InputSpec(name=names[c], column=c, dtype=d) for c, d in columns.items()],
    )


def _tensor(name: str, datatype: str, data: list[Any], shape: list[int] | None = None) -> dict:
    return {"name": name, "datatype": datatype, "shape": shape or [len(data), 1], "data": data}


def _probs(n: int, k: int = 3, seed: int = 0) -> np.ndarray:
    p = np.random.default_rng(seed).random((n, k)).astype(np.float32)
    return p / p.sum(axis=1, keepdims=True)


def _read(root: Path, spec: ModelSpec | dict[str, ModelSpec], **kwargs: Any):
    w = log_window(str(root), MODEL, window="1h", window_end=END.isoformat())
    specs = spec if isinstance(spec, dict) else None
    return decode_window(w, lambda key: specs.get(key[0]) if specs is not None else spec, **kwargs)


def _one(root: Path, spec: ModelSpec, **kwargs: Any) -> Decoded:
    out = _read(root, spec, **kwargs)
    (decoded,) = out.groups.values()
    return decoded


# --- hypothesis: any column names and values round-trip through a client's request body ----

_NAME = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=8
)  # capitals, spaces, punctuation, non-ASCII
_NAMES = st.lists(_NAME, min_size=1, max_size=5, unique=True).flatmap(
    # and names that differ only by case ("Age", "age", "AGE"), which TensorFlow cannot tell apart
    lambda names: st.just(names + [n.swapcase() for n in names if n.swapcase() not in names][:2])
)
_FLOATS = st.one_of(
    st.floats(width=32, allow_infinity=False, allow_nan=False), st.just(float("nan"))
)
_STRINGS = st.one_of(st.text(st.characters(blacklist_categories=("Cs",)), max_size=6), st.just(""))
_TIMES = st.one_of(
    st.datetimes(
        # where float64 days resolve microseconds (|days| < 2**15, mlrail.datetimes)
        min_value=dt.datetime(1880, 5, 1),
        max_value=dt.datetime(2059, 8, 31),
        timezones=st.just(UTC),
    ),
    st.none(),
)


@st.composite
def _requests(draw: st.DrawFn) -> tuple[dict[str, str], list[dict[str, tuple[str, list[Any]]]]]:
    names = draw(_NAMES)
    dtypes = {n: draw(st.sampled_from(["float32", "string", "datetime"])) for n in names}
    requests = []
    for _ in range(draw(st.integers(1, 3))):
        rows = draw(st.integers(1, 4))
        values: dict[str, tuple[str, list[Any]]] = {}
        for n, d in dtypes.items():
            strategy = {"float32": _FLOATS, "string": _STRINGS, "datetime": _TIMES}[d]
            # a date goes as days (FP64) or as the ISO 8601 text a client may send instead
            form = draw(st.sampled_from(["days", "text"])) if d == "datetime" else d
            values[n] = (form, draw(st.lists(strategy, min_size=rows, max_size=rows)))
        requests.append(values)
    return dtypes, requests


def _client_values(form: str, values: list[Any]) -> tuple[str, np.ndarray]:
    """What a tritonclient user puts in an InferInput for these values."""
    if form == "float32":
        return "FP32", np.array(values, dtype=np.float32)
    if form == "string":
        return "BYTES", np.array(values, dtype=object)
    if form == "days":
        days = arrow_days(pa.array(values, type=TIMESTAMP))  # None -> NaN
        return "FP64", days
    text = ["" if v is None else v.isoformat().replace("+00:00", "Z") for v in values]
    return "BYTES", np.array(text, dtype=object)


def _expected(dtype: str, values: list[Any], binary: bool) -> pa.Array:
    if dtype == "float32":
        # JSON data carries the float32's exact value; the logger writes a binary float32 as
        # its shortest decimal (1.0039062 for 1.00390625: the same float32, and the decimal
        # the client's float64 had when it had 7 digits or fewer)
        exact = [None if np.isnan(v) else np.float32(v) for v in values]
        return pa.array(
            [None if v is None else float(str(v) if binary else v) for v in exact],
            type=pa.float64(),
        )
    if dtype == "string":
        return pa.array([v or None for v in values], type=pa.string())
    return pa.array(values, type=TIMESTAMP)


@given(_requests(), st.booleans(), st.booleans())
def test_any_columns_and_values_round_trip_from_a_client_request(
    drawn: tuple[dict[str, str], list[dict[str, tuple[str, list[Any]]]]], binary: bool, flat: bool
) -> None:
    dtypes, requests = drawn
    spec = _spec(dtypes)
    records = []
    expected: dict[str, list[pa.Array]] = {c: [] for c in dtypes}
    for i, values in enumerate(requests):
        rows = len(next(iter(values.values()))[1])
        sent = {c: _client_values(form, v) for c, (form, v) in values.items()}
        inputs = v2_inputs(sent, binary=binary, flat=flat)
        records.append(
            record(T, rid=f"q{i}", inputs=inputs, outputs=[v2_output(_probs(rows, seed=i))])
        )
        for c, (_, v) in values.items():
            expected[c].append(_expected(dtypes[c], v, binary))
    with tempfile.TemporaryDirectory() as tmp:
        write_records(Path(tmp), records)
        got = _one(Path(tmp), spec)
    table = pa.table({c: pa.concat_arrays(a) for c, a in expected.items()})
    assert got.features.column_names == list(dtypes)
    assert got.features.equals(table), (got.features.to_pylist(), table.to_pylist())
    assert got.skipped == {} and got.records == len(requests)
    sizes = [len(next(iter(v.values()))[1]) for v in requests]
    assert got.keys.column("request_id").to_pylist() == [
        f"q{i}" for i, n in enumerate(sizes) for _ in range(n)
    ]
    assert got.keys.column("row").to_pylist() == [r for n in sizes for r in range(n)]
    np.testing.assert_array_equal(
        got.outputs, np.concatenate([_probs(n, seed=i) for i, n in enumerate(sizes)])
    )


# --- values, shapes and outputs ---------------------------------------------------------------


def test_missing_values_as_clients_send_them(tmp_path: Path) -> None:
    spec = _spec({"x": "float32", "s": "string", "d": "datetime"})
    inputs = [
        _tensor("x", "FP32", [1, None, 2.5, 2**60]),  # integers, null
        _tensor("s", "BYTES", ["a", None, "", " "]),  # null and "" are missing; " " is not
        _tensor("d", "BYTES", ["2012-01-01", None, "", "2012-01-01T12:00:00+02:00"]),
    ]
    write_records(tmp_path, [record(T, inputs=inputs, outputs=[v2_output(_probs(4))])])
    got = _one(tmp_path, spec)
    assert got.features.to_pydict() == {
        "x": [1.0, None, 2.5, float(2**60)],
        "s": ["a", None, None, " "],
        "d": [
            dt.datetime(2012, 1, 1, tzinfo=UTC),
            None,
            None,
            dt.datetime(2012, 1, 1, 10, tzinfo=UTC),
        ],
    }
    assert got.features.schema.field("d").type == TIMESTAMP


def test_dates_sent_as_days_are_exact_to_the_microsecond(tmp_path: Path) -> None:
    spec = _spec({"d": "datetime"})
    when = [
        dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        dt.datetime(2012, 1, 1, 18, tzinfo=UTC),
    ]
    days = arrow_days(pa.array(when, type=TIMESTAMP)).tolist()
    assert days[1] == 15340.75
    inputs = [_tensor("d", "FP64", [days[0], days[1], None])]
    write_records(tmp_path, [record(T, inputs=inputs, outputs=[v2_output(_probs(3))])])
    assert _one(tmp_path, spec).features.column("d").to_pylist() == [*when, None]


def test_batches_keep_request_ids_rows_timestamps_and_latency(tmp_path: Path) -> None:
    spec = _spec({"x": "float32"})
    t2 = T + dt.timedelta(seconds=1)
    records = [
        record(
            T,
            rid="a",
            inputs=[_tensor("x", "FP32", [1, 2, 3])],
            outputs=[v2_output(_probs(3))],
            latency_ms=1.5,
        ),
        record(
            t2,
            rid="b",
            inputs=[_tensor("x", "FP32", [4])],
            outputs=[v2_output(_probs(1, seed=1))],
            latency_ms=2,
        ),
    ]
    write_records(tmp_path, records)
    got = _one(tmp_path, spec)
    assert got.rows == 4 and got.records == 2
    assert got.keys.to_pydict() == {
        "request_id": ["a", "a", "a", "b"],
        "row": [0, 1, 2, 0],
        "timestamp": [T, T, T, t2],
        "latency_ms": [1.5, 1.5, 1.5, 2.0],
    }
    assert got.request_ids.tolist() == ["a", "a", "a", "b"]
    assert got.latencies.tolist() == [1.5, 2.0]  # one per request
    assert got.outputs.shape == (4, 3) and got.outputs.dtype == np.float32
    np.testing.assert_array_equal(got.outputs, np.concatenate([_probs(3), _probs(1, seed=1)]))


@pytest.mark.parametrize("shape", [[2], [2, 1]])
def test_regression_outputs_are_one_value_per_row(tmp_path: Path, shape: list[int]) -> None:
    spec = _spec({"x": "float32"}, task="regression")
    out = {"name": "predictions", "datatype": "FP64", "shape": shape, "data": [0.1, 0.2]}
    write_records(tmp_path, [record(T, inputs=[_tensor("x", "FP32", [1, 2])], outputs=[out])])
    got = _one(tmp_path, spec)
    expected = np.array([0.1, 0.2]).reshape(-1, 1) if len(shape) == 2 else np.array([0.1, 0.2])
    np.testing.assert_array_equal(got.outputs, expected)
    assert got.outputs.dtype == np.float64  # the server answered FP64


def test_inputs_in_any_order_nested_flat_or_by_tensorflow_name(tmp_path: Path) -> None:
    spec = _spec({"Größe": "float32", "Island": "string"})
    names = {i.column: i.name for i in spec.inputs}
    variants = [
        [_tensor("Island", "BYTES", ["x"]), _tensor("Größe", "FP32", [1])],  # another order
        [_tensor("Größe", "FP32", [[2]]), _tensor("Island", "BYTES", [["y"]])],  # nested
        [_tensor("Größe", "FP32", [3], [1]), _tensor("Island", "BYTES", ["z"], [1])],  # [n]
        [_tensor(names["Größe"], "FP32", [4]), _tensor(names["Island"], "BYTES", ["w"])],  # old
        [
            _tensor("Größe", "FP32", [5]),
            _tensor("Island", "BYTES", ["v"]),
            _tensor("extra", "FP32", [0]),  # an input the model does not take: ignored
        ],
    ]
    # and several records in one order other than the spec's (the fast path reorders them)
    variants += [[_tensor("Island", "BYTES", [s]), _tensor("Größe", "FP32", [6])] for s in "tu"]
    records = [
        record(T, rid=f"r{i}", inputs=v, outputs=[v2_output(_probs(1))])
        for i, v in enumerate(variants)
    ]
    write_records(tmp_path, records)
    got = _one(tmp_path, spec)
    assert got.features.to_pydict() == {
        "Größe": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 6.0],
        "Island": ["x", "y", "z", "w", "v", "t", "u"],
    }
    assert got.skipped == {}


def test_records_that_cannot_be_decoded_are_skipped_and_counted(tmp_path: Path) -> None:
    spec = _spec({"x": "float32", "s": "string", "d": "datetime"})

    def inputs(**changed: Any) -> list[dict[str, Any]]:
        base = {
            "x": _tensor("x", "FP32", [1.0]),
            "s": _tensor("s", "BYTES", ["a"]),
            "d": _tensor("d", "FP64", [15340.0]),
        }
        base.update(changed)
        return [t for t in base.values() if t is not None]

    good = [v2_output(_probs(1))]
    bad: list[tuple[str, list[Any], list[Any]]] = [
        ("missing_input", inputs(s=None), good),
        ("bad_input_shape", inputs(x=_tensor("x", "FP32", [1.0, 2.0], [1, 2])), good),
        ("bad_input_shape", inputs(x=_tensor("x", "FP32", [1.0, 2.0], [1, 1])), good),
        ("bad_input_shape", inputs(x=_tensor("x", "FP32", [1.0], [1, 1, 1])), good),
        ("bad_input_shape", inputs(x={"name": "x", "shape": "1", "data": [1.0]}), good),
        ("batch_mismatch", inputs(x=_tensor("x", "FP32", [1.0, 2.0])), good),
        ("bad_input_data", inputs(x={"name": "x", "shape": [1, 1], "parameters": {}}), good),
        ("bad_input_data", inputs(x=_tensor("x", "FP32", [[1.0], 2.0])), good),
        ("bad_input_data", ["not a tensor"], good),
        ("bad_value", inputs(x=_tensor("x", "FP32", ["1.5"])), good),
        ("bad_value", inputs(s=_tensor("s", "BYTES", [3])), good),
        ("bad_value", inputs(d=_tensor("d", "BYTES", ["not a date"])), good),
        ("bad_value", inputs(), [{**good[0], "data": ["x", "y", "z"]}]),
        ("missing_output", inputs(), [{**good[0], "name": "other"}]),
        ("missing_output", inputs(), []),
        ("bad_output_shape", inputs(), [v2_output(_probs(2))]),
        ("bad_output_shape", inputs(), [v2_output(_probs(1, k=4))]),  # another width
        ("bad_output_shape", inputs(), [{**good[0], "data": [0.5]}]),
    ]
    records = [record(T, rid="good0", inputs=inputs(), outputs=good)]
    for i, (_, ins, outs) in enumerate(bad):
        records.append(record(T, rid=f"bad{i}", inputs=ins, outputs=outs))
        records.append(record(T, rid=f"good{i + 1}", inputs=inputs(), outputs=good))
    write_records(tmp_path, records)
    for chunk_rows in (1, 3, 1000):  # a bad value found in a chunk of any size
        got = _one(tmp_path, spec, chunk_rows=chunk_rows)
        expected: dict[str, int] = {}
        for reason, _, _ in bad:
            expected[reason] = expected.get(reason, 0) + 1
        assert dict(got.skipped) == expected
        assert got.records == len(bad) + 1
        assert got.keys.column("request_id").to_pylist() == [
            f"good{i}" for i in range(len(bad) + 1)
        ]
        assert got.features.column("x").to_pylist() == [1.0] * (len(bad) + 1)
        assert got.outputs.shape == (len(bad) + 1, 3)
    assert got.first["missing_input"] == "request 'bad0': input 's' is missing"
    assert got.first["bad_value"].startswith("request 'bad9': input 'x' (float32)")


def test_a_bad_value_drops_only_its_record_from_a_chunk(tmp_path: Path) -> None:
    spec = _spec({"x": "float32", "s": "string"})
    records = [
        record(
            T,
            rid=f"r{i}",
            inputs=[
                _tensor("x", "FP32", [i, i]),
                _tensor("s", "BYTES", [str(i), 5 if i == 3 else "k"]),
            ],
            outputs=[v2_output(_probs(2, seed=i))],
        )
        for i in range(6)
    ]
    write_records(tmp_path, records)
    whole = _one(tmp_path, spec)
    chunked = _one(tmp_path, spec, chunk_rows=4)
    for got in (whole, chunked):
        assert got.skipped == {"bad_value": 1}
        assert got.features.column("x").to_pylist() == [0, 0, 1, 1, 2, 2, 4, 4, 5, 5]
        assert got.keys.column("row").to_pylist() == [0, 1] * 5
        np.testing.assert_array_equal(
            got.outputs, np.concatenate([_probs(2, seed=i) for i in (0, 1, 2, 4, 5)])
        )
    assert whole.features.equals(chunked.features) and whole.keys.equals(chunked.keys)


def test_each_version_is_decoded_by_its_own_spec(tmp_path: Path) -> None:
    v1 = _spec({"x": "float32"})
    v2 = _spec({"x": "float32", "y": "string"})
    out = [v2_output(_probs(1))]
    x, y = _tensor("x", "FP32", [1.0]), _tensor("y", "BYTES", ["b"])
    records = [
        record(T, rid="a", version="1", identity="sha256:1", inputs=[x], outputs=out),
        record(T, rid="b", version="2", identity="sha256:2", inputs=[x, y], outputs=out),
        record(T, rid="c", version="1", identity="sha256:1", inputs=[x, y], outputs=out),
        record(T, rid="d", version="3", identity="sha256:3", inputs=[x], outputs=out),
    ]
    write_records(tmp_path, records)
    got = _read(tmp_path, {"1": v1, "2": v2})
    assert list(got.groups) == [("1", "sha256:1"), ("2", "sha256:2")]
    first, second = got.groups[("1", "sha256:1")], got.groups[("2", "sha256:2")]
    assert first.features.column_names == ["x"] and first.keys.column("request_id").to_pylist() == [
        "a",
        "c",
    ]
    assert second.features.to_pydict() == {"x": [1.0], "y": ["b"]}
    assert got.unknown == {("3", "sha256:3"): 1}  # no spec for version 3: counted, not mixed in
    assert not got.no_traffic and got.stats.records == 4


def test_no_traffic_decodes_to_nothing(tmp_path: Path) -> None:
    got = _read(tmp_path, _spec({"x": "float32"}))
    assert got.no_traffic and got.groups == {} and got.files == []
    empty = decode(_spec({"x": "float32", "d": "datetime"}), [])
    assert empty.rows == 0 and empty.outputs.shape == (0, 3)
    assert empty.features.schema.field("d").type == TIMESTAMP
    assert empty.keys.num_rows == 0


def test_decode_takes_records_from_iter_records(tmp_path: Path) -> None:
    spec = _spec({"x": "float32"})
    write_records(
        tmp_path, [record(T, inputs=[_tensor("x", "FP32", [7])], outputs=[v2_output(_probs(1))])]
    )
    w = log_window(str(tmp_path), MODEL, window="1h", window_end=END.isoformat())
    records: Sequence[Record] = list(iter_records(w))
    got = decode(spec, records)
    assert got.features.column("x").to_pylist() == [7.0]
    key: GroupKey = records[0].key
    assert key == ("1", "sha256:ab")


def test_reads_what_the_servers_own_writer_wrote(tmp_path: Path) -> None:
    """The server's file sink (partitioned writer, its record format, binary bodies turned into
    JSON), small files so it rotates, two hours across a day boundary, two versions."""
    from mlrail.serving.payload_log.file_sink import FileSink
    from mlrail.serving.payload_log.writer import Entry

    spec = _spec({"Bill length": "float32", "Île": "string"})
    start = dt.datetime(2026, 12, 2, 23, 59, 58, tzinfo=UTC)
    entries = []
    for i in range(12):
        sent = {
            "Bill length": ("FP32", np.array([i + 0.5, np.nan], dtype=np.float32)),
            "Île": ("BYTES", np.array([f"é{i}", ""], dtype=object)),
        }
        tensors = []
        for name, (datatype, values) in sent.items():
            tensor = triton.InferInput(name, [2, 1], datatype)
            tensor.set_data_from_numpy(values.reshape(-1, 1), binary_data=i % 2 == 1)
            tensors.append(tensor)
        body, header = triton.InferenceServerClient.generate_request_body(tensors)
        answer = orjson.dumps({"model_name": MODEL, "outputs": [v2_output(_probs(2, seed=i))]})
        entries.append(
            Entry(
                request_id=f"q{i}",
                model=MODEL,
                version="1" if i < 8 else "2",
                timestamp=(start + dt.timedelta(milliseconds=500 * i)).timestamp(),
                latency=0.002,
                request=body,
                response=answer,
                request_header_length=header,
                response_header_length=None,
                identity="sha256:one" if i < 8 else "sha256:two",
            )
        )
    sink = FileSink(tmp_path, max_file_bytes=1500, retention_hours=None)
    sink.write(entries[:5])
    sink.write(entries[5:])
    sink.close()
    files = sorted(tmp_path.rglob("*.jsonl"))
    assert len(files) > 2 and {f.parent.parent.name for f in files} == {"2026-12-02", "2026-12-03"}
    w = log_window(str(tmp_path), MODEL, window="1h", window_end="2026-12-03T00:30:00Z")
    got = decode_window(w, lambda key: spec)
    assert got.stats.num_skipped == 0 and got.stats.files == len(files)
    assert list(got.groups) == [("1", "sha256:one"), ("2", "sha256:two")]
    first = got.groups[("1", "sha256:one")]
    assert first.features.column("Bill length").to_pylist() == [
        v for i in range(8) for v in (i + 0.5, None)
    ]
    assert first.features.column("Île").to_pylist() == [
        v for i in range(8) for v in (f"é{i}", None)
    ]
    assert first.keys.column("request_id").to_pylist() == [f"q{i}" for i in range(8) for _ in "ab"]
    assert first.latencies.tolist() == [2.0] * 8
    np.testing.assert_array_equal(
        got.groups[("2", "sha256:two")].outputs,
        np.concatenate([_probs(2, seed=i) for i in range(8, 12)]),
    )
