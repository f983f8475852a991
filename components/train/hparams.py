"""train's hyperparameters: the defaults, their checks, and the class weights they ask for."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "AUTO",
    "DEFAULT_HPARAMS",
    "auto_batch_size",
    "auto_patience",
    "check_hparams",
    "class_weight_vector",
    "resolve_hparams",
]

#: The value of ``batch_size`` and ``early_stopping_patience`` that train chooses from the rows.
AUTO = "auto"

DEFAULT_HPARAMS: dict[str, Any] = {
    "epochs": 60,
    "batch_size": AUTO,
    "learning_rate": 0.01,
    "hidden_units": [32, 16],
    "dropout": 0.0,
    "class_weights": None,
    "early_stopping_patience": AUTO,
    "seed": 42,
}


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _class_weights_ok(v: Any) -> bool:
    if v is None or v == "balanced":
        return True
    return (
        isinstance(v, dict)
        and bool(v)
        and all(isinstance(k, str) and _number(w) and w > 0 for k, w in v.items())
    )


_HPARAM_CHECKS: dict[str, tuple[Any, str]] = {
    "epochs": (_positive_int, "a whole number > 0"),
    "batch_size": (lambda v: v == AUTO or _positive_int(v), 'a whole number > 0 or "auto"'),
    "learning_rate": (lambda v: _number(v) and v > 0, "a number > 0"),
    "hidden_units": (
        lambda v: isinstance(v, list) and all(_positive_int(u) for u in v),
        "a list of whole numbers > 0 (the hidden layers' sizes), e.g. [32, 16]",
    ),
    "dropout": (lambda v: _number(v) and 0 <= v < 1, "a number in [0, 1)"),
    "class_weights": (
        _class_weights_ok,
        'null, "balanced" or a {class: weight > 0} mapping, e.g. {"Chinstrap": 2.0}',
    ),
    "early_stopping_patience": (
        lambda v: v == AUTO or (isinstance(v, int) and not isinstance(v, bool) and v >= 0),
        "a whole number >= 0 (epochs without a lower eval loss before stopping; 0: never stop) "
        'or "auto"',
    ),
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
}


def check_hparams(hparams: dict[str, Any] | None) -> dict[str, Any]:
    """The defaults overlaid with ``hparams``, each checked; a clear error names a bad one.

    Keys: ``epochs``; ``batch_size`` (``"auto"``: chosen from the train split's rows by
    :func:`resolve_hparams`); ``learning_rate`` (Adam's, for a model train compiles);
    ``hidden_units`` (the default model's hidden layer sizes); ``dropout`` (after each hidden
    layer); ``class_weights`` (``None``, ``"balanced"`` — scikit-learn's ``n / (k * n_c)`` —
    or ``{class: weight}``, missing classes weighing 1); ``early_stopping_patience`` (epochs
    without a lower eval loss before stopping, the best epoch's weights restored; 0: off;
    ``"auto"``: chosen from the rows);
    ``seed``. Whole numbers may arrive as floats (KFP passes JSON numbers as floats); they are
    accepted when they are integral.

    Raises:
        ValueError: naming the unknown or the bad hyperparameter and what was expected.
    """

    def whole(v: Any) -> Any:
        return int(v) if isinstance(v, float) and v.is_integer() else v

    given: dict[str, Any] = {}
    for k, v in (hparams or {}).items():
        if isinstance(v, list):
            given[k] = [whole(u) for u in v]
        else:
            given[k] = v if k in ("learning_rate", "dropout", "class_weights") else whole(v)
    unknown = set(given) - set(DEFAULT_HPARAMS)
    if unknown:
        raise ValueError(
            f"unknown hyperparameter(s): {', '.join(sorted(unknown))} "
            f"(known: {', '.join(DEFAULT_HPARAMS)})"
        )
    for name, value in given.items():
        ok, expected = _HPARAM_CHECKS[name]
        if not ok(value):
            raise ValueError(f"hyperparameter {name}={value!r}: expected {expected}")
    return {**DEFAULT_HPARAMS, **given}


#: The smallest automatic batch: small data trains as it always did.
_MIN_BATCH = 32
#: The largest automatic batch (past 16M rows an epoch has more than 4,000 steps again).
_MAX_BATCH = 4096
#: An automatic batch leaves an epoch at least this many steps (until ``_MAX_BATCH``).
_EPOCH_STEPS = 500
#: The automatic patience up to this many rows, then shrinking as the eval loss' noise does.
_PATIENCE, _PATIENCE_ROWS, _MIN_PATIENCE = 10, 100_000, 2


def auto_batch_size(rows: int) -> int:
    """The batch for ``rows`` train rows: the largest power of two that leaves an epoch at
    least 500 steps, between 32 (up to 31,999 rows) and 4,096 (from 2,048,000 rows).

    A batch of 32 on 800,000 rows is 25,000 steps an epoch, each a round trip through the
    model for 32 rows; at 1,024 an epoch is 781 steps, with as many updates as a model of this
    size needs to converge in a few epochs (``bench/bench_train.py --defaults`` measures it).
    """
    batch = _MIN_BATCH
    while batch * 2 <= _MAX_BATCH and rows // (batch * 2) >= _EPOCH_STEPS:
        batch *= 2
    return batch


def auto_patience(rows: int) -> int:
    """Epochs without a lower eval loss before early stopping, for ``rows`` train rows: 10 up
    to 100,000 rows, then ``10 * sqrt(100,000 / rows)`` rounded, at least 2 (4 at 800,000).

    The eval split grows with the train split, so its loss' noise shrinks with the square
    root of the rows while each epoch holds more updates: on large data an epoch without a
    lower eval loss says more, and each costs more.
    """
    if rows <= _PATIENCE_ROWS:
        return _PATIENCE
    return max(_MIN_PATIENCE, round(_PATIENCE * math.sqrt(_PATIENCE_ROWS / rows)))


def resolve_hparams(
    hp: dict[str, Any], rows: int, replicas: int = 1
) -> tuple[dict[str, Any], list[str]]:
    """``hp`` (from :func:`check_hparams`) with ``"auto"`` values chosen for ``rows`` train rows,
    and the names of those chosen (an explicit value is kept as it is).

    ``batch_size`` is :func:`auto_batch_size`, rounded up to a multiple of ``replicas`` (the
    global batch of a distribution strategy divides over its replicas);
    ``early_stopping_patience`` is :func:`auto_patience`.
    """
    out = dict(hp)
    chosen = []
    if out["batch_size"] == AUTO:
        batch = auto_batch_size(rows)
        out["batch_size"] = -(-batch // replicas) * replicas
        chosen.append("batch_size")
    if out["early_stopping_patience"] == AUTO:
        out["early_stopping_patience"] = auto_patience(rows)
        chosen.append("early_stopping_patience")
    return out, chosen


def class_weight_vector(
    class_weights: str | dict[str, float] | None, classes: list[str], counts: dict[str, int]
) -> np.ndarray | None:
    """Per class index, the weight of its rows; ``None`` when every row weighs 1.

    ``"balanced"`` is scikit-learn's ``compute_class_weight("balanced")`` over the train
    split's class counts (computed from the counts, so the labels are never held in memory).

    Raises:
        ValueError: naming classes of a ``{class: weight}`` mapping the label does not have.
    """
    if class_weights is None:
        return None
    if class_weights == "balanced":
        from sklearn.utils.class_weight import compute_class_weight

        index = np.arange(len(classes))
        n = np.array([counts[c] for c in classes], dtype=np.float64)
        # one sample per class weighted by its count is the same as the full label column
        return np.asarray(
            compute_class_weight("balanced", classes=index, y=index, sample_weight=n),
            dtype=np.float32,
        )
    assert isinstance(class_weights, dict)
    unknown = sorted(set(class_weights) - set(classes))
    if unknown:
        raise ValueError(
            f"hyperparameter class_weights: {', '.join(map(repr, unknown))} "
            f"not among the classes ({', '.join(map(repr, classes))})"
        )
    return np.array([float(class_weights.get(c, 1.0)) for c in classes], dtype=np.float32)
