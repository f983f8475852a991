"""The predictions table (evaluate's and monitor's one reading of a model's outputs) and the
realized figures against ground truth."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from mlrail.artifacts.modelspec import ModelSpec
from mlrail.artifacts.predictions import predictions_table, realized_metrics
from mlrail.errors import DataError

MULTI = ModelSpec("multiclass", "species", [], "probabilities", ["Adelie", "Chinstrap", "Gentoo"])
BINARY = ModelSpec("binary", "sex", [], "probabilities", ["female", "male"])
REGRESSION = ModelSpec("regression", "body_mass_g", [], "predictions")


def test_a_classifier_gives_the_class_name_and_its_probability() -> None:
    out = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.4, 0.4, 0.2]], dtype=np.float32)
    t = predictions_table(MULTI, out)
    assert t.column_names == ["predicted_class", "confidence"]
    assert t.schema.field("predicted_class").type == pa.string()
    assert t.schema.field("confidence").type == pa.float64()
    # a tie goes to the first class, as argmax (and evaluate's accuracy) decides it
    assert t.column("predicted_class").to_pylist() == ["Adelie", "Gentoo", "Adelie"]
    assert t.column("confidence").to_pylist() == pytest.approx([0.7, 0.6, 0.4])


def test_binary_has_the_positive_class_score_from_two_columns_or_one() -> None:
    two = np.array([[0.75, 0.25], [0.375, 0.625]])  # exact in binary: 1 - p is p's complement
    t = predictions_table(BINARY, two)
    assert t.column_names == ["predicted_class", "confidence", "score"]
    assert t.column("predicted_class").to_pylist() == ["female", "male"]
    assert t.column("score").to_pylist() == [0.25, 0.625]
    assert t.column("confidence").to_pylist() == [0.75, 0.625]
    # a sigmoid column, P(classes[1]), reads the same
    assert predictions_table(BINARY, two[:, 1:]).equals(t)
    assert predictions_table(BINARY, two[:, 1]).equals(t)


def test_a_regressor_gives_its_prediction() -> None:
    t = predictions_table(REGRESSION, np.array([[3500.0], [4200.5]], dtype=np.float32))
    assert t.column_names == ["prediction"]
    assert t.column("prediction").to_pylist() == [3500.0, 4200.5]


def test_no_rows_is_an_empty_table_of_the_same_columns() -> None:
    assert predictions_table(BINARY, np.zeros((0, 2))).column_names == [
        "predicted_class",
        "confidence",
        "score",
    ]
    assert predictions_table(MULTI, np.zeros((0, 3))).num_rows == 0


@pytest.mark.parametrize(
    ("spec", "out", "message"),
    [
        (
            MULTI,
            np.zeros((2, 2)),
            r"logged: expected \[rows, 3\] probabilities .* got shape \[2, 2\]",
        ),
        (MULTI, np.full((1, 3), np.nan), "logged: the outputs are not probabilities"),
        (BINARY, np.array([[1.5, -0.5]]), "logged: the outputs are not probabilities"),
        (REGRESSION, np.zeros((2, 2)), r"logged: expected \[rows, 1\] predictions"),
    ],
)
def test_outputs_not_of_the_spec_are_named(spec: ModelSpec, out: np.ndarray, message: str) -> None:
    with pytest.raises(DataError, match=message):
        predictions_table(spec, out, "logged")


def test_realized_accuracy_skips_missing_labels_and_counts_unknown_ones() -> None:
    out = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.5, 0.3, 0.2]])
    got = realized_metrics(
        MULTI, predictions_table(MULTI, out), ["Adelie", None, "Emperor", "Adelie"]
    )
    assert got == {"rows": 3.0, "unknown_labels": 1.0, "accuracy": 2 / 3, "error_rate": 1 / 3}
    # the raw outputs give the same figures; an Arrow column is read as a list
    assert realized_metrics(MULTI, out, pa.array(["Adelie", None, "Emperor", "Adelie"])) == got


def test_numeric_labels_match_class_names_as_the_data_writes_them() -> None:
    spec = ModelSpec("binary", "y", [], "probabilities", ["0", "1"])
    out = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert realized_metrics(spec, out, [0.0, 1, float("nan")])["accuracy"] == 1.0


def test_no_labelled_row_has_no_accuracy() -> None:
    assert realized_metrics(BINARY, np.array([[0.9, 0.1]]), [None]) == {
        "rows": 0.0,
        "unknown_labels": 0.0,
    }


def test_realized_regression_figures_by_hand() -> None:
    out = np.array([[10.0], [20.0], [33.0]])
    got = realized_metrics(REGRESSION, out, [12.0, None, 30.0])
    assert got["rows"] == 2.0
    assert got["rmse"] == pytest.approx(math.sqrt((4 + 9) / 2))
    assert got["mae"] == pytest.approx(2.5)
    assert got["bias"] == pytest.approx((-2 + 3) / 2)


def test_labels_of_another_length_or_kind_are_named() -> None:
    with pytest.raises(DataError, match=r"truth.csv: 1 label\(s\) for 2 prediction\(s\)"):
        realized_metrics(BINARY, np.array([[0.9, 0.1], [0.2, 0.8]]), ["male"], "truth.csv")
    with pytest.raises(DataError, match="truth.csv: a regression label is not a number"):
        realized_metrics(REGRESSION, np.array([[1.0]]), ["heavy"], "truth.csv")
    with pytest.raises(DataError, match="no 'predicted_class' column"):
        realized_metrics(BINARY, pa.table({"prediction": [1.0]}), ["male"])
