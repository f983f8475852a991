"""The model's input/output contract, shared by train, evaluate, export_onnx, deploy and serve.

train writes it as ``model_spec.json`` beside the model; every later step reads it instead of
guessing the model's inputs. No TensorFlow here: the server and the CLI import this module.

Example::

    {"task": "multiclass", "label": "species", "classes": ["Adelie", "Chinstrap", "Gentoo"],
     "output": "probabilities",
     "inputs": [{"name": "bill_length_mm", "column": "bill_length_mm", "dtype": "float32"},
                {"name": "island", "column": "island", "dtype": "string"}]}

Every input is a column of shape ``[batch, 1]``; numbers are float32 (missing values as NaN, the
model imputes them), strings are UTF-8 (missing values as "", the model maps them to OOV).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlrail.errors import DataError
from mlrail.io import atomic_write_json, read_json

__all__ = [
    "CLASSIFICATION",
    "TASKS",
    "InputSpec",
    "ModelSpec",
    "class_key",
    "input_name",
    "read_split",
    "tf_inputs",
]

TASKS = ("binary", "multiclass", "regression")
CLASSIFICATION = ("binary", "multiclass")
SPEC_FILE = "model_spec.json"


def input_name(column: str) -> str:
    """A TensorFlow/ONNX-safe input name for ``column``."""
    name = re.sub(r"[^A-Za-z0-9_.\-]", "_", column)
    return name if re.match(r"[A-Za-z]", name) else f"f_{name}"


@dataclass(frozen=True)
class InputSpec:
    name: str
    column: str
    dtype: str  # "float32" | "string"


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
        """The model's inputs from ``table`` as ``[n, 1]`` arrays in the declared dtypes."""
        out: dict[str, np.ndarray] = {}
        for spec in self.inputs:
            if spec.column not in table.column_names:
                raise DataError(f"{where}: column {spec.column!r} (a model input) is missing")
            col = table.column(spec.column)
            if spec.dtype == "float32":
                if not (
                    pa.types.is_integer(col.type)
                    or pa.types.is_floating(col.type)
                    or pa.types.is_boolean(col.type)
                    or pa.types.is_null(col.type)
                ):
                    raise DataError(
                        f"{where}: column {spec.column!r} should be numeric, found {col.type}"
                    )
                arr = col.cast(pa.float32()).to_numpy(zero_copy_only=False).astype(np.float32)
            else:
                arr = np.array(["" if v is None else str(v) for v in col.to_pylist()], dtype=object)
            out[spec.name] = arr.reshape(-1, 1)
        return out

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
    """How a label value is written as a class name (``3.0`` and ``3`` are the class "3")."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def tf_inputs(features: dict[str, np.ndarray]) -> dict[str, Any]:
    """The model's inputs as TensorFlow constants (strings as UTF-8, numbers as float32)."""
    import tensorflow as tf

    return {k: tf.constant(v.astype(str) if v.dtype == object else v) for k, v in features.items()}


def read_split(split_dir: str | Path) -> pa.Table:
    """All ``*.parquet`` parts of one split as a table."""
    path = Path(split_dir)
    files = sorted(path.glob("*.parquet"))
    if not files:
        raise DataError(f"{path}: no Parquet files in this split")
    try:
        return pa.concat_tables([pq.read_table(f) for f in files], promote_options="permissive")
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"{path}: cannot read Parquet: {e}") from e
