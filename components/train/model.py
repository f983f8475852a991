"""The model contract and the default model, from the schema and statistics alone.

A user module's ``build_model(schema, statistics, hparams)`` (see
:mod:`mlrail.components.train.user_module`) and the default model read the same two protos, and
these helpers turn them into Keras inputs, so a user's model takes exactly the inputs the rest of
mlrail (evaluate, export_onnx, the server) sends::

    from mlrail.components.train import default_features, model_spec

    def build_model(schema, statistics, hparams):
        spec = model_spec(schema, statistics)            # inputs, task, label, classes
        inputs, x = default_features(schema, statistics)  # raw inputs -> preprocessed [batch, n]
        x = keras.layers.Dense(64, activation="relu")(x)
        out = keras.layers.Dense(len(spec.classes), activation="softmax")(x)
        return keras.Model(inputs, out)

The schema train hands over is validate's, prepared the TFX way (:func:`prepare_schema`): the
label is the one feature not in the ``SERVING`` environment and, for a classifier, its string
domain lists the classes in the order of the model's output columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import keras
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from mlrail.artifacts.modelspec import (
    CLASSIFICATION,
    DATETIME_STATS,
    IDENTIFIER_TAG,
    KERAS_DTYPES,
    InputSpec,
    ModelSpec,
    input_names,
    output_name,
)
from mlrail.components.train.layers import Calendar, Impute
from mlrail.errors import DataError

__all__ = [
    "CLASSES_DOMAIN",
    "ONE_HOT_MAX",
    "default_features",
    "default_inputs",
    "default_model",
    "embedding_dim",
    "model_spec",
    "prepare_schema",
]

#: Above this many categories a string feature is embedded instead of one-hot encoded.
ONE_HOT_MAX = 50
#: The string domain of a prepared schema that lists a classifier's classes.
CLASSES_DOMAIN = "mlrail.classes"
_SERVING = "SERVING"
_TRAINING = "TRAINING"


def _served(feature: schema_pb2.Feature, schema: schema_pb2.Schema) -> bool:
    """Whether ``feature`` is in the SERVING environment (TFDV's rule)."""
    if feature.in_environment:
        return _SERVING in feature.in_environment
    default = schema.default_environment
    return (not default or _SERVING in default) and _SERVING not in feature.not_in_environment


def prepare_schema(
    schema: schema_pb2.Schema, label: str, task: str, classes: list[str]
) -> schema_pb2.Schema:
    """A copy of ``schema`` that names the label, the task and the classes, as TFX would.

    The label gets ``not_in_environment: "SERVING"`` (with ``default_environment`` TRAINING and
    SERVING); other features a curated schema kept out of SERVING are dropped (a serving request
    does not carry them, so no model may read them). A classifier's label gets the string
    domain :data:`CLASSES_DOMAIN` holding ``classes`` in order; a regression label has none.
    """
    out = schema_pb2.Schema()
    out.CopyFrom(schema)
    for env in (_TRAINING, _SERVING):
        if env not in out.default_environment:
            out.default_environment.append(env)
    kept = [f for f in out.feature if f.name == label or _served(f, schema)]
    del out.feature[:]
    out.feature.extend(kept)
    feature = next((f for f in out.feature if f.name == label), None)
    if feature is None:
        feature = out.feature.add(name=label)
    if _SERVING in feature.in_environment:
        feature.in_environment.remove(_SERVING)
    if _SERVING not in feature.not_in_environment:
        feature.not_in_environment.append(_SERVING)
    for d in [d for d in out.string_domain if d.name == CLASSES_DOMAIN]:
        out.string_domain.remove(d)
    if task in CLASSIFICATION:
        out.string_domain.add(name=CLASSES_DOMAIN, value=classes)
        feature.domain = CLASSES_DOMAIN
    elif feature.WhichOneof("domain_info") == "domain":
        feature.ClearField("domain")
    return out


@dataclass(frozen=True)
class _Prep:
    """What preprocesses one input: a number's mean and deviation, or a string's vocabulary."""

    mean: float = 0.0
    std: float = 1.0
    vocabulary: tuple[str, ...] = ()


def _label(schema: schema_pb2.Schema) -> schema_pb2.Feature:
    labels = [f for f in schema.feature if not _served(f, schema)]
    if len(labels) != 1:
        raise DataError(
            "schema: expected exactly one feature outside the SERVING environment (the label), "
            f"found {len(labels)}; build_model receives a schema prepared by mlrail train"
        )
    return labels[0]


def _train_stats(
    statistics: statistics_pb2.DatasetFeatureStatisticsList, where: str
) -> dict[str, statistics_pb2.FeatureNameStatistics]:
    train = {d.name: d for d in statistics.datasets}.get("train")
    if train is None:
        raise DataError(f"{where}: the statistics have no 'train' split")
    return {f.path.step[0]: f for f in train.features}


def _vocabulary(st: statistics_pb2.FeatureNameStatistics) -> list[str]:
    s = st.string_stats
    labels = [b.label for b in s.rank_histogram.buckets] or [v.value for v in s.top_values]
    return sorted(set(labels))


def _is_datetime(feat: schema_pb2.Feature, st: statistics_pb2.FeatureNameStatistics) -> bool:
    """A date or timestamp: the schema says so (``time_domain``), or validate's statistics do."""
    return feat.HasField("time_domain") or any(c.name == DATETIME_STATS for c in st.custom_stats)


def _spec_and_prep(
    schema: schema_pb2.Schema,
    statistics: statistics_pb2.DatasetFeatureStatisticsList,
    where: str = "statistics",
) -> tuple[ModelSpec, dict[str, _Prep]]:
    """The spec and each input's preprocessing figures."""
    label = _label(schema)
    by_name = _train_stats(statistics, where)
    domains = {d.name: list(d.value) for d in schema.string_domain}
    inputs: list[InputSpec] = []
    prep: dict[str, _Prep] = {}
    features = [
        f
        for f in schema.feature
        # an empty name cannot name an ONNX graph input (ONNX reads "" as "no tensor")
        if f.name and f.name != label.name and IDENTIFIER_TAG not in f.annotation.tag
    ]
    names = input_names(f.name for f in features)
    for feat in features:
        st = by_name.get(feat.name)
        if st is None:
            raise DataError(f"{where}: no statistics for schema feature {feat.name!r}")
        name = names[feat.name]
        if st.HasField("num_stats") and st.num_stats.common_stats.num_non_missing:
            n = st.num_stats
            dtype = "datetime" if _is_datetime(feat, st) else "float32"
            inputs.append(InputSpec(name, feat.name, dtype))
            mean = n.mean if math.isfinite(n.mean) else 0.0
            std = n.std_dev if math.isfinite(n.std_dev) and n.std_dev else 1.0
            prep[name] = _Prep(mean=mean, std=std)
        elif st.HasField("string_stats") and st.string_stats.common_stats.num_non_missing:
            # a schema domain is the curated list; without one, the train split's values
            vocab = domains.get(feat.domain) or _vocabulary(st)
            inputs.append(InputSpec(name, feat.name, "string"))
            prep[name] = _Prep(vocabulary=tuple(vocab))
        else:
            continue  # no value in train: nothing to learn from
    if not inputs:
        raise DataError(f"{where}: no feature columns besides the label {label.name!r}")
    classes = domains.get(label.domain, []) if label.domain == CLASSES_DOMAIN else []
    if classes:
        task = "binary" if len(classes) == 2 else "multiclass"
    else:
        task = "regression"
    output = output_name(task, (f.name for f in schema.feature))
    spec = ModelSpec(task=task, label=label.name, inputs=inputs, output=output, classes=classes)
    return spec, prep


def model_spec(
    schema: schema_pb2.Schema,
    statistics: statistics_pb2.DatasetFeatureStatisticsList,
    *,
    where: str = "statistics",
) -> ModelSpec:
    """The model's contract: its inputs (name, column, dtype), task, label, output and classes.

    Inputs are the schema's served features that have values in the train statistics: numbers
    (integers and booleans included) as float32, strings as string, dates and timestamps (a
    feature with a ``time_domain``, or whose statistics carry the custom statistic
    :data:`DATETIME_STATS`) as datetime (float64 days since 1970-01-01 UTC), each of shape
    ``[batch, 1]``. Left out: a feature annotated with the tag :data:`IDENTIFIER_TAG` (validate
    marks a column unique per row, an id or free text, so; a vocabulary as large as the data
    would learn nothing that holds for new rows), a column whose name is empty (it cannot name
    an ONNX graph input), and a feature with no value in train.

    Each input's ``name`` is :func:`mlrail.artifacts.modelspec.input_names`' (``in_`` + a lower-case
    slug; Keras inputs and the SavedModel use it), its ``column`` the data's column (the ONNX
    graph's input and the name V2 clients send). The output is named by
    :func:`mlrail.artifacts.modelspec.output_name`: ``probabilities`` or ``predictions``, or
    ``mlrail_probabilities``/``mlrail_predictions`` when a column already has that name.

    Args:
        schema: The schema passed to ``build_model`` (prepared by :func:`prepare_schema`).
        statistics: The statistics passed to ``build_model``.
        where: The statistics' file, named in errors.

    Raises:
        DataError: when the schema marks no label, or nothing is left to be an input.
    """
    return _spec_and_prep(schema, statistics, where)[0]


def default_inputs(
    schema: schema_pb2.Schema, statistics: statistics_pb2.DatasetFeatureStatisticsList
) -> dict[str, Any]:
    """One ``keras.Input`` per model input, keyed and named by its ModelSpec name.

    Numbers are ``float32``, strings ``string`` and dates ``float64`` (:data:`KERAS_DTYPES`),
    each of shape ``(None, 1)``; a model built on these takes the raw features evaluate,
    export_onnx and the server send.
    """
    return _inputs(model_spec(schema, statistics))


def _inputs(spec: ModelSpec) -> dict[str, Any]:
    return {
        i.name: keras.Input(shape=(1,), name=i.name, dtype=KERAS_DTYPES[i.dtype])
        for i in spec.inputs
    }


def embedding_dim(vocabulary_size: int) -> int:
    """Embedding width for a vocabulary: fast.ai's rule of thumb ``1.6 n^0.56``, capped at 50."""
    return max(2, min(50, round(1.6 * vocabulary_size**0.56)))


def default_features(
    schema: schema_pb2.Schema,
    statistics: statistics_pb2.DatasetFeatureStatisticsList,
    *,
    where: str = "statistics",
) -> tuple[dict[str, Any], Any]:
    """The default preprocessing: raw inputs and the ``[batch, n]`` float tensor they become.

    Numbers: NaN and ±inf become the train mean, then (x - mean) / std, all numeric columns as
    one tensor. Dates: the seven calendar features of
    :class:`~mlrail.components.train.layers.Calendar` (a missing date imputed with the train
    mean, the normalised day number, and sine and cosine of the day of the week, the season
    and the time of day). Strings: a StringLookup over the schema's domain (or the train
    split's values) with one-hot output up to :data:`ONE_HOT_MAX` values, else an embedding sized by
    :func:`embedding_dim`; an empty or unseen string is the out-of-vocabulary index.

    Returns:
        ``(inputs, features)``: the inputs dict (as :func:`default_inputs`) and the tensor.
    """
    spec, prep = _spec_and_prep(schema, statistics, where)
    inputs = _inputs(spec)
    encoded = []
    # Numeric columns are joined first so that imputation and normalisation are one op each
    # over a [batch, k] tensor: the exported ONNX graph then has a handful of nodes instead of
    # a dozen per column, which is most of its batch-1 latency.
    numeric = [i.name for i in spec.inputs if i.dtype == "float32"]
    if numeric:
        columns = [inputs[n] for n in numeric]
        x = keras.layers.Concatenate(name="numeric")(columns) if len(columns) > 1 else columns[0]
        means = [prep[n].mean for n in numeric]
        x = Impute(means, name="impute")(x)
        variances = [prep[n].std ** 2 for n in numeric]
        encoded.append(
            keras.layers.Normalization(mean=means, variance=variances, name="normalize")(x)
        )
    for i in spec.inputs:
        if i.dtype == "float32":
            continue
        if i.dtype == "datetime":
            p = prep[i.name]
            encoded.append(Calendar(p.mean, p.std, name=f"calendar_{i.name}")(inputs[i.name]))
            continue
        vocab = list(prep[i.name].vocabulary)
        if len(vocab) <= ONE_HOT_MAX:
            encoded.append(
                keras.layers.StringLookup(
                    vocabulary=vocab, output_mode="one_hot", name=f"lookup_{i.name}"
                )(inputs[i.name])
            )
        else:
            idx = keras.layers.StringLookup(vocabulary=vocab, name=f"lookup_{i.name}")(
                inputs[i.name]
            )
            emb = keras.layers.Embedding(
                len(vocab) + 1, embedding_dim(len(vocab)), name=f"embed_{i.name}"
            )(idx)
            encoded.append(keras.layers.Flatten(name=f"flat_{i.name}")(emb))
    x = keras.layers.Concatenate(name="features")(encoded) if len(encoded) > 1 else encoded[0]
    return inputs, x


def _label_moments(
    statistics: statistics_pb2.DatasetFeatureStatisticsList, label: str, where: str
) -> tuple[float, float]:
    st = _train_stats(statistics, where).get(label)
    if st is None or not st.HasField("num_stats"):
        return 0.0, 1.0
    mean, std = st.num_stats.mean, st.num_stats.std_dev
    return (mean if math.isfinite(mean) else 0.0), (std if math.isfinite(std) and std else 1.0)


def default_model(
    schema: schema_pb2.Schema,
    statistics: statistics_pb2.DatasetFeatureStatisticsList,
    hparams: dict[str, Any],
) -> Any:
    """mlrail's model when no module is given: :func:`default_features`, then a dense head.

    ``hidden_units`` ReLU layers (each followed by ``dropout`` when it is above 0), then softmax
    over the classes, or one linear unit rescaled by the label's train mean and deviation (so
    the network learns a standardised target). Not compiled: train compiles it.
    """
    spec = model_spec(schema, statistics)
    inputs, h = default_features(schema, statistics)
    for k, units in enumerate(hparams["hidden_units"]):
        h = keras.layers.Dense(int(units), activation="relu", name=f"dense_{k}")(h)
        if hparams["dropout"]:
            h = keras.layers.Dropout(float(hparams["dropout"]), name=f"dropout_{k}")(h)
    if spec.task in CLASSIFICATION:
        out = keras.layers.Dense(len(spec.classes), activation="softmax", name=spec.output)(h)
    else:
        mean, std = _label_moments(statistics, spec.label, "statistics")
        z = keras.layers.Dense(1, name="standardized")(h)
        out = keras.layers.Rescaling(scale=std, offset=mean, name=spec.output)(z)
    return keras.Model(inputs, out, name="mlrail_default")
