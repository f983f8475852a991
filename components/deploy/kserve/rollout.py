"""The kserve target's decisions: apply, wait, smoke-test, canary, promote, roll back.

Decision table (``rollout``), read top to bottom; the first row that matches decides:

======================================================  =========================================
situation                                               what happens, ``decision``
======================================================  =========================================
canary requested in RawDeployment mode                  refused before any API call (ValueError)
live object in the other deployment mode                refused before applying (DeployError):
                                                        KServe cannot switch it in place
live object has this model's identity and every other    no apply; wait for Ready, smoke-test:
field deploy sets, the same payload logging (on or      ``unchanged``; on failure nothing was
off), no canary split (its storageUri and file sha256   changed: ``failed``
may differ: the same model, other bytes)
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

- **Model identity** in the annotation ``mlrail.io/model-identity``
  (:func:`mlrail.artifacts.identity.model_identity`: what the graph computes) and the file's
  sha256 in ``mlrail.io/model-sha256`` (a record of the bytes; a label value cannot hold 64
  characters), both on the object and on ``spec.predictor``. The spec copy makes new bytes at
  the same storage URI a spec change: ``metadata.generation`` moves (so the wait for Ready
  cannot take the old revision's Ready for the new one) and KServe makes a new revision
  (predictor annotations go into the pod template). "Unchanged" is decided by identity and
  fields: a retraining with the same data and seed is exported to a new ``storageUri`` (every
  run has its own artifact), so when the identities match, the live ``storageUri`` and sha256
  stand in for the new ones in the comparison and the model already serving stays. An object
  deployed before identities (no identity annotation) is compared whole, as before.
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

How "Ready" is read is in :mod:`.status`, the smoke test in :mod:`.smoke`, the API calls (and the
RBAC rule allowing each) in :mod:`.api`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, NoReturn

from mlrail.artifacts.parity import DEFAULT_RTOL, DEFAULT_TOLERANCE
from mlrail.components.deploy.kserve.api import (
    MODE_ANNOTATION,
    MODEL_HASH_ANNOTATION,
    MODEL_IDENTITY_ANNOTATION,
    TAG_ROUTING_ANNOTATION,
    KubeApi,
    apply,
    connect,
    get,
)
from mlrail.components.deploy.kserve.clock import Clock, SystemClock
from mlrail.components.deploy.kserve.records import DeployError, Rollout, SmokeTest
from mlrail.components.deploy.kserve.smoke import HttpPost, smoke_test, urllib_post
from mlrail.components.deploy.kserve.status import (
    RolloutFailed,
    Want,
    dig,
    predictor_status,
    revisions_of,
    traffic_of,
    wait,
)

__all__ = ["DECISIONS", "DEPLOYMENT_MODES", "check_canary", "rollout"]

DEPLOYMENT_MODES = ("Serverless", "RawDeployment")
DECISIONS = ("applied", "unchanged", "promoted", "rolled_back", "failed")


def _covers(live: Any, want: Any) -> bool:
    """True when every field of ``want`` has the same value in ``live`` (lists compared whole)."""
    if isinstance(want, Mapping):
        return isinstance(live, Mapping) and all(
            k in live and _covers(live[k], v) for k, v in want.items()
        )
    return bool(live == want)


# what may differ between two copies of one model (its identity): where its file is, its bytes
_BYTES_FIELDS = (("model", "storageUri"), ("annotations", MODEL_HASH_ANNOTATION))


def _as_live_bytes(live: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """``desired`` with the live object's storage URI and file sha256 (the same model's bytes)."""
    out = copy.deepcopy(dict(desired))
    annotations = out["metadata"].setdefault("annotations", {})
    live_sha = dig(live, "metadata", "annotations", MODEL_HASH_ANNOTATION)
    if live_sha is not None:
        annotations[MODEL_HASH_ANNOTATION] = live_sha
    predictor = out["spec"]["predictor"]
    for section, key in _BYTES_FIELDS:
        value = dig(live, "spec", "predictor", section, key)
        if value is not None and section in predictor:
            predictor[section][key] = value
    return out


# compared whole, absent included: the payload logging settings (kserve/payload_logging.py), so a
# deploy that switches logging off is not "unchanged" because the live object still has it on
_EXACT_FIELDS = (("spec", "predictor", "logger"), ("spec", "predictor", "model", "args"))


def _unchanged(live: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    meta, want = live.get("metadata") or {}, desired["metadata"]
    if dig(live, "spec", "predictor", "canaryTrafficPercent") not in (None, 100):
        return False
    identity = (want.get("annotations") or {}).get(MODEL_IDENTITY_ANNOTATION)
    if identity and (meta.get("annotations") or {}).get(MODEL_IDENTITY_ANNOTATION) == identity:
        desired = _as_live_bytes(live, desired)
        want = desired["metadata"]
    return (
        _covers(meta.get("annotations") or {}, want.get("annotations") or {})
        and _covers(meta.get("labels") or {}, want.get("labels") or {})
        and _covers(live.get("spec"), desired["spec"])
        and all(dig(live, *path) == dig(desired, *path) for path in _EXACT_FIELDS)
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
    return int(dig(obj, "metadata", "generation") or 0)


def _live_mode(live: Mapping[str, Any]) -> str:
    return str(
        dig(live, "status", "deploymentMode")
        or dig(live, "metadata", "annotations", MODE_ANNOTATION)
        or ""
    )


def _observed(record: Rollout, obj: Mapping[str, Any], **changes: Any) -> Rollout:
    """``record`` with the URLs, revisions and traffic ``obj``'s status shows, and ``changes``."""
    return replace(
        record,
        url=str(dig(obj, "status", "url") or ""),
        address=str(dig(obj, "status", "address", "url") or ""),
        revisions=revisions_of(obj),
        traffic=traffic_of(obj),
        **changes,
    )


def _endpoint(obj: Mapping[str, Any], canary: bool, ingress: bool) -> str:
    status = obj.get("status") or {}
    if canary:
        for t in predictor_status(obj).get("traffic") or []:
            if t.get("latestRevision") and t.get("url"):
                return str(t["url"])
        raise RolloutFailed(
            "no URL reaches the new revision alone (status.components.predictor.traffic has no "
            f"url for the latest revision; is {TAG_ROUTING_ANNOTATION} honoured?)",
            obj,
        )
    address = dig(status, "address", "url")
    url = status.get("url") if ingress else (address or status.get("url"))
    if not url:
        raise RolloutFailed("the InferenceService is Ready but has no URL in its status", obj)
    return str(url)


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
    on_canary: Callable[[int], None] | None = None,
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
        on_canary: Called with the percentage once the canary is applied (before its smoke
            test): deploy moves the registry's ``challenger`` alias and says so.

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
    sha = meta["annotations"].get(MODEL_HASH_ANNOTATION, "")
    identity = meta["annotations"].get(MODEL_IDENTITY_ANNOTATION, "")
    check_canary(canary_traffic_percent, mode)
    api = api if api is not None else connect()
    http = http or urllib_post
    clock = clock or SystemClock()
    serverless = mode == "Serverless"
    drop_missing = dig(isvc, "spec", "predictor", "model", "runtime") == "kserve-tritonserver"
    desired = _with_canary(isvc, None)

    live = get(api, namespace, name)
    previous_sha = str(dig(live, "metadata", "annotations", MODEL_HASH_ANNOTATION) or "")
    previous_identity = str(dig(live, "metadata", "annotations", MODEL_IDENTITY_ANNOTATION) or "")
    record = Rollout(
        namespace=namespace,
        name=name,
        decision="failed",
        deployment_mode=mode,
        model_sha256=sha,
        previous_model_sha256=previous_sha,
        model_identity=identity,
        previous_model_identity=previous_identity,
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
        return _observed(record, obj, **changes)

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
        want = Want(_generation(live), serverless, None)
        try:
            obj = wait(api, namespace, name, want, timeout_seconds, clock)
            checked = smoke(obj, canary=False)
        except RolloutFailed as e:
            raise DeployError(
                f"{namespace}/{name} already has this model but {e.reason}; nothing was changed",
                observed(e.obj, reason=e.reason),
            ) from None
        same_model = []
        if previous_sha != sha:
            same_model.append(
                f"the model serving has this identity ({identity}) in other bytes (sha256 "
                f"{previous_sha or 'not recorded'}): those stay, at the live storageUri"
            )
        done = observed(
            obj, decision="unchanged", smoke_test=checked, reason=checked.reason, notes=same_model
        )
        if not checked.ok:
            raise DeployError(
                f"{namespace}/{name} already has this model but its smoke test failed: "
                f"{checked.reason}; nothing was changed",
                replace(done, decision="failed"),
            )
        return done

    notes: list[str] = []
    canary: int | None = canary_traffic_percent or None
    rolled_out = revisions_of(live).get("latest_rolled_out") if live is not None else None
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

    applied = apply(api, _with_canary(desired, canary))
    if canary is not None and on_canary is not None:
        on_canary(canary)
    want = Want(_generation(applied), serverless, canary)
    try:
        obj = wait(api, namespace, name, want, timeout_seconds, clock)
        result = smoke(obj, canary=canary is not None)
    except RolloutFailed as e:
        roll_back(observed(e.obj, reason=e.reason))
    if not result.ok:
        roll_back(observed(obj, smoke_test=result, reason=f"smoke test failed: {result.reason}"))
    if canary is None:
        return observed(obj, decision="applied", smoke_test=result)

    promoted = apply(api, desired)
    want = Want(_generation(promoted), serverless, None)
    try:
        obj = wait(api, namespace, name, want, timeout_seconds, clock)
    except RolloutFailed as e:
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
        applied = apply(api, body)
    except DeployError as e:
        raise DeployError(
            f"{namespace}/{name}: {reason}; the rollback failed too: {e}", failed
        ) from e
    want = Want(_generation(applied), serverless, want_canary)
    notes = list(failed.notes)
    try:
        obj: Mapping[str, Any] = wait(api, namespace, name, want, timeout, clock)
    except RolloutFailed as e:
        obj = e.obj
        notes.append(f"the rollback was applied but is not confirmed: {e.reason}")
    record = _observed(failed, obj, decision="rolled_back", notes=notes)
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
