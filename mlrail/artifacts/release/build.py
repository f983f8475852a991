"""Assemble a release record from the pipeline's artifacts as they are on disk.

The artifacts' layouts are their producers' (each written once, in the producing core's
docstring): ingest's examples metadata (``splits``, ``rows_<split>``, ``fingerprint``,
``source``, ``span``, ``spans``; KFP keeps it in the pipeline's database, not on disk, so it is
passed as a dict), validate's ``statistics/statistics.json``, ``schema/schema.pbtxt`` and
``anomalies/anomalies.json``, evaluate's ``metrics.json`` and ``blessing/blessing.json``,
export_onnx's ``onnx_model/`` (``model.onnx``, ``model_spec.json``, ``parity.json``) and
deploy's ``deployment/deployment.json``. Every one but the ONNX model is optional: a field the
artifacts do not give is null (or empty) in the record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlrail
from mlrail.artifacts.release.diff import diff
from mlrail.artifacts.release.record import (
    Baseline,
    Build,
    Check,
    CheckOutcome,
    Comparison,
    Data,
    Evidence,
    Feature,
    Finding,
    MetricChange,
    Model,
    Parity,
    Previous,
    Record,
    Request,
    Signature,
    Traffic,
    Where,
)
from mlrail.errors import DataError
from mlrail.io import read_json

__all__ = ["MAX_LISTED", "ArtifactPaths", "BuildInfo", "build_record", "schema_hash"]

#: Anomalies and exceeded skew/drift values kept in a record (the artifacts have them all).
MAX_LISTED = 20

PathArg = str | Path


@dataclass(frozen=True)
class ArtifactPaths:
    """Where the artifacts are (local paths); None for one the run did not make.

    Attributes:
        onnx_model: export_onnx's folder (``model.onnx``, ``model_spec.json``, ``parity.json``).
        deployment: deploy's folder (``deployment.json``), the file itself, or its content.
        examples_metadata: ingest's output metadata (not on disk: KFP keeps it).
        statistics: validate's statistics folder (``statistics.json``).
        schema: validate's schema folder (``schema.pbtxt``), or the file.
        anomalies: validate's anomalies folder (``anomalies.json``).
        metrics: evaluate's ``metrics.json``.
        blessing: evaluate's blessing folder (``blessing.json``), or the file.
    """

    onnx_model: PathArg
    deployment: PathArg | Mapping[str, Any]
    examples_metadata: Mapping[str, Any] | None = None
    statistics: PathArg | None = None
    schema: PathArg | None = None
    anomalies: PathArg | None = None
    metrics: PathArg | None = None
    blessing: PathArg | None = None


@dataclass(frozen=True)
class BuildInfo:
    """The pipeline run that made the model (what KFP knows; None where it is not known)."""

    pipeline_name: str | None = None
    pipeline_version: str | None = None
    run_id: str | None = None
    run_url: str | None = None
    image: str | None = None
    image_digest: str | None = None

    @classmethod
    def of(
        cls,
        *,
        pipeline_name: str = "",
        pipeline_version: str = "",
        run_id: str = "",
        kfp_ui_url: str = "",
        image: str = "",
    ) -> BuildInfo:
        """From what a step is given (empty strings: unknown): the run's page in the Kubeflow
        UI when its base URL and the run are known, and the image's digest when it is pinned
        (``name@sha256:...``)."""
        run_url = ""
        if kfp_ui_url and run_id:
            run_url = f"{kfp_ui_url.rstrip('/')}/#/runs/details/{run_id}"
        digest = image.split("@", 1)[1] if "@" in image else ""
        return cls(
            pipeline_name or None,
            pipeline_version or None,
            run_id or None,
            run_url or None,
            image or None,
            digest or None,
        )


def build_record(
    paths: ArtifactPaths,
    *,
    model_name: str,
    request: Request,
    build: BuildInfo | None = None,
    kind: str = "deploy",
    links: Mapping[str, str] | None = None,
    registry_version: str | None = None,
    identity: str | None = None,
    signature: Signature | None = None,
    previous: Record | None = None,
    created: datetime | None = None,
) -> Record:
    """The release record of one deploy, promotion or rollback.

    Args:
        paths: The artifacts on disk.
        model_name: The registered model's name.
        request: Who asked, and why.
        build: The run that made the model.
        kind: ``deploy``, ``promote`` or ``rollback``.
        links: Artifact name to its URI (KFP's ``artifact.uri``), for the pages' links.
        registry_version: The registry's version of the model, when registered.
        identity: The model's identity (what it computes), when known.
        signature: The signature's state and signer, when checked.
        previous: The release before this one, for the ``changes`` section.
        created: When (default now, UTC).

    Raises:
        DataError: naming the file, for a missing ``model.onnx`` or an artifact file that is
            not what its producer writes.
    """
    onnx_dir = Path(paths.onnx_model)
    deployment = _deployment(paths.deployment)
    spec = _json_file(onnx_dir / "model_spec.json", required=False) or {}
    model = Model(
        name=model_name,
        sha256=_sha256(onnx_dir / "model.onnx"),
        registry_version=registry_version,
        identity=identity or _opt_str(deployment.get("identity") or None),
        signature=signature,
        task=_opt_str(spec.get("task")),
        label=_opt_str(spec.get("label")),
    )
    when = (created or datetime.now(UTC)).astimezone(UTC)
    info = build or BuildInfo()
    record = Record(
        model=model,
        data=_data(paths),
        evidence=_evidence(paths, onnx_dir),
        build=Build(mlrail_version=mlrail.__version__, **vars(info)),
        request=request,
        where=_where(deployment, model_name),
        created=when.isoformat(timespec="seconds").replace("+00:00", "Z"),
        kind=kind,
        links=_links(links, info),
    )
    if previous is None:
        return record
    return with_previous(record, previous)


def _links(links: Mapping[str, str] | None, info: BuildInfo) -> dict[str, str]:
    out = dict(links or {})
    if info.run_url and "run" not in out:  # the Kubeflow UI's page of the run, a link too
        out["run"] = info.run_url
    return out


def with_previous(record: Record, previous: Record) -> Record:
    """``record`` with ``previous`` named and the changes since it."""
    prev = Previous(previous.number, previous.created, previous.version, previous.model.sha256)
    return replace(record, previous=prev, changes=diff(previous, record))


# --------------------------------------------------------------------------------------------
# files


def _sha256(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"{path}: no ONNX model; was it written by export_onnx?")
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _file(path: PathArg | None, name: str) -> Path | None:
    """The artifact's file: ``path`` itself, or ``name`` in the folder ``path``."""
    if path is None:
        return None
    p = Path(path)
    return p / name if p.is_dir() else p


def _json_file(path: Path | None, *, required: bool = True) -> dict[str, Any] | None:
    if path is None:
        return None
    if not path.is_file():
        if required:
            raise DataError(f"{path}: no such file")
        return None
    obj = read_json(path)
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    return obj


def _opt_str(v: Any) -> str | None:
    return None if v is None else str(v)


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def schema_hash(schema_file: Path) -> str:
    """SHA-256 of ``schema.pbtxt``'s bytes (validate writes it deterministically)."""
    return hashlib.sha256(schema_file.read_bytes()).hexdigest()


def _features(schema_file: Path) -> list[Feature]:
    # tensorflow-metadata (protobuf) only when a schema is given
    from tensorflow_metadata.proto.v0 import schema_pb2

    from mlrail.artifacts.tfmd import load_schema

    schema = load_schema(str(schema_file))
    return [
        Feature(f.name, schema_pb2.FeatureType.Name(f.type))
        for f in sorted(schema.feature, key=lambda f: f.name)
    ]


# --------------------------------------------------------------------------------------------
# sections


def _data(paths: ArtifactPaths) -> Data:
    meta = dict(paths.examples_metadata or {})
    rows: dict[str, int] = {}
    for split in meta.get("splits") or []:
        n = _int(meta.get(f"rows_{split}"))
        if n is not None:
            rows[str(split)] = n
    stats_file = _file(paths.statistics, "statistics.json")
    stats = _json_file(stats_file)
    if stats is not None and not rows:  # statistics count the rows ingest wrote
        for split, ds in stats.items():
            n = _int(ds.get("num_examples")) if isinstance(ds, dict) else None
            if n is not None:
                rows[split] = n
    source = meta.get("source")
    spans = meta.get("spans") or ([meta["span"]] if meta.get("span") else [])
    schema_file = _file(paths.schema, "schema.pbtxt")
    if schema_file is not None and not schema_file.is_file():
        raise DataError(f"{schema_file}: no such file")
    anomalies_file = _file(paths.anomalies, "anomalies.json")
    anomalies = _json_file(anomalies_file) or {}
    findings = [
        Finding(
            split=str(a.get("split", "")),
            feature=_opt_str(a.get("feature")),
            type=str(a.get("type", "")),
            description=str(a.get("description", "")),
        )
        for a in (anomalies.get("anomalies") or [])[:MAX_LISTED]
    ]
    exceeded = [
        Comparison(
            feature=str(c.get("feature", "")),
            kind=str(c.get("kind", "")),
            measure=str(c.get("measure", "")),
            split=str(c.get("split", "")),
            value=_num(c.get("value")),
            threshold=_num(c.get("threshold")),
        )
        for c in anomalies.get("comparisons") or []
        if c.get("exceeded")
    ][:MAX_LISTED]
    drift = anomalies.get("drift_detected")
    return Data(
        sources=[str(source)] if source else [],
        spans=[str(s) for s in spans],
        fingerprint=_opt_str(meta.get("fingerprint")),
        rows=rows,
        schema_hash=schema_hash(schema_file) if schema_file is not None else None,
        features=_features(schema_file) if schema_file is not None else None,
        num_anomalies=_int(anomalies.get("num_anomalies")),
        anomalies=findings,
        drift_detected=drift if isinstance(drift, bool) else None,
        drift_baseline=_opt_str(anomalies.get("drift_baseline")),
        exceeded=exceeded,
    )


def _outcome(checks: list[Check], scope: str) -> CheckOutcome | None:
    mine = [c for c in checks if c.scope == scope]
    if not mine:
        return None
    return CheckOutcome(
        checks=len(mine),
        failed=sum(c.verdict == "fail" for c in mine),
        skipped=sum(c.verdict == "skipped" for c in mine),
    )


def _evidence(paths: ArtifactPaths, onnx_dir: Path) -> Evidence:
    metrics_doc = _json_file(_file(paths.metrics, "metrics.json")) or {}
    blessing = _json_file(_file(paths.blessing, "blessing.json")) or {}
    metrics = {str(k): _num(v) for k, v in (metrics_doc.get("metrics") or {}).items()}
    checks = [
        Check(
            metric=str(c.get("metric", "")),
            scope=str(c.get("scope", "overall")),
            slice=_opt_str(c.get("slice")),
            op=_opt_str(c.get("op")),
            bound=_num(c.get("bound")),
            value=_num(c.get("value")),
            verdict=str(c.get("verdict", "")),
            reason=str(c.get("reason") or ""),
        )
        for c in blessing.get("checks") or []
    ]
    baseline = None
    base_doc = metrics_doc.get("baseline")
    base_bless = blessing.get("baseline")
    if isinstance(base_doc, dict) or isinstance(base_bless, dict):
        old = (base_doc or {}).get("metrics") or {}
        changes = [
            MetricChange(name, _num(old.get(name)), new, _delta(_num(old.get(name)), new))
            for name, new in metrics.items()
            if name in old
        ]
        model = (base_doc or {}).get("model") or (base_bless or {}).get("model")
        reason = (base_bless or {}).get("reason") or ""
        baseline = Baseline(model=_opt_str(model), reason=str(reason), changes=changes)
    parity_doc = _json_file(onnx_dir / "parity.json", required=False)
    parity = None
    if parity_doc is not None:
        parity = Parity(
            ok=bool(parity_doc.get("ok")),
            rows=_int(parity_doc.get("rows")) or 0,
            max_abs_diff=_num(parity_doc.get("max_abs_diff")),
            max_rel_diff=_num(parity_doc.get("max_rel_diff")),
            tolerance=_num(parity_doc.get("tolerance")),
            rtol=_num(parity_doc.get("rtol")),
        )
    blessed = blessing.get("blessed")
    return Evidence(
        blessed=blessed if isinstance(blessed, bool) else None,
        metrics=metrics,
        checks=checks,
        baseline=baseline,
        slices=_outcome(checks, "slice"),
        fairness=_outcome(checks, "fairness"),
        parity=parity,
    )


def _delta(old: float | None, new: float | None) -> float | None:
    return None if old is None or new is None else new - old


def _deployment(deployment: PathArg | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(deployment, Mapping):
        return dict(deployment)
    return _json_file(_file(deployment, "deployment.json")) or {}


def _where(doc: dict[str, Any], model_name: str) -> Where:
    revisions = doc.get("revisions") or {}
    traffic = [
        Traffic(
            revision=_opt_str(t.get("revision")),
            percent=_int(t.get("percent")),
            tag=_opt_str(t.get("tag")),
            latest=t.get("latest") if isinstance(t.get("latest"), bool) else None,
        )
        for t in doc.get("traffic") or []
        if isinstance(t, dict)
    ]
    target = str(doc.get("target", ""))
    namespace = _opt_str(doc.get("namespace"))
    location = str(doc.get("location", ""))
    if namespace is None and target in ("render", "kserve") and "/" in location:
        namespace = location.split("/", 1)[0]
    isvc = doc.get("name") or (model_name if target in ("render", "kserve") else None)
    return Where(
        target=target,
        location=location,
        decision=str(doc.get("decision") or ""),
        namespace=namespace,
        inference_service=_opt_str(isvc),
        version=_int(doc.get("version")),
        revision=_opt_str(revisions.get("latest_rolled_out") or revisions.get("latest_ready")),
        traffic=traffic,
        url=_opt_str(doc.get("url") or None),
    )
