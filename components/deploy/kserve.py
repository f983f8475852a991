"""deploy's ``kserve`` target: apply an InferenceService, wait, smoke-test, canary, roll back.

Pure Python over three injected things, so every decision is testable without a cluster:
``api`` (:class:`KubeApi`, the two Kubernetes calls made), ``http`` (:data:`HttpPost`, the smoke
test's POST) and ``clock`` (:class:`Clock`, the waits). :func:`connect` builds the real ``api``
from in-cluster credentials (kubeconfig as the fallback); ``kubernetes`` is imported only there.

Decision table (``rollout``), read top to bottom; the first row that matches decides:

======================================================  =========================================
situation                                               what happens, ``decision``
======================================================  =========================================
canary requested in RawDeployment mode                  refused before any API call (ValueError)
live object in the other deployment mode                refused before applying (DeployError):
                                                        KServe cannot switch it in place
live object has this model hash and every field         no apply; wait for Ready, smoke-test:
deploy sets, no canary split                            ``unchanged``; on failure nothing was
                                                        changed: ``failed``
no live object (first deploy)                           apply at 100% (a requested canary is
                                                        noted as meaningless), wait, smoke-test:
                                                        ``applied``; on failure nothing to roll
                                                        back to: ``failed``, object left in place
live object, no canary                                  apply, wait, smoke-test: ``applied``; on
                                                        failure re-apply the previous spec:
                                                        ``rolled_back``
live object, canary but no revision rolled out yet      as "no canary" (noted)
live object, canary 1-99 (Serverless)                   apply with ``canaryTrafficPercent``, wait
                                                        for the latest revision, smoke-test it by
                                                        its ``latest`` tag URL, promote (apply
                                                        without the field), wait: ``promoted``;
                                                        on failure apply ``canaryTrafficPercent:
                                                        0``: ``rolled_back``
======================================================  =========================================

"Failure" is any of: not Ready within ``timeout_seconds``, the new revision failing to load
(``status.modelStatus``), no URL for the canary alone, or the smoke test. Every failure raises
:class:`DeployError` with the reason and the record of what serves now (its ``record``; core
writes it to deployment.json first). A rollback whose own apply fails is ``failed``, with both
reasons.

Choices, and why:

- **Server-side apply** with field manager ``mlrail-deploy`` and ``force=True``: deploy is the
  authority for the fields it sets (a hand edit of, say, ``minReplicas`` is taken back), while
  fields it does not set stay with their owners. Omitting a field deploy set before removes it,
  which is how a promotion drops ``canaryTrafficPercent``. kubernetes 30.1's
  ``patch_namespaced_custom_object`` always sends ``application/merge-patch+json`` and takes no
  ``_content_type``, so :class:`KubernetesApi` makes the same request through
  ``ApiClient.call_api`` with ``application/apply-patch+yaml`` (JSON is YAML).
- **Model hash** in the annotation ``mlrail.io/model-sha256`` (sha256 of ``model.onnx``; a label
  value cannot hold 64 characters), on the object and on ``spec.predictor``. The spec copy makes
  new bytes at the same storage URI a spec change: ``metadata.generation`` moves (so the wait
  below cannot take the old revision's Ready for the new one) and KServe makes a new revision
  (predictor annotations go into the pod template). "Unchanged" is decided by hash and fields.
- **Ready** means: ``status.observedGeneration`` has caught up with the applied generation,
  condition ``Ready`` is True, and in Serverless mode ``latestReadyRevision ==
  latestCreatedRevision`` with the expected split in ``status.components.predictor.traffic``.
  Polling backs off 1, 2, 4, 8, then every 10 s, each wait bounded by ``timeout_seconds``.
- **Canary smoke test** goes to the latest revision alone, never to the split: deploy turns on
  KServe's tag routing (``serving.kserve.io/enable-tag-routing``) and posts to the ``url`` of the
  traffic entry with ``latestRevision: true`` (tag ``latest``). Without that URL it rolls back
  rather than test a mix. A full rollout is tested at ``status.address.url`` (cluster-local; the
  component runs in the cluster), else ``status.url``. With ``ingress_url`` the request goes to
  the ingress gateway instead, with the ``Host`` of ``status.url`` (or of the tag URL).
- **Canary rollback = ``canaryTrafficPercent: 0``** (KServe's documented rollback), not a
  re-apply of the previous spec: traffic returns at once to the last rolled-out revision, whose
  pods are running (they served the rest of the split). Re-applying the old spec would make a new
  revision, and until it is ready Knative sends "latest" traffic to the latest *ready* revision:
  the one that just failed. The spec keeps the rejected model at 0% (``kubectl get isvc`` shows
  PREV 100); the next deploy replaces it.
- **Full-rollout rollback = re-apply the spec read before applying** (labels, annotations and
  spec of the live object): the only rollback that also works in RawDeployment mode.
- A first deploy that fails is left in place for ``kubectl describe``: there is nothing to roll
  back to, and deleting would need a ``delete`` right deploy does not otherwise use.
- Smoke test: ``golden.json``'s request (the first eval rows, written by export_onnx) posted to
  ``/v2/models/<name>/infer``, where ``<name>`` is the model's folder in ``model_repository`` (the
  name the V2 server uses, which may differ from the InferenceService's); outputs compared by
  name with ONNX Runtime's recorded ones within ``tolerance + rtol * max(|expected|, largest
  |expected|)`` (parity.json's bound). For ``kserve-tritonserver`` rows with a missing number
  are left out: Triton's JSON reader takes no ``null``. Transport errors and 502/503/504 are
  retried twice.
- While waiting, an API error that may pass (429, 5xx, no connection) is polled through until the
  deadline; any other error (403, a missing KServe) stops deploy at once.

Kubernetes API calls, each with the rule of the ``mlrail-pipeline-runner`` Role
(``manifests/base/rbac.yaml``) that allows it (tests/components/deploy/test_rbac.py checks this
list against the calls deploy makes in every scenario and against the Role):

- get serving.kserve.io/v1beta1 inferenceservices: rules[0] (serving.kserve.io, inferenceservices,
  get) -- read the live object before applying, and every poll while waiting
- patch serving.kserve.io/v1beta1 inferenceservices: rules[0] (serving.kserve.io,
  inferenceservices, patch) -- every server-side apply (deploy, promote, roll back)
- create serving.kserve.io/v1beta1 inferenceservices: rules[0] (serving.kserve.io,
  inferenceservices, create) -- a server-side apply that creates the object (first deploy): the
  API server then also authorizes ``create``

Nothing else: no list, watch, update or delete, no ``inferenceservices/status``, no other kind.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from mlrail.artifacts.parity import DEFAULT_RTOL, DEFAULT_TOLERANCE
from mlrail.errors import MlrailError

if TYPE_CHECKING:  # importing kubernetes costs about half a second: only target kserve pays it
    from kubernetes.client import ApiClient

__all__ = [
    "DECISIONS",
    "DEPLOYMENT_MODES",
    "FIELD_MANAGER",
    "GROUP",
    "MODEL_HASH_ANNOTATION",
    "MODE_ANNOTATION",
    "PLURAL",
    "TAG_ROUTING_ANNOTATION",
    "VERSION",
    "Clock",
    "DeployError",
    "HttpPost",
    "KubeApi",
    "KubernetesApi",
    "Rollout",
    "SmokeTest",
    "check_canary",
    "connect",
    "golden_rows",
    "rollout",
    "smoke_test",
]

GROUP = "serving.kserve.io"
VERSION = "v1beta1"
PLURAL = "inferenceservices"
FIELD_MANAGER = "mlrail-deploy"
MODEL_HASH_ANNOTATION = "mlrail.io/model-sha256"
MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
TAG_ROUTING_ANNOTATION = "serving.kserve.io/enable-tag-routing"
DEPLOYMENT_MODES = ("Serverless", "RawDeployment")
DECISIONS = ("applied", "unchanged", "promoted", "rolled_back", "failed")

_FIRST_DELAY = 1.0
_MAX_DELAY = 10.0
_SMOKE_ATTEMPTS = 3
_RETRY_STATUSES = frozenset({502, 503, 504})
_HTTP_TIMEOUT = 30.0
_API_TIMEOUT = 30
_LOAD_FAILURES = frozenset({"BlockedByFailedLoad", "InvalidSpec"})
_TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


class KubeApi(Protocol):
    """The Kubernetes calls deploy makes, named as the ``kubernetes`` client names them.

    Both return the object as a dict and raise ``kubernetes.client.ApiException`` (with a
    ``V1Status`` JSON body) on an error status, as ``CustomObjectsApi`` does.
    """

    def get_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str
    ) -> Any: ...

    def apply_namespaced_custom_object(
        self,
        group: str,
        version: str,
        namespace: str,
        plural: str,
        name: str,
        body: dict[str, Any],
        *,
        field_manager: str,
        force: bool,
    ) -> Any: ...


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class _SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


#: ``http(url, body, headers, timeout) -> (status, body)``; raises OSError when no answer came.
HttpPost = Callable[[str, bytes, Mapping[str, str], float], tuple[int, bytes]]


def _urllib_post(
    url: str, body: bytes, headers: Mapping[str, str], timeout: float
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as e:  # an answer, with an error status
        return int(e.code), bytes(e.read())


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


# -- the Kubernetes side --------------------------------------------------------------------------


class KubernetesApi:
    """:class:`KubeApi` over the official client (``CustomObjectsApi`` and ``ApiClient``)."""

    def __init__(self, api_client: ApiClient) -> None:
        from kubernetes.client import CustomObjectsApi

        self.api_client = api_client
        self._objects = CustomObjectsApi(api_client)

    def get_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str
    ) -> Any:
        return self._objects.get_namespaced_custom_object(
            group, version, namespace, plural, name, _request_timeout=_API_TIMEOUT
        )

    def apply_namespaced_custom_object(
        self,
        group: str,
        version: str,
        namespace: str,
        plural: str,
        name: str,
        body: dict[str, Any],
        *,
        field_manager: str,
        force: bool,
    ) -> Any:
        # The request patch_namespaced_custom_object makes, with the apply content type it
        # cannot send in kubernetes 30.1 (see the module doc).
        return self.api_client.call_api(
            "/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}",
            "PATCH",
            path_params={
                "group": group,
                "version": version,
                "namespace": namespace,
                "plural": plural,
                "name": name,
            },
            query_params=[("fieldManager", field_manager), ("force", "true" if force else "false")],
            header_params={
                "Accept": "application/json",
                "Content-Type": "application/apply-patch+yaml",
            },
            body=body,
            response_type="object",
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
            _preload_content=True,
            _request_timeout=_API_TIMEOUT,
        )


def connect() -> KubernetesApi:
    """The API of the cluster this runs in (service account), else of the kubeconfig."""
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException as in_cluster:
        try:
            # read now: the client reads $KUBECONFIG once, when it is first imported
            config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or None)
        except (config.ConfigException, OSError) as kubeconfig:
            raise DeployError(
                f"no Kubernetes credentials: not in a cluster ({in_cluster}) and no usable "
                f"kubeconfig ({kubeconfig}); set KUBECONFIG or run in the cluster"
            ) from kubeconfig
    return KubernetesApi(client.ApiClient())


def _status_message(body: Any) -> str:
    try:
        status = json.loads(body)
    except (TypeError, ValueError):
        return str(body or "").strip()[:300]
    return str(status.get("message", "")) if isinstance(status, dict) else str(status)[:300]


def _api_error(exc: Exception, doing: str, namespace: str) -> DeployError:
    status = getattr(exc, "status", None)
    message = _status_message(getattr(exc, "body", None)) or str(getattr(exc, "reason", exc))
    hint = ""
    if status == 403:
        hint = (
            f"; the pipeline's service account needs the mlrail-pipeline-runner Role "
            f"(manifests/base/rbac.yaml) in namespace {namespace}"
        )
    return DeployError(f"{doing}: HTTP {status}: {message}{hint}")


class _Transient(DeployError):
    """An API error worth another try while waiting: throttled, a server error, no connection."""


def _get(api: KubeApi, namespace: str, name: str) -> dict[str, Any] | None:
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError as ConnectionTrouble

    doing = f"get {PLURAL}.{GROUP} {namespace}/{name}"
    try:
        obj = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    except ConnectionTrouble as e:
        raise _Transient(f"{doing}: no answer from the API server: {e}") from e
    except ApiException as e:
        if e.status in _TRANSIENT_STATUSES:
            raise _Transient(str(_api_error(e, doing, namespace))) from e
        if e.status == 404:
            try:
                details = json.loads(e.body).get("details") or {}
            except (TypeError, ValueError, AttributeError):
                details = {}
            if details.get("name") == name:
                return None
            # Not a Status naming our object: the path itself is unknown.
            raise DeployError(
                f"get {PLURAL}.{GROUP} {namespace}/{name}: this cluster does not serve "
                f"{GROUP}/{VERSION} InferenceServices ({_status_message(e.body)}); is KServe "
                "installed?"
            ) from e
        raise _api_error(e, doing, namespace) from e
    return dict(obj)


def _apply(api: KubeApi, body: dict[str, Any]) -> dict[str, Any]:
    from kubernetes.client.exceptions import ApiException

    meta = body["metadata"]
    try:
        obj = api.apply_namespaced_custom_object(
            GROUP,
            VERSION,
            meta["namespace"],
            PLURAL,
            meta["name"],
            body,
            field_manager=FIELD_MANAGER,
            force=True,
        )
    except ApiException as e:
        where = f"{meta['namespace']}/{meta['name']}"
        raise _api_error(e, f"apply {PLURAL}.{GROUP} {where}", meta["namespace"]) from e
    return dict(obj)


# -- reading status --------------------------------------------------------------------------------


def _dig(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _predictor_status(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return _dig(obj, "status", "components", "predictor") or {}


def _traffic(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "revision": t.get("revisionName", ""),
            "percent": t.get("percent", 0),
            "tag": t.get("tag", ""),
            "latest": bool(t.get("latestRevision")),
        }
        for t in _predictor_status(obj).get("traffic") or []
    ]


def _revisions(obj: Mapping[str, Any]) -> dict[str, str]:
    predictor = _predictor_status(obj)
    keys = {
        "latest_created": "latestCreatedRevision",
        "latest_ready": "latestReadyRevision",
        "latest_rolled_out": "latestRolledoutRevision",
        "previous_rolled_out": "previousRolledoutRevision",
    }
    return {ours: str(predictor[theirs]) for ours, theirs in keys.items() if predictor.get(theirs)}


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    for c in _dig(obj, "status", "conditions") or []:
        if c.get("type") == kind:
            return dict(c)
    return {}


@dataclass(frozen=True)
class _Want:
    """What "done" means for one wait."""

    generation: int
    serverless: bool
    #: None: a full rollout (latest revision at 100%); 1-99: a canary split; 0: rolled back
    canary: int | None


def _state(obj: Mapping[str, Any], want: _Want) -> tuple[str, str]:
    """("ready" | "pending" | "failed", why)."""
    observed = _dig(obj, "status", "observedGeneration")
    if not isinstance(observed, int) or observed < want.generation:
        return "pending", f"KServe has not reconciled generation {want.generation} yet"
    traffic = _traffic(obj)
    if want.canary == 0:
        # Rolled back: only the split matters (Ready stays False while a failed revision exists).
        if any(not t["latest"] and t["percent"] == 100 for t in traffic):
            return "ready", ""
        return "pending", f"traffic is not back on the previous revision yet: {traffic}"
    model = _dig(obj, "status", "modelStatus") or {}
    if model.get("transitionStatus") in _LOAD_FAILURES:
        failure = model.get("lastFailureInfo") or {}
        return "failed", (
            f"the new revision failed: {model['transitionStatus']} "
            f"({failure.get('reason', '')}: {failure.get('message', '')})"
        )
    ready = _condition(obj, "Ready")
    if ready.get("status") != "True":
        why = ": ".join(s for s in (ready.get("reason"), ready.get("message")) if s)
        return "pending", f"Ready is {ready.get('status', 'absent')}" + (f" ({why})" if why else "")
    if not want.serverless:
        return "ready", ""
    revisions = _revisions(obj)
    created, latest_ready = revisions.get("latest_created"), revisions.get("latest_ready")
    if not created or created != latest_ready:
        return "pending", f"revision {created} is not ready (latest ready: {latest_ready})"
    latest = [t for t in traffic if t["latest"]]
    share = 100 if want.canary is None else want.canary
    if not latest or latest[0]["percent"] != share:
        return "pending", f"the latest revision does not have {share}% of traffic yet: {traffic}"
    return "ready", ""


class _RolloutFailed(Exception):
    def __init__(self, reason: str, obj: Mapping[str, Any]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.obj = obj


def _wait(
    api: KubeApi, namespace: str, name: str, want: _Want, timeout: float, clock: Clock
) -> dict[str, Any]:
    """Poll with backoff until ``want`` holds; raises _RolloutFailed (timeout or load failure)."""
    deadline = clock.monotonic() + timeout
    delay = _FIRST_DELAY
    last: Mapping[str, Any] = {}
    while True:
        try:
            obj = _get(api, namespace, name)
        except _Transient as e:  # keep polling: the deadline decides
            state, why = "pending", str(e)
        else:
            if obj is None:
                raise DeployError(f"{namespace}/{name} was deleted while deploy waited for it")
            last = obj
            state, why = _state(obj, want)
            if state == "ready":
                return obj
            if state == "failed":
                raise _RolloutFailed(why, obj)
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            raise _RolloutFailed(f"not ready within {timeout:g} s: {why}", last)
        clock.sleep(min(delay, remaining))
        delay = min(delay * 2, _MAX_DELAY)


# -- the smoke test -----------------------------------------------------------------------------


def golden_rows(golden: Mapping[str, Any], drop_missing: bool) -> tuple[dict[str, Any], list]:
    """golden.json's request and expected outputs, without rows that hold a ``null`` if asked."""
    request = golden["request"]
    outputs = list(golden["outputs"])
    if not drop_missing:
        return dict(request), outputs
    inputs = request["inputs"]
    rows = int(inputs[0]["shape"][0])
    keep = [r for r in range(rows) if all(i["data"][r] is not None for i in inputs)]
    if len(keep) == rows:
        return dict(request), outputs

    def take(tensor: Mapping[str, Any]) -> dict[str, Any]:
        width = math.prod(tensor["shape"][1:])
        data = [tensor["data"][r * width + j] for r in keep for j in range(width)]
        return {**tensor, "shape": [len(keep), *tensor["shape"][1:]], "data": data}

    return {**request, "inputs": [take(i) for i in inputs]}, [take(o) for o in outputs]


def _flat(data: Any) -> list[Any]:
    if isinstance(data, list):
        return [leaf for item in data for leaf in _flat(item)]
    return [data]


def _compare(
    expected: list[Mapping[str, Any]], answer: Any, tolerance: float, rtol: float
) -> tuple[float | None, str]:
    """(max abs diff, "" or what is wrong)."""
    # numpy only when a smoke test compares: deploy's other paths never need it
    import numpy as np

    from mlrail.artifacts.parity import compare

    if not isinstance(answer, Mapping) or not isinstance(answer.get("outputs"), list):
        return None, f"the answer is not a V2 inference response: {str(answer)[:200]}"
    got = {str(o.get("name")): o for o in answer["outputs"] if isinstance(o, Mapping)}
    worst = 0.0
    problems: list[str] = []
    for want in expected:
        name = want["name"]
        if name not in got:
            return None, f"output {name!r} missing from the answer (got {sorted(got)})"
        if list(got[name].get("shape") or []) != list(want["shape"]):
            return None, f"output {name!r} has shape {got[name].get('shape')}, not {want['shape']}"
        values = _flat(got[name].get("data"))
        if len(values) != len(want["data"]) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in values
        ):
            return None, f"output {name!r} holds non-numbers or the wrong count: {values[:10]}"
        # parity.json's bound (mlrail.artifacts.parity), over this output's values
        within = compare(np.asarray(want["data"]), np.asarray(values), tolerance, rtol)
        worst = max(worst, float(within.diff.max(initial=0.0)))
        for i in np.flatnonzero(within.ratio > 1.0)[: 3 - len(problems)]:
            problems.append(
                f"{name}[{i}] = {values[i]:.7g}, ONNX Runtime gave {want['data'][i]:.7g}"
            )
    if problems:
        return worst, (
            f"answers differ from ONNX Runtime's by up to {worst:.3g} (bound {tolerance:g} + "
            f"{rtol:g} x max(|value|, largest |value|)): " + "; ".join(problems)
        )
    return worst, ""


def smoke_test(
    golden: Mapping[str, Any],
    base_url: str,
    model: str,
    *,
    http: HttpPost = _urllib_post,
    clock: Clock | None = None,
    ingress_url: str = "",
    tolerance: float = DEFAULT_TOLERANCE,
    rtol: float = DEFAULT_RTOL,
    drop_missing: bool = False,
) -> SmokeTest:
    """POST golden.json's request to ``<base_url>/v2/models/<model>/infer``; compare answers."""
    clock = clock or _SystemClock()
    request, expected = golden_rows(golden, drop_missing)
    rows = int(request["inputs"][0]["shape"][0]) if request["inputs"] else 0
    path = f"/v2/models/{urllib.parse.quote(model)}/infer"
    headers = {"Content-Type": "application/json"}
    url = base_url.rstrip("/") + path
    if ingress_url:
        headers["Host"] = urllib.parse.urlsplit(base_url).netloc
        url = ingress_url.rstrip("/") + path

    def result(ok: bool, reason: str, **figures: Any) -> SmokeTest:
        figures = {"max_abs_diff": None, "latency_ms": None, **figures}
        return SmokeTest(
            url, model, rows, tolerance=tolerance, rtol=rtol, ok=ok, reason=reason, **figures
        )

    if rows == 0:
        return result(False, "no golden row without missing values to send", attempts=0)
    body = json.dumps(request).encode()
    where = f"{url}" + (f" (Host: {headers['Host']})" if "Host" in headers else "")
    delay = _FIRST_DELAY
    for attempt in range(1, _SMOKE_ATTEMPTS + 1):
        started = time.perf_counter()
        try:
            status, answer = http(url, body, headers, _HTTP_TIMEOUT)
        except OSError as e:
            status, answer, failure = 0, b"", f"no answer from {where}: {e}"
        else:
            failure = f"HTTP {status} from {where}: {answer[:300].decode(errors='replace')}"
        latency = (time.perf_counter() - started) * 1000
        if status == 200:
            break
        if attempt == _SMOKE_ATTEMPTS or (status and status not in _RETRY_STATUSES):
            return result(False, failure, attempts=attempt)
        clock.sleep(delay)
        delay *= 2
    try:
        parsed = json.loads(answer)
    except ValueError:
        parsed = answer[:200].decode(errors="replace")
    worst, problem = _compare(expected, parsed, tolerance, rtol)
    return result(
        not problem,
        f"{where}: {problem}" if problem else "",
        max_abs_diff=worst,
        latency_ms=round(latency, 3),
        attempts=attempt,
    )


def _endpoint(obj: Mapping[str, Any], canary: bool, ingress: bool) -> str:
    status = obj.get("status") or {}
    if canary:
        for t in _predictor_status(obj).get("traffic") or []:
            if t.get("latestRevision") and t.get("url"):
                return str(t["url"])
        raise _RolloutFailed(
            "no URL reaches the new revision alone (status.components.predictor.traffic has no "
            f"url for the latest revision; is {TAG_ROUTING_ANNOTATION} honoured?)",
            obj,
        )
    address = _dig(status, "address", "url")
    url = status.get("url") if ingress else (address or status.get("url"))
    if not url:
        raise _RolloutFailed("the InferenceService is Ready but has no URL in its status", obj)
    return str(url)


# -- deciding -----------------------------------------------------------------------------------


def _covers(live: Any, want: Any) -> bool:
    """True when every field of ``want`` has the same value in ``live`` (lists compared whole)."""
    if isinstance(want, Mapping):
        return isinstance(live, Mapping) and all(
            k in live and _covers(live[k], v) for k, v in want.items()
        )
    return bool(live == want)


def _unchanged(live: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    meta, want = live.get("metadata") or {}, desired["metadata"]
    if _dig(live, "spec", "predictor", "canaryTrafficPercent") not in (None, 100):
        return False
    return (
        _covers(meta.get("annotations") or {}, want.get("annotations") or {})
        and _covers(meta.get("labels") or {}, want.get("labels") or {})
        and _covers(live.get("spec"), desired["spec"])
    )


def _previous_body(live: Mapping[str, Any]) -> dict[str, Any]:
    """The live object's labels, annotations and spec, as an apply body (a full rollback)."""
    meta = live["metadata"]
    body_meta: dict[str, Any] = {"name": meta["name"], "namespace": meta["namespace"]}
    if meta.get("labels"):
        body_meta["labels"] = dict(meta["labels"])
    annotations = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if k != "kubectl.kubernetes.io/last-applied-configuration"
    }
    if annotations:
        body_meta["annotations"] = annotations
    return {
        "apiVersion": live["apiVersion"],
        "kind": live["kind"],
        "metadata": body_meta,
        "spec": live["spec"],
    }


def _with_canary(body: Mapping[str, Any], percent: int | None) -> dict[str, Any]:
    out = copy.deepcopy(dict(body))
    predictor = out["spec"]["predictor"]
    predictor.pop("canaryTrafficPercent", None)
    if percent is not None:
        predictor["canaryTrafficPercent"] = percent
    return dict(out)


def _generation(obj: Mapping[str, Any]) -> int:
    return int(_dig(obj, "metadata", "generation") or 0)


def _live_mode(live: Mapping[str, Any]) -> str:
    return str(
        _dig(live, "status", "deploymentMode")
        or _dig(live, "metadata", "annotations", MODE_ANNOTATION)
        or ""
    )


def rollout(
    isvc: dict[str, Any],
    golden: Mapping[str, Any],
    *,
    smoke_model: str,
    canary_traffic_percent: int = 0,
    timeout_seconds: float = 600,
    ingress_url: str = "",
    tolerance: float = DEFAULT_TOLERANCE,
    rtol: float = DEFAULT_RTOL,
    api: KubeApi | None = None,
    http: HttpPost | None = None,
    clock: Clock | None = None,
) -> Rollout:
    """Deploy ``isvc`` (built by ``core.inference_service``) per the module's decision table.

    Args:
        isvc: The InferenceService at 100% (no ``canaryTrafficPercent``).
        golden: export_onnx's golden.json.
        smoke_model: The model's name on the V2 server (its folder in the model repository).
        canary_traffic_percent: 0 for a full rollout, 1-99 for a canary (Serverless only).
        timeout_seconds: The longest each wait for Ready may take.
        ingress_url: Send the smoke test through this ingress gateway (with a Host header).
        tolerance: Absolute part of the smoke test's bound.
        rtol: Relative part of the smoke test's bound.
        api: The Kubernetes API (default: :func:`connect`).
        http: The smoke test's HTTP POST (default: urllib).
        clock: Time for the waits (default: the system's).

    Returns:
        The record, with ``decision`` applied, unchanged or promoted.

    Raises:
        ValueError: A canary in RawDeployment mode, or a percentage outside 0-99.
        DeployError: The model is not serving (rolled back, or a first deploy that failed); its
            ``record`` holds what serves now.
    """
    meta = isvc["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    mode = meta["annotations"][MODE_ANNOTATION]
    sha = meta["annotations"][MODEL_HASH_ANNOTATION]
    check_canary(canary_traffic_percent, mode)
    api = api if api is not None else connect()
    http = http or _urllib_post
    clock = clock or _SystemClock()
    serverless = mode == "Serverless"
    drop_missing = _dig(isvc, "spec", "predictor", "model", "runtime") == "kserve-tritonserver"
    desired = _with_canary(isvc, None)

    live = _get(api, namespace, name)
    previous_sha = str(_dig(live, "metadata", "annotations", MODEL_HASH_ANNOTATION) or "")
    record = Rollout(
        namespace=namespace,
        name=name,
        decision="failed",
        deployment_mode=mode,
        model_sha256=sha,
        previous_model_sha256=previous_sha,
        url="",
        address="",
        revisions={},
        traffic=[],
        canary_traffic_percent=canary_traffic_percent,
        smoke_test=None,
    )
    if live is not None and _live_mode(live) not in ("", mode):
        raise DeployError(
            f"{namespace}/{name} runs in {_live_mode(live)} mode and deploy was asked for {mode}; "
            "KServe cannot change an InferenceService's deployment mode in place: delete it "
            "first or deploy under another name",
            record,
        )

    def observed(obj: Mapping[str, Any], **changes: Any) -> Rollout:
        return replace(
            record,
            url=str(_dig(obj, "status", "url") or ""),
            address=str(_dig(obj, "status", "address", "url") or ""),
            revisions=_revisions(obj),
            traffic=_traffic(obj),
            **changes,
        )

    def smoke(obj: Mapping[str, Any], canary: bool) -> SmokeTest:
        base = _endpoint(obj, canary, bool(ingress_url))
        return smoke_test(
            golden,
            base,
            smoke_model,
            http=http,
            clock=clock,
            ingress_url=ingress_url,
            tolerance=tolerance,
            rtol=rtol,
            drop_missing=drop_missing,
        )

    if live is not None and _unchanged(live, desired):
        want = _Want(_generation(live), serverless, None)
        try:
            obj = _wait(api, namespace, name, want, timeout_seconds, clock)
            checked = smoke(obj, canary=False)
        except _RolloutFailed as e:
            raise DeployError(
                f"{namespace}/{name} already has this model but {e.reason}; nothing was changed",
                observed(e.obj, reason=e.reason),
            ) from None
        done = observed(obj, decision="unchanged", smoke_test=checked, reason=checked.reason)
        if not checked.ok:
            raise DeployError(
                f"{namespace}/{name} already has this model but its smoke test failed: "
                f"{checked.reason}; nothing was changed",
                replace(done, decision="failed"),
            )
        return done

    notes: list[str] = []
    canary: int | None = canary_traffic_percent or None
    rolled_out = _revisions(live).get("latest_rolled_out") if live is not None else None
    if canary and live is None:
        notes.append(
            f"canary of {canary}% requested, but this is the first deploy of {namespace}/{name}: "
            "there is no previous revision to split traffic with, so it went to 100%"
        )
        canary = None
    elif canary and not rolled_out:
        notes.append(
            f"canary of {canary}% requested, but no revision of {namespace}/{name} has been "
            "rolled out to 100% yet: there is none to split traffic with, so it went to 100%"
        )
        canary = None
    record = replace(record, notes=notes)

    def roll_back(failed: Rollout) -> NoReturn:
        _roll_back(api, failed, live, desired, canary, serverless, timeout_seconds, clock)

    applied = _apply(api, _with_canary(desired, canary))
    want = _Want(_generation(applied), serverless, canary)
    try:
        obj = _wait(api, namespace, name, want, timeout_seconds, clock)
        result = smoke(obj, canary=canary is not None)
    except _RolloutFailed as e:
        roll_back(observed(e.obj, reason=e.reason))
    if not result.ok:
        roll_back(observed(obj, smoke_test=result, reason=f"smoke test failed: {result.reason}"))
    if canary is None:
        return observed(obj, decision="applied", smoke_test=result)

    promoted = _apply(api, desired)
    want = _Want(_generation(promoted), serverless, None)
    try:
        obj = _wait(api, namespace, name, want, timeout_seconds, clock)
    except _RolloutFailed as e:
        # The canary passed its smoke test: a slow promotion is reported, not rolled back.
        raise DeployError(
            f"{namespace}/{name}: the canary passed its smoke test and was promoted, but the "
            f"promotion is not confirmed: {e.reason}",
            observed(e.obj, decision="promoted", smoke_test=result, reason=e.reason),
        ) from None
    return observed(obj, decision="promoted", smoke_test=result)


def _roll_back(
    api: KubeApi,
    failed: Rollout,
    live: Mapping[str, Any] | None,
    desired: Mapping[str, Any],
    canary: int | None,
    serverless: bool,
    timeout: float,
    clock: Clock,
) -> NoReturn:
    """Undo a failed rollout as the module doc says, then raise DeployError with the reason."""
    namespace, name, reason = failed.namespace, failed.name, failed.reason
    if live is None:
        raise DeployError(
            f"{namespace}/{name}: {reason}; this was its first deploy, so there is nothing to "
            "roll back to (it is left in place for inspection)",
            failed,
        )
    if canary is not None:
        body, want_canary = _with_canary(desired, 0), 0
        action = "all traffic is back on the previous revision (canaryTrafficPercent 0)"
    else:
        body, want_canary = _previous_body(live), None
        action = "the previous spec was re-applied"
    try:
        applied = _apply(api, body)
    except DeployError as e:
        raise DeployError(
            f"{namespace}/{name}: {reason}; the rollback failed too: {e}", failed
        ) from e
    want = _Want(_generation(applied), serverless, want_canary)
    notes = list(failed.notes)
    try:
        obj: Mapping[str, Any] = _wait(api, namespace, name, want, timeout, clock)
    except _RolloutFailed as e:
        obj = e.obj
        notes.append(f"the rollback was applied but is not confirmed: {e.reason}")
    record = replace(
        failed,
        decision="rolled_back",
        url=str(_dig(obj, "status", "url") or ""),
        address=str(_dig(obj, "status", "address", "url") or ""),
        revisions=_revisions(obj),
        traffic=_traffic(obj),
        notes=notes,
    )
    raise DeployError(f"{namespace}/{name}: {reason}; rolled back: {action}", record)


def check_canary(canary_traffic_percent: int, deployment_mode: str) -> None:
    """Refuse what KServe cannot do, before any API call."""
    if deployment_mode not in DEPLOYMENT_MODES:
        raise ValueError(
            f"deployment mode {deployment_mode!r}: expected one of {', '.join(DEPLOYMENT_MODES)}"
        )
    if not 0 <= canary_traffic_percent <= 99:
        raise ValueError(
            f"canary_traffic_percent {canary_traffic_percent}: use 1-99 for a canary, or 0 for "
            "a full rollout"
        )
    if canary_traffic_percent and deployment_mode != "Serverless":
        raise ValueError(
            f"canary_traffic_percent {canary_traffic_percent} needs deployment mode Serverless: "
            f"KServe splits traffic between revisions only with Knative, and {deployment_mode} "
            "has no revisions; use 0 (a full rollout) or Serverless"
        )
