"""mlrail.modelspec: whatever the column types, the model gets the dtypes it declares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from mlrail.errors import DataError
from mlrail.modelspec import InputSpec, ModelSpec

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
