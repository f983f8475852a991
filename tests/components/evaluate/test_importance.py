from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LinearRegression, LogisticRegression

from mlrail.artifacts.modelspec import InputSpec, ModelSpec
from mlrail.components.evaluate.core import evaluate
from mlrail.components.evaluate.importance import permutation_feature_importance
from tests.helpers import Trained


def _synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    signal, noise = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "blue"], size=n)
    # the label follows the signal and the colour; the noise column has nothing to do with it
    y = ((signal + np.where(colour == "red", 1.0, -1.0)) > 0).astype(np.int64)
    return signal, noise, colour, y


def _features(signal, noise, colour) -> dict[str, np.ndarray]:
    return {
        "signal": signal.astype(np.float32).reshape(-1, 1),
        "noise": noise.astype(np.float32).reshape(-1, 1),
        "colour": colour.astype(object).reshape(-1, 1),
    }


SPEC = ModelSpec(
    "binary",
    "y",
    [
        InputSpec("signal", "signal", "float32"),
        InputSpec("noise", "noise", "float32"),
        InputSpec("colour", "colour", "string"),
    ],
    "probabilities",
    ["0", "1"],
)


def _design(f: dict[str, np.ndarray]) -> np.ndarray:
    red = (f["colour"].reshape(-1) == "red").astype(float)
    return np.column_stack([f["signal"].reshape(-1), f["noise"].reshape(-1), red])


def test_a_noise_feature_ranks_below_informative_ones():
    # a real model that was shown the noise column and learnt a small weight for it
    signal, noise, colour, y = _synthetic(2000, seed=0)
    clf = LogisticRegression().fit(_design(_features(signal, noise, colour)), y)
    signal, noise, colour, y = _synthetic(400, seed=1)  # held-out rows

    def predict(f: dict[str, np.ndarray]) -> np.ndarray:
        return clf.predict_proba(_design(f))

    imp = permutation_feature_importance(SPEC, predict, _features(signal, noise, colour), y)
    ranked = [name for name, _, _ in imp.features]
    assert ranked[-1] == "noise"
    means = {name: mean for name, mean, _ in imp.features}
    assert means["signal"] > 0.1 and means["colour"] > 0.1  # a string column is shuffled too
    assert abs(means["noise"]) < 0.02
    assert (imp.scoring, imp.n_repeats, imp.rows) == ("accuracy", 5, 400)
    # a fixed random_state: the same figures every run
    again = permutation_feature_importance(SPEC, predict, _features(signal, noise, colour), y)
    assert again == imp


def test_regression_importance_is_the_drop_in_r2_and_rows_are_capped():
    rng = np.random.default_rng(2)
    x, noise = rng.normal(size=500), rng.normal(size=500)
    y = 3 * x + rng.normal(scale=0.1, size=500)
    spec = ModelSpec(
        "regression",
        "y",
        [InputSpec("x", "x", "float32"), InputSpec("noise", "noise", "float32")],
        "prediction",
    )
    reg = LinearRegression().fit(np.column_stack([x, noise]), y)

    def predict(f: dict[str, np.ndarray]) -> np.ndarray:
        return reg.predict(np.column_stack([f["x"].ravel(), f["noise"].ravel()])).reshape(-1, 1)

    features = {"x": x.reshape(-1, 1), "noise": noise.reshape(-1, 1)}
    imp = permutation_feature_importance(spec, predict, features, y, n_repeats=3, max_rows=200)
    assert imp.scoring == "r2" and imp.rows == 200 and imp.n_repeats == 3
    assert [n for n, _, _ in imp.features] == ["x", "noise"]
    assert imp.features[0][1] > 1.0  # shuffling x destroys the fit (r2 1 → about -1)


def test_penguins_importance_is_saved_most_important_first(
    trained: Trained, tmp_path: Path
) -> None:
    ev = evaluate(trained.model, trained.examples, tmp_path / "m.json", importance_repeats=2)
    assert ev.importance is not None
    saved = json.loads((tmp_path / "m.json").read_text())["feature_importance"]
    assert saved["scoring"] == "accuracy" and saved["n_repeats"] == 2
    means = [f["mean"] for f in saved["features"]]
    assert means == sorted(means, reverse=True)
    assert {f["feature"] for f in saved["features"]} == {
        "island",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex",
        "year",
    }
    assert means[0] > 0  # the model relies on some feature
