"""Generated headers through the name mapping into the model: input_names -> model_spec ->
Keras inputs -> (a few cases: exporting costs seconds) SavedModel signature names."""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from pathlib import Path

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from mlrail.artifacts.modelspec import ModelSpec
from mlrail.components.train.model import (
    default_inputs,
    default_model,
    model_spec,
    prepare_schema,
)
from tests.components.train._protos import protos

LABEL = "label"
_TRICKY = [
    "Age", "age", "AGE", "a.b/c", "Churned?", "2024 Sales", "Größe", "grosse", "probabilities",
    "predictions", "in_age", "Identity", "serving_default", "x" * 200, "東京", "✓", " ",
]  # fmt: skip
_NAMES = st.text(
    alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=60
).filter(lambda s: s != LABEL) | st.sampled_from(_TRICKY)
_KINDS = st.sampled_from(["number", "text", "date"])


def _table(columns: list[str], kinds: list[str]) -> pa.Table:
    data = {}
    for column, kind in zip(columns, kinds, strict=True):
        if kind == "number":
            data[column] = pa.array([1.0, 2.5, None, 4.0])
        elif kind == "text":
            data[column] = pa.array(["a", "b", None, "a"])
        else:
            data[column] = pa.array([dt.date(2024, 1, d) for d in (1, 2, 3)] + [None], pa.date32())
    data[LABEL] = pa.array(["p", "q", "p", "q"])
    return pa.table(data)


def _spec(columns: list[str], kinds: list[str]) -> tuple[ModelSpec, object, object]:
    schema, stats = protos(_table(columns, kinds))
    schema = prepare_schema(schema, LABEL, "binary", ["p", "q"])
    return model_spec(schema, stats), schema, stats


@settings(max_examples=60)
@given(st.lists(st.tuples(_NAMES, _KINDS), min_size=1, max_size=8, unique_by=lambda t: t[0]))
def test_any_header_becomes_unique_keras_inputs_that_map_back_to_its_columns(
    columns_and_kinds: list[tuple[str, str]],
) -> None:
    columns = [c for c, _ in columns_and_kinds]
    kinds = [k for _, k in columns_and_kinds]
    spec, schema, stats = _spec(columns, kinds)
    # the spec maps back to the original columns, in order, with their types
    assert [i.column for i in spec.inputs] == columns
    dtypes = {"number": "float32", "text": "string", "date": "datetime"}
    assert [i.dtype for i in spec.inputs] == [dtypes[k] for k in kinds]
    names = [i.name for i in spec.inputs]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"in_[a-z0-9_]+", n) for n in names)
    # the output can never take a column's name (it and the inputs share the ONNX graph)
    assert spec.output not in [*columns, LABEL]
    inputs = default_inputs(schema, stats)
    assert list(inputs) == names and [t.name for t in inputs.values()] == names
    with tempfile.TemporaryDirectory() as tmp:
        spec.write(tmp)
        assert ModelSpec.read(tmp) == spec


@settings(max_examples=8)
@given(st.lists(st.tuples(_NAMES, _KINDS), min_size=2, max_size=4, unique_by=lambda t: t[0]))
def test_the_saved_model_signature_takes_the_spec_names(
    columns_and_kinds: list[tuple[str, str]],
) -> None:
    import tensorflow as tf

    columns = [c for c, _ in columns_and_kinds]
    spec, schema, stats = _spec(columns, [k for _, k in columns_and_kinds])
    model = default_model(schema, stats, {"hidden_units": [2], "dropout": 0.0})
    with tempfile.TemporaryDirectory() as tmp:
        model.export(str(Path(tmp) / "sm"), format="tf_saved_model", verbose=False)
        fn = tf.saved_model.load(str(Path(tmp) / "sm")).signatures["serving_default"]
        signature = fn.structured_input_signature[1]
    assert sorted(signature) == sorted(i.name for i in spec.inputs)
    kinds = {"float32": tf.float32, "string": tf.string, "datetime": tf.float64}
    assert {k: v.dtype for k, v in signature.items()} == {
        i.name: kinds[i.dtype] for i in spec.inputs
    }
