"""Reading an InferenceService's status: revisions, traffic, and whether a rollout is done.

- **Ready** means: ``status.observedGeneration`` has caught up with the applied generation,
  condition ``Ready`` is True, and in Serverless mode ``latestReadyRevision ==
  latestCreatedRevision`` with the expected split in ``status.components.predictor.traffic``.
  A rollback to ``canaryTrafficPercent: 0`` is done when the previous revision has 100% again.
  The new revision failing to load (``status.modelStatus``) is a failure, not a wait.
- Polling (:func:`wait`) backs off 1, 2, 4, 8, then every 10 s, each wait bounded by its
  timeout; an API error that may pass (:class:`~.api.Transient`) is polled through until the
  deadline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlrail.components.deploy.kserve.api import KubeApi, Transient, get
from mlrail.components.deploy.kserve.clock import FIRST_DELAY, Clock
from mlrail.components.deploy.kserve.records import DeployError

__all__ = [
    "RolloutFailed",
    "Want",
    "dig",
    "predictor_status",
    "revisions_of",
    "traffic_of",
    "wait",
]

_MAX_DELAY = 10.0
_LOAD_FAILURES = frozenset({"BlockedByFailedLoad", "InvalidSpec"})


def dig(obj: Any, *path: str) -> Any:
    """``obj[path[0]][path[1]]...``, or None where a key is missing."""
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def predictor_status(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """``status.components.predictor``, or an empty mapping."""
    return dig(obj, "status", "components", "predictor") or {}


def traffic_of(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The predictor's traffic split, as the rollout record keeps it."""
    return [
        {
            "revision": t.get("revisionName", ""),
            "percent": t.get("percent", 0),
            "tag": t.get("tag", ""),
            "latest": bool(t.get("latestRevision")),
        }
        for t in predictor_status(obj).get("traffic") or []
    ]


def revisions_of(obj: Mapping[str, Any]) -> dict[str, str]:
    """The predictor's revisions by role (Serverless only; empty in RawDeployment)."""
    predictor = predictor_status(obj)
    keys = {
        "latest_created": "latestCreatedRevision",
        "latest_ready": "latestReadyRevision",
        "latest_rolled_out": "latestRolledoutRevision",
        "previous_rolled_out": "previousRolledoutRevision",
    }
    return {ours: str(predictor[theirs]) for ours, theirs in keys.items() if predictor.get(theirs)}


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    for c in dig(obj, "status", "conditions") or []:
        if c.get("type") == kind:
            return dict(c)
    return {}


@dataclass(frozen=True)
class Want:
    """What "done" means for one wait."""

    generation: int
    serverless: bool
    #: None: a full rollout (latest revision at 100%); 1-99: a canary split; 0: rolled back
    canary: int | None


def _state(obj: Mapping[str, Any], want: Want) -> tuple[str, str]:
    """("ready" | "pending" | "failed", why)."""
    observed = dig(obj, "status", "observedGeneration")
    if not isinstance(observed, int) or observed < want.generation:
        return "pending", f"KServe has not reconciled generation {want.generation} yet"
    traffic = traffic_of(obj)
    if want.canary == 0:
        # Rolled back: only the split matters (Ready stays False while a failed revision exists).
        if any(not t["latest"] and t["percent"] == 100 for t in traffic):
            return "ready", ""
        return "pending", f"traffic is not back on the previous revision yet: {traffic}"
    model = dig(obj, "status", "modelStatus") or {}
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
    revisions = revisions_of(obj)
    created, latest_ready = revisions.get("latest_created"), revisions.get("latest_ready")
    if not created or created != latest_ready:
        return "pending", f"revision {created} is not ready (latest ready: {latest_ready})"
    latest = [t for t in traffic if t["latest"]]
    share = 100 if want.canary is None else want.canary
    if not latest or latest[0]["percent"] != share:
        return "pending", f"the latest revision does not have {share}% of traffic yet: {traffic}"
    return "ready", ""


class RolloutFailed(Exception):
    """Not ready in time, or the new revision failed; ``obj`` is the object as last read."""

    def __init__(self, reason: str, obj: Mapping[str, Any]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.obj = obj


def wait(
    api: KubeApi, namespace: str, name: str, want: Want, timeout: float, clock: Clock
) -> dict[str, Any]:
    """Poll with backoff until ``want`` holds; raises RolloutFailed (timeout or load failure)."""
    deadline = clock.monotonic() + timeout
    delay = FIRST_DELAY
    last: Mapping[str, Any] = {}
    while True:
        try:
            obj = get(api, namespace, name)
        except Transient as e:  # keep polling: the deadline decides
            state, why = "pending", str(e)
        else:
            if obj is None:
                raise DeployError(f"{namespace}/{name} was deleted while deploy waited for it")
            last = obj
            state, why = _state(obj, want)
            if state == "ready":
                return obj
            if state == "failed":
                raise RolloutFailed(why, obj)
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            raise RolloutFailed(f"not ready within {timeout:g} s: {why}", last)
        clock.sleep(min(delay, remaining))
        delay = min(delay * 2, _MAX_DELAY)
