"""register: record the exported model as a version in the model registry, with its evidence.

The version holds the ONNX model that passed parity (MLflow's ONNX flavour: signature and an
input example from ``golden.json``, the export_onnx files beside ``model.onnx``) and tags that
answer, from the registry alone, what it is, on which data, with which evidence, built how, and
who asked for it and why (:func:`version_tags`). The data is also recorded as the registering
run's dataset inputs (one per split), so MLflow's lineage views show it.

One version per model identity: if a version of ``model_name`` already carries this identity
(tag ``mlrail.identity``), nothing is registered and that version is returned, with
``created`` false. A production owner expects a version number to mean a distinct model: a
retried step, or a retrain that reproduced the same model, must not add a version that deploy
would then roll out as "new" (and whose alias history would hide that nothing changed). The
evidence of the later run stays in that run's artifacts and its release record. The identity
is export_onnx's (the ``identity`` metadata of ``onnx_model``, else ``model.onnx``'s metadata
prop ``mlrail.identity``), else ``sha256:<hex>`` of ``model.onnx``'s bytes.

A new version is announced as the lifecycle event ``io.mlrail.model.registered`` once
``registered_model.json`` is written (:mod:`.lifecycle`, which says why a version that existed
is not).

Tags (all strings; JSON where a value is a list or a mapping)::

    mlrail.identity                 the model identity
    mlrail.model.sha256             sha256 of model.onnx
    mlrail.model.task / .label / .classes
    mlrail.data.source / .spans / .fingerprint / .examples_uri / .rows.<split>
    mlrail.data.schema_sha256       sha256 of schema.pbtxt
    mlrail.eval.<metric>            each headline metric of metrics.json
    mlrail.eval.blessed / .decided_on / .failed / .baseline / .thresholds
    mlrail.parity.max_abs_diff / .max_rel_diff / .label_agreement / .rows / .tolerance / .ok
    mlrail.pipeline.name / .version / .run_id / .run_name / .run_url
    mlrail.image / mlrail.version   the component image, the mlrail version
    mlrail.requested_by / mlrail.reason

Output layout of the ``registered_model`` artifact::

    registered_model/
      registered_model.json   {"name", "version", "created", "identity", "run_id", "uri",
                               "registry", "tags"}
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mlrail
from mlrail import events
from mlrail.artifacts.model_repository import MODEL_FILE
from mlrail.artifacts.modelspec import ModelSpec
from mlrail.components.register.lifecycle import send_events
from mlrail.errors import DataError, ModelError
from mlrail.io import atomic_dir, atomic_write_json, read_json
from mlrail.registry import (
    IDENTITY_TAG,
    DatasetRef,
    Registration,
    open_registry,
    require_uri,
)

__all__ = [
    "OUTPUT_FILE",
    "Pipeline",
    "RegisterResult",
    "datasets",
    "input_example",
    "model_identity",
    "register",
    "version_tags",
    "write",
]

#: The file of the ``registered_model`` artifact.
OUTPUT_FILE = "registered_model.json"
#: Longest tag value written (MLflow keeps 8,000 characters of a run tag).
_MAX_TAG = 5000
#: statistics.json's feature types as MLflow's column types.
_COLUMN_TYPES = {"FLOAT": "double", "INT": "long", "STRING": "string", "BYTES": "string"}


@dataclass(frozen=True)
class Pipeline:
    """The run that registers: KFP fills these from its placeholders (empty when unknown)."""

    name: str = ""
    version: str = ""
    run_id: str = ""
    run_name: str = ""
    ui_url: str = ""

    def run_url(self) -> str:
        """The run's page in the Kubeflow Pipelines UI, when its base URL and the run are known."""
        if not self.ui_url or not self.run_id:
            return ""
        return f"{self.ui_url.rstrip('/')}/#/runs/details/{self.run_id}"


@dataclass(frozen=True)
class RegisterResult:
    """What register did (``registered_model.json``), and what became of its event
    (``deliveries``: not in the file; a sink that is down is recorded there, never raised)."""

    name: str
    version: str
    created: bool
    identity: str
    run_id: str
    uri: str
    registry: str
    tags: dict[str, str]
    deliveries: tuple[events.Delivery, ...] = field(default=(), compare=False)


def model_identity(onnx_model_dir: str | Path, metadata: Mapping[str, Any] | None = None) -> str:
    """The model identity: the artifact's ``identity`` metadata, else ``model.onnx``'s metadata
    prop ``mlrail.identity``, else ``sha256:`` + the file's SHA-256."""
    if metadata and str(metadata.get("identity") or ""):
        return str(metadata["identity"])
    path = Path(onnx_model_dir) / MODEL_FILE
    import onnx

    try:
        props = {
            p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props
        }
    except FileNotFoundError as e:
        raise ModelError(f"{path}: no such file (is this export_onnx's output?)") from e
    except Exception as e:  # onnx raises DecodeError and others for a corrupt file
        raise ModelError(f"{path}: not an ONNX model ({e})") from e
    if props.get(IDENTITY_TAG):
        return props[IDENTITY_TAG]
    return "sha256:" + _sha256(path)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _json_file(path: Path) -> dict[str, Any]:
    try:
        data = read_json(path)
    except FileNotFoundError as e:
        raise DataError(f"{path}: no such file") from e
    except ValueError as e:
        raise DataError(f"{path}: not JSON ({e})") from e
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object")
    return data


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= _MAX_TAG else text[: _MAX_TAG - 3] + "..."


def _thresholds(blessing: Mapping[str, Any]) -> list[str]:
    """Each check as one readable line: ``accuracy >= 0.6: pass (1.0)``."""
    lines = []
    for c in blessing.get("checks") or []:
        where = f"[{c.get('slice')}]" if c.get("slice") else ""
        kind = "change " if c.get("kind") == "change" else ""
        value = c.get("change") if c.get("kind") == "change" else c.get("value")
        lines.append(
            f"{c.get('metric')}{where} {kind}{c.get('op')} {c.get('bound')}: "
            f"{c.get('verdict')} ({value})"
        )
    return lines


def version_tags(
    onnx_model_dir: Path,
    identity: str,
    *,
    examples_uri: str,
    examples_metadata: Mapping[str, Any],
    schema_dir: Path,
    metrics_path: Path,
    blessing_dir: Path,
    pipeline: Pipeline,
    image: str,
    requested_by: str,
    reason: str,
) -> dict[str, str]:
    """The version's tags (the module doc lists them), from the artifacts' files."""
    spec = ModelSpec.read(onnx_model_dir)
    parity = _json_file(onnx_model_dir / "parity.json")
    metrics = _json_file(metrics_path).get("metrics") or {}
    blessing = _json_file(blessing_dir / "blessing.json")
    schema_file = schema_dir / "schema.pbtxt"
    if not schema_file.is_file():
        raise DataError(f"{schema_file}: no such file (is this validate's schema?)")
    meta = examples_metadata
    tags: dict[str, Any] = {
        IDENTITY_TAG: identity,
        "mlrail.model.sha256": _sha256(onnx_model_dir / MODEL_FILE),
        "mlrail.model.task": spec.task,
        "mlrail.model.label": spec.label,
        "mlrail.model.classes": spec.classes,
        "mlrail.data.source": meta.get("source", ""),
        "mlrail.data.spans": meta.get("spans") or [],
        "mlrail.data.fingerprint": meta.get("fingerprint", ""),
        "mlrail.data.examples_uri": examples_uri,
        "mlrail.data.schema_sha256": _sha256(schema_file),
        "mlrail.eval.blessed": str(bool(blessing.get("blessed"))).lower(),
        "mlrail.eval.decided_on": blessing.get("decided_on", ""),
        "mlrail.eval.failed": blessing.get("failed", 0),
        "mlrail.eval.baseline": (blessing.get("baseline") or {}).get("model") or "none",
        "mlrail.eval.thresholds": _thresholds(blessing),
        "mlrail.pipeline.name": pipeline.name,
        "mlrail.pipeline.version": pipeline.version,
        "mlrail.pipeline.run_id": pipeline.run_id,
        "mlrail.pipeline.run_name": pipeline.run_name,
        "mlrail.pipeline.run_url": pipeline.run_url(),
        "mlrail.image": image,
        "mlrail.version": mlrail.__version__,
        "mlrail.requested_by": requested_by,
        "mlrail.reason": reason,
    }
    for key, value in meta.items():
        if key.startswith("rows_"):
            tags[f"mlrail.data.rows.{key.removeprefix('rows_')}"] = value
    for name, value in metrics.items():
        if isinstance(value, int | float):
            tags[f"mlrail.eval.{name}"] = value
    for name in ("max_abs_diff", "max_rel_diff", "label_agreement", "rows", "tolerance", "ok"):
        if name in parity:
            tags[f"mlrail.parity.{name}"] = parity[name]
    out = {}
    for key, value in tags.items():
        if isinstance(value, bool):
            value = str(value).lower()
        out[key] = _text(value)
    return out


def datasets(
    examples_uri: str, examples_metadata: Mapping[str, Any], statistics_dir: Path
) -> list[DatasetRef]:
    """One dataset input per split: ``<source>/<split>``, at ``<examples>/<split>``, digest the
    fingerprint, rows and columns from validate's statistics."""
    stats_file = statistics_dir / "statistics.json"
    stats = _json_file(stats_file) if stats_file.is_file() else {}
    splits = list(examples_metadata.get("splits") or stats.keys())
    source = str(examples_metadata.get("source") or "examples")
    label = source.rstrip("/").rsplit("/", 1)[-1] or source
    fingerprint = str(examples_metadata.get("fingerprint") or "")
    refs = []
    for split in splits:
        features = (stats.get(split) or {}).get("features") or {}
        rows = examples_metadata.get(f"rows_{split}", (stats.get(split) or {}).get("num_examples"))
        refs.append(
            DatasetRef(
                name=f"{label}/{split}",
                uri=f"{examples_uri.rstrip('/')}/{split}",
                digest=fingerprint or "unknown",
                context=split,
                rows=int(rows) if rows is not None else None,
                columns=tuple(
                    (col, _COLUMN_TYPES.get(str(f.get("type")), "string"))
                    for col, f in features.items()
                ),
            )
        )
    return refs


def input_example(onnx_model_dir: Path) -> dict[str, list[object]] | None:
    """golden.json's request rows as column -> values (None when there is no golden file)."""
    path = onnx_model_dir / "golden.json"
    if not path.is_file():
        return None
    request = _json_file(path).get("request") or {}
    return {str(i["name"]): list(i["data"]) for i in request.get("inputs") or []}


def register(
    onnx_model_dir: str | Path,
    output_dir: str | Path,
    *,
    examples_uri: str,
    examples_metadata: Mapping[str, Any],
    schema_dir: str | Path,
    statistics_dir: str | Path,
    metrics_path: str | Path,
    blessing_dir: str | Path,
    model_name: str = "model",
    registry_uri: str = "",
    onnx_model_metadata: Mapping[str, Any] | None = None,
    pipeline: Pipeline | None = None,
    image: str = "",
    requested_by: str = "",
    reason: str = "",
    events_sink: str = "",
    event_links: Mapping[str, str] | None = None,
) -> RegisterResult:
    """Register the model of ``onnx_model_dir`` as a version of ``model_name``.

    A new version sends ``io.mlrail.model.registered`` once ``registered_model.json`` is
    written (:mod:`.lifecycle`); a version that existed sends nothing.

    Args:
        onnx_model_dir: export_onnx's output.
        output_dir: The ``registered_model`` artifact's folder (written last, atomically).
        examples_uri: Where ingest's examples are (their artifact URI): the data's location.
        examples_metadata: ingest's metadata (``source``, ``spans``, ``fingerprint``,
            ``rows_<split>``, ``splits``).
        schema_dir: validate's schema folder (``schema.pbtxt``).
        statistics_dir: validate's statistics folder (``statistics.json``).
        metrics_path: evaluate's metrics.json.
        blessing_dir: evaluate's blessing folder (``blessing.json``).
        model_name: The registered model.
        registry_uri: The registry; "" for ``$MLFLOW_TRACKING_URI``.
        onnx_model_metadata: export_onnx's metadata (its ``identity``).
        pipeline: The registering pipeline run.
        image: The component image.
        requested_by: Who asked for this run.
        reason: Why.
        events_sink: Where the event goes (:mod:`mlrail.events.sinks`); empty: ``K_SINK``,
            then none.
        event_links: Names to URIs of the evidence for the event's ``links`` (the run's page,
            when known, is added as ``run``); None: the output folder as given here.

    Raises:
        RegistryError: no registry configured, or it cannot be reached or refuses.
        DataError, ModelError: an input artifact is missing a file or is unreadable.
    """
    uri = require_uri(registry_uri)
    onnx_model_dir = Path(onnx_model_dir)
    identity = model_identity(onnx_model_dir, onnx_model_metadata)
    pipeline = pipeline or Pipeline()
    tags = version_tags(
        onnx_model_dir,
        identity,
        examples_uri=examples_uri,
        examples_metadata=examples_metadata,
        schema_dir=Path(schema_dir),
        metrics_path=Path(metrics_path),
        blessing_dir=Path(blessing_dir),
        pipeline=pipeline,
        image=image,
        requested_by=requested_by,
        reason=reason,
    )
    metrics = _json_file(Path(metrics_path)).get("metrics") or {}
    registry = open_registry(uri)
    registration: Registration = registry.register(
        model_name,
        onnx_model_dir,
        identity=identity,
        tags=tags,
        datasets=datasets(examples_uri, examples_metadata, Path(statistics_dir)),
        example=input_example(onnx_model_dir),
        metrics={k: float(v) for k, v in metrics.items() if isinstance(v, int | float)},
        run_name=pipeline.run_name or pipeline.run_id,
    )
    v = registration.version
    result = RegisterResult(
        name=v.name,
        version=v.version,
        created=registration.created,
        identity=identity,
        run_id=v.run_id,
        uri=v.uri,
        registry=registry.uri,
        tags=dict(v.tags),
    )
    write(result, output_dir)
    # after the output is written: the event's links point at a file that exists
    links = {"registered_model": str(output_dir)} if event_links is None else dict(event_links)
    deliveries = send_events(
        model_name=result.name,
        version=result.version,
        created=result.created,
        identity=result.identity,
        model_uri=result.uri,
        registry=result.registry,
        events_sink=events_sink,
        pipeline=pipeline.name,
        run_id=pipeline.run_id,
        run_name=pipeline.run_name,
        links={"run": pipeline.run_url(), **links},
    )
    return dataclasses.replace(result, deliveries=tuple(deliveries))


def write(result: RegisterResult, output_dir: str | Path) -> None:
    """``registered_model.json`` in ``output_dir`` (all at once)."""
    record = asdict(result)
    del record["deliveries"]  # the step's log and metadata say what became of the event
    with atomic_dir(output_dir) as tmp:
        atomic_write_json(tmp / OUTPUT_FILE, record)
