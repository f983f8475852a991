"""mlrail.artifacts.modelspec: whatever the column types, the model gets the dtypes it declares."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlrail.artifacts.modelspec import InputSpec, ModelSpec, input_names
from mlrail.errors import DataError, ModelError

SPEC = ModelSpec(
    task="binary",
    label="y",
    output="probabilities",
    classes=["0", "1"],
    inputs=[
        InputSpec("f64", "f64", "float32"),
        InputSpec("i32", "i32", "float32"),
        InputSpec("flag", "flag", "float32"),
        InputSpec("city", "city", "string"),
    ],
)


def test_numbers_of_any_width_and_strings_reach_the_model_in_its_dtypes() -> None:
    table = pa.table(
        {
            "f64": pa.array([1.5, None, 1e300], pa.float64()),
            "i32": pa.array([1, 2, None], pa.int32()),
            "flag": pa.array([True, False, None]),
            "city": pa.array(["Zürich", None, "東京"]),
            "y": [0, 1, 1],
        }
    )
    feats = SPEC.features(table, "t")
    for name in ("f64", "i32", "flag"):
        assert feats[name].dtype == np.float32 and feats[name].shape == (3, 1)
    assert np.isnan(feats["f64"][1, 0]) and np.isinf(feats["f64"][2, 0])  # overflow → inf
    assert feats["i32"][:2, 0].tolist() == [1.0, 2.0] and np.isnan(feats["i32"][2, 0])
    assert feats["flag"][:, 0][:2].tolist() == [1.0, 0.0]
    assert feats["city"][:, 0].tolist() == ["Zürich", "", "東京"]  # missing text → "" (OOV)


def test_a_text_column_where_a_number_is_expected_is_named() -> None:
    table = pa.table({"f64": ["a"], "i32": [1], "flag": [True], "city": ["x"], "y": [0]})
    with pytest.raises(DataError, match="t: column 'f64' should be numeric, found string"):
        SPEC.features(table, "t")


def test_labels_map_to_class_indices_and_unknown_classes_are_named() -> None:
    y, mask = SPEC.labels(pa.table({"y": [1, 0, None, 1.0]}), "t")
    assert y.tolist()[:2] == [1, 0] and mask.tolist() == [True, True, False, True]
    with pytest.raises(DataError, match="value\\(s\\) the model was not trained on: '7'"):
        SPEC.labels(pa.table({"y": [7]}), "t")


def test_the_contract_round_trips_through_its_file(tmp_path: Path) -> None:
    SPEC.write(tmp_path)
    assert ModelSpec.read(tmp_path) == SPEC
    with pytest.raises(DataError, match="no model spec"):
        ModelSpec.read(tmp_path / "nowhere")


# --- column name → model input name ---------------------------------------------------------

_HEADER_NAMES = st.text(
    alphabet=st.characters(exclude_categories=("Cs",)), min_size=0, max_size=80
) | st.sampled_from(["Age", "age", "AGE", "a.b/c", "Churned?", "2024 Sales", "Größe", "grosse"])


@given(st.lists(_HEADER_NAMES, min_size=1, max_size=30, unique=True), st.randoms())
def test_input_names_are_tensorflow_safe_unique_and_independent_of_order(
    columns: list[str], rnd: Any
) -> None:
    names = input_names(columns)
    assert list(names) == columns
    for name in names.values():
        # what TensorFlow keeps unchanged as a signature name, and Keras as a layer name
        assert re.fullmatch(r"in_[a-z0-9][a-z0-9_]*", name), name
        assert len(name) <= 64
    assert len({n.casefold() for n in names.values()}) == len(columns)
    shuffled = list(columns)
    rnd.shuffle(shuffled)
    assert input_names(shuffled) == names


def test_input_names_read_like_their_columns() -> None:
    names = input_names(["Größe", "a.b/c", "Churned?", "2024 Sales", "species", "Age", "age"])
    assert names["Größe"] == "in_grosse"
    assert names["a.b/c"] == "in_a_b_c"
    assert names["Churned?"] == "in_churned"
    assert names["2024 Sales"] == "in_2024_sales"
    assert names["species"] == "in_species"
    # equal after case-folding: both get a hash of their own name, neither wins by position
    assert names["Age"].startswith("in_age_") and names["age"].startswith("in_age_")
    assert names["Age"] != names["age"]


def test_feeds_follow_the_graph_names() -> None:
    spec = ModelSpec(
        task="regression",
        label="y",
        output="predictions",
        inputs=[InputSpec("in_a_b", "A b", "float32"), InputSpec("in_c", "c", "string")],
    )
    features = {"in_a_b": np.zeros((1, 1), np.float32), "in_c": np.array([["x"]], object)}
    assert set(spec.feeds(features, ["A b", "c"])) == {"A b", "c"}
    assert set(spec.feeds(features, ["in_c", "in_a_b"])) == {"in_a_b", "in_c"}
    with pytest.raises(ModelError, match="not the model spec's columns"):
        spec.feeds(features, ["A b"])


def test_dates_and_other_arrow_types_reach_the_model() -> None:
    import datetime as dt
    from decimal import Decimal

    spec = ModelSpec(
        task="regression",
        label="y",
        output="predictions",
        inputs=[
            InputSpec("in_d", "d", "datetime"),
            InputSpec("in_t", "t", "datetime"),
            InputSpec("in_dec", "dec", "float32"),
            InputSpec("in_i8", "i8", "float32"),
            InputSpec("in_cat", "cat", "string"),
            InputSpec("in_big", "big", "string"),
        ],
    )
    table = pa.table(
        {
            "d": pa.array([dt.date(2012, 1, 1), None], pa.date32()),
            "t": pa.array([dt.datetime(2012, 1, 1, 18), None], pa.timestamp("ms", tz="UTC")),
            "dec": pa.array([Decimal("1.25"), None], pa.decimal128(5, 2)),
            "i8": pa.array([-3, None], pa.int8()),
            "cat": pa.array(["a", None]).dictionary_encode(),
            "big": pa.array(["x", None], pa.large_string()),
            "y": [1.0, 2.0],
        }
    )
    f = spec.features(table, "t")
    assert f["in_d"].dtype == np.float64 and f["in_d"][0, 0] == 15340.0
    assert f["in_t"][0, 0] == 15340.75 and np.isnan(f["in_t"][1, 0])
    assert f["in_dec"][0, 0] == np.float32(1.25) and np.isnan(f["in_dec"][1, 0])
    assert f["in_i8"][0, 0] == -3.0
    assert f["in_cat"][:, 0].tolist() == ["a", ""]
    assert f["in_big"][:, 0].tolist() == ["x", ""]


def test_the_output_is_named_apart_from_every_column() -> None:
    from mlrail.artifacts.modelspec import output_name

    assert output_name("multiclass", ["x", "species"]) == "probabilities"
    assert output_name("regression", ["x"]) == "predictions"
    assert output_name("binary", ["probabilities"]) == "mlrail_probabilities"
    taken = ["predictions", "mlrail_predictions", "mlrail_predictions_2"]
    assert output_name("regression", taken) == "mlrail_predictions_3"


@given(st.lists(_HEADER_NAMES, max_size=10), st.sampled_from(["binary", "regression"]))
def test_no_column_list_takes_the_output_name(columns: list[str], task: str) -> None:
    from mlrail.artifacts.modelspec import output_name

    assert output_name(task, columns) not in columns


def test_integers_past_float32_s_exact_range_are_rounded_not_refused() -> None:
    """A safe Arrow cast to float32 refuses 20,000,000 (> 2**24): the model takes it rounded."""
    spec = ModelSpec("regression", "y", [InputSpec("in_n", "n", "float32")], "predictions")
    big = [20_000_001, 2**53 + 1, None, -(2**63)]
    for t in (pa.int64(), pa.uint64(), pa.decimal128(38, 0)):
        values = [v for v in big if v is None or v >= 0] if t == pa.uint64() else big
        col = pa.array(values, t)
        got = spec.features(pa.table({"n": col}), "t")["in_n"][:, 0]
        want = np.array([np.nan if v is None else float(v) for v in values], np.float32)
        np.testing.assert_array_equal(got, want)
