"""What the MLflow backend logs, built from mlrail's files: a dataset input's entity, the ONNX
flavour's signature and input example, and the logged model's folder (see
:mod:`.mlflow_backend`'s module doc). MLflow is imported inside the functions."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from mlrail.artifacts.model_repository import MODEL_FILE, SPEC_FILE
from mlrail.artifacts.modelspec import ModelSpec
from mlrail.redact import redact
from mlrail.registry import DatasetRef

__all__ = ["dataset_entity", "save_flavor"]

#: Files of the onnx_model artifact that travel with the version (besides model.onnx).
_MODEL_FILES = (SPEC_FILE, "golden.json", "parity.json", "variants.json")
#: MLflow's ONNX flavour is the only one logged; its data file is model.onnx at the root.
_FLAVOR_DATA = "model.onnx"
#: MLflow's dataset digest column holds 36 characters.
_DIGEST_CHARS = 36


def _np_dtype(dtype: str) -> np.dtype[Any]:
    # strings are object arrays for ONNX Runtime and MLflow's TensorSpec alike
    return np.dtype(object) if dtype == "string" else np.dtype(dtype)


def _source(uri: str) -> tuple[str, str]:
    """MLflow's dataset source type and JSON for a data location (credentials removed)."""
    uri = redact(uri)
    scheme = urlsplit(uri).scheme.lower()
    if scheme in ("", "file"):
        return "local", json.dumps({"uri": uri})
    if scheme in ("http", "https"):
        return "http", json.dumps({"url": uri})
    if scheme == "minio":
        # KFP's own artifact store: MinIO's S3 API holds minio://bucket/key at s3://bucket/key
        return "s3", json.dumps({"uri": "s3://" + uri.removeprefix("minio://")})
    return scheme, json.dumps({"uri": uri})


def dataset_entity(d: DatasetRef) -> Any:
    from mlflow.entities import Dataset

    source_type, source = _source(d.uri)
    schema = (
        json.dumps({"mlflow_colspec": [{"name": c, "type": t} for c, t in d.columns]})
        if d.columns
        else None
    )
    profile = json.dumps({"num_rows": d.rows}) if d.rows is not None else None
    return Dataset(
        name=d.name,
        digest=d.digest[:_DIGEST_CHARS],
        source_type=source_type,
        source=source,
        schema=schema,
        profile=profile,
    )


def _signature(onnx_model: Any, spec: ModelSpec) -> Any:
    """The model's signature: the graph's own (export_onnx's ``mlrail.signature`` prop), else the
    spec's inputs with a ``[-1, classes]`` (or ``[-1, 1]``) float32 output."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    props = {p.key: p.value for p in onnx_model.metadata_props}
    if "mlrail.signature" in props:
        sig = json.loads(props["mlrail.signature"])
        inputs = [(t["name"], t["dtype"], tuple(t["shape"])) for t in sig["inputs"]]
        outputs = [(t["name"], t["dtype"], tuple(t["shape"])) for t in sig["outputs"]]
    else:
        inputs = [
            (i.column, "float64" if i.dtype == "datetime" else i.dtype, (-1, 1))
            for i in spec.inputs
        ]
        outputs = [(spec.output, "float32", (-1, max(len(spec.classes), 1)))]
    return ModelSignature(
        inputs=Schema([TensorSpec(_np_dtype(d), s, n) for n, d, s in inputs]),
        outputs=Schema([TensorSpec(_np_dtype(d), s, n) for n, d, s in outputs]),
    )


def _example(
    example: Mapping[str, list[object]] | None, signature: Any
) -> dict[str, np.ndarray[Any, Any]] | None:
    if not example:
        return None
    dtypes = {t.name: t.type for t in signature.inputs.inputs}
    return {
        col: np.asarray(values, dtype=dtypes.get(col, None)).reshape(-1, 1)
        for col, values in example.items()
    }


def save_flavor(
    folder: Path,
    model_dir: Path,
    spec: ModelSpec,
    logged: Any,
    run_id: str,
    example: Mapping[str, list[object]] | None,
) -> None:
    """The logged model's folder: MLflow's ONNX flavour around the exported ``model.onnx``."""
    import mlflow.onnx
    import onnx
    from mlflow.models import Model

    source = model_dir / MODEL_FILE
    data = source.read_bytes()
    graph = onnx.load_from_string(data)
    signature = _signature(graph, spec)
    mlflow.onnx.save_model(
        graph,
        str(folder),
        mlflow_model=Model(
            artifact_path=logged.artifact_location,
            run_id=run_id,
            model_uuid=logged.model_id,
            model_id=logged.model_id,
        ),
        signature=signature,
        input_example=_example(example, signature),
        # given, so MLflow does not load the model in a subprocess to infer them (seconds)
        pip_requirements=mlflow.onnx.get_default_pip_requirements(),
        save_as_external_data=False,
    )
    # the flavour re-serialised the graph: the registered bytes are the exported ones
    (folder / _FLAVOR_DATA).write_bytes(data)
    for name in _MODEL_FILES:
        if (model_dir / name).is_file():
            shutil.copyfile(model_dir / name, folder / name)
