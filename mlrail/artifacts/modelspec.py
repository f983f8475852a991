"""The model's input/output contract, shared by train, evaluate, export_onnx, deploy and serve.

train writes it as ``model_spec.json`` beside the model; every later step reads it instead of
guessing the model's inputs. No TensorFlow here, and pyarrow only inside the methods that read
a table (:meth:`ModelSpec.features`, :meth:`ModelSpec.labels`): the server imports this module,
and its install (images/serving.requirements.txt) has neither.

Example::

    {"task": "multiclass", "label": "species", "classes": ["Adelie", "Chinstrap", "Gentoo"],
     "output": "probabilities",
     "inputs": [{"name": "in_bill_length_mm", "column": "bill_length_mm", "dtype": "float32"},
                {"name": "in_island", "column": "island", "dtype": "string"}]}

Every input is a column of shape ``[batch, 1]``; numbers are float32 (missing values as NaN, the
model imputes them), strings are UTF-8 (missing values as "", the model maps them to OOV), dates
and timestamps are float64 days since 1970-01-01 UTC (:mod:`mlrail.datetimes`; missing as NaN).

Names: ``column`` is the data's column name, whatever it holds (capitals, spaces, punctuation,
non-ASCII, a leading digit); it is the name V2 clients send and the ONNX graph's input name.
``name`` is the TensorFlow-side name (:func:`input_names`): TensorFlow lower-cases and uniquifies
signature names, so two columns ``Age`` and ``age`` cannot both be inputs under their own names.
``output`` is the output's name (:func:`output_name`): never one of the data's columns, since
the ONNX graph's inputs carry the columns' names and one graph cannot have two tensors of a name.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlrail.artifacts.model_repository import SPEC_FILE
from mlrail.datetimes import arrow_days, is_datetime
from mlrail.errors import DataError, ModelError
from mlrail.io import atomic_write_json, read_json

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "CLASSIFICATION",
    "DATETIME_STATS",
    "DTYPES",
    "IDENTIFIER_TAG",
    "KERAS_DTYPES",
    "TASKS",
    "InputSpec",
    "ModelSpec",
    "class_key",
    "input_names",
    "output_name",
    "tf_inputs",
]

TASKS = ("binary", "multiclass", "regression")
CLASSIFICATION = ("binary", "multiclass")
#: Input dtypes: numbers, text, and dates/timestamps (float64 days since 1970-01-01 UTC).
DTYPES = ("float32", "string", "datetime")
#: The schema markers validate writes and train reads (one definition for both sides): a schema
#: feature with this annotation tag is an identifier (unique per row, an id or free text), not a
#: model input; a feature with this custom statistic is a date or timestamp (FLOAT days).
IDENTIFIER_TAG = "mlrail.identifier"
DATETIME_STATS = "mlrail.datetime"
#: The Keras (and SavedModel) dtype of each input dtype.
KERAS_DTYPES = {"float32": "float32", "string": "string", "datetime": "float64"}
#: Every TensorFlow-side input name starts with this: no input can take a layer's name.
_PREFIX = "in_"
#: Longest slug kept before a name is cut and given a hash (TensorFlow op names get long).
_MAX_SLUG = 40


def _slug(column: str) -> str:
    folded = unicodedata.normalize("NFKD", column.casefold()).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", folded).strip("_")


def _hash(column: str) -> str:
    return hashlib.sha256(column.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def input_names(columns: Iterable[str]) -> dict[str, str]:
    """Each column's TensorFlow-side input name: ``in_`` + a lower-case ASCII slug.

    ``Größe`` → ``in_grosse``, ``a.b/c`` → ``in_a_b_c``, ``2024 Sales`` → ``in_2024_sales``.
    The names match ``[a-z][a-z0-9_]*``, so TensorFlow keeps them as they are, and they are
    unique: columns whose slugs collide (``Age`` and ``age``; ``a b`` and ``a_b``), a slug that
    was cut short, and a column with no ASCII letter or digit at all, get ``_`` and eight hex
    digits of the SHA-256 of the column name. The result depends only on the set of columns, not
    on their order, and is recorded in ``model_spec.json``: nothing re-derives it later.
    """
    columns = list(dict.fromkeys(columns))
    slugs = {c: _slug(c) for c in columns}
    count: dict[str, int] = {}
    for slug in slugs.values():
        count[slug] = count.get(slug, 0) + 1
    names: dict[str, str] = {}
    for c, slug in slugs.items():
        if not slug or len(slug) > _MAX_SLUG or count[slug] > 1:
            slug = f"{slug[:_MAX_SLUG]}_{_hash(c)}".lstrip("_")
        names[c] = _PREFIX + slug
    # a column literally named like another's hashed name: vanishingly rare, still made unique
    taken: set[str] = set()
    for c in sorted(columns):
        name, k = names[c], 1
        while name in taken:
            k += 1
            name = f"{names[c]}_{k}"
        names[c] = name
        taken.add(name)
    return {c: names[c] for c in columns}


def output_name(task: str, columns: Iterable[str]) -> str:
    """The model output's name: ``probabilities`` (classifiers) or ``predictions``, unless a
    column already has that name; then ``mlrail_<that>``, then ``mlrail_<that>_2``, ``_3``, ...

    ``columns`` are all the data's columns (inputs and label): the output must not take the name
    of a graph input, and a V2 answer whose output is named like a request's column would
    confuse a reader.
    """
    base = "probabilities" if task in CLASSIFICATION else "predictions"
    taken = set(columns)
    if base not in taken:
        return base
    name, k = f"mlrail_{base}", 1
    while name in taken:
        k += 1
        name = f"mlrail_{base}_{k}"
    return name


@dataclass(frozen=True)
class InputSpec:
    """One model input.

    Attributes:
        name: The TensorFlow-side name (:func:`input_names`): Keras inputs, the SavedModel.
        column: The data's column name: the ONNX graph's input, the name V2 clients send.
        dtype: ``float32``, ``string`` or ``datetime`` (float64 days since 1970-01-01 UTC).
    """

    name: str
    column: str
    dtype: str


@dataclass(frozen=True)
class ModelSpec:
    task: str
    label: str
    inputs: list[InputSpec]
    output: str
    classes: list[str] = field(default_factory=list)

    def write(self, folder: str | Path) -> None:
        atomic_write_json(Path(folder) / SPEC_FILE, asdict(self))

    @classmethod
    def read(cls, folder: str | Path) -> ModelSpec:
        path = Path(folder) / SPEC_FILE
        try:
            raw = read_json(path)
        except FileNotFoundError as e:
            raise DataError(
                f"{path}: no model spec; was this model written by mlrail train?"
            ) from e
        return cls(
            task=raw["task"],
            label=raw["label"],
            output=raw["output"],
            classes=list(raw.get("classes", [])),
            inputs=[InputSpec(**i) for i in raw["inputs"]],
        )

    def features(self, table: pa.Table, where: str) -> dict[str, np.ndarray]:
        """The model's inputs from ``table`` as ``[n, 1]`` arrays, keyed by TensorFlow name.

        Numbers (any width, booleans, decimals) as float32; dates and timestamps as float64
        days (:mod:`mlrail.datetimes`), also where the spec says float32 (a schema that did not
        mark the column as a date); text as UTF-8 strings, a missing one as "".
        """
        import pyarrow as pa  # here, not at the top: the server reads specs without pyarrow

        out: dict[str, np.ndarray] = {}
        for spec in self.inputs:
            if spec.column not in table.column_names:
                raise DataError(f"{where}: column {spec.column!r} (a model input) is missing")
            col = table.column(spec.column)
            if spec.dtype == "datetime" or (spec.dtype == "float32" and is_datetime(col.type)):
                if not (is_datetime(col.type) or pa.types.is_null(col.type)):
                    raise DataError(
                        f"{where}: column {spec.column!r} should be dates or timestamps, "
                        f"found {col.type}"
                    )
                days = np.full(len(col), np.nan) if pa.types.is_null(col.type) else arrow_days(col)
                dtype = np.float64 if spec.dtype == "datetime" else np.float32
                arr = days.astype(dtype)
            elif spec.dtype == "float32":
                if pa.types.is_dictionary(col.type):
                    col = col.cast(col.type.value_type)
                if not (
                    pa.types.is_integer(col.type)
                    or pa.types.is_floating(col.type)
                    or pa.types.is_boolean(col.type)
                    or pa.types.is_decimal(col.type)
                    or pa.types.is_null(col.type)
                ):
                    raise DataError(
                        f"{where}: column {spec.column!r} should be numeric, found {col.type}"
                    )
                try:
                    # unchecked: a safe cast refuses integers past 2**24 (float32's exact
                    # range) and decimals it must round; the model takes them rounded
                    wide = col.cast(pa.float64(), safe=False)
                except pa.ArrowException as e:
                    raise DataError(
                        f"{where}: column {spec.column!r} ({col.type}) cannot be read as "
                        f"numbers: {e}"
                    ) from e
                with np.errstate(over="ignore"):  # beyond float32: ±inf, as Arrow's cast gave
                    arr = wide.to_numpy(zero_copy_only=False).astype(np.float32)
            else:
                arr = np.array(["" if v is None else str(v) for v in col.to_pylist()], dtype=object)
            out[spec.name] = arr.reshape(-1, 1)
        return out

    def feeds(
        self, features: dict[str, np.ndarray], graph_inputs: Sequence[str]
    ) -> dict[str, np.ndarray]:
        """``features`` (keyed by TensorFlow name) keyed by the ONNX graph's input names.

        export_onnx names the graph's inputs by column; a model exported before that has the
        TensorFlow names, and gets them.

        Raises:
            ModelError: the graph's inputs are neither the columns nor the names.
        """
        graph = set(graph_inputs)
        if graph == {i.column for i in self.inputs}:
            return {i.column: features[i.name] for i in self.inputs}
        if graph == {i.name for i in self.inputs}:
            return {i.name: features[i.name] for i in self.inputs}
        raise ModelError(
            "the ONNX graph's inputs ("
            + ", ".join(map(repr, sorted(graph)))
            + ") are not the model spec's columns ("
            + ", ".join(repr(i.column) for i in self.inputs)
            + ")"
        )

    def labels(self, table: pa.Table, where: str) -> tuple[np.ndarray, np.ndarray]:
        """Label targets and the mask of rows that have a label.

        Classification targets are class indices (int64); regression targets are float32.
        """
        if self.label not in table.column_names:
            raise DataError(f"{where}: label column {self.label!r} is missing")
        values = table.column(self.label).to_pylist()
        mask = np.array([v is not None and v == v for v in values], dtype=bool)
        if self.task in CLASSIFICATION:
            index = {c: i for i, c in enumerate(self.classes)}
            y = np.array(
                [
                    index.get(class_key(v), -1) if m else -1
                    for v, m in zip(values, mask, strict=True)
                ],
                dtype=np.int64,
            )
            unknown = mask & (y < 0)
            if unknown.any():
                bad = sorted({class_key(values[i]) for i in np.flatnonzero(unknown)})
                raise DataError(
                    f"{where}: label column {self.label!r} has value(s) the model was not "
                    f"trained on: {', '.join(map(repr, bad[:10]))}"
                )
            return y, mask
        return np.array(
            [float(v) if m else np.nan for v, m in zip(values, mask, strict=True)], dtype=np.float32
        ), mask


def class_key(value: Any) -> str:
    """How a label value is written as a class name (``3.0``, ``3`` and a decimal ``3.00`` are
    the class "3")."""
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def tf_inputs(features: dict[str, np.ndarray]) -> dict[str, Any]:
    """The model's inputs as TensorFlow constants (strings as UTF-8, numbers as float32)."""
    import tensorflow as tf

    return {k: tf.constant(v.astype(str) if v.dtype == object else v) for k, v in features.items()}
