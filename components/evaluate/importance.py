"""Permutation feature importance on the evaluated rows, with scikit-learn.

A feature's importance is how much the score drops when that feature's values are shuffled
between rows (breaking its link to the label while keeping its distribution): scikit-learn's
``permutation_importance`` with ``n_repeats`` shuffles per feature and a fixed ``random_state``,
so a run is reproducible. The score is accuracy for classification and R² for regression; each
feature is one model input (a column of the data), so a string column is shuffled as a whole.

Near zero: the model does not rely on the feature (on these rows). Negative: shuffling helped,
which happens by chance for an unused feature. At most ``max_rows`` rows are used (a random
sample beyond that) and each repeat predicts on them once per feature, so the cost is
``n_repeats * features`` predictions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlrail.artifacts.modelspec import CLASSIFICATION, ModelSpec

__all__ = ["Importance", "permutation_feature_importance"]


@dataclass(frozen=True)
class Importance:
    """Permutation importances, most important first.

    Attributes:
        scoring: The score whose drop is measured (``accuracy`` or ``r2``).
        n_repeats: Shuffles per feature.
        rows: Rows used.
        features: ``(column, mean drop, standard deviation)`` per feature.
    """

    scoring: str
    n_repeats: int
    rows: int
    features: list[tuple[str, float, float]]


def _estimator(spec: ModelSpec, predict: Callable[[dict[str, np.ndarray]], np.ndarray]) -> Any:
    """The least of a scikit-learn estimator around ``predict``: rows of raw feature values (one
    object column per model input) in, the predicted class or value out. Built here so that
    scikit-learn is imported only when importance is computed."""
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

    classify = spec.task in CLASSIFICATION
    mixin: type = ClassifierMixin if classify else RegressorMixin

    class Model(mixin, BaseEstimator):
        classes_ = np.arange(len(spec.classes))  # class indices, as predict returns them

        def fit(self, X: Any, y: Any) -> Any:  # noqa: N803 (scikit-learn's names)
            return self  # already trained; permutation_importance needs a fitted estimator

        def __sklearn_is_fitted__(self) -> bool:
            return True

        def predict(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
            features = {}
            for j, i in enumerate(spec.inputs):
                col = X[:, j]
                dtype = {"float32": np.float32, "datetime": np.float64}.get(i.dtype, object)
                typed = col.astype(dtype)
                features[i.name] = typed.reshape(-1, 1)
            out = predict(features)
            return out.argmax(axis=1) if classify else out.reshape(-1)

    return Model()


def permutation_feature_importance(
    spec: ModelSpec,
    predict: Callable[[dict[str, np.ndarray]], np.ndarray],
    features: dict[str, np.ndarray],
    y: np.ndarray,
    *,
    n_repeats: int = 5,
    random_state: int = 0,
    max_rows: int = 5000,
) -> Importance:
    """Permutation importance of each model input on ``features`` (``ModelSpec.features``)."""
    from sklearn.inspection import permutation_importance

    X = np.empty((len(y), len(spec.inputs)), dtype=object)  # noqa: N806
    for j, i in enumerate(spec.inputs):
        X[:, j] = features[i.name].reshape(-1)
    scoring = "accuracy" if spec.task in CLASSIFICATION else "r2"
    rows = min(len(y), max_rows)
    result = permutation_importance(
        _estimator(spec, predict),
        X,
        y,
        scoring=scoring,
        n_repeats=n_repeats,
        random_state=random_state,
        max_samples=rows if rows < len(y) else 1.0,
    )
    ranked = sorted(
        (
            (i.column, float(m), float(s))
            for i, m, s in zip(
                spec.inputs, result.importances_mean, result.importances_std, strict=True
            )
        ),
        key=lambda t: (-t[1], t[0]),
    )
    return Importance(scoring, n_repeats, rows, ranked)
