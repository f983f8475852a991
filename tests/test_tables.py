"""Tables users bring, through the whole ``mlrail run`` to a served model (issue 10).

Each case is a small table with a hand-picked header and column types of the kind real data
has — capitals, spaces, punctuation, leading digits, non-ASCII, names equal after case-folding
or sanitising, very long names, dates and timestamps, every integer width, decimals,
dictionary-encoded and large strings, booleans with nulls, the text ``nan``, an identifier
column, rows without a label — written as CSV, Parquet or JSON Lines. Every case goes through
``mlrail run`` (ingest → validate → train → export_onnx → evaluate → deploy, through kfp.local)
into one model repository; then one ``mlrail serve`` answers a V2 request per model that
names the inputs by the **original column names** and carries the values as a client has them
(numbers, strings, ISO date strings, null for missing), and the answer must equal ONNX
Runtime's on the deployed file, fed from the same rows as mlrail reads them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlrail.artifacts.modelspec import ModelSpec
from mlrail.sources import read_table, resolve
from tests.serving.helpers import running_server

pytestmark = pytest.mark.slow

ROWS = 240
_RNG_SEED = 20261202


@dataclass(frozen=True)
class Case:
    """One table: its file name (the format comes from the extension), label and content."""

    id: str
    file: str
    label: str
    make: Callable[[np.random.Generator], dict[str, list[Any]] | pa.Table]
    task: str = "auto"


def _signal(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two numeric features and a binary label that clearly depends on them."""
    x = rng.normal(size=ROWS)
    z = rng.normal(size=ROWS)
    return x, (x + 0.3 * z > 0)


def _yes_no(y: np.ndarray) -> list[str]:
    return ["yes" if v else "no" for v in y]


def _capitals(rng: np.random.Generator) -> dict[str, list[Any]]:
    x, y = _signal(rng)
    return {
        "Name": [f"car {i}" for i in range(ROWS)],  # unique per row: an identifier
        "Cylinders": rng.choice([4, 6, 8], ROWS).tolist(),
        "Displacement": (x * 50 + 200).round(1).tolist(),
        "Horsepower": rng.integers(60, 200, ROWS).tolist(),
        "Model Year": rng.integers(70, 83, ROWS).tolist(),
        "Origin": rng.choice(["USA", "Europe", "Japan"], ROWS).tolist(),
        "MPG": (20 - 6 * x + rng.normal(size=ROWS)).round(1).tolist(),
    }


def _case_collisions(rng: np.random.Generator) -> dict[str, list[Any]]:
    x, y = _signal(rng)
    return {
        "Age": (x * 10 + 40).round(1).tolist(),
        "age": rng.integers(0, 5, ROWS).tolist(),
        "AGE": rng.choice(["young", "old"], ROWS).tolist(),
        "label": _yes_no(y),
    }


def _punctuation(rng: np.random.Generator) -> dict[str, list[Any]]:
    x, y = _signal(rng)
    return {
        "a.b/c": x.round(3).tolist(),
        "price ($)": rng.uniform(1, 9, ROWS).round(2).tolist(),
        "first name": rng.choice(["Ann", "Bo", "Cy"], ROWS).tolist(),
        "x:y;z|w": rng.normal(size=ROWS).round(3).tolist(),
        'say "hi"\\n': rng.choice(["a", "b"], ROWS).tolist(),
        "Churned?": _yes_no(y),
    }


def _leading_digits(rng: np.random.Generator) -> dict[str, list[Any]]:
    x, y = _signal(rng)
    return {
        "2024 Sales": (x * 100).round(2).tolist(),
        "1st": rng.integers(0, 3, ROWS).tolist(),
        "3d": rng.choice(["up", "down"], ROWS).tolist(),
        "007": rng.normal(size=ROWS).round(3).tolist(),
        "10y": _yes_no(y),
    }


def _non_ascii(rng: np.random.Generator) -> dict[str, list[Any]]:
    x, y = _signal(rng)
    return {
        "Größe": (x * 10 + 170).round(1).tolist(),
        "温度": rng.normal(20, 5, ROWS).round(1).tolist(),
        "café": rng.choice(["noir", "crème", "☕"], ROWS).tolist(),
        "naïve": rng.choice(["oui", "non"], ROWS).tolist(),
        "Klasse": ["groß" if v else "klein" for v in y],
    }


def _long_names(rng: np.random.Generator) -> dict[str, list[Any]]:
    x, y = _signal(rng)
    stem = "measurement of the thing we care about " * 6
    return {
        stem + "(first)": x.round(3).tolist(),
        stem + "(second)": rng.normal(size=ROWS).round(3).tolist(),
        "x" * 300: rng.choice(["p", "q"], ROWS).tolist(),
        "outcome": _yes_no(y),
    }


def _sanitising_collisions(rng: np.random.Generator) -> dict[str, list[Any]]:
    x, y = _signal(rng)
    return {
        "a b": x.round(3).tolist(),
        "a_b": rng.normal(size=ROWS).round(3).tolist(),
        "a-b": rng.choice(["m", "n"], ROWS).tolist(),
        "A B": rng.integers(0, 9, ROWS).tolist(),
        "in_a_b": rng.normal(size=ROWS).round(3).tolist(),  # looks like a mapped name
        "target": _yes_no(y),
    }


def _dates_csv(rng: np.random.Generator) -> dict[str, list[Any]]:
    x, y = _signal(rng)
    start = dt.date(2012, 1, 1)
    days = rng.integers(0, 900, ROWS)
    return {
        "date": [(start + dt.timedelta(days=int(d))).isoformat() for d in days],
        "temp": (x * 8 + 12).round(1).tolist(),
        "Store": rng.choice(["north", "south"], ROWS).tolist(),
        "busy": _yes_no(y),
    }


def _timestamps_csv(rng: np.random.Generator) -> dict[str, list[Any]]:
    x, y = _signal(rng)
    base = dt.datetime(2023, 3, 1, tzinfo=dt.UTC)
    zones = [
        dt.UTC,
        dt.timezone(dt.timedelta(hours=2)),
        dt.timezone(-dt.timedelta(hours=5, minutes=30)),
    ]
    stamps = []
    for i in range(ROWS):
        when = base + dt.timedelta(minutes=int(rng.integers(0, 60 * 24 * 90)))
        # as exports write them: "Z" for UTC, an offset otherwise
        stamps.append(when.astimezone(zones[i % 3]).isoformat().replace("+00:00", "Z"))
    return {
        "Event Time": stamps,
        "load": (x * 3).round(2).tolist(),
        "alarm": _yes_no(y),
    }


def _parquet_times(rng: np.random.Generator) -> pa.Table:
    x, y = _signal(rng)
    days = rng.integers(15000, 16000, ROWS)
    seconds = rng.integers(1_600_000_000, 1_700_000_000, ROWS)
    return pa.table(
        {
            "Day": pa.array(days.tolist(), pa.int32()).cast(pa.date32()),
            "Seen (local)": pa.array(seconds.tolist(), pa.int64())
            .cast(pa.timestamp("s", tz="UTC"))
            .cast(pa.timestamp("us", tz="Europe/Berlin")),
            "naive ns": pa.array((seconds * 10**9).tolist(), pa.int64()).cast(pa.timestamp("ns")),
            "signal": pa.array(x, pa.float64()),
            "y": pa.array(_yes_no(y)),
        }
    )


def _arrow_types(rng: np.random.Generator) -> pa.Table:
    x, y = _signal(rng)
    small = rng.integers(0, 100, ROWS)
    flags = [None if i % 7 == 0 else bool(v) for i, v in enumerate(rng.integers(0, 2, ROWS))]
    return pa.table(
        {
            "I8": pa.array(small - 50, pa.int8()),
            "I16": pa.array(small * 100, pa.int16()),
            "I32": pa.array(small * 1000, pa.int32()),
            "I64": pa.array(small * 10**6, pa.int64()),
            "U8": pa.array(small, pa.uint8()),
            "U16": pa.array(small, pa.uint16()),
            "U32": pa.array(small, pa.uint32()),
            "U64": pa.array(small, pa.uint64()),
            "Price": pa.array([Decimal(f"{v:.2f}") for v in x * 10 + 50], pa.decimal128(8, 2)),
            "Colour": pa.array(rng.choice(["red", "green"], ROWS).tolist()).dictionary_encode(),
            "Note": pa.array(rng.choice(["ok", "late", "early"], ROWS).tolist(), pa.large_string()),
            "Flag": pa.array(flags, pa.bool_()),
            "Label": pa.array(_yes_no(y)),
        }
    )


def _nan_text_and_missing(rng: np.random.Generator) -> dict[str, list[Any]]:
    x, y = _signal(rng)
    values: list[Any] = x.round(3).tolist()
    other: list[Any] = rng.normal(size=ROWS).round(3).tolist()
    labels: list[Any] = _yes_no(y)
    for i in range(0, ROWS, 11):
        values[i] = "nan"
        other[i] = "NaN"
    for i in range(3, ROWS, 13):
        other[i] = "NA"
    for i in range(5, ROWS, 17):
        labels[i] = ""  # a row without a label: dropped from training and evaluation
    return {
        "Reading": values,
        "Backup Reading": other,
        "Status Text": rng.choice(["nan", "ok", "NA"], ROWS).tolist(),
        "Result": labels,
    }


def _identifiers(rng: np.random.Generator) -> dict[str, list[Any]]:
    x, y = _signal(rng)
    return {
        "Customer ID": [f"C{100000 + i}" for i in rng.permutation(ROWS)],
        "Comment": [f"free text number {i} of {ROWS}" for i in range(ROWS)],
        "Spend": (x * 30 + 100).round(2).tolist(),
        "Plan": rng.choice(["basic", "pro"], ROWS).tolist(),
        "Churn": _yes_no(y),
    }


def _jsonl(rng: np.random.Generator) -> dict[str, list[Any]]:
    x, y = _signal(rng)
    level: list[Any] = rng.choice(["low", "high"], ROWS).tolist()
    for i in range(0, ROWS, 9):
        level[i] = None
    return {
        "Temperatur (°C)": x.round(2).tolist(),
        "Level": level,
        "Zähler": rng.integers(0, 50, ROWS).tolist(),
        "Alarm?": _yes_no(y),
    }


def _index_column(rng: np.random.Generator) -> dict[str, list[Any]]:
    x, y = _signal(rng)
    return {
        "": list(range(ROWS)),  # pandas' to_csv writes its index under an empty name
        "feature": x.round(3).tolist(),
        "group": rng.choice(["g1", "g2"], ROWS).tolist(),
        "class": _yes_no(y),
    }


def _reserved_names(rng: np.random.Generator) -> dict[str, list[Any]]:
    x, y = _signal(rng)
    return {
        "probabilities": x.round(3).tolist(),
        "predictions": rng.normal(size=ROWS).round(3).tolist(),
        "serving_default": rng.choice(["s", "t"], ROWS).tolist(),
        "features": rng.normal(size=ROWS).round(3).tolist(),
        "numeric": rng.integers(0, 4, ROWS).tolist(),
        "label": _yes_no(y),
    }


def _multiclass_label(rng: np.random.Generator) -> dict[str, list[Any]]:
    x = rng.normal(size=ROWS)
    classes = np.where(x < -0.5, "Class A", np.where(x < 0.5, "Class B", "Class C"))
    return {
        "Feature One": (x + 0.1 * rng.normal(size=ROWS)).round(3).tolist(),
        "Feature Two": rng.normal(size=ROWS).round(3).tolist(),
        "Target Class": classes.tolist(),
    }


def _regression_label(rng: np.random.Generator) -> dict[str, list[Any]]:
    x = rng.normal(size=ROWS)
    return {
        "Sq. Ft.": (x * 300 + 1500).round(0).tolist(),
        "Rooms #": rng.integers(1, 6, ROWS).tolist(),
        "Price (€)": (200_000 + 80_000 * x + rng.normal(0, 5000, ROWS)).round(0).tolist(),
    }


CASES = [
    Case("capitals", "auto-mpg.csv", "MPG", _capitals, "regression"),
    Case("case-collisions", "people.csv", "label", _case_collisions),
    Case("punctuation", "churn.csv", "Churned?", _punctuation),
    Case("leading-digits", "sales.csv", "10y", _leading_digits),
    Case("non-ascii", "größe.csv", "Klasse", _non_ascii),
    Case("long-names", "long.csv", "outcome", _long_names),
    Case("sanitising-collisions", "collide.csv", "target", _sanitising_collisions),
    Case("csv-dates", "stores.csv", "busy", _dates_csv),
    Case("csv-timestamps-with-zones", "events.csv", "alarm", _timestamps_csv),
    Case("parquet-dates-timestamps", "times.parquet", "y", _parquet_times),
    Case("arrow-types", "types.parquet", "Label", _arrow_types),
    Case("nan-text-and-missing-labels", "readings.csv", "Result", _nan_text_and_missing),
    Case("identifiers", "customers.csv", "Churn", _identifiers),
    Case("json-lines", "sensors.jsonl", "Alarm?", _jsonl),
    Case("pandas-index-column", "indexed.csv", "class", _index_column),
    Case("names-of-model-parts", "reserved.csv", "label", _reserved_names),
    Case("multiclass-label-with-spaces", "classes.csv", "Target Class", _multiclass_label),
    Case(
        "regression-label-with-symbols", "houses.csv", "Price (€)", _regression_label, "regression"
    ),
]


def _write(case: Case, folder: Path) -> Path:
    path = folder / case.file
    data = case.make(np.random.default_rng(_RNG_SEED))
    if path.suffix == ".parquet":
        assert isinstance(data, pa.Table)
        pq.write_table(data, path)
    elif path.suffix == ".jsonl":
        assert isinstance(data, dict)
        rows = [dict(zip(data, values, strict=True)) for values in zip(*data.values(), strict=True)]
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    else:
        assert isinstance(data, dict)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(list(data))
        writer.writerows(zip(*data.values(), strict=True))
        path.write_text(out.getvalue(), encoding="utf-8")
    return path


#: The road is under test, not the model's quality: thresholds any trained model passes.
_ANY_MODEL = {False: {"log_loss": "<= 1e9"}, True: {"rmse": ">= 0"}}  # by "is regression"


def _model_name(case: Case) -> str:
    return f"t-{case.id}"[:45]


@dataclass
class Outcome:
    case: Case
    data: Path
    returncode: int
    output: str


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Outcome]]]:
    """Every case through ``mlrail run`` into one working folder, then one server over it."""
    root = tmp_path_factory.mktemp("tables")
    workdir = root / "work"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

    def run(case: Case) -> Outcome:
        data = _write(case, root)
        args = [
            sys.executable, "-m", "mlrail.cli", "run",
            "--data", str(data),
            "--label", case.label,
            "--task", case.task,
            "--workdir", str(workdir),
            "--model-name", _model_name(case),
            "--epochs", "15",
            "--no-baseline",
            "--thresholds", json.dumps(_ANY_MODEL[case.task == "regression"]),
        ]  # fmt: skip
        done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=root)
        return Outcome(case, data, done.returncode, done.stdout + done.stderr)

    # Two runs at a time into the one working folder, as two users' runs may be (each has its
    # own model name): much of a run is one core's Python, so this halves the wait on two cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = {o.case.id: o for o in pool.map(run, CASES)}
    repository = workdir / "models"
    repository.mkdir(parents=True, exist_ok=True)
    with running_server(repository) as server:
        yield server.url, outcomes


def _client_value(value: Any) -> Any:
    """A value as a V2 client sends it in JSON: dates as ISO strings, missing as null."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.isoformat()
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def _request(spec: ModelSpec, table: pa.Table, rows: int) -> dict[str, Any]:
    """A V2 request for the first rows, each input named by its original column."""
    inputs = []
    for i in spec.inputs:
        values = [_client_value(v) for v in table.column(i.column).slice(0, rows).to_pylist()]
        if i.dtype == "string":
            datatype = "BYTES"
            values = [None if v is None else str(v) for v in values]
        elif i.dtype == "datetime":
            datatype = "BYTES"
        else:
            datatype = "FP64"
        inputs.append({"name": i.column, "shape": [rows, 1], "datatype": datatype, "data": values})
    return {"inputs": inputs}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_served_answer_for_original_names_equals_onnx_runtime(
    case: Case, runs: tuple[str, dict[str, Outcome]]
) -> None:
    url, outcomes = runs
    outcome = outcomes[case.id]
    assert outcome.returncode == 0, outcome.output[-3000:]
    assert "Traceback" not in outcome.output, outcome.output[-3000:]
    version = outcome.data.parent / "work" / "models" / _model_name(case) / "1"
    spec = ModelSpec.read(version)
    assert sorted(i.column for i in spec.inputs), "no inputs"
    table, _ = read_table(resolve(str(outcome.data)))
    columns = set(table.column_names) - {case.label}
    assert {i.column for i in spec.inputs} <= columns
    rows = 16
    request = _request(spec, table, rows)

    session = ort.InferenceSession(str(version / "model.onnx"), providers=["CPUExecutionProvider"])
    graph_inputs = [i.name for i in session.get_inputs()]
    assert sorted(graph_inputs) == sorted(i.column for i in spec.inputs)  # original names
    features = spec.features(table.slice(0, rows), str(outcome.data))
    (want,) = session.run([spec.output], spec.feeds(features, graph_inputs))

    reply = httpx.post(f"{url}/v2/models/{_model_name(case)}/infer", json=request, timeout=60)
    assert reply.status_code == 200, reply.text
    (out,) = reply.json()["outputs"]
    assert out["name"] == spec.output
    # equal up to float32 rounding: a client's float64 (or decimal) is rounded to float32 once by
    # the server and once by Arrow's cast, which may differ in the last bit
    np.testing.assert_allclose(
        np.asarray(out["data"], np.float32), want.reshape(-1), rtol=1e-5, atol=1e-6
    )


def test_every_case_is_a_distinct_kind_of_table() -> None:
    assert len(CASES) >= 15
    assert len({c.id for c in CASES}) == len(CASES)
    assert {Path(c.file).suffix for c in CASES} == {".csv", ".parquet", ".jsonl"}
