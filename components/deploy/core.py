"""deploy: put a checked ONNX model where it serves.

Targets:

- ``local``: push the model into a local model repository as a new version
  (:func:`mlrail.artifacts.model_repository.push`: atomically — the version folder appears by one
  rename, complete — so a running ``mlrail serve`` picks it up without a restart), with its Triton
  ``config.pbtxt`` written for the name it is deployed under; unless the newest version already
  is this model (below): then nothing is pushed.
- ``render``: write the KServe ``InferenceService`` for the model without touching a cluster.
- ``kserve``: apply that InferenceService to the cluster (server-side apply), wait for it,
  smoke-test the live endpoint with export_onnx's golden requests, with an optional canary that is
  promoted or rolled back. The decision table, the choices behind it and the list of Kubernetes
  API calls with the RBAC rule allowing each are in :mod:`mlrail.components.deploy.kserve`.

The InferenceService (``render`` and ``kserve``): runtime ``mlrail-onnx`` or
``kserve-tritonserver`` over the V2 protocol; ``storageUri`` = the artifact's ``model_repository``;
requests = limits = ``cpu``/``memory``; ``minReplicas``/``maxReplicas``; the deployment mode in
the ``serving.kserve.io/deploymentMode`` annotation (Serverless also turns on tag routing, so a
canary is reachable alone); the model's identity in the ``mlrail.io/model-identity`` annotation
and the sha256 of its file in ``mlrail.io/model-sha256`` (a record of the bytes), each on the
object and on the predictor (and, for a verified model, its signer in ``mlrail.io/model-signer``:
so the same model unsigned or by another signer is not ``unchanged``);
``serviceAccountName: mlrail-serving`` with no API token; Pod Security "restricted" settings on
the predictor pod and the model container (the ServingRuntime supplies the user id). With
``log_sample_rate`` above 0, payload logging to ``payload_log_url`` (default: the in-cluster
payload receiver): the mlrail runtime's own ``--log-payloads``/``--log-sample-rate`` arguments, or
KServe's ``logger`` (mode ``all``, no sampling) for Triton
(:mod:`mlrail.components.deploy.kserve.payload_logging`).

Signatures (:mod:`mlrail.components.deploy.signature`): with ``verify_key`` (or
``$MLRAIL_VERIFY_KEY``) the model must be signed with that key's private half; it is verified,
for every target, before anything is pushed, applied or rendered, and a tampered, swapped,
foreign-key or unsigned model is refused naming the file. A signed model deploys from its signed
version folder, so ``local`` pushes the signature with it.

The model is known by its identity (:func:`mlrail.artifacts.identity.model_identity`: what the
graph computes, not how the file spells it; a retraining with the same data and seed has the
same one), computed here from ``model.onnx`` itself. If the file's ``mlrail.identity`` metadata
(written by export_onnx) names another identity of the same form, the file was changed after
export: refused. Decisions:

==========  ===================================================================================
target      ``decision``
==========  ===================================================================================
local       ``unchanged``: the newest version in the repository has the same identity and the
            same ``model_spec.json`` (and, for a signed model, is signed: verifies with the key
            when one is configured); nothing pushed, ``version`` is that version's.
            ``pushed``: otherwise; a new version.
render      ``rendered``
kserve      ``unchanged`` when the live InferenceService's ``mlrail.io/model-identity`` is this
            identity and every other field deploy sets is in place (then the live
            ``storageUri`` and ``mlrail.io/model-sha256`` stay: the bytes already serving are
            the same model); else ``applied``, ``promoted``, ``rolled_back`` or ``failed``:
            :mod:`mlrail.components.deploy.kserve.rollout`
==========  ===================================================================================

Model repository layout (``local``; :mod:`mlrail.artifacts.model_repository`'s)::

    <repository>/<model_name>/config.pbtxt
    <repository>/<model_name>/<version>/model.onnx        versions 1, 2, 3, ...
    <repository>/<model_name>/<version>/model_spec.json
    <repository>/<model_name>/<version>/model_config.pbtxt, model.sig   a signed model's
    <repository>/<model_name>/logging.json   {"sample_rate": r} when log_sample_rate > 0 (else
                                             removed): mlrail serve logs it to <repository>/_logs

Output layout of the ``deployment`` artifact::

    deployment/
      deployment.json          {"target", "model_name", "version", "location", "sha256",
                                "decision", "url", "identity", "previous_identity",
                                "signature" {"status": "verified", "not verified" or
                                "unsigned", "signer"}}; for
                                ``kserve`` also the rollout record: "namespace", "name",
                                "deployment_mode", "model_sha256", "previous_model_sha256",
                                "model_identity", "previous_model_identity", "address",
                                "revisions", "traffic",
                                "canary_traffic_percent", "smoke_test" {"url", "model", "rows",
                                "max_abs_diff", "tolerance", "rtol", "latency_ms", "attempts",
                                "ok", "reason"}, "notes", "reason"
      inferenceservice.yaml    ``render`` and ``kserve``: the object (at 100%) deploy builds

For ``kserve`` the record is written also when deploy fails (decision ``rolled_back`` or
``failed``), before the error is raised.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from mlrail import events
from mlrail.artifacts import model_repository as repository
from mlrail.artifacts.identity import IDENTITY_METADATA_KEY, PREFIX, model_identity
from mlrail.artifacts.model_repository import CONFIG_FILE, MODEL_FILE, SPEC_FILE
from mlrail.artifacts.modelspec import ModelSpec
from mlrail.artifacts.parity import DEFAULT_RTOL, DEFAULT_TOLERANCE
from mlrail.components.deploy import kserve
from mlrail.components.deploy.release import ReleaseContext, Releaser
from mlrail.components.deploy.signature import Signature, check, resolve_key, still_verifies
from mlrail.errors import DataError
from mlrail.io import atomic_dir, atomic_write_json, atomic_write_text, read_json
from mlrail.registry import RegistryError
from mlrail.serving.payload_log.settings import LOGS_FOLDER, write_sample_rate

__all__ = [
    "DEPLOYMENT_MODES",
    "RUNTIMES",
    "TARGETS",
    "Deployment",
    "ReleaseContext",
    "deploy",
    "inference_service",
    "storage_uri",
]

TARGETS = ("local", "render", "kserve")
DEPLOYMENT_MODES = kserve.DEPLOYMENT_MODES
#: The mlrail ONNX ServingRuntime (manifests/base) and KServe's stock Triton runtime.
RUNTIMES = ("mlrail-onnx", "kserve-tritonserver")
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Kubernetes' resource.Quantity, as the CRD's schema spells it: refused here, before any call.
_QUANTITY = re.compile(
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
# Pod Security "restricted", as far as an InferenceService can say it: the pod's and the model
# container's parts. KServe merges the container part over the ServingRuntime's container, whose
# runAsUser (mlrail-onnx: 10001, kserve-tritonserver: 1000) and read-only root stay.
_POD_SECURITY = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
_CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


@dataclass(frozen=True)
class Deployment:
    target: str
    model_name: str
    version: int | None
    location: str
    sha256: str
    #: local: pushed or unchanged; render: rendered; kserve: applied, unchanged, promoted,
    #: rolled_back or failed (the module doc's table)
    decision: str
    url: str
    #: :func:`mlrail.artifacts.identity.model_identity` of the model deployed
    identity: str
    #: the identity of what served before: local, the newest version's; kserve, the live
    #: object's annotation; "" if none (or render)
    previous_identity: str = ""
    #: verified (and by whom), not verified (no key configured) or unsigned
    signature: Signature = Signature("not verified")
    #: the registry's version deployed ("" when the model is not a registered version)
    registry_version: str = ""
    #: the release's number in the release store (None when no store keeps it)
    release_number: int | None = None
    #: the lifecycle events sent (or not: a sink that is down)
    events: tuple[events.Delivery, ...] = ()

    def metadata(self) -> dict[str, Any]:
        """The ``deployment`` artifact's metadata (what the Kubeflow UI lists)."""
        return {
            "target": self.target,
            "model_name": self.model_name,
            "location": self.location,
            "version": self.version or 0,
            "registry_version": self.registry_version,
            "sha256": self.sha256,
            "identity": self.identity,
            "decision": self.decision,
            "url": self.url,
            "signature": self.signature.status,
            "signer": self.signature.signer,
            **events.summary(self.events),
        }


def storage_uri(artifact_uri: str) -> str:
    """The model repository in the onnx_model artifact, as KServe's storage initializer reads it.

    KFP names its bundled MinIO store ``minio://bucket/key``; MinIO speaks S3, and KServe's
    storage initializer knows ``s3://`` (with the endpoint from the service account's annotations).
    """
    uri = artifact_uri.rstrip("/")
    if uri.startswith("minio://"):
        uri = "s3://" + uri.removeprefix("minio://")
    return f"{uri}/model_repository"


def inference_service(
    name: str,
    namespace: str,
    storage: str,
    *,
    runtime: str = "mlrail-onnx",
    service_account: str = "",
    min_replicas: int = 1,
    max_replicas: int = 1,
    cpu: str = "500m",
    memory: str = "512Mi",
    deployment_mode: str = "Serverless",
    model_sha256: str = "",
    model_identity: str = "",
    model_signer: str = "",
    log_sample_rate: float = 0.0,
    payload_log_url: str = "",
) -> dict[str, Any]:
    """A KServe v1beta1 InferenceService serving the ONNX model over the V2 protocol.

    ``model_signer`` (the verified signer's key fingerprint) is annotated when given, so a
    live object serving the same model unsigned, or signed by another key, is not
    ``unchanged``. ``log_sample_rate`` (0: off) and ``payload_log_url`` (empty: the receiver
    Service in ``namespace``) switch payload logging on (:func:`kserve.payload_logging`).
    """
    if not _DNS1123.match(name) or len(name) > 45:
        raise ValueError(
            f"model name {name!r} cannot name an InferenceService: use lower-case letters, "
            "digits and '-', at most 45 characters"
        )
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
    if deployment_mode not in DEPLOYMENT_MODES:
        raise ValueError(
            f"deployment mode {deployment_mode!r}: expected one of {', '.join(DEPLOYMENT_MODES)}"
        )
    for what, value in (("cpu", cpu), ("memory", memory)):
        if not _QUANTITY.match(value):
            raise ValueError(f"{what} {value!r} is not a Kubernetes quantity (e.g. 500m, 1, 512Mi)")
    lowest = 1 if deployment_mode == "RawDeployment" else 0
    if min_replicas < lowest or max_replicas < max(min_replicas, 1):
        raise ValueError(
            f"replicas {min_replicas}..{max_replicas}: need {lowest} <= min_replicas <= "
            f"max_replicas and max_replicas >= 1 (scale to zero needs Serverless)"
        )
    predictor: dict[str, Any] = {
        "minReplicas": min_replicas,
        "maxReplicas": max_replicas,
        "securityContext": copy.deepcopy(_POD_SECURITY),
        "model": {
            "modelFormat": {"name": "onnx"},
            "protocolVersion": "v2",
            "runtime": runtime,
            "storageUri": storage,
            "resources": {
                "requests": {"cpu": cpu, "memory": memory},
                "limits": {"cpu": cpu, "memory": memory},
            },
            "securityContext": copy.deepcopy(_CONTAINER_SECURITY),
        },
    }
    log_fields = kserve.payload_logging(
        runtime, log_sample_rate, payload_log_url or kserve.receiver_url(namespace)
    )
    predictor["model"].update(log_fields.pop("model", {}))
    predictor.update(log_fields)
    if service_account:
        predictor["serviceAccountName"] = service_account
        # a model server never calls the Kubernetes API (the account also says so)
        predictor["automountServiceAccountToken"] = False
    annotations = {kserve.MODE_ANNOTATION: deployment_mode}
    if deployment_mode == "Serverless":
        annotations[kserve.TAG_ROUTING_ANNOTATION] = "true"
    model_annotations = {
        k: v
        for k, v in (
            (kserve.MODEL_IDENTITY_ANNOTATION, model_identity),
            (kserve.MODEL_HASH_ANNOTATION, model_sha256),
            (kserve.MODEL_SIGNER_ANNOTATION, model_signer),
        )
        if v
    }
    annotations.update(model_annotations)
    if model_annotations:
        # also in the spec: new bytes at the same storage URI must change the spec, so that
        # metadata.generation moves and the wait cannot mistake the old revision's Ready for ours
        predictor["annotations"] = dict(model_annotations)
    return {
        "apiVersion": f"{kserve.GROUP}/{kserve.VERSION}",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "mlrail"},
            "annotations": annotations,
        },
        "spec": {"predictor": predictor},
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _identity(onnx_file: Path) -> str:
    """The model's identity, refused if export_onnx recorded another one in the file."""
    import onnx

    try:
        proto = onnx.load(str(onnx_file))
    except Exception as e:  # onnx raises DecodeError, OSError, ValueError...
        raise DataError(f"{onnx_file}: not an ONNX model: {e}") from e
    identity = model_identity(proto)
    recorded = {p.key: p.value for p in proto.metadata_props}.get(IDENTITY_METADATA_KEY, "")
    if recorded.startswith(PREFIX) and recorded != identity:
        raise DataError(
            f"{onnx_file}: its metadata {IDENTITY_METADATA_KEY} is {recorded} but the graph's "
            f"identity is {identity}: the file was changed after export_onnx wrote it"
        )
    return identity


def _deploy_local(
    src: Path, deployment_dir: str | Path, model_repository: str, model_name: str, sha: str,
    identity: str, signature: Signature, key: str, log_sample_rate: float = 0.0,
) -> Deployment:  # fmt: skip
    """Push a new version, unless the newest one is this model (same identity and spec, and,
    for a signed model, signed too: verified with ``key`` when one is configured).

    Payload logging is switched on (``logging.json``) or off first, so the new version's first
    answers are logged, and a rate out of range refuses the deploy before anything is pushed.
    """
    if not model_repository:
        raise ValueError("target 'local' needs a model_repository folder")
    if model_name == LOGS_FOLDER:  # the server never takes it for a model
        raise ValueError(f"model name {model_name!r} is the repository's payload log folder")
    root = Path(model_repository).expanduser().resolve() / model_name
    spec = ModelSpec.read(src)
    if (
        isinstance(log_sample_rate, bool)
        or not isinstance(log_sample_rate, int | float)
        or not 0.0 <= log_sample_rate <= 1.0
    ):
        raise ValueError(f"log_sample_rate must be from 0 (off) to 1, got {log_sample_rate!r}")
    root.mkdir(parents=True, exist_ok=True)
    write_sample_rate(root, log_sample_rate)
    newest = repository.latest_version(root)
    previous = model_identity(newest / MODEL_FILE) if newest is not None else ""
    if (
        newest is not None
        and previous == identity
        and (newest / SPEC_FILE).is_file()
        and read_json(newest / SPEC_FILE) == read_json(src / SPEC_FILE)
        and (signature.status == "unsigned" or still_verifies(newest, key))
    ):
        version, decision = int(newest.name), "unchanged"
    else:
        version, decision = repository.push(root, src, spec), "pushed"
    location = str(root / str(version))
    return Deployment(
        "local", model_name, version, location, sha, decision, "", identity, previous, signature
    )


def _served_name(src: Path) -> str:
    """The model's name on a V2 server: its folder in export_onnx's model repository."""
    configs = sorted((src / "model_repository").glob(f"*/{CONFIG_FILE}"))
    if len(configs) != 1:
        raise DataError(
            f"{src}/model_repository: expected one model's {CONFIG_FILE}, found "
            f"{len(configs)}; was this written by export_onnx?"
        )
    return configs[0].parent.name


def _golden(src: Path) -> tuple[dict[str, Any], float, float]:
    """golden.json, and the bound (tolerance, rtol) export_onnx checked parity with."""
    golden_file = src / "golden.json"
    if not golden_file.is_file():
        raise DataError(
            f"{golden_file}: no golden requests for the smoke test; re-export the model with "
            "this version of export_onnx"
        )
    golden = read_json(golden_file)
    if not isinstance(golden, dict) or not {"request", "outputs"} <= set(golden):
        raise DataError(f"{golden_file}: expected an object with 'request' and 'outputs'")
    parity_file = src / "parity.json"
    parity = read_json(parity_file) if parity_file.is_file() else {}
    return (
        golden,
        float(parity.get("tolerance", DEFAULT_TOLERANCE)),
        float(parity.get("rtol", DEFAULT_RTOL)),
    )


def _write(deployment_dir: str | Path, record: dict[str, Any], isvc: dict[str, Any] | None) -> None:
    with atomic_dir(deployment_dir) as tmp:
        atomic_write_json(tmp / "deployment.json", record)
        if isvc is not None:
            atomic_write_text(tmp / "inferenceservice.yaml", yaml.safe_dump(isvc, sort_keys=False))


def deploy(
    onnx_model_dir: str | Path,
    deployment_dir: str | Path,
    *,
    target: str = "local",
    model_name: str = "model",
    model_repository: str = "",
    onnx_model_uri: str = "",
    namespace: str = "mlrail",
    runtime: str = "mlrail-onnx",
    deployment_mode: str = "Serverless",
    canary_traffic_percent: int = 0,
    min_replicas: int = 1,
    max_replicas: int = 1,
    cpu: str = "500m",
    memory: str = "512Mi",
    timeout_seconds: int = 600,
    ingress_url: str = "",
    verify_key: str = "",
    log_sample_rate: float = 0.0,
    payload_log_url: str = "",
    release: ReleaseContext | None = None,
    api: kserve.KubeApi | None = None,
    http: kserve.HttpPost | None = None,
    clock: kserve.Clock | None = None,
) -> Deployment:
    """Deploy the model exported by export_onnx to ``target`` (see the module doc).

    Then the release (:mod:`mlrail.components.deploy.release`, with ``release``; default: a
    record in no artifact, no registry, events only to ``K_SINK``): the registry's aliases, the
    release record, the lifecycle events. For ``kserve``, also when the rollout failed.

    ``verify_key`` is a PEM public key file (empty: ``$MLRAIL_VERIFY_KEY``'s, else no
    verification): the model must be signed with its private key, checked before anything is
    pushed, applied or rendered (:mod:`mlrail.components.deploy.signature`).

    ``log_sample_rate`` (0: off) logs that fraction of answered requests; for ``render`` and
    ``kserve`` to ``payload_log_url`` (empty: the ``mlrail-payload-logs`` receiver Service in
    ``namespace``), which writes the payload log layout to the object store.
    For ``local``, ``<model_repository>/<model_name>/logging.json`` is written
    (``{"sample_rate": r}``, atomically; removed for 0: :mod:`mlrail.serving.payload_log.settings`)
    and ``mlrail serve`` logs the model under ``<model_repository>/_logs``.

    ``api``, ``http`` and ``clock`` replace the Kubernetes API (default: in-cluster credentials,
    else kubeconfig), the smoke test's HTTP POST and the waits' clock (target ``kserve``).

    Raises:
        DeployError: target ``kserve`` did not end with the model serving (rolled back, or a
            first deploy that failed); deployment.json is written first.
        SignatureError: a key is configured and the model is unsigned, signed with another
            key, or a file differs from what was signed (named); nothing is written.
        RegistryError: the registry refused an alias move (after everything else was written).
    """
    artifact = Path(onnx_model_dir)
    if not (artifact / MODEL_FILE).is_file():
        raise DataError(f"{artifact / MODEL_FILE}: no ONNX model; was it written by export_onnx?")
    if target not in TARGETS:
        raise ValueError(f"target {target!r}: expected one of {', '.join(TARGETS)}")
    key = resolve_key(verify_key)
    # before anything is pushed, applied or rendered; a signed model deploys from its signed
    # version folder, so the signature travels with it
    signature, src = check(artifact, key)
    onnx_file = src / MODEL_FILE
    sha = _sha256(onnx_file)
    identity = _identity(onnx_file)
    releaser = Releaser(model_name, release or ReleaseContext())
    if target == "local":
        result = _deploy_local(
            src, deployment_dir, model_repository, model_name, sha, identity, signature, key,
            log_sample_rate,
        )  # fmt: skip
        return _finish(releaser, deployment_dir, result, {}, None, artifact)
    if not onnx_model_uri:
        raise ValueError(f"target {target!r} needs the onnx_model artifact's URI")
    kserve.check_canary(canary_traffic_percent, deployment_mode)
    # mlrail-serving (manifests/base) has no API token: a model server needs none
    isvc = inference_service(
        model_name,
        namespace,
        storage_uri(onnx_model_uri),
        runtime=runtime,
        service_account="mlrail-serving",
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        cpu=cpu,
        memory=memory,
        deployment_mode=deployment_mode,
        model_sha256=sha,
        model_identity=identity,
        model_signer=signature.signer if signature.status == "verified" else "",
        log_sample_rate=log_sample_rate,
        payload_log_url=payload_log_url,
    )
    location = f"{namespace}/{model_name}"
    if target == "render":
        result = Deployment(
            "render", model_name, None, location, sha, "rendered", "", identity, "", signature
        )
        extra = {"inferenceservice": isvc}
        return _finish(releaser, deployment_dir, result, extra, isvc, artifact)
    golden, tolerance, rtol = _golden(artifact)
    try:
        done = kserve.rollout(
            isvc,
            golden,
            smoke_model=_served_name(artifact),
            canary_traffic_percent=canary_traffic_percent,
            timeout_seconds=timeout_seconds,
            ingress_url=ingress_url,
            tolerance=tolerance,
            rtol=rtol,
            api=api,
            http=http,
            clock=clock,
            on_canary=releaser.canary_started,
        )
    except kserve.DeployError as e:
        if e.record is not None:
            failed = Deployment(
                "kserve", model_name, None, location, sha, e.record.decision, "", identity,
                e.record.previous_model_identity, signature,
            )  # fmt: skip
            extra = e.record.to_json()
            try:
                _finish(releaser, deployment_dir, failed, extra, isvc, artifact, reason=str(e))
            except RegistryError as registry_error:
                # the rollout's failure is the news; the registry's is said beside it
                raise kserve.DeployError(f"{e}; and {registry_error}", e.record) from e
        raise
    result = Deployment(
        "kserve", model_name, None, location, sha, done.decision, done.url, identity,
        done.previous_model_identity, signature,
    )  # fmt: skip
    return _finish(releaser, deployment_dir, result, done.to_json(), isvc, artifact)


def _finish(
    releaser: Releaser,
    deployment_dir: str | Path,
    result: Deployment,
    extra: dict[str, Any],
    isvc: dict[str, Any] | None,
    artifact: Path,
    *,
    reason: str = "",
) -> Deployment:
    """Write deployment.json, then the release (aliases, record, events) of ``artifact``
    (export_onnx's folder: a signed model's top-level files are the verified ones)."""
    result = replace(result, registry_version=releaser.version or "")
    doc = {k: v for k, v in asdict(result).items() if k not in ("release_number", "events")}
    doc.update(extra)
    _write(deployment_dir, doc, isvc)
    record = releaser.finish(doc, onnx_model=artifact, request_reason=reason)
    return replace(result, release_number=record.number, events=tuple(releaser.deliveries))
