from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlrail.components.evaluate.core import predict_saved_model
from mlrail.components.ingest.core import ingest
from mlrail.components.train.core import infer_task, train
from mlrail.components.validate.core import validate
from mlrail.errors import DataError
from mlrail.modelspec import ModelSpec, tf_inputs
from tests.conftest import Trained


def _prepared(tmp_path: Path, table: pa.Table) -> dict[str, Path]:
    pq.write_table(table, tmp_path / "data.parquet")
    p = {n: tmp_path / n for n in ("examples", "statistics", "schema", "anomalies", "model")}
    ingest(str(tmp_path / "data.parquet"), str(p["examples"]))
    validate(p["examples"], p["statistics"], p["schema"], p["anomalies"])
    return p


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["a", "b", "a", None], "binary"),
        (["a", "b", "c"], "multiclass"),
        ([0, 1, 1, 0], "binary"),
        ([1.0, 2.0, 3.0], "multiclass"),  # whole numbers, few values: classes
        ([0.5, 1.25, 3.0], "regression"),
        (list(range(100)), "regression"),  # many distinct integers
    ],
)
def test_task_is_inferred_from_the_label(values: list, task: str) -> None:
    assert infer_task(pa.table({"y": values}), "y", "t") == task


def test_penguins_model_takes_raw_features(trained: Trained) -> None:
    spec = ModelSpec.read(trained.model)
    assert spec.task == "multiclass" and spec.classes == ["Adelie", "Chinstrap", "Gentoo"]
    assert {i.column for i in spec.inputs} == {
        "island",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex",
        "year",
    }
    assert (trained.model / "model.keras").is_file()
    # raw values, a missing number (NaN), a missing string ("") and an unseen island
    rows = {
        i.name: np.array([[np.nan], [45.0]], np.float32)
        if i.dtype == "float32"
        else np.array([[""], ["Atlantis"]], object)
        for i in spec.inputs
    }
    out = predict_saved_model(trained.model / "saved_model", rows)
    assert out.shape == (2, 3) and np.all(np.isfinite(out))
    assert np.allclose(out.sum(axis=1), 1.0, atol=1e-5)


def test_model_keras_reloads_with_its_preprocessing(trained: Trained) -> None:
    import keras

    import mlrail.components.train.layers  # noqa: F401  (registers Impute)

    spec = ModelSpec.read(trained.model)
    model = keras.models.load_model(trained.model / "model.keras")
    impute = model.get_layer("impute")
    assert isinstance(impute.value, list) and len(impute.value) == sum(
        i.dtype == "float32" for i in spec.inputs
    )
    rows = {
        i.name: np.array([[np.inf], [45.0]], np.float32)
        if i.dtype == "float32"
        else np.array([["Biscoe"], ["male"]], object)
        for i in spec.inputs
    }
    want = predict_saved_model(trained.model / "saved_model", rows)
    got = np.asarray(model(tf_inputs(rows)))
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_same_seed_same_model(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=120)
    table = pa.table({"x": x, "c": rng.choice(["u", "v"], 120), "y": (x > 0).astype("int64")})
    p = _prepared(tmp_path, table)
    hp = {"epochs": 5, "seed": 7}
    train(p["examples"], p["schema"], p["statistics"], tmp_path / "m1", label="y", hparams=hp)
    train(p["examples"], p["schema"], p["statistics"], tmp_path / "m2", label="y", hparams=hp)
    spec = ModelSpec.read(tmp_path / "m1")
    feats = spec.features(table, "t")
    a = predict_saved_model(tmp_path / "m1" / "saved_model", feats)
    b = predict_saved_model(tmp_path / "m2" / "saved_model", feats)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_regression_learns_a_linear_target(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(-3, 3, size=300)
    table = pa.table({"x": x, "y": 5.0 * x + 100.0 + rng.normal(scale=0.1, size=300)})
    p = _prepared(tmp_path, table)
    result = train(
        p["examples"], p["schema"], p["statistics"], p["model"], label="y", hparams={"epochs": 30}
    )
    assert result.spec.task == "regression" and result.spec.output == "predictions"
    pred = predict_saved_model(p["model"] / "saved_model", result.spec.features(table, "t"))
    assert np.sqrt(np.mean((pred.reshape(-1) - table.column("y").to_numpy()) ** 2)) < 1.5


def test_rows_without_a_label_are_dropped(tmp_path: Path) -> None:
    table = pa.table({"x": [float(i) for i in range(60)], "y": ["a", "b", None] * 20})
    p = _prepared(tmp_path, table)
    result = train(
        p["examples"], p["schema"], p["statistics"], p["model"], label="y", hparams={"epochs": 1}
    )
    assert result.dropped_unlabelled > 0 and result.rows + result.dropped_unlabelled < 60


@pytest.mark.parametrize(
    ("table", "label", "error", "message"),
    [
        (pa.table({"x": [1.0, 2.0] * 10, "y": ["a"] * 20}), "y", DataError, "single class 'a'"),
        (
            pa.table({"x": [1.0, 2.0] * 10, "y": ["a", "b"] * 10}),
            "nope",
            DataError,
            "label column 'nope'",
        ),
        (pa.table({"y": ["a", "b"] * 10}), "y", DataError, "no feature columns"),
    ],
)
def test_bad_training_input(
    tmp_path: Path, table: pa.Table, label: str, error: type, message: str
) -> None:
    p = _prepared(tmp_path, table)
    with pytest.raises(error, match=message):
        train(p["examples"], p["schema"], p["statistics"], p["model"], label=label)
    assert not p["model"].exists()


def test_unknown_hyperparameter_is_refused(trained: Trained, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown hyperparameter.*epoch"):
        train(
            trained.examples,
            trained.schema,
            trained.statistics,
            tmp_path / "m",
            label="species",
            hparams={"epoch": 3},
        )


def test_regression_on_a_text_label_is_refused(trained: Trained, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="label column 'species' holds string values; a regression"):
        train(
            trained.examples,
            trained.schema,
            trained.statistics,
            tmp_path / "m",
            label="species",
            task="regression",
        )


@pytest.mark.parametrize(
    ("hparams", "message"),
    [
        ({"hidden_units": "ab"}, "hidden_units='ab': expected a list of whole numbers"),
        ({"epochs": 0}, "epochs=0: expected a whole number > 0"),
        ({"dropout": 1.5}, r"dropout=1.5: expected a number in \[0, 1\)"),
        ({"learning_rate": "fast"}, "learning_rate='fast': expected a number > 0"),
    ],
)
def test_bad_hyperparameters_are_named(hparams: dict, message: str) -> None:
    from mlrail.components.train.core import check_hparams

    with pytest.raises(ValueError, match=message):
        check_hparams(hparams)


def test_whole_floats_from_kfp_are_whole_numbers() -> None:
    from mlrail.components.train.core import check_hparams

    hp = check_hparams({"epochs": 5.0, "hidden_units": [8.0, 4.0], "learning_rate": 1.0})
    assert hp["epochs"] == 5 and hp["hidden_units"] == [8, 4] and hp["learning_rate"] == 1.0


def test_the_model_imputes_infinity_like_a_missing_number(trained: Trained) -> None:
    spec = ModelSpec.read(trained.model)
    base = {
        i.name: np.array([[45.0]], np.float32)
        if i.dtype == "float32"
        else np.array([["Biscoe"]], object)
        for i in spec.inputs
    }
    nan = {**base, "bill_length_mm": np.array([[np.nan]], np.float32)}
    inf = {**base, "bill_length_mm": np.array([[np.inf]], np.float32)}
    model = trained.model / "saved_model"
    np.testing.assert_allclose(predict_saved_model(model, inf), predict_saved_model(model, nan))
