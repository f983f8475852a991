"""What each deploy scenario (scenarios.py) must end in, whichever API it ran against.

One function per scenario, named after it, taking its :class:`~.scenarios.Outcome`: test_kserve.py
asserts them against the fake API, tests/cluster/test_deploy.py against the real API server with
the test controller. :data:`EXPECTATIONS` maps each scenario to its function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from mlrail.components.deploy import kserve
from mlrail.components.deploy.core import storage_uri
from mlrail.components.deploy.kserve import DeployError

from .scenarios import NAME, NAMESPACE, PREVIOUS_SHA, PREVIOUS_URI, URI, Outcome, previous_isvc
from .v2_servers import Servers


def canary(body: dict[str, Any]) -> Any:
    return body["spec"]["predictor"].get("canaryTrafficPercent")


def live(o: Outcome) -> dict[str, Any]:
    return o.fake.live(NAMESPACE, NAME)


def latest_share(o: Outcome) -> list[tuple[str, int, bool]]:
    traffic = live(o)["status"]["components"]["predictor"]["traffic"]
    return [(t["revisionName"], t["percent"], t["latestRevision"]) for t in traffic]


# -- the decision table ---------------------------------------------------------------------------


def apply_new(o: Outcome, servers: Servers) -> None:
    """Apply new creates waits for ready and smoke tests."""
    assert o.error is None and o.result is not None
    assert o.result.decision == "applied" and o.result.url == "http://penguins-mlrail.example.com"
    # read, apply (which creates), then poll until the scripted revision is ready (third GET)
    assert o.verbs() == ["get", "patch", "create", "get", "get", "get"]
    assert o.clock.sleeps == [1.0, 2.0]
    (body,) = o.fake.received
    assert canary(body) is None
    assert o.fake.apply_options == [(kserve.FIELD_MANAGER, True)]
    record = o.record
    assert record["decision"] == "applied" and record["target"] == "kserve"
    assert record["traffic"] == [
        {"revision": "penguins-predictor-00001", "percent": 100, "tag": "latest", "latest": True}
    ]
    smoke = record["smoke_test"]
    assert smoke["ok"] and smoke["rows"] == 8 and smoke["model"] == "penguins"
    assert smoke["max_abs_diff"] <= smoke["tolerance"] and smoke["latency_ms"] > 0
    assert record["model_sha256"] == o.result.sha256 and record["previous_model_sha256"] == ""
    assert record["model_identity"] == record["identity"] == o.result.identity
    assert record["previous_model_identity"] == record["previous_identity"] == ""
    assert body["metadata"]["annotations"][kserve.MODEL_IDENTITY_ANNOTATION] == o.result.identity
    written = yaml.safe_load((o.deployment_dir / "inferenceservice.yaml").read_text())
    assert written == body


def unchanged(o: Outcome, servers: Servers) -> None:
    """The same model again is unchanged and nothing is applied."""
    assert o.error is None and o.result is not None and o.result.decision == "unchanged"
    assert "patch" not in o.verbs() and o.fake.received == []
    record = o.record
    assert record["smoke_test"]["ok"] and record["previous_model_sha256"] == o.result.sha256
    assert record["previous_model_identity"] == record["model_identity"] == o.result.identity
    assert record["notes"] == []


def retrained_unchanged(o: Outcome, servers: Servers) -> None:
    """The same model in other bytes, from another run's artifact, is unchanged: the live
    storage URI and file hash stay, and the record says so."""
    assert o.error is None, o.error
    assert o.result is not None and o.result.decision == "unchanged"
    assert "patch" not in o.verbs() and o.fake.received == []
    record = o.record
    assert record["smoke_test"]["ok"]
    assert record["model_identity"] == record["previous_model_identity"] == o.result.identity
    assert record["previous_identity"] == o.result.identity
    assert record["model_sha256"] == o.result.sha256 != record["previous_model_sha256"]
    (note,) = record["notes"]
    assert o.result.identity in note and record["previous_model_sha256"] in note
    now = live(o)
    assert now["spec"]["predictor"]["model"]["storageUri"] == storage_uri(URI)
    annotations = now["metadata"]["annotations"]
    assert annotations[kserve.MODEL_HASH_ANNOTATION] == record["previous_model_sha256"]


def canary_promote(o: Outcome, servers: Servers) -> None:
    """Canary is smoke tested then promoted."""
    assert o.error is None and o.result is not None and o.result.decision == "promoted"
    split, promotion = o.fake.received
    assert canary(split) == 20 and canary(promotion) is None
    assert o.verbs() == ["get", "patch", "get", "get", "get", "patch", "get"]
    # the promotion removed the field (server-side apply drops what the manager stops sending)
    assert "canaryTrafficPercent" not in live(o)["spec"]["predictor"]
    assert latest_share(o) == [("penguins-predictor-00002", 100, True)]
    record = o.record
    assert record["revisions"]["latest_rolled_out"] == "penguins-predictor-00002"
    assert record["revisions"]["previous_rolled_out"] == "penguins-predictor-00001"
    assert record["previous_model_sha256"] == PREVIOUS_SHA
    assert record["canary_traffic_percent"] == 20 and record["smoke_test"]["ok"]


def canary_rollback_smoke(o: Outcome, servers: Servers) -> None:
    """Canary that fails its smoke test is rolled back."""
    assert isinstance(o.error, DeployError)
    assert "smoke test failed" in str(o.error) and "rolled back" in str(o.error)
    split, rollback = o.fake.received
    assert canary(split) == 20 and canary(rollback) == 0
    # the canary alone was tested (the split's address still answered correctly)
    assert o.record["smoke_test"]["url"].startswith(servers.bad)
    assert latest_share(o) == [
        ("penguins-predictor-00002", 0, True),
        ("penguins-predictor-00001", 100, False),
    ]
    record = o.record
    assert record["decision"] == "rolled_back" and not record["smoke_test"]["ok"]
    assert record["smoke_test"]["max_abs_diff"] > 0.5
    assert "ONNX Runtime gave" in record["reason"]


def canary_rollback_timeout(o: Outcome, servers: Servers) -> None:
    """Canary not ready in time is rolled back."""
    assert isinstance(o.error, DeployError)
    assert "not ready within 60 s" in str(o.error) and "penguins-predictor-00002" in str(o.error)
    # backoff 1, 2, 4, 8, then 10 s, cut to the deadline; then the rollback's first poll is done
    assert o.clock.sleeps == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0, 10.0, 5.0]
    assert [canary(b) for b in o.fake.received] == [20, 0]
    assert o.record["decision"] == "rolled_back" and o.record["smoke_test"] is None
    assert ("penguins-predictor-00001", 100, False) in latest_share(o)


def canary_rollback_load_failure(o: Outcome, servers: Servers) -> None:
    """Canary that fails to load is rolled back without waiting out."""
    assert isinstance(o.error, DeployError)
    assert "ModelLoadFailed: failed to load model.onnx" in str(o.error)
    assert sum(o.clock.sleeps) < 60
    assert [canary(b) for b in o.fake.received] == [20, 0]
    assert o.record["decision"] == "rolled_back"


def raw_canary_refused(o: Outcome, servers: Servers) -> None:
    """Canary in raw deployment is refused before any call."""
    assert isinstance(o.error, ValueError)
    assert "needs deployment mode Serverless" in str(o.error)
    assert o.fake.calls == [] and not o.deployment_dir.exists()


def first_deploy_canary(o: Outcome, servers: Servers) -> None:
    """First deploy with a canary goes to 100 percent and says so."""
    assert o.error is None and o.result is not None and o.result.decision == "applied"
    (body,) = o.fake.received
    assert canary(body) is None
    (note,) = o.record["notes"]
    assert "first deploy" in note and "100%" in note


# -- the rows beyond the canary ----------------------------------------------------------------


def update_rollback_smoke(o: Outcome, servers: Servers) -> None:
    """Full rollout that fails restores the previous spec."""
    assert isinstance(o.error, DeployError) and "previous spec was re-applied" in str(o.error)
    new, restored = o.fake.received
    previous = previous_isvc()
    assert restored["spec"] == previous["spec"]
    assert restored["metadata"]["annotations"] == previous["metadata"]["annotations"]
    now = live(o)
    assert now["spec"]["predictor"]["model"]["storageUri"] == PREVIOUS_URI
    assert now["metadata"]["annotations"][kserve.MODEL_HASH_ANNOTATION] == PREVIOUS_SHA
    assert o.record["decision"] == "rolled_back"


def raw_apply(o: Outcome, servers: Servers) -> None:
    """Raw deployment applies and waits for ready."""
    assert o.error is None and o.result is not None and o.result.decision == "applied"
    (body,) = o.fake.received
    annotations = body["metadata"]["annotations"]
    assert annotations[kserve.MODE_ANNOTATION] == "RawDeployment"
    assert kserve.TAG_ROUTING_ANNOTATION not in annotations
    assert o.record["traffic"] == [] and o.record["smoke_test"]["ok"]


def raw_update_rollback_timeout(o: Outcome, servers: Servers) -> None:
    """Raw deployment timeout restores the previous spec."""
    assert isinstance(o.error, DeployError) and "not ready within 60 s" in str(o.error)
    assert o.fake.received[-1]["spec"] == previous_isvc("RawDeployment")["spec"]
    assert o.record["decision"] == "rolled_back"


def first_deploy_fails(o: Outcome, servers: Servers) -> None:
    """First deploy that fails is left in place and reported."""
    assert isinstance(o.error, DeployError) and "nothing to roll back to" in str(o.error)
    assert o.verbs().count("patch") == 1
    assert o.record["decision"] == "failed" and not o.record["smoke_test"]["ok"]


def mode_mismatch(o: Outcome, servers: Servers) -> None:
    """The deployment mode cannot change in place."""
    assert isinstance(o.error, DeployError) and "runs in RawDeployment mode" in str(o.error)
    assert o.verbs() == ["get"]


def taken_over_from_kubectl(o: Outcome, servers: Servers) -> None:
    """Fields set by another manager are taken back."""
    assert o.error is None
    assert live(o)["spec"]["predictor"]["maxReplicas"] == 1
    managers = o.fake.managers(NAMESPACE, NAME)
    assert ("spec", "predictor", "maxReplicas") in managers[kserve.FIELD_MANAGER]
    assert ("spec", "predictor", "maxReplicas") not in managers["kubectl-client-side-apply"]


EXPECTATIONS: dict[str, Callable[[Outcome, Servers], None]] = {
    "apply_new": apply_new,
    "unchanged": unchanged,
    "retrained_unchanged": retrained_unchanged,
    "canary_promote": canary_promote,
    "canary_rollback_smoke": canary_rollback_smoke,
    "canary_rollback_timeout": canary_rollback_timeout,
    "canary_rollback_load_failure": canary_rollback_load_failure,
    "raw_canary_refused": raw_canary_refused,
    "first_deploy_canary": first_deploy_canary,
    "update_rollback_smoke": update_rollback_smoke,
    "raw_apply": raw_apply,
    "raw_update_rollback_timeout": raw_update_rollback_timeout,
    "first_deploy_fails": first_deploy_fails,
    "mode_mismatch": mode_mismatch,
    "taken_over_from_kubectl": taken_over_from_kubectl,
}
