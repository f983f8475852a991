"""A fake of the Kubernetes API for InferenceServices, with KServe's controller behind it.

It plays :class:`mlrail.components.deploy.kserve.KubeApi` for the decision tests, which need
what a real API server cannot give them: KServe's controller behaviour scripted call by call
(a status from before the apply, a KServe that ignores tag routing, an API that fails on the
n-th call, a cluster without KServe) and no Go toolchain. What the API server itself checks is
checked by the real one (tests/cluster/test_deploy.py runs every scenario there): the CRD
schema of every body and of every status, the body's identity, server-side apply conflicts,
``generation``, RBAC. Here, server-side apply is reduced to what the scenarios need: each field
manager owns the fields it sent; a forced apply takes fields from other managers; a field the
manager sent before and omits now is removed; ``generation`` moves only when ``spec`` changes.
Errors are ``kubernetes.client.ApiException`` with a ``V1Status`` JSON body, as the client raises
them; metadata (including ``managedFields``) is built from the client's models and serialised
with ``ApiClient().sanitize_for_serialization``.

Every call is recorded as the API server authorizes it (:class:`Call`): a server-side apply is a
``patch``, and one that creates the object is also a ``create``.

The controller is :class:`~.kserve_model.Reconciler` (KServe's Knative reconciler, shared with
the test controller of tests/cluster): a new revision on each apply that changes the template,
the status rebuilt on each GET (after ``lag`` GETs that still show the status from before an
apply), and each GET a step of the latest revision's script (:class:`Revision`: ready after
``ready_after`` polls that saw it pending).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
import urllib.parse
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml
from kubernetes.client import (
    ApiClient,
    V1ManagedFieldsEntry,
    V1ObjectMeta,
    V1Status,
    V1StatusDetails,
)
from kubernetes.client.exceptions import ApiException

from mlrail.components.deploy import kserve

from .kserve_model import Reconciler, Revision, Revisions

__all__ = ["Call", "FakeKube", "KubeHttpFront", "Revision"]

_SERIALIZE = ApiClient().sanitize_for_serialization


@dataclass(frozen=True)
class Call:
    verb: str
    group: str
    version: str
    resource: str
    namespace: str
    name: str
    subresource: str = ""


@dataclass
class _Live:
    obj: dict[str, Any]
    managers: dict[str, set[tuple[str, ...]]] = field(default_factory=dict)
    revisions: Revisions = field(default_factory=Revisions)
    stale: int = 0


def _status(code: int, reason: str, message: str, **details: Any) -> ApiException:
    status = V1Status(
        api_version="v1",
        kind="Status",
        status="Failure",
        code=code,
        reason=reason,
        message=message,
        details=V1StatusDetails(**details) if details else None,
    )
    exc = ApiException(status=code, reason=reason)
    exc.body = json.dumps(_SERIALIZE(status))
    return exc


def _leaves(obj: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, value in obj.items():
        path = (*prefix, key)
        if isinstance(value, Mapping):
            yield from _leaves(value, path)  # an empty map owns nothing
        else:
            yield path  # lists are atomic, as x-kubernetes-list-type atomic (and CRD default)


def _get_path(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, Mapping) or key not in obj:
            return None
        obj = obj[key]
    return obj


def _set_path(obj: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        obj = obj.setdefault(key, {})
    obj[path[-1]] = copy.deepcopy(value)


def _delete_path(obj: dict[str, Any], path: tuple[str, ...]) -> None:
    parents = [obj]
    for key in path[:-1]:
        nxt = parents[-1].get(key)
        if not isinstance(nxt, dict):
            return
        parents.append(nxt)
    parents[-1].pop(path[-1], None)
    for parent, key in zip(reversed(parents[:-1]), reversed(path[:-1]), strict=True):
        if parent.get(key) == {}:
            del parent[key]


def _fields_v1(paths: Iterable[tuple[str, ...]]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for key in path:
            node = node.setdefault(f"f:{key}", {})
    return tree


class FakeKube:
    """In-memory InferenceServices behind ``get``/``apply``, with a scripted KServe controller."""

    def __init__(
        self,
        revisions: Iterable[Revision] = (),
        *,
        kserve_installed: bool = True,
        forbidden: Iterable[str] = (),
        tag_routing: bool = True,
        domain: str = "example.com",
        lag: int = 0,
    ) -> None:
        self.kserve = Reconciler(revisions, tag_routing=tag_routing, domain=domain)
        self.kserve_installed = kserve_installed
        self.forbidden = set(forbidden)  # verbs answered with 403
        self.lag = lag  # GETs after an apply that still show the status from before it
        self.calls: list[Call] = []
        self.received: list[dict[str, Any]] = []
        #: (field manager, force) of each apply received
        self.apply_options: list[tuple[str, bool]] = []
        self._objects: dict[tuple[str, str], _Live] = {}
        self._lock = threading.Lock()
        self._clock = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    # -- the KubeApi protocol ---------------------------------------------------------------------

    def get_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str
    ) -> dict[str, Any]:
        with self._lock:
            self._record("get", group, version, plural, namespace, name)
            self._check_path(group, version, plural, "get", namespace, name)
            live = self._objects.get((namespace, name))
            if live is None:
                raise _status(
                    404,
                    "NotFound",
                    f'{plural}.{group} "{name}" not found',
                    name=name,
                    group=group,
                    kind=plural,
                )
            if live.stale:
                live.stale -= 1  # the controller has not caught up with the last apply
            else:
                self._reconcile(live)
                self.kserve.step(live.revisions)  # each poll is a step of the latest revision
            return self._out(live.obj)

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
    ) -> dict[str, Any]:
        with self._lock:
            created = (namespace, name) not in self._objects
            self._record("patch", group, version, plural, namespace, name)
            if created:
                # The API server also authorizes "create" when an apply creates the object.
                self._record("create", group, version, plural, namespace, name)
            self._check_path(group, version, plural, "patch", namespace, name)
            if created and "create" in self.forbidden:
                raise self._forbidden("create", plural, group, namespace, name)
            self.received.append(copy.deepcopy(body))
            self.apply_options.append((field_manager, force))
            live = self._apply(body, field_manager, force)
            live.stale = self.lag
            return self._out(live.obj)

    # -- for tests --------------------------------------------------------------------------------

    def seed(self, body: dict[str, Any], url: str, manager: str = kserve.FIELD_MANAGER) -> None:
        """An InferenceService as an earlier deploy left it: applied, ready, rolled out."""
        with self._lock:
            self.kserve.script.insert(0, Revision(url, ready_after=0))
            self._apply(copy.deepcopy(body), manager, force=True)
            live = self._objects[(body["metadata"]["namespace"], body["metadata"]["name"])]
            self._reconcile(live)
            self._reconcile(live)  # second pass: rolled out once its traffic says so

    def live(self, namespace: str, name: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._objects[(namespace, name)].obj)

    def managers(self, namespace: str, name: str) -> dict[str, set[tuple[str, ...]]]:
        with self._lock:
            return copy.deepcopy(self._objects[(namespace, name)].managers)

    # -- the API server ---------------------------------------------------------------------------

    def _record(self, verb: str, group: str, version: str, plural: str, ns: str, name: str) -> None:
        self.calls.append(Call(verb, group, version, plural, ns, name))

    def _forbidden(self, verb: str, plural: str, group: str, ns: str, name: str) -> ApiException:
        return _status(
            403,
            "Forbidden",
            f'{plural}.{group} "{name}" is forbidden: User '
            f'"system:serviceaccount:{ns}:mlrail-pipeline-runner" cannot {verb} resource '
            f'"{plural}" in API group "{group}" in the namespace "{ns}"',
            name=name,
            group=group,
            kind=plural,
        )

    def _check_path(
        self, group: str, version: str, plural: str, verb: str, ns: str, name: str
    ) -> None:
        if (group, version, plural) != (kserve.GROUP, kserve.VERSION, kserve.PLURAL) or (
            not self.kserve_installed
        ):
            exc = ApiException(status=404, reason="Not Found")
            exc.body = "404 page not found\n"  # what the API server says for an unknown path
            raise exc
        if verb in self.forbidden:
            raise self._forbidden(verb, plural, group, ns, name)

    def _out(self, obj: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(obj)

    def _now(self) -> dt.datetime:
        self._clock += dt.timedelta(seconds=1)
        return self._clock

    def _apply(self, body: dict[str, Any], manager: str, force: bool) -> _Live:
        ns, name = body["metadata"]["namespace"], body["metadata"]["name"]
        live = self._objects.get((ns, name))
        if live is None:
            meta = V1ObjectMeta(
                name=name,
                namespace=ns,
                uid=str(uuid.uuid4()),
                generation=0,
                resource_version="1",
                creation_timestamp=self._now(),
            )
            live = _Live(
                {
                    "apiVersion": body["apiVersion"],
                    "kind": body["kind"],
                    "metadata": _SERIALIZE(meta),
                    "spec": {},
                }
            )
        sent = {k: v for k, v in body.items() if k not in ("apiVersion", "kind")}
        sent["metadata"] = {
            k: v for k, v in body["metadata"].items() if k not in ("name", "namespace")
        }
        paths = set(_leaves(sent))
        conflicts = [
            (other, path)
            for other, owned in live.managers.items()
            if other != manager
            for path in paths & owned
            if _get_path(live.obj, path) != _get_path(sent, path)
        ]
        # deploy always forces; the 409 of an unforced conflict is the real server's to show
        assert force or not conflicts, "the fake plays forced applies only"
        for other, path in conflicts:
            live.managers[other].discard(path)
        before = copy.deepcopy(live.obj)
        others = set().union(*(o for m, o in live.managers.items() if m != manager))
        for path in live.managers.get(manager, set()) - paths - others:
            _delete_path(live.obj, path)
        for path in paths:
            _set_path(live.obj, path, _get_path(sent, path))
        live.managers[manager] = paths
        if not live.managers[manager]:
            del live.managers[manager]
        meta = live.obj["metadata"]
        if live.obj.get("spec") != before.get("spec"):
            meta["generation"] = int(meta.get("generation", 0)) + 1
        if live.obj != before:
            meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)
        meta["managedFields"] = [
            _SERIALIZE(
                V1ManagedFieldsEntry(
                    manager=m,
                    operation="Apply",
                    api_version=body["apiVersion"],
                    fields_type="FieldsV1",
                    fields_v1=_fields_v1(owned),
                    time=self._now(),
                )
            )
            for m, owned in sorted(live.managers.items())
        ]
        self._objects[(ns, name)] = live
        self.kserve.observe(live.revisions, live.obj)
        return live

    # -- the controller (kserve_model.py) --------------------------------------------------------

    def _reconcile(self, live: _Live) -> None:
        live.obj["status"] = self.kserve.status(live.revisions, live.obj, self._now())


class KubeHttpFront:
    """The fake behind real HTTP on 127.0.0.1, for the ``kubernetes`` client itself.

    Routes ``GET``/``PATCH`` ``/apis/{group}/{version}/namespaces/{ns}/{plural}/{name}`` to
    ``fake``; a PATCH must be ``application/apply-patch+yaml`` (anything else, which the real API
    server would read as another kind of patch, is a 415 here). Requests are recorded.
    """

    def __init__(self, fake: FakeKube) -> None:
        self.fake = fake
        self.requests: list[dict[str, Any]] = []
        front = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                front._handle(self, "GET")

            def do_PATCH(self) -> None:  # noqa: N802
                front._handle(self, "PATCH")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> KubeHttpFront:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(10)

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parsed = urllib.parse.urlsplit(handler.path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        self.requests.append(
            {
                "method": method,
                "path": parsed.path,
                "query": query,
                "content_type": handler.headers.get("Content-Type", ""),
                "authorization": handler.headers.get("Authorization", ""),
                "body": raw,
            }
        )
        parts = parsed.path.strip("/").split("/")
        try:
            if len(parts) != 7 or parts[0] != "apis" or parts[3] != "namespaces":
                raise ApiException(status=404, reason="Not Found")
            _, group, version, _, ns, plural, name = parts
            if method == "GET":
                result = self.fake.get_namespaced_custom_object(group, version, ns, plural, name)
            else:
                if handler.headers.get("Content-Type") != "application/apply-patch+yaml":
                    raise _status(
                        415,
                        "UnsupportedMediaType",
                        f"this fake takes only server-side apply, got "
                        f"{handler.headers.get('Content-Type')}",
                    )
                force = query.get("force", "false").lower() not in ("0", "false")
                result = self.fake.apply_namespaced_custom_object(
                    group,
                    version,
                    ns,
                    plural,
                    name,
                    yaml.safe_load(raw),
                    field_manager=query.get("fieldManager", ""),
                    force=force,
                )
            status, payload = 200, json.dumps(result).encode()
        except ApiException as e:
            status = int(e.status or 500)
            payload = (e.body or "404 page not found\n").encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
