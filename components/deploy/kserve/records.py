"""What the kserve target reports: the rollout record, its smoke test, and the error that carries
the record when the new model is not serving."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mlrail.errors import MlrailError

__all__ = ["DeployError", "Rollout", "SmokeTest"]


class DeployError(MlrailError):
    """The deploy did not end with the new model serving; ``record`` says what is running now."""

    def __init__(self, message: str, record: Rollout | None = None) -> None:
        super().__init__(message)
        self.record = record


@dataclass(frozen=True)
class SmokeTest:
    url: str
    model: str
    rows: int
    max_abs_diff: float | None
    tolerance: float
    rtol: float
    latency_ms: float | None
    attempts: int
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class Rollout:
    """What deploy did and what serves now (``deployment.json`` of target ``kserve``)."""

    namespace: str
    name: str
    decision: str
    deployment_mode: str
    model_sha256: str
    previous_model_sha256: str
    #: mlrail.artifacts.identity of the model deployed, and of the live object's before ("")
    model_identity: str
    previous_model_identity: str
    url: str
    address: str
    #: latest_created, latest_ready, latest_rolled_out, previous_rolled_out (Serverless only)
    revisions: dict[str, str]
    #: [{"revision", "percent", "tag", "latest"}] from status.components.predictor.traffic
    traffic: list[dict[str, Any]]
    canary_traffic_percent: int
    smoke_test: SmokeTest | None
    notes: list[str] = field(default_factory=list)
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
