"""deploy's decision table as runnable scenarios, shared by the decision tests and the RBAC proof.

Each scenario builds a Kubernetes API in a given state (:class:`Kube`: the :class:`FakeKube` by
default, or the real API server with a test controller, tests/cluster/test_deploy.py, through
``Context.kube``), runs ``core.deploy(target="kserve")`` against it with a :class:`FakeClock` and
the real urllib HTTP client against the real V2 servers of conftest.py, and returns everything the
tests look at (:class:`Outcome`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mlrail.components.deploy import core, kserve

from .fake_kube import Call, FakeKube
from .kserve_model import Revision
from .models import same_model_other_bytes

__all__ = [
    "NAME",
    "NAMESPACE",
    "PREVIOUS_SHA",
    "PREVIOUS_URI",
    "SCENARIOS",
    "URI",
    "URI_RUN_3",
    "Context",
    "FakeClock",
    "Kube",
    "Outcome",
    "previous_isvc",
    "run",
]

NAMESPACE = "mlrail"
NAME = "penguins"
#: the onnx_model artifact as KFP names it on its MinIO store
URI = "minio://mlpipeline/v2/artifacts/training/run-2/export-onnx/onnx_model"
PREVIOUS_URI = "s3://mlpipeline/v2/artifacts/training/run-1/export-onnx/onnx_model/model_repository"
PREVIOUS_SHA = "0" * 64
#: the onnx_model artifact of a later run (a retraining)
URI_RUN_3 = "minio://mlpipeline/v2/artifacts/training/run-3/export-onnx/onnx_model"
TIMEOUT = 60


class FakeClock:
    """Time that passes only when deploy sleeps; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0, "deploy slept for no time"
        self.sleeps.append(seconds)
        self.now += seconds


class Kube(kserve.KubeApi, Protocol):
    """The API a scenario deploys to, and what the tests read of it."""

    #: every call, as the API server authorizes it (an apply that creates is also a "create")
    calls: list[Call]
    #: every apply body, and its (field manager, force)
    received: list[dict[str, Any]]
    apply_options: list[tuple[str, bool]]

    def seed(self, body: dict[str, Any], url: str, manager: str = kserve.FIELD_MANAGER) -> None:
        """An InferenceService as an earlier deploy (or ``manager``) left it: ready, rolled out."""

    def live(self, namespace: str, name: str) -> dict[str, Any]:
        """The object as it is now."""

    def managers(self, namespace: str, name: str) -> dict[str, set[tuple[str, ...]]]:
        """Each field manager's fields (leaf paths)."""


@dataclass(frozen=True)
class Context:
    good: str
    bad: str
    onnx_model: Path
    tmp: Path
    #: the API for a scenario, given its scripted revisions; None: a FakeKube
    kube: Callable[[list[Revision]], Kube] | None = None
    clock: Callable[[], FakeClock] = FakeClock

    def new_kube(self, revisions: Iterable[Revision] = ()) -> Kube:
        if self.kube is not None:
            return self.kube(list(revisions))
        return FakeKube(revisions)


@dataclass
class Outcome:
    fake: Kube
    clock: FakeClock
    result: core.Deployment | None
    error: Exception | None
    deployment_dir: Path
    runs: list[str] = field(default_factory=list)

    @property
    def record(self) -> dict[str, Any]:
        return dict(json.loads((self.deployment_dir / "deployment.json").read_text()))

    def verbs(self) -> list[str]:
        return [c.verb for c in self.fake.calls]


def previous_isvc(mode: str = "Serverless") -> dict[str, Any]:
    """What an earlier deploy of another model left in the cluster."""
    return core.inference_service(
        NAME,
        NAMESPACE,
        PREVIOUS_URI,
        service_account="mlrail-serving",
        deployment_mode=mode,
        model_sha256=PREVIOUS_SHA,
    )


def run(
    ctx: Context,
    fake: Kube,
    label: str,
    *,
    clock: FakeClock | None = None,
    **options: Any,
) -> Outcome:
    """``core.deploy(target="kserve")`` against ``fake`` (or ``api=``, e.g. the real client over
    HTTP to it); an error is kept, not raised."""
    clock = clock or ctx.clock()
    out = ctx.tmp / label
    error: Exception | None = None
    result = None
    try:
        result = core.deploy(
            options.pop("onnx_model", ctx.onnx_model),
            out,
            target="kserve",
            model_name=NAME,
            onnx_model_uri=options.pop("onnx_model_uri", URI),
            namespace=NAMESPACE,
            timeout_seconds=options.pop("timeout_seconds", TIMEOUT),
            api=options.pop("api", fake),
            clock=clock,
            **options,
        )
    except (core.kserve.DeployError, ValueError) as e:
        error = e
    return Outcome(fake, clock, result, error, out)


def apply_new(ctx: Context) -> Outcome:
    fake = ctx.new_kube([Revision(ctx.good, ready_after=2)])
    return run(ctx, fake, "apply_new")


def unchanged(ctx: Context) -> Outcome:
    """The same model deployed twice: the second run finds it in place."""
    fake = ctx.new_kube([Revision(ctx.good)])
    first = run(ctx, fake, "unchanged-first")
    assert first.error is None, first.error
    fake.calls.clear()
    fake.received.clear()
    return run(ctx, fake, "unchanged")


def retrained_unchanged(ctx: Context) -> Outcome:
    """A same-seed retraining: the same model (identity) in other bytes, from another run's
    artifact; the second deploy finds it in place."""
    fake = ctx.new_kube([Revision(ctx.good)])
    first = run(ctx, fake, "retrained-first")
    assert first.error is None, first.error
    fake.calls.clear()
    fake.received.clear()
    retrained = same_model_other_bytes(ctx.onnx_model, ctx.tmp / "retrained_model")
    return run(ctx, fake, "retrained_unchanged", onnx_model=retrained, onnx_model_uri=URI_RUN_3)


def canary_promote(ctx: Context) -> Outcome:
    fake = ctx.new_kube([Revision(ctx.good, ready_after=2)])
    fake.seed(previous_isvc(), ctx.good)
    return run(ctx, fake, "canary_promote", canary_traffic_percent=20)


def canary_rollback_smoke(ctx: Context) -> Outcome:
    fake = ctx.new_kube([Revision(ctx.bad)])
    fake.seed(previous_isvc(), ctx.good)
    return run(ctx, fake, "canary_rollback_smoke", canary_traffic_percent=20)


def canary_rollback_timeout(ctx: Context) -> Outcome:
    fake = ctx.new_kube([Revision(ctx.good, ready_after=None)])
    fake.seed(previous_isvc(), ctx.good)
    return run(ctx, fake, "canary_rollback_timeout", canary_traffic_percent=20)


def canary_rollback_load_failure(ctx: Context) -> Outcome:
    fake = ctx.new_kube([Revision(ctx.good, ready_after=2, fails=True)])
    fake.seed(previous_isvc(), ctx.good)
    return run(ctx, fake, "canary_rollback_load_failure", canary_traffic_percent=20)


def raw_canary_refused(ctx: Context) -> Outcome:
    fake = ctx.new_kube()
    return run(
        ctx, fake, "raw_canary_refused", deployment_mode="RawDeployment", canary_traffic_percent=20
    )


def first_deploy_canary(ctx: Context) -> Outcome:
    fake = ctx.new_kube([Revision(ctx.good)])
    return run(ctx, fake, "first_deploy_canary", canary_traffic_percent=20)


def update_rollback_smoke(ctx: Context) -> Outcome:
    """A full rollout (no canary) of a bad model over a good one."""
    fake = ctx.new_kube([Revision(ctx.bad)])
    fake.seed(previous_isvc(), ctx.good)
    return run(ctx, fake, "update_rollback_smoke")


def raw_apply(ctx: Context) -> Outcome:
    fake = ctx.new_kube([Revision(ctx.good, ready_after=3)])
    return run(ctx, fake, "raw_apply", deployment_mode="RawDeployment")


def raw_update_rollback_timeout(ctx: Context) -> Outcome:
    fake = ctx.new_kube([Revision(ctx.good, ready_after=None)])
    fake.seed(previous_isvc("RawDeployment"), ctx.good)
    return run(ctx, fake, "raw_update_rollback_timeout", deployment_mode="RawDeployment")


def first_deploy_fails(ctx: Context) -> Outcome:
    fake = ctx.new_kube([Revision(ctx.bad)])
    return run(ctx, fake, "first_deploy_fails")


def mode_mismatch(ctx: Context) -> Outcome:
    fake = ctx.new_kube()
    fake.seed(previous_isvc("RawDeployment"), ctx.good)
    return run(ctx, fake, "mode_mismatch")


def taken_over_from_kubectl(ctx: Context) -> Outcome:
    """Someone scaled the service by hand (another field manager): deploy takes the field back."""
    fake = ctx.new_kube([Revision(ctx.good)])
    hand_edited = previous_isvc()
    hand_edited["spec"]["predictor"]["maxReplicas"] = 5
    fake.seed(hand_edited, ctx.good, manager="kubectl-client-side-apply")
    return run(ctx, fake, "taken_over_from_kubectl")


SCENARIOS: dict[str, Callable[[Context], Outcome]] = {
    f.__name__: f
    for f in (
        apply_new,
        unchanged,
        retrained_unchanged,
        canary_promote,
        canary_rollback_smoke,
        canary_rollback_timeout,
        canary_rollback_load_failure,
        raw_canary_refused,
        first_deploy_canary,
        update_rollback_smoke,
        raw_apply,
        raw_update_rollback_timeout,
        first_deploy_fails,
        mode_mismatch,
        taken_over_from_kubectl,
    )
}
