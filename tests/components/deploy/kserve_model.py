"""KServe's controller as the tests play it: revisions, traffic and status of an InferenceService.

One model, two drivers: the fake API (fake_kube.py) runs it on every GET, the test controller
against the real API server (tests/cluster/kserve_controller.py) on every watch event and every
tick of the test's clock. Pure: no API, no threads, no clock of its own.

It follows KServe's Knative reconciler (``ksvc_reconciler.go``): a change of the predictor (other
than ``canaryTrafficPercent``) or of the labels/annotations makes a new revision; with
``canaryTrafficPercent`` and a rolled-out revision, traffic is split between the latest ready
revision (tag ``latest`` under tag routing) and the last rolled-out one (tag ``prev``); a revision
becomes "rolled out" when the latest-revision target has 100%. Conditions are KServe's
``PredictorReady``, ``IngressReady`` and ``Ready`` (both of the others). Each revision is
scripted (:class:`Revision`): the test server that answers for it, after how many steps it is
ready, whether it never is, whether it fails to load. A step is what the driver says it is (a
poll for the fake, a sleep of the test's clock for the controller). URLs stand for routes: a tag
URL is the URL of the revision it names; ``status.address.url`` is that of the revision with
most of the traffic.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlrail.components.deploy import kserve

__all__ = ["Reconciler", "Revision", "Revisions"]


@dataclass(frozen=True)
class Revision:
    """How the controller treats one revision it creates."""

    url: str
    #: steps after its creation until it is ready (or failed); None: never
    ready_after: int | None = 1
    fails: bool = False


@dataclass
class _Rev:
    name: str
    template: str
    script: Revision
    steps: int = 0
    state: str = "pending"  # pending | ready | failed


@dataclass
class Revisions:
    """What KServe (its Knative Service) holds for one InferenceService."""

    items: list[_Rev] = field(default_factory=list)
    rolled_out: str = ""
    previous_rolled_out: str = ""


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping) or key not in obj:
            return None
        obj = obj[key]
    return obj


class Reconciler:
    """KServe's reconciler over scripted revisions.

    Args:
        revisions: The scripts of the revisions to come, in order of creation.
        tag_routing: False plays a KServe that ignores the tag-routing annotation.
        domain: Of the URLs in ``status.url``.
    """

    def __init__(
        self, revisions: Iterable[Revision] = (), *, tag_routing: bool = True, domain: str
    ) -> None:
        self.script = list(revisions)
        self.tag_routing = tag_routing
        self.domain = domain

    @staticmethod
    def template(obj: Mapping[str, Any]) -> str:
        """What makes a new revision when it changes."""
        predictor = dict(_get(obj, "spec", "predictor") or {})
        predictor.pop("canaryTrafficPercent", None)
        meta = obj["metadata"]
        return json.dumps([predictor, meta.get("labels"), meta.get("annotations")], sort_keys=True)

    def observe(self, revisions: Revisions, obj: Mapping[str, Any]) -> None:
        """Make a new revision if ``obj`` (its spec as applied) changed the template."""
        template = self.template(obj)
        if revisions.items and revisions.items[-1].template == template:
            return
        if self.script:
            script = self.script.pop(0)
        else:  # a template seen before (a rollback): the same server answers for it again
            same = [r for r in revisions.items if r.template == template]
            if not same:
                raise AssertionError("the test scripted no Revision for this new revision")
            script = Revision(same[-1].script.url)
        number = len(revisions.items) + 1
        name = f"{obj['metadata']['name']}-predictor-{number:05d}"
        revisions.items.append(_Rev(name, template, script))

    @staticmethod
    def step(revisions: Revisions) -> None:
        """One step passes for the latest revision, if it is still pending."""
        latest = revisions.items[-1]
        if latest.state == "pending":
            latest.steps += 1

    def status(
        self, revisions: Revisions, obj: Mapping[str, Any], now: dt.datetime
    ) -> dict[str, Any]:
        """``obj``'s status as KServe writes it; records a rollout in ``revisions``."""
        meta, spec = obj["metadata"], obj.get("spec") or {}
        annotations = meta.get("annotations") or {}
        mode = annotations.get(kserve.MODE_ANNOTATION, "Serverless")
        latest = revisions.items[-1]
        ready_after = latest.script.ready_after
        if latest.state == "pending" and ready_after is not None and latest.steps >= ready_after:
            latest.state = "failed" if latest.script.fails else "ready"
        ready = [r for r in revisions.items if r.state == "ready"]
        latest_ready = ready[-1] if ready else None
        urls = {r.name: r.script.url for r in revisions.items}
        name, ns = meta["name"], meta["namespace"]
        status: dict[str, Any] = {
            "observedGeneration": meta["generation"],
            "deploymentMode": mode,
            "url": f"http://{name}-{ns}.{self.domain}",
        }
        predictor_status: dict[str, Any] = {}
        address = urls[latest_ready.name] if latest_ready else ""
        if mode == "Serverless":
            canary = _get(spec, "predictor", "canaryTrafficPercent")
            tags = self.tag_routing and annotations.get(kserve.TAG_ROUTING_ANNOTATION) == "true"
            traffic: list[dict[str, Any]] = []
            if latest_ready is not None:
                share = 100 if canary is None or not revisions.rolled_out else int(canary)
                target = {"latestRevision": True, "percent": share}
                target["revisionName"] = latest_ready.name
                if tags:
                    target |= {"tag": "latest", "url": urls[latest_ready.name]}
                traffic.append(target)
                if share < 100:
                    # KServe tags the previous revision "prev" whether or not tag routing is on
                    traffic.append(
                        {
                            "latestRevision": False,
                            "percent": 100 - share,
                            "revisionName": revisions.rolled_out,
                            "tag": "prev",
                            "url": urls[revisions.rolled_out],
                        }
                    )
                # rolled out: the latest-revision target has all the traffic and is the newest
                if share == 100 and latest_ready is latest and revisions.rolled_out != latest.name:
                    revisions.previous_rolled_out = revisions.rolled_out
                    revisions.rolled_out = latest.name
                address = urls[max(traffic, key=lambda t: t["percent"])["revisionName"]]
            predictor_status = {
                "latestCreatedRevision": latest.name,
                "traffic": traffic,
                "url": f"http://{name}-predictor-{ns}.{self.domain}",
            }
            if latest_ready is not None:
                predictor_status["latestReadyRevision"] = latest_ready.name
            if revisions.rolled_out:
                predictor_status["latestRolledoutRevision"] = revisions.rolled_out
            if revisions.previous_rolled_out:
                predictor_status["previousRolledoutRevision"] = revisions.previous_rolled_out
        if address:
            status["address"] = {"url": address}
            predictor_status["address"] = {"url": address}
        status["components"] = {"predictor": predictor_status}
        status["conditions"] = _conditions(latest, latest_ready is not None, now)
        model_status: dict[str, Any] = {
            "transitionStatus": {"pending": "InProgress", "ready": "UpToDate"}.get(
                latest.state, "BlockedByFailedLoad"
            ),
            "states": {
                "activeModelState": "Loaded" if latest_ready else "Pending",
                "targetModelState": {"ready": "Loaded", "failed": "FailedToLoad"}.get(
                    latest.state, "Loading"
                ),
            },
        }
        if latest.state == "failed":
            model_status["lastFailureInfo"] = {
                "reason": "ModelLoadFailed",
                "message": "failed to load model.onnx: Protobuf parsing failed",
                "modelRevisionName": latest.name,
            }
        status["modelStatus"] = model_status
        return status


def _conditions(latest: _Rev, routed: bool, now: dt.datetime) -> list[dict[str, Any]]:
    """KServe's top-level conditions: the predictor's, the ingress's, and Ready (both)."""
    predictor: dict[str, Any] = {"status": "True"}
    if latest.state == "pending":
        predictor = {
            "status": "False",
            "reason": "RevisionMissing",
            "message": f"Configuration is waiting for a Revision {latest.name} to be ready",
        }
    elif latest.state == "failed":
        predictor = {
            "status": "False",
            "reason": "RevisionFailed",
            "message": f"Revision {latest.name} failed with message: container exited",
        }
    ingress: dict[str, Any] = {"status": "True"}
    if not routed:  # no revision was ever ready: the route has nowhere to send traffic
        ingress = {"status": "False", "reason": "PredictorIngressNotCreated"}
    ready = predictor if predictor["status"] != "True" else ingress
    stamp = now.isoformat()
    return [
        {"type": kind, **condition, "lastTransitionTime": stamp}
        for kind, condition in (("IngressReady", ingress), ("PredictorReady", predictor))
    ] + [{"type": "Ready", **ready, "lastTransitionTime": stamp}]
