"""The release record's types: one dataclass per question the record answers.

:class:`Model` what, :class:`Data` on which data, :class:`Evidence` with which evidence,
:class:`Build` built how, :class:`Request` who and why, :class:`Where` where, :class:`Changes`
what changed; :class:`Record` holds them. A field's ``metadata`` carries its description and
constraints (``enum``, ``const``, ``pattern``, ``format``) for the JSON Schema and the reader
(:mod:`.codec`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "FORMAT",
    "KINDS",
    "SCHEMA_FILE",
    "SIGNATURE_STATUSES",
    "Baseline",
    "Build",
    "Change",
    "Changes",
    "Check",
    "CheckOutcome",
    "CodeChanges",
    "Comparison",
    "Data",
    "DataChanges",
    "Evidence",
    "Feature",
    "FeatureTypeChange",
    "Finding",
    "MetricChange",
    "Model",
    "ModelChanges",
    "Parity",
    "Previous",
    "Record",
    "Request",
    "SchemaChanges",
    "Signature",
    "Traffic",
    "Where",
]

#: The value of a record's ``format`` field; a reader refuses any other.
FORMAT = "mlrail.release/v1"
#: What a release did: a deploy, a canary's promotion, or a rollback to an earlier version.
KINDS = ("deploy", "promote", "rollback")
#: A signature's state when the record was written (``unknown``: nobody checked).
SIGNATURE_STATUSES = ("verified", "signed", "unsigned", "invalid", "unknown")
#: The schema file, beside this module.
SCHEMA_FILE = Path(__file__).with_name("release.schema.json")

Number = float | None  # JSON has no NaN or infinity: an artifact writes them as null


#: RFC 3339's date-time (the schema's ``format`` alone is not checked by every validator)
_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"


def _doc(text: str, **extra: Any) -> dict[str, Any]:
    return {"description": text, **extra}


# --------------------------------------------------------------------------------------------
# what


@dataclass(frozen=True)
class Signature:
    status: str = field(metadata=_doc("The signature's state", enum=list(SIGNATURE_STATUSES)))
    signer: str | None = field(default=None, metadata=_doc("Who signed (key or identity)"))


@dataclass(frozen=True)
class Model:
    name: str = field(metadata=_doc("The registered model's name"))
    sha256: str = field(metadata=_doc("SHA-256 of model.onnx's bytes", pattern="^[0-9a-f]{64}$"))
    registry_version: str | None = field(default=None, metadata=_doc("The registry's version"))
    identity: str | None = field(
        default=None, metadata=_doc("What the model computes, independent of names and metadata")
    )
    signature: Signature | None = None
    task: str | None = field(default=None, metadata=_doc("binary, multiclass or regression"))
    label: str | None = None


# --------------------------------------------------------------------------------------------
# on which data


@dataclass(frozen=True)
class Feature:
    name: str
    type: str = field(metadata=_doc("The schema's type: INT, FLOAT, BYTES, STRUCT"))


@dataclass(frozen=True)
class Finding:
    split: str
    feature: str | None
    type: str
    description: str


@dataclass(frozen=True)
class Comparison:
    feature: str
    kind: str = field(metadata=_doc("skew or drift"))
    measure: str
    split: str
    value: Number
    threshold: Number


@dataclass(frozen=True)
class Data:
    sources: list[str] = field(default_factory=list)
    spans: list[str] = field(default_factory=list)
    fingerprint: str | None = field(default=None, metadata=_doc("ingest's content hash"))
    rows: dict[str, int] = field(default_factory=dict, metadata=_doc("Rows per split"))
    schema_hash: str | None = field(default=None, metadata=_doc("SHA-256 of schema.pbtxt"))
    features: list[Feature] | None = field(
        default=None, metadata=_doc("The schema's features (null: no schema at hand)")
    )
    num_anomalies: int | None = None
    anomalies: list[Finding] = field(
        default_factory=list, metadata=_doc("The first anomalies (num_anomalies counts all)")
    )
    drift_detected: bool | None = None
    drift_baseline: str | None = None
    exceeded: list[Comparison] = field(
        default_factory=list, metadata=_doc("Skew and drift values over their threshold")
    )


# --------------------------------------------------------------------------------------------
# with which evidence


@dataclass(frozen=True)
class Check:
    metric: str
    scope: str = field(metadata=_doc("overall, slice or fairness"))
    slice: str | None
    op: str | None
    bound: Number
    value: Number
    verdict: str = field(metadata=_doc("pass, fail or skipped"))
    reason: str = ""


@dataclass(frozen=True)
class CheckOutcome:
    checks: int
    failed: int
    skipped: int


@dataclass(frozen=True)
class MetricChange:
    name: str
    old: Number
    new: Number
    change: Number


@dataclass(frozen=True)
class Baseline:
    model: str | None = field(metadata=_doc("The model compared with (null: none found)"))
    reason: str = ""
    changes: list[MetricChange] = field(default_factory=list)


@dataclass(frozen=True)
class Parity:
    ok: bool
    rows: int
    max_abs_diff: Number
    max_rel_diff: Number = None
    tolerance: Number = None
    rtol: Number = None


@dataclass(frozen=True)
class Evidence:
    blessed: bool | None = None
    metrics: dict[str, Number] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    baseline: Baseline | None = None
    slices: CheckOutcome | None = None
    fairness: CheckOutcome | None = None
    parity: Parity | None = None


# --------------------------------------------------------------------------------------------
# built how, who and why, where


@dataclass(frozen=True)
class Build:
    mlrail_version: str
    pipeline_name: str | None = None
    pipeline_version: str | None = field(default=None, metadata=_doc("The pipeline's hash"))
    run_id: str | None = None
    run_url: str | None = None
    image: str | None = None
    image_digest: str | None = None


@dataclass(frozen=True)
class Request:
    requested_by: str = field(metadata=_doc("Who asked (a user, or a token's subject)"))
    reason: str = ""


@dataclass(frozen=True)
class Traffic:
    revision: str | None
    percent: int | None
    tag: str | None = None
    latest: bool | None = None


@dataclass(frozen=True)
class Where:
    target: str = field(metadata=_doc("local, render or kserve"))
    location: str = field(metadata=_doc("Repository folder, or namespace/name"))
    decision: str = ""
    namespace: str | None = None
    inference_service: str | None = None
    version: int | None = field(default=None, metadata=_doc("The local repository's version"))
    revision: str | None = None
    traffic: list[Traffic] = field(default_factory=list)
    url: str | None = None


# --------------------------------------------------------------------------------------------
# what changed


@dataclass(frozen=True)
class Change:
    old: str | None
    new: str | None
    changed: bool


@dataclass(frozen=True)
class ModelChanges:
    sha256: Change
    identity: Change
    registry_version: Change


@dataclass(frozen=True)
class DataChanges:
    fingerprint: Change
    rows: list[MetricChange]
    sources_added: list[str]
    sources_removed: list[str]


@dataclass(frozen=True)
class FeatureTypeChange:
    name: str
    old: str
    new: str


@dataclass(frozen=True)
class SchemaChanges:
    hash: Change
    compared: bool = field(metadata=_doc("Whether both records list their features"))
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed_type: list[FeatureTypeChange] = field(default_factory=list)


@dataclass(frozen=True)
class CodeChanges:
    mlrail_version: Change
    pipeline_version: Change
    image: Change


@dataclass(frozen=True)
class Changes:
    model: ModelChanges
    metrics: list[MetricChange]
    data: DataChanges
    schema: SchemaChanges
    code: CodeChanges


@dataclass(frozen=True)
class Previous:
    number: int | None = field(metadata=_doc("Its release number for this model"))
    created: str
    version: str | None
    sha256: str


# --------------------------------------------------------------------------------------------
# the record


@dataclass(frozen=True)
class Record:
    model: Model
    data: Data
    evidence: Evidence
    build: Build
    request: Request
    where: Where
    created: str = field(
        metadata=_doc("When (ISO 8601, with its offset)", format="date-time", pattern=_TIME)
    )
    kind: str = field(default="deploy", metadata=_doc("What it did", enum=list(KINDS)))
    format: str = field(default=FORMAT, metadata=_doc("The record's format", const=FORMAT))
    number: int | None = field(
        default=None, metadata=_doc("Its release number for this model (set when stored)")
    )
    previous: Previous | None = None
    changes: Changes | None = None
    links: dict[str, str] = field(
        default_factory=dict, metadata=_doc("Artifact name to its URI or path")
    )

    @property
    def version(self) -> str | None:
        """The version released: the registry's, else the local repository's."""
        if self.model.registry_version is not None:
            return self.model.registry_version
        return None if self.where.version is None else str(self.where.version)
