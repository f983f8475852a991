from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from mlrail.artifacts.modelspec import ModelSpec, tf_inputs
from mlrail.artifacts.saved_model import predict_saved_model
from mlrail.components.train.core import train
from mlrail.components.train.task import infer_task
from mlrail.errors import DataError
from tests.components.train._data import prepared as _prepared
from tests.components.train._data import splits
from tests.helpers import Trained


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


def test_rows_without_a_label_are_dropped_counted_and_reported(tmp_path: Path) -> None:
    from tests.components.train._protos import write_splits

    def table(n: int) -> pa.Table:
        return pa.table({"x": [float(i) for i in range(n)], "y": ["a", "b", None] * (n // 3)})

    p = write_splits(tmp_path, table(60), table(30))
    result = train(
        p["examples"], p["schema"], p["statistics"], p["model"], label="y", hparams={"epochs": 1}
    )
    assert (result.rows, result.dropped_unlabelled) == (40, 20)
    assert (result.eval_rows, result.eval_dropped_unlabelled) == (20, 10)
    metrics = result.metrics()
    assert (metrics["dropped_unlabelled"], metrics["eval_dropped_unlabelled"]) == (20.0, 10.0)
    report = json.loads((p["model"] / "training.json").read_text())
    assert {k: report[k] for k in ("rows", "dropped_unlabelled", "eval_rows")} == {
        "rows": 40,
        "dropped_unlabelled": 20,
        "eval_rows": 20,
    }
    assert report["eval_dropped_unlabelled"] == 10 and report["epochs"] == 1
    assert report["workers"] == 1  # no multi-worker strategy


@pytest.mark.parametrize(
    ("table", "label", "message"),
    [
        (pa.table({"x": [1.0, 2.0] * 10, "y": ["a"] * 20}), "y", "single class 'a'"),
        (pa.table({"x": [1.0, 2.0] * 10, "y": ["a", "b"] * 10}), "nope", "label column 'nope'"),
        (pa.table({"y": ["a", "b"] * 10}), "y", "no feature columns"),
        (pa.table({"n": pa.nulls(20), "y": ["a", "b"] * 10}), "y", "no feature columns"),
        (pa.table({"x": [1.0, 2.0] * 10, "y": pa.nulls(20)}), "y", "label column 'y' has no val"),
    ],
)
def test_bad_training_input(tmp_path: Path, table: pa.Table, label: str, message: str) -> None:
    p = splits(tmp_path, table, table)
    with pytest.raises(DataError, match=message):
        train(p["examples"], p["schema"], p["statistics"], p["model"], label=label)
    assert not p["model"].exists()


def test_an_eval_class_train_lacks_is_named(tmp_path: Path) -> None:
    train_rows = pa.table({"x": [1.0, 2.0] * 10, "y": ["a", "b"] * 10})
    eval_rows = pa.table({"x": [1.0, 2.0, 3.0], "y": ["a", "b", "c"]})
    p = splits(tmp_path, train_rows, eval_rows)
    with pytest.raises(DataError, match=r"eval: label column 'y' has class\(es\) the train .*'c'"):
        train(p["examples"], p["schema"], p["statistics"], p["model"], label="y")


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
        ({"learning_rate": float("nan")}, "learning_rate=nan: expected a number > 0"),
        ({"batch_size": 2.5}, "batch_size=2.5: expected a whole number > 0"),
        ({"hidden_units": [8, 0]}, r"hidden_units=\[8, 0\]: expected a list"),
        ({"seed": True}, "seed=True: expected a whole number"),
        (
            {"early_stopping_patience": -1},
            "early_stopping_patience=-1: expected a whole number >= 0",
        ),
        ({"class_weights": "balance"}, "class_weights='balance': expected null, \"balanced\" or"),
        ({"class_weights": {"a": 0}}, "class_weights={'a': 0}: expected"),
        ({"class_weights": {"a": "x"}}, "class_weights={'a': 'x'}: expected"),
        ({"class_weights": [1, 2]}, r"class_weights=\[1, 2\]: expected"),
        ({"class_weights": {}}, "class_weights={}: expected"),
    ],
)
def test_bad_hyperparameters_are_named(hparams: dict, message: str) -> None:
    from mlrail.components.train.hparams import check_hparams

    with pytest.raises(ValueError, match=message):
        check_hparams(hparams)


def test_whole_floats_from_kfp_are_whole_numbers() -> None:
    from mlrail.components.train.hparams import check_hparams

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
    name = next(i.name for i in spec.inputs if i.column == "bill_length_mm")
    nan = {**base, name: np.array([[np.nan]], np.float32)}
    inf = {**base, name: np.array([[np.inf]], np.float32)}
    model = trained.model / "saved_model"
    np.testing.assert_allclose(predict_saved_model(model, inf), predict_saved_model(model, nan))


def test_every_hyperparameter_has_a_check() -> None:
    from mlrail.components.train.hparams import _HPARAM_CHECKS, DEFAULT_HPARAMS, check_hparams

    assert set(_HPARAM_CHECKS) == set(DEFAULT_HPARAMS)
    assert check_hparams({}) == DEFAULT_HPARAMS
    assert check_hparams({"class_weights": {"a": 2}})["class_weights"] == {"a": 2}


def test_balanced_class_weights_are_scikit_learns() -> None:
    from sklearn.utils.class_weight import compute_class_weight

    from mlrail.components.train.hparams import class_weight_vector

    counts = {"a": 90, "b": 9, "c": 1}
    y = np.repeat([0, 1, 2], [90, 9, 1])
    want = compute_class_weight("balanced", classes=np.arange(3), y=y)
    got = class_weight_vector("balanced", ["a", "b", "c"], counts)
    assert got is not None
    np.testing.assert_allclose(got, want, rtol=1e-6)
    given = class_weight_vector({"c": 5.0}, ["a", "b", "c"], counts)
    assert given is not None and given.tolist() == [1.0, 1.0, 5.0]
    assert class_weight_vector(None, ["a", "b"], {"a": 1, "b": 1}) is None
    with pytest.raises(ValueError, match="class_weights: 'z' not among the classes"):
        class_weight_vector({"z": 2.0}, ["a", "b", "c"], counts)


def _imbalanced(n: int, seed: int) -> pa.Table:
    """Features that say nothing about the label; 9 in 10 rows are 'common'."""
    rng = np.random.default_rng(seed)
    return pa.table({"x": rng.normal(size=n), "y": np.where(rng.random(n) < 0.9, "common", "rare")})


def test_balanced_class_weights_weigh_the_rare_class_up(tmp_path: Path) -> None:
    """With nothing to learn from, a model learns the class shares it is weighted to see: about
    0.1 for the rare class unweighted, about 0.5 balanced (each class weighs the same)."""
    p = splits(tmp_path, _imbalanced(400, 0), _imbalanced(100, 1))
    hp = {"epochs": 15, "learning_rate": 0.05, "hidden_units": [], "early_stopping_patience": 0}
    rare: dict[str, float] = {}
    for weights in (None, "balanced"):
        out = tmp_path / f"m-{weights}"
        result = train(
            p["examples"], p["schema"], p["statistics"], out, label="y",
            hparams={**hp, "class_weights": weights},
        )  # fmt: skip
        pred = predict_saved_model(out / "saved_model", {"in_x": np.zeros((1, 1), np.float32)})
        rare[str(weights)] = float(pred[0, result.spec.classes.index("rare")])
    assert rare["None"] < 0.25 and rare["balanced"] > 0.4


def test_class_weights_need_a_classifier(tmp_path: Path) -> None:
    table = pa.table({"x": [float(i) for i in range(40)], "y": [i * 0.5 for i in range(40)]})
    p = splits(tmp_path, table, table)
    with pytest.raises(ValueError, match="class_weights: only for classification"):
        train(
            p["examples"], p["schema"], p["statistics"], p["model"], label="y",
            hparams={"class_weights": "balanced"},
        )  # fmt: skip


def _noise(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {"a": rng.normal(size=n), "b": rng.normal(size=n), "y": rng.choice(["p", "q"], n)}
    )


def test_early_stopping_keeps_the_weights_of_the_lowest_eval_loss(tmp_path: Path) -> None:
    """Random labels: the network memorises train and the eval loss climbs, so training stops
    early and the saved model is the one of the best epoch, not the last."""
    p = splits(tmp_path, _noise(80, 0), _noise(80, 1))
    result = train(
        p["examples"], p["schema"], p["statistics"], p["model"], label="y",
        hparams={"epochs": 60, "learning_rate": 0.05, "hidden_units": [64, 64],
                 "early_stopping_patience": 3},
    )  # fmt: skip
    val = result.history["val_loss"]
    assert result.stopped_early and len(val) < 60
    best = int(np.argmin(val))
    assert result.best_epoch == best + 1 and len(val) == result.best_epoch + 3
    assert val[-1] - val[best] > 1e-3  # the last epoch's weights would be measurably worse

    spec = ModelSpec.read(p["model"])
    table = pa.concat_tables([pq_read(p["examples"] / "eval")])
    prob = predict_saved_model(p["model"] / "saved_model", spec.features(table, "eval"))
    y, _ = spec.labels(table, "eval")
    eval_loss = float(np.mean(-np.log(np.clip(prob[np.arange(len(y)), y], 1e-7, 1))))
    assert eval_loss == pytest.approx(val[best], rel=1e-4)
    assert result.metrics()["eval_loss"] == pytest.approx(val[best])


def pq_read(folder: Path) -> pa.Table:
    from mlrail.artifacts.examples import read_split

    return read_split(folder)


def test_two_runs_with_one_seed_give_the_same_metrics_and_weights(tmp_path: Path) -> None:
    p = splits(tmp_path, _mixed_small(300, 0), _mixed_small(100, 1))
    hp = {"epochs": 4, "seed": 3, "dropout": 0.2, "early_stopping_patience": 2}
    runs = [
        train(
            p["examples"], p["schema"], p["statistics"], tmp_path / f"m{k}", label="y", hparams=hp
        )
        for k in range(2)
    ]
    a, b = (r.history for r in runs)
    assert a.keys() == b.keys() and "val_loss" in a
    diff = max(abs(x - y) for k in a for x, y in zip(a[k], b[k], strict=True))
    assert diff <= 1e-6
    import keras

    w = [keras.models.load_model(tmp_path / f"m{k}" / "model.keras").get_weights() for k in (0, 1)]
    assert all(np.array_equal(x, y) for x, y in zip(*w, strict=True))
    other = train(
        p["examples"], p["schema"], p["statistics"], tmp_path / "m2", label="y",
        hparams={**hp, "seed": 4},
    )  # fmt: skip
    assert other.history["loss"] != a["loss"]  # the seed is what made them equal


def test_op_determinism_is_scoped_to_training(tmp_path: Path) -> None:
    from tensorflow.python.framework import config as tf_config

    p = splits(tmp_path, _mixed_small(60, 0), _mixed_small(20, 1))
    assert not tf_config.is_op_determinism_enabled()
    train(p["examples"], p["schema"], p["statistics"], p["model"], label="y", hparams={"epochs": 1})
    assert not tf_config.is_op_determinism_enabled()


def _mixed_small(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    c = rng.choice(["u", "v", "w"], n)
    return pa.table({"x": x, "c": c, "y": np.where((x > 0) ^ (c == "u"), "yes", "no")})


def test_outputs_curves_tensorboard_metrics_and_one_log_line_per_epoch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import xml.etree.ElementTree as ET

    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    p = splits(tmp_path, _mixed_small(200, 0), _mixed_small(60, 1))
    with caplog.at_level("INFO", logger="mlrail.components.train"):
        result = train(
            p["examples"], p["schema"], p["statistics"], p["model"], label="y",
            hparams={"epochs": 3, "early_stopping_patience": 0},
            curves_file=tmp_path / "curves.html", tensorboard_dir=tmp_path / "tb",
        )  # fmt: skip
    h = result.history
    assert set(h) == {"loss", "accuracy", "val_loss", "val_accuracy"} and len(h["loss"]) == 3

    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch ")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert f"val_loss {h['val_loss'][2]:.4g}" in lines[2]

    assert result.best_epoch == 3 and not result.stopped_early
    m = result.metrics()
    assert m["train_loss"] == h["loss"][2] and m["eval_accuracy"] == h["val_accuracy"][2]
    assert (m["epochs"], m["best_epoch"], m["rows"], m["eval_rows"]) == (3, 3, 200, 60)
    assert ModelSpec.read(p["model"]) == result.spec
    assert (p["model"] / "history.json").is_file()

    page = (tmp_path / "curves.html").read_text()
    ET.fromstring(page.split("\n", 1)[1])  # well-formed after the doctype
    assert page.count("<svg") == 2 and "<script" not in page and "http" not in page
    assert 0 < page.index("<h2>loss</h2>") < page.index("<h2>accuracy</h2>")  # loss first
    assert "<th>eval, epoch 3</th>" in page

    scalars: dict[tuple[str, str], list[float]] = {}
    for run in ("train", "validation"):
        files = list((tmp_path / "tb" / run).glob("events.out.tfevents.*"))
        assert len(files) == 1
        for record in tf.data.TFRecordDataset([str(f) for f in files]):
            event = event_pb2.Event.FromString(record.numpy())
            for v in event.summary.value:
                assert v.metadata.plugin_data.plugin_name == "scalars"
                scalars.setdefault((run, v.tag), []).append(float(tf.make_ndarray(v.tensor)))
    np.testing.assert_allclose(scalars[("train", "epoch_loss")], h["loss"], rtol=1e-6)
    np.testing.assert_allclose(scalars[("validation", "epoch_accuracy")], h["val_accuracy"])


def test_without_eval_rows_training_runs_without_early_stopping(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    table = _mixed_small(100, 0)
    p = splits(tmp_path, table, table.slice(0, 0))
    result = train(
        p["examples"], p["schema"], p["statistics"], p["model"], label="y", hparams={"epochs": 2}
    )
    assert "val_loss" not in result.history and result.best_epoch == 2
    assert "no labelled eval rows; no eval loss and no early stopping" in caplog.text


def test_boolean_and_many_integer_labels_are_classes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=90)
    booleans = pa.table(
        {"x": x, "y": pa.array([bool(v > 0) if i % 9 else None for i, v in enumerate(x)])}
    )
    p = splits(tmp_path / "b", booleans, booleans)
    result = train(
        p["examples"], p["schema"], p["statistics"], p["model"], label="y", hparams={"epochs": 1}
    )
    assert (result.spec.task, result.spec.classes, result.rows) == ("binary", ["False", "True"], 80)

    many = pa.table({"x": x, "y": np.arange(90) % 30})
    p = splits(tmp_path / "i", many, many)
    assert infer_task(many, "y", "t") == "regression"  # more than 20 values: a number
    result = train(
        p["examples"], p["schema"], p["statistics"], p["model"], label="y", task="multiclass",
        hparams={"epochs": 1},
    )  # fmt: skip
    assert result.spec.classes == sorted(str(v) for v in range(30))
    with pytest.raises(
        DataError, match="fractional numbers or more than 100000 values; not classes"
    ):
        frac = pa.table({"x": x, "y": x})
        q = splits(tmp_path / "f", frac, frac)
        train(q["examples"], q["schema"], q["statistics"], q["model"], label="y", task="binary")


def test_training_streamed_from_many_row_groups_is_reproducible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The path for data larger than memory (no split held in memory), end to end."""
    from mlrail.artifacts.examples import open_split
    from mlrail.components.train import data

    monkeypatch.setattr(data, "CACHE_BYTES", 0)
    monkeypatch.setattr(data, "SHUFFLE_ROWS", 64)
    parts = [_mixed_small(150, k) for k in range(3)]
    p = splits(tmp_path, parts, _mixed_small(90, 9), row_group_size=40)
    assert len(open_split(p["examples"] / "train").chunks()) == 12
    hp = {"epochs": 3, "batch_size": 16, "early_stopping_patience": 0}
    runs = [
        train(
            p["examples"], p["schema"], p["statistics"], tmp_path / f"m{k}", label="y", hparams=hp
        )
        for k in range(2)
    ]
    assert runs[0].rows == 450 and runs[0].eval_rows == 90
    assert runs[0].history == runs[1].history
    assert runs[0].history["val_accuracy"][-1] > 0.6  # it learns through the stream


def test_decimal_dictionary_and_large_string_columns_train_and_label(tmp_path: Path) -> None:
    """Arrow types a Parquet file may hold, as inputs and as the label (dictionary, decimal)."""
    from decimal import Decimal

    from tests.components.train._protos import write_splits

    def table(n: int, label: str) -> pa.Table:
        price = pa.array([Decimal(f"{i % 7}.25") for i in range(n)], pa.decimal128(8, 2))
        colour = pa.array(["red", "blue"] * (n // 2)).dictionary_encode()
        labels = {
            "dict": pa.array(["a", "b", "b"] * (n // 3)).dictionary_encode(),
            "decimal": pa.array([Decimal(i % 2) for i in range(n)], pa.decimal128(4, 0)),
        }[label]
        return pa.table(
            {
                "price": price,
                "colour": colour,
                "text": pa.array(["x", "y", "z"] * (n // 3), pa.large_string()),
                "y": labels,
            }
        )

    for label, classes in (("dict", ["a", "b"]), ("decimal", ["0", "1"])):
        p = write_splits(tmp_path / label, table(60, label), table(30, label))
        result = train(
            p["examples"], p["schema"], p["statistics"], p["model"], label="y",
            hparams={"epochs": 1},
        )  # fmt: skip
        assert result.spec.classes == classes and result.rows == 60
        assert {i.column: i.dtype for i in result.spec.inputs} == {
            "price": "float32",
            "colour": "string",
            "text": "string",
        }


def test_a_strategy_builds_compiles_and_fits_the_model(tmp_path: Path) -> None:
    import tensorflow as tf

    p = splits(tmp_path, _mixed_small(300, 0), _mixed_small(100, 1))
    # a module reports what train hands it: the strategy in scope, the model's, the dataset's
    module = tmp_path / "probe.py"
    module.write_text(
        textwrap.dedent(
            f"""
            import json
            import tensorflow as tf
            from mlrail.components.train.model import default_model
            seen = {{}}

            def build_model(schema, statistics, hparams):
                seen["in_scope"] = type(tf.distribute.get_strategy()).__name__
                return default_model(schema, statistics, hparams)

            def train(model, train_dataset, eval_dataset, hparams, callbacks):
                seen["model"] = type(model.distribute_strategy).__name__
                seen["variable"] = type(model.trainable_variables[0].value).__name__
                seen["dataset"] = isinstance(train_dataset, tf.distribute.DistributedDataset)
                model.fit(train_dataset, validation_data=eval_dataset, epochs=2,
                          callbacks=callbacks, verbose=0, shuffle=False)
                with open({str(tmp_path / "seen.json")!r}, "w") as f:
                    json.dump(seen, f)
            """
        )
    )
    hp = {"epochs": 2, "seed": 3, "early_stopping_patience": 0}
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    result = train(
        p["examples"], p["schema"], p["statistics"], p["model"], label="y", hparams=hp,
        module_file=str(module), strategy=strategy,
    )  # fmt: skip
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen == {
        "in_scope": "MirroredStrategy",
        "model": "MirroredStrategy",
        "variable": "MirroredVariable",
        "dataset": True,
    }
    assert len(result.history["val_loss"]) == 2
    # the default model and loop under a strategy learn as they do without one
    plain = train(
        p["examples"], p["schema"], p["statistics"], tmp_path / "a", label="y",
        hparams={**hp, "epochs": 4},
    )  # fmt: skip
    mirrored = train(
        p["examples"], p["schema"], p["statistics"], tmp_path / "b", label="y",
        hparams={**hp, "epochs": 4}, strategy=strategy,
    )  # fmt: skip
    # not equal: Keras draws one batch more from a distributed dataset to build the model,
    # which moves the reshuffled order of every epoch by one
    first, last = mirrored.history["val_loss"][0], mirrored.history["val_loss"][-1]
    assert last < 0.5 * first and last < 1.5 * plain.history["val_loss"][-1]


def test_the_strategy_needs_a_batch_that_divides_over_its_replicas(tmp_path: Path) -> None:
    import tensorflow as tf

    class TwoReplicas(tf.distribute.Strategy):  # only what the check reads
        def __init__(self) -> None:
            self._s = tf.distribute.get_strategy()

        num_replicas_in_sync = 2

        def scope(self):  # type: ignore[no-untyped-def]
            return self._s.scope()

    p = splits(tmp_path, _mixed_small(60, 0), _mixed_small(20, 1))
    with pytest.raises(ValueError, match=r"batch_size=33: must divide by the strategy's 2"):
        train(
            p["examples"], p["schema"], p["statistics"], p["model"], label="y",
            hparams={"epochs": 1, "batch_size": 33}, strategy=TwoReplicas(),
        )  # fmt: skip
