"""A test controller for InferenceServices on the real API server: KServe's status, scripted.

There is no KServe here (only its CRD), so nothing would ever write an InferenceService's
``.status``. :class:`KServeController` does, as KServe's reconciler does, with the model the fake
API uses (``tests/components/deploy/kserve_model.py``: revisions, traffic with tags
``latest``/``prev``, ``PredictorReady``/``IngressReady``/``Ready``, rolled-out revisions, the
``observedGeneration``): a thread watches the InferenceServices as the admin and writes each
status through the ``status`` subresource (server-side apply, field manager
:data:`FIELD_MANAGER`). Revision URLs are real ``mlrail serve`` servers on 127.0.0.1.

Deterministic by construction, not by timing: the controller and deploy's polls never race.

- After each apply deploy makes, :class:`Recorded` waits (:meth:`KServeController.settle`) until
  the watch has delivered that ``resourceVersion`` and its status is written: deploy's next GET
  sees KServe's reaction to the apply, as the fake's does.
- A revision's readiness is counted in steps of the test's clock (:class:`ControllerClock`):
  each of deploy's sleeps is one step, taken synchronously in the sleep. A revision scripted
  ``ready_after=n`` is ready at the poll after the n-th sleep, as the fake's is at its (n+1)-th
  poll: the same sleeps, the same assertions. The clock is fake (it advances by what deploy
  asks) so the timeout scenario takes no wall time; the API server, the watch and the status
  writes are real.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlrail.components.deploy import kserve
from tests.components.deploy.fake_kube import Call
from tests.components.deploy.kserve_model import Reconciler, Revision, Revisions
from tests.components.deploy.scenarios import FakeClock

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from mlrail.components.deploy.kserve import KubeApi, KubernetesApi

    from .control_plane import ControlPlane

__all__ = [
    "FIELD_MANAGER",
    "ClusterKube",
    "ControllerClock",
    "KServeController",
    "RUNNER",
    "Recorded",
    "api_as",
    "fields_owned",
]

#: the ServiceAccount the README tells users to run pipelines as
RUNNER = "mlrail-pipeline-runner"

FIELD_MANAGER = "kserve-controller"
_SETTLE_SECONDS = 30.0
_WATCH_SECONDS = 2  # how long each watch request lasts: the most stop() waits


@dataclass
class _Tracked:
    obj: dict[str, Any]
    revisions: Revisions = field(default_factory=Revisions)
    #: (generation, template) last reconciled: a status write alone changes neither
    seen: tuple[int, str] = (0, "")
    written: dict[str, Any] = field(default_factory=dict)


class KServeController:
    """KServe's reconciler for the InferenceService ``namespace/name``, as a watching thread.

    Only that object is watched (a field selector), so other tests' InferenceServices never
    take a scripted revision. Use as a context manager; :meth:`script` before each scenario.
    """

    def __init__(
        self, admin: ApiClient, namespace: str, name: str, domain: str = "example.com"
    ) -> None:
        from kubernetes.client import CustomObjectsApi

        self.admin = admin
        self.namespace, self.name = namespace, name
        self.reconciler = Reconciler(domain=domain)
        self.errors: list[BaseException] = []
        self._objects = CustomObjectsApi(admin)
        self._tracked: _Tracked | None = None
        self._handled = 0  # the highest resourceVersion handled (etcd's revisions are ordered)
        self._events: dict[int, str] = {}  # resourceVersion -> event type
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kserve-controller", daemon=True)

    # -- for tests --------------------------------------------------------------------------------

    def __enter__(self) -> KServeController:
        listed = self._objects.list_namespaced_custom_object(
            kserve.GROUP, kserve.VERSION, self.namespace, kserve.PLURAL, **self._selector()
        )
        if listed["items"]:
            raise AssertionError(f"{self.namespace}/{self.name} exists before the controller")
        self._resource_version = str(listed["metadata"]["resourceVersion"])
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(_WATCH_SECONDS * 5)

    def script(self, revisions: Iterable[Revision]) -> None:
        """The revisions the next changes of the object make, in order."""
        with self._cond:
            self.reconciler.script = list(revisions)

    def script_first(self, revision: Revision) -> None:
        """``revision`` for the next new revision, before those scripted."""
        with self._cond:
            self.reconciler.script.insert(0, revision)

    def settle(self, resource_version: str | int) -> str:
        """Wait until the watch has handled ``resource_version``; the event's type (or "")."""
        target = int(resource_version)
        with self._cond:
            done = self._cond.wait_for(
                lambda: self._handled >= target or bool(self.errors), _SETTLE_SECONDS
            )
            self._raise_errors()
            if not done:
                raise AssertionError(f"the controller did not see resourceVersion {target}")
            return self._events.get(target, "")

    def tick(self) -> None:
        """One step of the test's clock: pending revisions move on, the status is rewritten."""
        with self._cond:
            self._raise_errors()
            tracked = self._tracked
            if tracked is not None:
                self.reconciler.step(tracked.revisions)
                self._write(tracked)

    def delete(self) -> None:
        """Delete the object (as the admin) and wait until the controller has forgotten it."""
        from kubernetes.client.exceptions import ApiException

        try:
            self._objects.delete_namespaced_custom_object(
                kserve.GROUP, kserve.VERSION, self.namespace, kserve.PLURAL, self.name
            )
        except ApiException as e:
            if e.status != 404:
                raise
        with self._cond:
            gone = self._cond.wait_for(
                lambda: self._tracked is None or bool(self.errors), _SETTLE_SECONDS
            )
            self._raise_errors()
            if not gone:
                raise AssertionError(f"the controller did not see {self.name} deleted")

    # -- the controller ---------------------------------------------------------------------------

    def _selector(self) -> dict[str, str]:
        return {"field_selector": f"metadata.name={self.name}"}

    def _raise_errors(self) -> None:
        if self.errors:
            error = self.errors[0]
            said = getattr(error, "body", None) or ""  # an ApiException: the server's Status
            raise AssertionError(f"the test controller failed: {error!r} {said}".strip())

    def _run(self) -> None:
        from kubernetes import watch

        try:
            while not self._stop.is_set():
                stream = watch.Watch().stream(
                    self._objects.list_namespaced_custom_object,
                    kserve.GROUP,
                    kserve.VERSION,
                    self.namespace,
                    kserve.PLURAL,
                    resource_version=self._resource_version,
                    timeout_seconds=_WATCH_SECONDS,
                    **self._selector(),
                )
                for event in stream:
                    self._handle(event["type"], event["object"])
        except BaseException as e:  # noqa: BLE001 (handed to the test thread, which raises it)
            with self._cond:
                self.errors.append(e)
                self._cond.notify_all()

    def _handle(self, kind: str, obj: dict[str, Any]) -> None:
        if kind == "ERROR":  # e.g. 410 Gone: a test session is too short for it; say so
            raise RuntimeError(f"watch error: {obj}")
        version = int(obj["metadata"]["resourceVersion"])
        self._resource_version = str(version)
        with self._cond:
            self._events[version] = kind
            if kind == "DELETED":
                self._tracked = None
            else:
                if self._tracked is None:
                    self._tracked = _Tracked(obj)
                tracked = self._tracked
                tracked.obj = obj
                seen = (int(obj["metadata"]["generation"]), self.reconciler.template(obj))
                if seen != tracked.seen:
                    tracked.seen = seen
                    self.reconciler.observe(tracked.revisions, obj)
                    self._write(tracked)
            self._handled = max(self._handled, version)
            self._cond.notify_all()

    def _write(self, tracked: _Tracked) -> None:
        """Server-side apply the status KServe would write, if it changed."""
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        status = self.reconciler.status(tracked.revisions, tracked.obj, now)
        before = {c["type"]: c for c in tracked.written.get("conditions", [])}
        for condition in status["conditions"]:  # a condition's time moves only when it does
            old = before.get(condition["type"])
            if old and old["status"] == condition["status"]:
                condition["lastTransitionTime"] = old["lastTransitionTime"]
        if status == tracked.written:
            return
        body = {
            "apiVersion": f"{kserve.GROUP}/{kserve.VERSION}",
            "kind": "InferenceService",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "status": status,
        }
        written = self.admin.call_api(
            "/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}/status",
            "PATCH",
            path_params={
                "group": kserve.GROUP,
                "version": kserve.VERSION,
                "namespace": self.namespace,
                "plural": kserve.PLURAL,
                "name": self.name,
            },
            query_params=[("fieldManager", FIELD_MANAGER), ("force", "true")],
            header_params={
                "Accept": "application/json",
                "Content-Type": "application/apply-patch+yaml",
            },
            body=body,
            response_type="object",
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
        )
        tracked.written = copy.deepcopy(status)
        self._handled = max(self._handled, int(written["metadata"]["resourceVersion"]))


class ControllerClock(FakeClock):
    """The fake clock of the deploy scenarios; each sleep is a step of the controller."""

    def __init__(self, controller: KServeController) -> None:
        super().__init__()
        self.controller = controller

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        self.controller.tick()


class Recorded:
    """deploy's :class:`~mlrail.components.deploy.kserve.KubeApi`: the real client, recorded.

    ``api`` is the client deploy would build (the pipeline runner's credentials); every call goes
    to the real API server, whose RBAC judges it. Recorded as in the fake (``calls``,
    ``received``, ``apply_options``), each call as the API server authorizes it: an apply is a
    ``patch``, and also a ``create`` when the watch saw it as ``ADDED`` (the server created the
    object). After an apply, the controller is settled (module doc).
    """

    def __init__(self, api: KubeApi, controller: KServeController) -> None:
        self.api = api
        self.controller = controller
        self.calls: list[Call] = []
        self.received: list[dict[str, Any]] = []
        self.apply_options: list[tuple[str, bool]] = []

    def get_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str
    ) -> Any:
        self.calls.append(Call("get", group, version, plural, namespace, name))
        return self.api.get_namespaced_custom_object(group, version, namespace, plural, name)

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
        self.calls.append(Call("patch", group, version, plural, namespace, name))
        self.received.append(copy.deepcopy(body))
        self.apply_options.append((field_manager, force))
        obj = self.api.apply_namespaced_custom_object(
            group, version, namespace, plural, name, body, field_manager=field_manager, force=force
        )
        if self.controller.settle(obj["metadata"]["resourceVersion"]) == "ADDED":
            self.calls.append(Call("create", group, version, plural, namespace, name))
        return obj


class ClusterKube(Recorded):
    """A deploy scenario's :class:`~tests.components.deploy.scenarios.Kube` on the real server.

    Seeding and reading are the admin's; deploy's calls are the pipeline runner's
    (:class:`Recorded`).
    """

    def __init__(self, api: KubeApi, controller: KServeController) -> None:
        super().__init__(api, controller)
        from kubernetes.client import CustomObjectsApi

        self._admin = CustomObjectsApi(controller.admin)

    def seed(self, body: dict[str, Any], url: str, manager: str = kserve.FIELD_MANAGER) -> None:
        """``body`` as an earlier deploy left it (server-side apply as ``mlrail-deploy``), or as
        another ``manager`` created it (an update, as ``kubectl create`` or a client-side
        ``kubectl apply`` makes it); ready and rolled out."""
        from mlrail.components.deploy.kserve import KubernetesApi

        meta = body["metadata"]
        where = (kserve.GROUP, kserve.VERSION, meta["namespace"], kserve.PLURAL)
        self.controller.script_first(Revision(url, ready_after=0))
        if manager == kserve.FIELD_MANAGER:
            obj = KubernetesApi(self.controller.admin).apply_namespaced_custom_object(
                *where, meta["name"], body, field_manager=manager, force=True
            )
        else:
            obj = self._admin.create_namespaced_custom_object(*where, body, field_manager=manager)
        self.controller.settle(obj["metadata"]["resourceVersion"])

    def live(self, namespace: str, name: str) -> dict[str, Any]:
        return dict(
            self._admin.get_namespaced_custom_object(
                kserve.GROUP, kserve.VERSION, namespace, kserve.PLURAL, name
            )
        )

    def managers(self, namespace: str, name: str) -> dict[str, set[tuple[str, ...]]]:
        return fields_owned(self.live(namespace, name)["metadata"].get("managedFields") or [])


def fields_owned(managed_fields: Iterable[Mapping[str, Any]]) -> dict[str, set[tuple[str, ...]]]:
    """Each field manager's leaf fields, from ``metadata.managedFields`` (``FieldsV1``)."""
    owned: dict[str, set[tuple[str, ...]]] = {}

    def leaves(tree: Mapping[str, Any], prefix: tuple[str, ...]) -> Iterable[tuple[str, ...]]:
        for key, sub in tree.items():
            if key == ".":
                continue
            path = (*prefix, key.removeprefix("f:"))
            if sub:
                yield from leaves(sub, path)
            else:
                yield path

    for entry in managed_fields:
        owned.setdefault(entry["manager"], set()).update(leaves(entry.get("fieldsV1") or {}, ()))
    return owned


def api_as(
    plane: ControlPlane, admin: ApiClient, namespace: str, service_account: str
) -> KubernetesApi:
    """deploy's API client as ``namespace/service_account``, with a TokenRequest token."""
    from kubernetes import client, config

    from mlrail.components.deploy.kserve import KubernetesApi

    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
    )
    token = (
        client.CoreV1Api(admin)
        .create_namespaced_service_account_token(service_account, namespace, request)
        .status.token
    )
    kubeconfig = plane.kubeconfig_for(f"{namespace}-{service_account}", token)
    return KubernetesApi(config.new_client_from_config(str(kubeconfig)))
