"""train: a Keras 3 model built from the schema and statistics, preprocessing inside the model.

Numbers are imputed (NaN → the train mean) and normalised with the statistics' mean and
standard deviation; strings go through a StringLookup whose vocabulary is the schema's domain (or
the statistics' most frequent values). The exported model therefore takes raw feature values, so
training and serving cannot drift apart through a separate transform.

Output layout of the ``model`` artifact::

    model/
      saved_model/        Keras ``model.export`` (TF SavedModel, signature ``serve``)
      model.keras         the Keras model (custom layers registered under "mlrail>")
      model_spec.json     inputs, output, task, label and classes (mlrail.modelspec)
      history.json        per-epoch loss and metrics
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mlrail.components.validate.core import load_schema, load_statistics
from mlrail.errors import DataError
from mlrail.io import atomic_dir, atomic_write_json
from mlrail.modelspec import (
    CLASSIFICATION,
    TASKS,
    InputSpec,
    ModelSpec,
    class_key,
    input_name,
    read_split,
    tf_inputs,
)

__all__ = ["DEFAULT_HPARAMS", "TrainResult", "check_hparams", "infer_task", "train"]

log = logging.getLogger(__name__)

DEFAULT_HPARAMS: dict[str, Any] = {
    "epochs": 60,
    "batch_size": 32,
    "learning_rate": 0.01,
    "hidden_units": [32, 16],
    "dropout": 0.0,
    "seed": 42,
}
#: Above this many categories a string feature is embedded instead of one-hot encoded.
_ONE_HOT_MAX = 50
_MAX_CLASSES = 20


@dataclass(frozen=True)
class TrainResult:
    spec: ModelSpec
    history: dict[str, list[float]]
    rows: int
    dropped_unlabelled: int


def _is_number_type(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_HPARAM_CHECKS: dict[str, tuple[Any, str]] = {
    "epochs": (_positive_int, "a whole number > 0"),
    "batch_size": (_positive_int, "a whole number > 0"),
    "learning_rate": (lambda v: _number(v) and v > 0, "a number > 0"),
    "hidden_units": (
        lambda v: isinstance(v, list) and all(_positive_int(u) for u in v),
        "a list of whole numbers > 0, e.g. [32, 16]",
    ),
    "dropout": (lambda v: _number(v) and 0 <= v < 1, "a number in [0, 1)"),
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
}


def check_hparams(hparams: dict[str, Any] | None) -> dict[str, Any]:
    """The defaults overlaid with ``hparams``, each checked; a clear error names a bad one.

    Whole numbers may arrive as floats (KFP passes JSON numbers as floats); they are accepted
    when they are integral.
    """

    def whole(v: Any) -> Any:
        return int(v) if isinstance(v, float) and v.is_integer() else v

    given: dict[str, Any] = {}
    for k, v in (hparams or {}).items():
        if isinstance(v, list):
            given[k] = [whole(u) for u in v]
        else:
            given[k] = v if k in ("learning_rate", "dropout") else whole(v)
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


def infer_task(table: pa.Table, label: str, where: str) -> str:
    """binary / multiclass for strings, booleans and integers with few values; else regression."""
    if label not in table.column_names:
        raise DataError(
            f"{where}: label column {label!r} is not in the data "
            f"(columns: {', '.join(table.column_names)})"
        )
    col = table.column(label)
    values = {class_key(v) for v in col.drop_null().to_pylist()}
    if not values:
        raise DataError(f"{where}: label column {label!r} has no values")
    if pa.types.is_floating(col.type) and not all(float(v).is_integer() for v in values):
        return "regression"
    if (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)) and len(
        values
    ) > _MAX_CLASSES:
        return "regression"
    return "binary" if len(values) == 2 else "multiclass"


def _spec(
    schema: Any, stats: Any, table: pa.Table, label: str, task: str, where: str
) -> tuple[ModelSpec, dict[str, Any]]:
    """The model's inputs and, per input, the preprocessing figures from the statistics."""
    train_stats = {d.name: d for d in stats.datasets}.get("train")
    if train_stats is None:
        raise DataError(f"{where}: the statistics have no 'train' split")
    by_name = {f.path.step[0]: f for f in train_stats.features}
    domains = {d.name: list(d.value) for d in schema.string_domain}
    inputs: list[InputSpec] = []
    prep: dict[str, Any] = {}
    used: set[str] = set()
    for feat in schema.feature:
        if feat.name == label:
            continue
        st = by_name.get(feat.name)
        if st is None:
            raise DataError(f"{where}: no statistics for schema feature {feat.name!r}")
        name = input_name(feat.name)
        while name in used:
            name += "_"
        used.add(name)
        if st.HasField("num_stats") and st.num_stats.common_stats.num_non_missing:
            n = st.num_stats
            inputs.append(InputSpec(name, feat.name, "float32"))
            prep[name] = {"mean": n.mean, "std": n.std_dev or 1.0}
        elif st.HasField("string_stats") and st.string_stats.common_stats.num_non_missing:
            vocab = domains.get(feat.domain) or sorted(
                b.label for b in st.string_stats.rank_histogram.buckets
            )
            inputs.append(InputSpec(name, feat.name, "string"))
            prep[name] = {"vocabulary": vocab}
        else:
            log.warning("column %r has no values in train; it is not a model input", feat.name)
    if not inputs:
        raise DataError(f"{where}: no feature columns besides the label {label!r}")
    classes: list[str] = []
    if task in CLASSIFICATION:
        classes = sorted({class_key(v) for v in table.column(label).drop_null().to_pylist()})
        if len(classes) < 2:
            raise DataError(
                f"{where}: label column {label!r} has a single class {classes[0]!r}; "
                "a classifier needs at least two"
            )
    output = "probabilities" if task in CLASSIFICATION else "predictions"
    return ModelSpec(task=task, label=label, inputs=inputs, output=output, classes=classes), prep


def _build(
    spec: ModelSpec, prep: dict[str, Any], hp: dict[str, Any], label_stats: tuple[float, float]
) -> Any:
    import keras

    from mlrail.components.train.layers import Impute

    inputs: dict[str, Any] = {}
    encoded = []
    # Numeric columns are joined first so that imputation and normalisation are one op each
    # over a [batch, k] tensor: the exported ONNX graph then has a handful of nodes instead of
    # a dozen per column, which is most of its batch-1 latency.
    numeric = [i for i in spec.inputs if i.dtype == "float32"]
    if numeric:
        columns = [
            inputs.setdefault(i.name, keras.Input(shape=(1,), name=i.name, dtype="float32"))
            for i in numeric
        ]
        x = keras.layers.Concatenate(name="numeric")(columns) if len(columns) > 1 else columns[0]
        means = [prep[i.name]["mean"] for i in numeric]
        x = Impute(means, name="impute")(x)
        variances = [prep[i.name]["std"] ** 2 for i in numeric]
        encoded.append(
            keras.layers.Normalization(mean=means, variance=variances, name="normalize")(x)
        )
    for i in spec.inputs:
        if i.dtype != "float32":
            x = inputs[i.name] = keras.Input(shape=(1,), name=i.name, dtype="string")
            vocab = prep[i.name]["vocabulary"]
            if len(vocab) <= _ONE_HOT_MAX:
                encoded.append(
                    keras.layers.StringLookup(
                        vocabulary=vocab, output_mode="one_hot", name=f"lookup_{i.name}"
                    )(x)
                )
            else:
                idx = keras.layers.StringLookup(vocabulary=vocab, name=f"lookup_{i.name}")(x)
                emb = keras.layers.Embedding(len(vocab) + 1, 8, name=f"embed_{i.name}")(idx)
                encoded.append(keras.layers.Flatten()(emb))
    h = keras.layers.Concatenate(name="features")(encoded) if len(encoded) > 1 else encoded[0]
    for k, units in enumerate(hp["hidden_units"]):
        h = keras.layers.Dense(int(units), activation="relu", name=f"dense_{k}")(h)
        if hp["dropout"]:
            h = keras.layers.Dropout(float(hp["dropout"]))(h)
    if spec.task in CLASSIFICATION:
        out = keras.layers.Dense(len(spec.classes), activation="softmax", name=spec.output)(h)
        loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
    else:
        mean, std = label_stats
        z = keras.layers.Dense(1, name="standardized")(h)
        out = keras.layers.Rescaling(scale=std, offset=mean, name=spec.output)(z)
        loss, metrics = "mse", ["mae"]
    model = keras.Model(inputs, out)
    model.compile(
        optimizer=keras.optimizers.Adam(float(hp["learning_rate"])), loss=loss, metrics=metrics
    )
    return model


def _dataset(features: dict[str, np.ndarray], y: np.ndarray, batch_size: int, seed: int) -> Any:
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((tf_inputs(features), y))
    return ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True).batch(batch_size)


def train(
    examples_dir: str | Path,
    schema_dir: str | Path,
    statistics_dir: str | Path,
    model_dir: str | Path,
    *,
    label: str,
    task: str = "auto",
    hparams: dict[str, Any] | None = None,
) -> TrainResult:
    """Train on the ``train`` split and write the model (layout in the module doc)."""
    hp = check_hparams(hparams)
    where = str(Path(examples_dir) / "train")
    table = read_split(where)
    if task == "auto":
        task = infer_task(table, label, where)
    elif task not in TASKS:
        raise ValueError(f"task {task!r}: expected auto, {', '.join(TASKS)}")
    elif label not in table.column_names:
        raise DataError(f"{where}: label column {label!r} is not in the data")
    elif task == "regression" and not _is_number_type(table.column(label).type):
        raise DataError(
            f"{where}: label column {label!r} holds {table.column(label).type} values; "
            "a regression label must be numbers"
        )
    spec, prep = _spec(
        load_schema(schema_dir), load_statistics(statistics_dir), table, label, task, where
    )
    y, mask = spec.labels(table, where)
    features = {k: v[mask] for k, v in spec.features(table, where).items()}
    y = y[mask]
    if len(y) < 2:
        raise DataError(f"{where}: {len(y)} labelled row(s); too few to train on")
    label_stats = (
        (float(np.mean(y)), float(np.std(y)) or 1.0) if task == "regression" else (0.0, 1.0)
    )

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(int(hp["seed"]))
    tf.config.experimental.enable_op_determinism()
    model = _build(spec, prep, hp, label_stats)
    history = model.fit(
        _dataset(features, y, int(hp["batch_size"]), int(hp["seed"])),
        epochs=int(hp["epochs"]),
        shuffle=False,  # the dataset shuffles, seeded
        verbose=2,
    ).history
    hist = {k: [float(x) for x in v] for k, v in history.items()}
    with atomic_dir(model_dir) as tmp:
        model.export(str(tmp / "saved_model"), format="tf_saved_model", verbose=False)
        model.save(tmp / "model.keras")
        spec.write(tmp)
        atomic_write_json(tmp / "history.json", hist)
    return TrainResult(spec=spec, history=hist, rows=len(y), dropped_unlabelled=int((~mask).sum()))
