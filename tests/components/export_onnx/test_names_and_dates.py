"""Any column name, and dates, from train through export: the ONNX graph takes the data's own
column names, and a date column survives conversion with its calendar features."""

from __future__ import annotations

import datetime as dt
import json
import re
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pyarrow as pa
import pytest
from google.protobuf import text_format
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper
from tensorflow_metadata.proto.v0 import schema_pb2

from mlrail.artifacts.examples import read_split
from mlrail.artifacts.model_repository import pbtxt_string
from mlrail.artifacts.modelspec import InputSpec, ModelSpec
from mlrail.artifacts.saved_model import predict_saved_model
from mlrail.components.evaluate.core import evaluate
from mlrail.components.export_onnx.core import export_onnx
from mlrail.components.export_onnx.naming import name_inputs
from mlrail.errors import ModelError
from tests.components.train._protos import write_splits

HEADERS_WITH_A_DATE = [
    "Name", "Cylinders", "a.b/c", "Churned?", "2024 Sales", "Größe", "Age", "age",
    "probabilities", "Order Date",
]  # fmt: skip


def _headers_table(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    cylinders = rng.choice([4, 6, 8], n)
    age = rng.uniform(18, 80, n)
    start = dt.date(2023, 1, 1)
    dates = [start + dt.timedelta(days=int(d)) for d in rng.integers(0, 700, n)]
    dates[3] = None
    churned = np.where((cylinders == 8) ^ (age > 50), "yes", "no")
    return pa.table(
        {
            "Name": [f"customer-{seed}-{i}" for i in range(n)],  # unique per row: an identifier
            "Cylinders": pa.array(cylinders, pa.int64()),
            "a.b/c": rng.normal(size=n),
            "Churned?": churned,
            "2024 Sales": rng.uniform(0, 1e4, n),
            "Größe": rng.choice(["S", "M", "L"], n),
            "Age": age,
            "age": rng.normal(size=n),  # equal to "Age" after case-folding, another column
            "probabilities": rng.uniform(size=n),  # the classifier output's usual name
            "Order Date": pa.array(dates, pa.date32()),
        }
    )


def _by_column(spec: ModelSpec, features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {i.column: features[i.name] for i in spec.inputs}


def test_any_header_trains_exports_and_is_fed_by_its_original_names(tmp_path: Path) -> None:
    from mlrail.components.train.core import train

    p = write_splits(tmp_path, _headers_table(240, 0), _headers_table(60, 1), identifiers=("Name",))
    train(
        p["examples"], p["schema"], p["statistics"], p["model"], label="Churned?",
        hparams={"epochs": 3, "hidden_units": [8]},
    )  # fmt: skip
    spec = ModelSpec.read(p["model"])
    # every column but the identifier and the label is an input, each under its own name
    assert [i.column for i in spec.inputs] == [
        c for c in HEADERS_WITH_A_DATE if c not in ("Name", "Churned?")
    ]
    assert len({i.name for i in spec.inputs}) == len(spec.inputs)
    assert {i.column: i.dtype for i in spec.inputs}["Order Date"] == "datetime"
    assert spec.output == "mlrail_probabilities"  # "probabilities" is a column

    out = tmp_path / "onnx"
    result = export_onnx(p["model"], p["examples"], out, model_name="churn")
    assert result.parity.ok and result.inputs == [i.column for i in spec.inputs]
    # ONNX Runtime fed by the ORIGINAL column names gives the SavedModel's answers
    features = spec.features(read_split(p["examples"] / "eval"), "eval")
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == [i.column for i in spec.inputs]
    (got,) = session.run([spec.output], _by_column(spec, features))
    want = predict_saved_model(p["model"] / "saved_model", features)
    np.testing.assert_allclose(got, want, atol=1e-5)

    golden = json.loads((out / "golden.json").read_text())
    assert [i["name"] for i in golden["request"]["inputs"]] == [i.column for i in spec.inputs]
    assert golden["outputs"][0]["name"] == "mlrail_probabilities"
    # config.pbtxt: every name escaped so protobuf's own parser reads back the column
    config = (out / "model_repository" / "churn" / "config.pbtxt").read_text()
    assert config.isascii()
    names = [
        text_format.Parse(line.strip(), schema_pb2.Feature()).name
        for line in config.splitlines()
        if re.match(r"\s+name: ", line)
    ]
    assert names == [i.column for i in spec.inputs] + ["mlrail_probabilities"]
    assert "TYPE_FP64" in config  # the date

    # evaluate runs the ONNX folder by the same names
    ev = evaluate(out, p["examples"], importance_repeats=0)
    assert ev.rows == 60 and ev.task == "binary"


def _dates_table(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    days = rng.integers(18_000, 19_500, n)
    dates = [dt.date(1970, 1, 1) + dt.timedelta(days=int(d)) for d in days]
    seconds = rng.integers(0, 86_400, n)
    instants = [
        dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=int(d), seconds=int(s))
        for d, s in zip(days, seconds, strict=True)
    ]
    weekend = np.array([d.weekday() >= 5 for d in dates])
    dates[0] = None
    instants[1] = None
    return pa.table(
        {
            "day": pa.array(dates, pa.date32()),
            "when": pa.array(instants, pa.timestamp("us", tz="Europe/Paris")),
            "x": rng.normal(size=n),
            "y": np.where(weekend, "weekend", "weekday"),
        }
    )


def test_date32_and_zoned_timestamps_convert_with_parity_on_every_edge_row(
    tmp_path: Path,
) -> None:
    from mlrail.components.train.core import train

    p = write_splits(tmp_path, _dates_table(400, 0), _dates_table(100, 1))
    train(
        p["examples"], p["schema"], p["statistics"], p["model"], label="y",
        hparams={"epochs": 40, "learning_rate": 0.05, "hidden_units": [16]},
    )  # fmt: skip
    spec = ModelSpec.read(p["model"])
    assert {i.column: i.dtype for i in spec.inputs} == {
        "day": "datetime",
        "when": "datetime",
        "x": "float32",
    }
    out = tmp_path / "onnx"
    result = export_onnx(p["model"], p["examples"], out)
    # each date: NaN, +inf and -inf; x likewise; and the all-missing row
    assert result.parity.ok and result.parity.edge_rows == 3 * 3 + 1
    assert result.parity.label_agreement == 1.0
    graph = onnx.load(str(out / "model.onnx")).graph
    types = {i.name: i.type.tensor_type.elem_type for i in graph.input}
    assert types == {"day": TensorProto.DOUBLE, "when": TensorProto.DOUBLE, "x": TensorProto.FLOAT}
    golden = json.loads((out / "golden.json").read_text())
    datatypes = {i["name"]: i["datatype"] for i in golden["request"]["inputs"]}
    assert datatypes == {"day": "FP64", "when": "FP64", "x": "FP32"}
    # the day of the week is in the graph: the weekend label is learnt from the date alone
    ev = evaluate(out, p["examples"], importance_repeats=0)
    assert ev.metrics["accuracy"] >= 0.9


def _graph(tensor_names: list[str]) -> onnx.ModelProto:
    """in_a, in_b -> Add -> <internal> -> Identity -> out, internal tensors named as given."""
    first, second = tensor_names
    nodes = [
        helper.make_node("Add", ["in_a", "in_b"], [first]),
        helper.make_node("Neg", [first], [second]),
        helper.make_node("Identity", [second], ["out"]),
    ]
    value = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, 1]) for n in ("in_a", "in_b")
    ]
    graph = helper.make_graph(
        nodes, "g", value, [helper.make_tensor_value_info("out", TensorProto.FLOAT, [None, 1])]
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize(
    ("columns", "internal"),
    [
        (("a", "b"), ["sum", "neg"]),
        (("sum", "neg"), ["sum", "neg"]),  # columns named like internal tensors
        (("in_b", "in_a"), ["sum", "neg"]),  # each column is the other input's TensorFlow name
        (("neg", "sum__mlrail1"), ["sum", "neg"]),  # and like the fresh name a rename would pick
    ],
)
def test_graph_inputs_take_the_column_names_whatever_else_has_them(
    columns: tuple[str, str], internal: list[str]
) -> None:
    model = _graph(internal)
    spec = ModelSpec(
        "regression", "y",
        [InputSpec("in_a", columns[0], "float32"), InputSpec("in_b", columns[1], "float32")],
        "out",
    )  # fmt: skip
    name_inputs(model, spec)
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == list(columns)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    a, b = np.array([[1.0]], np.float32), np.array([[2.0]], np.float32)
    (got,) = session.run(["out"], {columns[0]: a, columns[1]: b})
    assert got.tolist() == [[-3.0]]


def test_a_column_named_like_the_output_or_empty_is_refused() -> None:
    for column, message in (("out", "has the output's name"), ("", "empty column name")):
        spec = ModelSpec("regression", "y", [InputSpec("in_a", column, "float32")], "out")
        with pytest.raises(ModelError, match=message):
            name_inputs(_graph(["s", "n"]), spec)


@pytest.mark.parametrize(
    "name",
    ["plain", 'say "hi"', "back\\slash", "new\nline", "tab\tcr\r", "Größe", "東京 ✓", "it's", "\0"],
)
def test_pbtxt_strings_read_back_as_written(name: str) -> None:
    text = f"name: {pbtxt_string(name)}"
    assert text.isascii() and "\n" not in text
    assert text_format.Parse(text, schema_pb2.Feature()).name == name


@settings(max_examples=3)
@given(
    st.lists(
        st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=30)
        | st.sampled_from(["x:0", "Identity", "in_x", "probabilities", "Größe", " "]),
        min_size=2,
        max_size=4,
        unique=True,
    ).filter(lambda cs: "label" not in cs)
)
def test_generated_headers_convert_and_are_fed_by_their_own_names(columns: list[str]) -> None:
    """An untrained default model (conversion is what is tested) over generated columns."""
    from mlrail.components.export_onnx.convert import convert
    from mlrail.components.train.model import default_model, model_spec, prepare_schema
    from tests.components.train._protos import protos

    n = 6
    data: dict[str, pa.Array] = {
        c: pa.array([float(k) for k in range(n)]) if j % 2 == 0 else pa.array(["a", "b"] * 3)
        for j, c in enumerate(columns)
    }
    table = pa.table({**data, "label": pa.array(["p", "q"] * 3)})
    schema, stats = protos(table)
    schema = prepare_schema(schema, "label", "binary", ["p", "q"])
    spec = model_spec(schema, stats)
    model = default_model(schema, stats, {"hidden_units": [2], "dropout": 0.0})
    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / "saved_model"
        model.export(str(saved), format="tf_saved_model", verbose=False)
        proto = convert(saved, spec, 17)  # names the inputs by column (name_inputs)
        onnx.checker.check_model(proto, full_check=True)
        features = spec.features(table, "generated")
        want = predict_saved_model(saved, features)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == columns
    (got,) = session.run([spec.output], _by_column(spec, features))
    np.testing.assert_allclose(got, want, atol=1e-5)
