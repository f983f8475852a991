"""The default model on any tabular data, and the helpers user modules build on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from mlrail.artifacts.modelspec import ModelSpec
from mlrail.artifacts.tfmd import load_schema, load_statistics
from mlrail.components.train.core import train
from mlrail.components.train.model import (
    CLASSES_DOMAIN,
    default_inputs,
    embedding_dim,
    model_spec,
    prepare_schema,
)
from mlrail.errors import DataError
from tests.components.train._data import prepared, splits


def _mixed(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    small = rng.choice(["red", "green", "blue"], n).astype(object)
    small[::17] = None
    number = rng.normal(size=n)
    number[::11] = np.nan
    count = rng.integers(0, 10, n)
    return pa.table(
        {
            "count": pa.array(count, pa.int64()),
            "flag": pa.array(rng.random(n) < 0.5),
            "number": pa.array(number, from_pandas=True),  # NaN as null: a missing value
            "colour": pa.array(small.tolist(), pa.string()),
            "city": pa.array([f"city-{v}" for v in rng.permutation(np.arange(n) % 120)]),
            "empty": pa.nulls(n),
            "y": pa.array(np.where((count > 4) ^ (small == "red"), "yes", "no")),
        }
    )


def test_default_model_on_mixed_types_takes_raw_features_and_converts(tmp_path: Path) -> None:
    """Integers, booleans, numbers with gaps, a small string column whose schema has no domain,
    a 120-value string column (embedded) and an all-null column; ONNX parity on edge rows."""
    from mlrail.components.export_onnx.core import export_onnx

    p = splits(tmp_path, _mixed(600, 0), _mixed(150, 1))
    schema = load_schema(p["schema"])
    # a curated schema without a domain for colour: the vocabulary comes from the statistics
    colour = next(f for f in schema.feature if f.name == "colour")
    assert colour.domain
    colour.ClearField("domain")
    (p["schema"] / "schema.pbtxt").write_text(text_format.MessageToString(schema))
    assert not any(f.domain for f in load_schema(p["schema"]).feature if f.name == "city")

    result = train(
        p["examples"], p["schema"], p["statistics"], p["model"], label="y",
        hparams={"epochs": 3, "early_stopping_patience": 0},
    )  # fmt: skip
    spec = ModelSpec.read(p["model"])
    assert result.spec == spec and spec.task == "binary" and spec.classes == ["no", "yes"]
    assert {i.column: i.dtype for i in spec.inputs} == {
        "count": "float32",
        "flag": "float32",
        "number": "float32",
        "colour": "string",
        "city": "string",
    }

    import keras

    import mlrail.components.train.layers  # noqa: F401  (registers Impute)

    model = keras.models.load_model(p["model"] / "model.keras")
    assert model.get_layer("lookup_in_colour").get_vocabulary()[1:] == ["blue", "green", "red"]
    embed = model.get_layer("embed_in_city")
    assert embed.input_dim == 121 and embed.output_dim == embedding_dim(120)
    assert {layer.name for layer in model.layers} >= {"impute", "normalize", "lookup_in_city"}

    exported = export_onnx(p["model"], p["examples"], tmp_path / "onnx")
    assert exported.parity.ok and exported.parity.edge_rows > 0


def test_schema_prepared_for_a_user_module_names_label_task_and_classes(tmp_path: Path) -> None:
    table = pa.table({"x": [float(i) for i in range(40)], "z": ["a", "b"] * 20, "y": [0, 1] * 20})
    p = prepared(tmp_path, table)
    schema = prepare_schema(load_schema(p["schema"]), "y", "binary", ["0", "1"])
    stats = load_statistics(p["statistics"])
    y = next(f for f in schema.feature if f.name == "y")
    assert list(y.not_in_environment) == ["SERVING"] and y.domain == CLASSES_DOMAIN
    assert list(schema.default_environment) == ["TRAINING", "SERVING"]
    spec = model_spec(schema, stats)
    assert (spec.task, spec.label, spec.classes) == ("binary", "y", ["0", "1"])
    assert [(i.name, i.column, i.dtype) for i in spec.inputs] == [
        ("in_x", "x", "float32"),
        ("in_z", "z", "string"),
    ]
    inputs = default_inputs(schema, stats)
    assert {k: (t.name, t.dtype, tuple(t.shape)) for k, t in inputs.items()} == {
        "in_x": ("in_x", "float32", (None, 1)),
        "in_z": ("in_z", "string", (None, 1)),
    }
    regression = model_spec(prepare_schema(load_schema(p["schema"]), "x", "regression", []), stats)
    assert regression.task == "regression" and regression.output == "predictions"
    assert [i.column for i in regression.inputs] == ["z", "y"]


def test_a_feature_a_curated_schema_keeps_out_of_serving_is_not_an_input(tmp_path: Path) -> None:
    table = pa.table({"x": [float(i) for i in range(40)], "w": [1.0] * 40, "y": ["a", "b"] * 20})
    p = prepared(tmp_path, table)
    schema = load_schema(p["schema"])
    schema.default_environment.extend(["TRAINING", "SERVING"])
    next(f for f in schema.feature if f.name == "w").not_in_environment.append("SERVING")
    spec = model_spec(
        prepare_schema(schema, "y", "binary", ["a", "b"]), load_statistics(p["statistics"])
    )
    assert [i.column for i in spec.inputs] == ["x"]


def test_a_schema_without_a_marked_label_is_refused(tmp_path: Path) -> None:
    p = prepared(tmp_path, pa.table({"x": [float(i) for i in range(40)], "y": ["a", "b"] * 20}))
    with pytest.raises(DataError, match="outside the SERVING environment"):
        model_spec(load_schema(p["schema"]), load_statistics(p["statistics"]))
    with pytest.raises(DataError, match="outside the SERVING environment"):
        model_spec(schema_pb2.Schema(), load_statistics(p["statistics"]))


@pytest.mark.parametrize(("size", "dim"), [(51, 14), (120, 23), (1000, 50)])
def test_embedding_width_grows_with_the_vocabulary(size: int, dim: int) -> None:
    assert embedding_dim(size) == dim
