"""A fake Kubeflow Pipelines v2beta1 REST API: a real HTTP server on 127.0.0.1, in a thread.

It plays the endpoints ``kfp.Client`` calls to create experiments, runs, pipelines, pipeline
versions and recurring runs, and to list, get, enable, disable and delete recurring runs. It is
strict where the real API server is strict, so that a wrong request fails a test instead of
passing silently:

- every JSON body must deserialise into its ``kfp_server_api`` model, field by field, with the
  declared types; an unknown key (at any depth) is answered with 400, as protojson would;
- a pipeline spec inside a run or recurring run must parse as a KFP ``PipelineSpec`` proto
  (``ignore_unknown_fields=False``), and an uploaded file must be a ``.yaml``/``.yml`` whose
  first document parses the same way;
- the rules of the real server that these flows meet: unique experiment names per namespace,
  unique pipeline names per namespace, unique version names per pipeline (409), existing
  experiment/pipeline/version references (404), the 10,000-byte limit on run parameters,
  ``max_concurrency`` in 1..10, exactly one trigger, list filters (``EQUALS`` only), list paging
  (20 items by default, at most 200, opaque page tokens, a foreign token refused).

Every request is recorded (:class:`RecordedRequest`) for assertions, and answered with JSON built
from the same models (``ApiClient().sanitize_for_serialization``). It does not run anything:
runs stay ``PENDING``.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import re
import threading
import urllib.parse
import uuid
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import kfp_server_api
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from kfp_server_api import models

__all__ = ["API", "FakeKfpServer", "RecordedRequest"]

API = "/apis/v2beta1"

# Fields that are int64 in the protos: the generated models type them as strings (proto JSON
# writes int64 as a string) and protojson reads either a number or a decimal string.
_INT64_FIELDS = {
    ("V2beta1RecurringRun", "max_concurrency"),
    ("V2beta1PeriodicSchedule", "interval_second"),
    ("V2beta1Predicate", "long_value"),
}
# Proto enum numbers, for enums a client may send as numbers (kfp.Client does for filters).
_ENUM_NUMBERS = {
    "V2beta1PredicateOperation": {
        0: "OPERATION_UNSPECIFIED",
        1: "EQUALS",
        2: "NOT_EQUALS",
        3: "GREATER_THAN",
        5: "GREATER_THAN_EQUALS",
        6: "LESS_THAN",
        7: "LESS_THAN_EQUALS",
        8: "IN",
        9: "IS_SUBSTRING",
    },
}
_GRPC_CODES = {400: 3, 404: 5, 409: 6, 500: 13}
_MAX_PARAMETER_BYTES = 10_000  # util.MaxParameterBytes of the KFP backend
# list.Options of the KFP backend: the page size when none is asked for, and the largest served.
_DEFAULT_PAGE_SIZE = 20
_MAX_PAGE_SIZE = 200


class _Refusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclasses.dataclass
class RecordedRequest:
    """One request the fake received.

    Attributes:
        method: HTTP method.
        path: URL path without the query.
        query: Query parameters, each with its list of values.
        headers: Request headers (names lower-cased).
        body: The parsed JSON body, or None.
        model: The ``kfp_server_api`` model the body deserialised into, or None.
        files: Multipart file fields: name -> (file name, content).
        status: The status the fake answered with.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any = None
    model: Any = None
    files: dict[str, tuple[str, bytes]] = dataclasses.field(default_factory=dict)
    status: int = 0

    def arg(self, name: str) -> str | None:
        """The first value of a query parameter, or None."""
        values = self.query.get(name)
        return values[0] if values else None


class FakeKfpServer:
    """The fake API; use as a context manager, or call :meth:`start` and :meth:`stop`.

    Args:
        multi_user: What ``/healthz`` reports. With True, ``kfp.Client`` looks for the pod's
            namespace file, as in a cluster.
        max_page_size: The most items one list page holds, whatever the client asks for (the
            API server's is 200); lower it to make a test walk through pages.
    """

    def __init__(self, *, multi_user: bool = False, max_page_size: int = _MAX_PAGE_SIZE) -> None:
        self.multi_user = multi_user
        self.max_page_size = max_page_size
        self.requests: list[RecordedRequest] = []
        self.experiments: dict[str, models.V2beta1Experiment] = {}
        self.pipelines: dict[str, models.V2beta1Pipeline] = {}
        self.versions: dict[str, list[models.V2beta1PipelineVersion]] = {}
        self.runs: dict[str, models.V2beta1Run] = {}
        self.recurring_runs: dict[str, models.V2beta1RecurringRun] = {}
        self._failures: list[tuple[str, str, int, str]] = []
        self._lock = threading.Lock()
        self._api_client = kfp_server_api.ApiClient()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._clock = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeKfpServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                fake._handle(self)

            def do_POST(self) -> None:  # noqa: N802
                fake._handle(self)

            def do_DELETE(self) -> None:  # noqa: N802
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # the recorded requests are the log

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll so that stop() (which waits for the serving loop to notice) is quick.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="fake-kfp-api",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._api_client.close()

    def __enter__(self) -> FakeKfpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The server's base address, e.g. ``http://127.0.0.1:45678``."""
        assert self._httpd is not None, "start the server first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- for tests ----------------------------------------------------------------------------

    def calls(self, method: str, path: str) -> list[RecordedRequest]:
        """The recorded requests with this method and path (``API`` prefix optional)."""
        full = path if path.startswith(API) else API + path
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == full]

    def fail_next(self, method: str, path: str, status: int, message: str) -> None:
        """Answers the next request with this method and path with an error."""
        full = path if path.startswith(API) else API + path
        with self._lock:
            self._failures.append((method, full, status, message))

    # -- HTTP ---------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        split = urllib.parse.urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        request = RecordedRequest(
            method=handler.command,
            path=split.path,
            query=urllib.parse.parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in handler.headers.items()},
        )
        with self._lock:
            self.requests.append(request)
            try:
                status, payload = self._dispatch(request, raw)
            except _Refusal as refusal:
                status = refusal.status
                payload = {
                    "error": refusal.message,
                    "code": _GRPC_CODES.get(status, 2),
                    "message": refusal.message,
                    "details": [],
                }
            request.status = status
        data = json.dumps(payload).encode("utf-8")
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _dispatch(self, request: RecordedRequest, raw: bytes) -> tuple[int, Any]:
        for i, (method, path, status, message) in enumerate(self._failures):
            if method == request.method and path == request.path:
                del self._failures[i]
                raise _Refusal(status, message)
        routes: list[tuple[str, str, Callable[..., Any]]] = [
            ("GET", r"/healthz", self._healthz),
            ("GET", r"/experiments", self._list_experiments),
            ("POST", r"/experiments", self._create_experiment),
            ("GET", r"/experiments/(?P<id>[^/:]+)", self._get_experiment),
            ("POST", r"/runs", self._create_run),
            ("GET", r"/runs/(?P<id>[^/:]+)", self._get_run),
            ("GET", r"/pipelines", self._list_pipelines),
            ("POST", r"/pipelines/upload", self._upload_pipeline),
            ("POST", r"/pipelines/upload_version", self._upload_pipeline_version),
            ("GET", r"/pipelines/(?P<id>[^/:]+)", self._get_pipeline),
            ("GET", r"/pipelines/(?P<id>[^/:]+)/versions", self._list_versions),
            (
                "GET",
                r"/pipelines/(?P<pipeline_id>[^/:]+)/versions/(?P<version_id>[^/:]+)",
                self._get_version,
            ),
            ("POST", r"/recurringruns", self._create_recurring_run),
            ("GET", r"/recurringruns", self._list_recurring_runs),
            ("GET", r"/recurringruns/(?P<id>[^/:]+)", self._get_recurring_run),
            ("DELETE", r"/recurringruns/(?P<rr_id>[^/:]+)", self._delete_recurring_run),
            ("POST", r"/recurringruns/(?P<rr_id>[^/:]+):enable", self._enable_recurring_run),
            ("POST", r"/recurringruns/(?P<rr_id>[^/:]+):disable", self._disable_recurring_run),
        ]
        for method, pattern, action in routes:
            match = re.fullmatch(re.escape(API) + pattern, request.path)
            if match and method == request.method:
                result = action(request, raw, **match.groupdict())
                return 200, self._api_client.sanitize_for_serialization(result)
        raise _Refusal(404, f"the fake KFP API has no {request.method} {request.path}")

    # -- request parsing ----------------------------------------------------------------------

    def _body(self, request: RecordedRequest, raw: bytes, model: str) -> Any:
        if not request.headers.get("content-type", "").startswith("application/json"):
            raise _Refusal(400, f"expected a JSON body, got {request.headers.get('content-type')}")
        try:
            request.body = json.loads(raw)
        except ValueError as e:
            raise _Refusal(400, f"body is not JSON: {e}") from e
        request.model = to_model(request.body, model, model)
        return request.model

    @staticmethod
    def _allow_query(request: RecordedRequest, *names: str) -> None:
        unknown = sorted(set(request.query) - set(names))
        if unknown:
            raise _Refusal(400, f"unexpected query parameter(s) {unknown} for {request.path}")

    @staticmethod
    def _filter(request: RecordedRequest, keys: set[str]) -> dict[str, str]:
        """The EQUALS predicates of the request's filter, as {key: value}."""
        text = request.arg("filter")
        if not text:
            return {}
        try:
            parsed = json.loads(text)
        except ValueError as e:
            raise _Refusal(400, f"filter is not JSON: {e}") from e
        flt = to_model(parsed, "V2beta1Filter", "filter")
        wanted: dict[str, str] = {}
        for predicate in flt.predicates or []:
            if predicate.operation != "EQUALS" or predicate.string_value is None:
                raise _Refusal(400, "the fake supports only EQUALS on string values in filters")
            if predicate.key not in keys:
                raise _Refusal(400, f"invalid filter key {predicate.key!r}; valid: {sorted(keys)}")
            wanted[predicate.key] = predicate.string_value
        return wanted

    def _page(
        self, request: RecordedRequest, items: list[Any]
    ) -> tuple[list[Any] | None, str | None]:
        """One page of ``items`` and the token of the next (None on the last page).

        As the API server pages (``list.Options``): no page size or 0 means 20, more than its
        maximum means the maximum, a negative one is refused; the token is opaque (here base64
        JSON of an offset) and a token the server did not issue is refused.
        """
        try:
            size = int(request.arg("page_size") or 0)
        except ValueError as e:
            raise _Refusal(400, f"page_size is not an integer: {request.arg('page_size')}") from e
        if size < 0:
            raise _Refusal(400, f"The page size should be greater than 0. Got {size}")
        size = min(size or _DEFAULT_PAGE_SIZE, self.max_page_size)
        offset = 0
        token = request.arg("page_token")
        if token:
            try:
                offset = int(json.loads(base64.b64decode(token, validate=True))["offset"])
            except (ValueError, KeyError, TypeError) as e:
                raise _Refusal(400, f"Invalid package token: {token!r}") from e
        page = items[offset : offset + size]
        more = offset + size < len(items)
        next_token = base64.b64encode(json.dumps({"offset": offset + size}).encode()).decode()
        # proto3 JSON leaves an empty string out: the last page has no next_page_token at all.
        return page or None, next_token if more else None

    def _now(self) -> dt.datetime:
        # A deterministic clock that moves forward one second per created object, so sorting by
        # created_at is well defined.
        self._clock += dt.timedelta(seconds=1)
        return self._clock

    # -- endpoints ----------------------------------------------------------------------------

    def _healthz(self, request: RecordedRequest, raw: bytes) -> Any:
        self._allow_query(request)
        return models.V2beta1GetHealthzResponse(
            multi_user=self.multi_user, pipeline_store="database"
        )

    def _list_experiments(self, request: RecordedRequest, raw: bytes) -> Any:
        self._allow_query(request, "page_token", "page_size", "sort_by", "filter", "namespace")
        wanted = self._filter(request, {"display_name", "experiment_id"})
        namespace = request.arg("namespace") or ""
        found = [
            e
            for e in self.experiments.values()
            if (e.namespace or "") == namespace
            and all(getattr(e, k) == v for k, v in wanted.items())
        ]
        page, next_token = self._page(request, found)
        return models.V2beta1ListExperimentsResponse(
            experiments=page, total_size=len(found), next_page_token=next_token
        )

    def _create_experiment(self, request: RecordedRequest, raw: bytes) -> Any:
        self._allow_query(request)
        experiment = self._body(request, raw, "V2beta1Experiment")
        if not experiment.display_name:
            raise _Refusal(400, "Experiment must have a non-empty name")
        for existing in self.experiments.values():
            if (existing.display_name, existing.namespace or "") == (
                experiment.display_name,
                experiment.namespace or "",
            ):
                raise _Refusal(409, f"experiment {experiment.display_name!r} already exists")
        created = models.V2beta1Experiment(
            experiment_id=str(uuid.uuid4()),
            display_name=experiment.display_name,
            description=experiment.description,
            namespace=experiment.namespace,
            created_at=self._now(),
            storage_state="AVAILABLE",
        )
        self.experiments[created.experiment_id] = created
        return created

    def _get_experiment(self, request: RecordedRequest, raw: bytes, id: str) -> Any:  # noqa: A002
        if id not in self.experiments:
            raise _Refusal(404, f"experiment {id} not found")
        return self.experiments[id]

    def _create_run(self, request: RecordedRequest, raw: bytes) -> Any:
        self._allow_query(request, "experiment_id")
        run = self._body(request, raw, "V2beta1Run")
        if not run.display_name:
            raise _Refusal(400, "run must have a display_name")
        if run.experiment_id not in self.experiments:
            raise _Refusal(404, f"experiment {run.experiment_id} not found")
        self._check_pipeline_source(run.pipeline_spec, run.pipeline_version_reference)
        self._check_parameters(run.runtime_config)
        created = models.V2beta1Run(
            run_id=str(uuid.uuid4()),
            experiment_id=run.experiment_id,
            display_name=run.display_name,
            description=run.description,
            pipeline_spec=run.pipeline_spec,
            pipeline_version_reference=run.pipeline_version_reference,
            runtime_config=run.runtime_config,
            service_account=run.service_account or "pipeline-runner",
            storage_state="AVAILABLE",
            state="PENDING",
            created_at=self._now(),
        )
        self.runs[created.run_id] = created
        return created

    def _get_run(self, request: RecordedRequest, raw: bytes, id: str) -> Any:  # noqa: A002
        if id not in self.runs:
            raise _Refusal(404, f"run {id} not found")
        return self.runs[id]

    def _list_pipelines(self, request: RecordedRequest, raw: bytes) -> Any:
        self._allow_query(request, "namespace", "page_token", "page_size", "sort_by", "filter")
        wanted = self._filter(request, {"display_name", "name", "pipeline_id"})
        namespace = request.arg("namespace") or ""
        found = [
            p
            for p in self.pipelines.values()
            if (p.namespace or "") == namespace
            and all(getattr(p, k) == v for k, v in wanted.items())
        ]
        page, next_token = self._page(request, found)
        return models.V2beta1ListPipelinesResponse(
            pipelines=page, total_size=len(found), next_page_token=next_token
        )

    def _get_pipeline(self, request: RecordedRequest, raw: bytes, id: str) -> Any:  # noqa: A002
        if id not in self.pipelines:
            raise _Refusal(404, f"pipeline {id} not found")
        return self.pipelines[id]

    def _list_versions(self, request: RecordedRequest, raw: bytes, id: str) -> Any:  # noqa: A002
        self._allow_query(request, "page_token", "page_size", "sort_by", "filter")
        if id not in self.pipelines:
            raise _Refusal(404, f"pipeline {id} not found")
        wanted = self._filter(request, {"display_name", "name", "pipeline_version_id"})
        found = [v for v in self.versions[id] if all(getattr(v, k) == x for k, x in wanted.items())]
        sort_by = request.arg("sort_by") or ""
        if sort_by not in ("", "created_at", "created_at desc", "created_at asc"):
            raise _Refusal(400, f"the fake cannot sort by {sort_by!r}")
        found.sort(key=lambda v: v.created_at, reverse=sort_by.endswith("desc"))
        page, next_token = self._page(request, found)
        return models.V2beta1ListPipelineVersionsResponse(
            pipeline_versions=page, total_size=len(found), next_page_token=next_token
        )

    def _get_version(
        self, request: RecordedRequest, raw: bytes, pipeline_id: str, version_id: str
    ) -> Any:
        self._allow_query(request)
        for found in self.versions.get(pipeline_id, []):
            if found.pipeline_version_id == version_id:
                return found
        raise _Refusal(404, f"pipeline version {version_id} of pipeline {pipeline_id} not found")

    def _upload_pipeline(self, request: RecordedRequest, raw: bytes) -> Any:
        self._allow_query(request, "name", "display_name", "description", "namespace", "tags")
        filename, spec = self._uploaded_spec(request, raw)
        name = request.arg("name") or request.arg("display_name") or filename
        namespace = request.arg("namespace") or ""
        if any((p.name, p.namespace or "") == (name, namespace) for p in self.pipelines.values()):
            raise _Refusal(409, "Failed to create a pipeline and a pipeline version")
        pipeline = models.V2beta1Pipeline(
            pipeline_id=str(uuid.uuid4()),
            name=name,
            display_name=request.arg("display_name") or name,
            description=request.arg("description"),
            namespace=namespace or None,
            created_at=self._now(),
        )
        self.pipelines[pipeline.pipeline_id] = pipeline
        self.versions[pipeline.pipeline_id] = [
            self._new_version(pipeline.pipeline_id, name, request, spec)
        ]
        return pipeline

    def _upload_pipeline_version(self, request: RecordedRequest, raw: bytes) -> Any:
        self._allow_query(request, "name", "display_name", "pipelineid", "description", "tags")
        filename, spec = self._uploaded_spec(request, raw)
        pipeline_id = request.arg("pipelineid")
        if not pipeline_id:
            raise _Refusal(400, "Failed to create a pipeline version")
        if pipeline_id not in self.pipelines:
            raise _Refusal(400, "Failed to create a pipeline version")
        name = request.arg("name") or request.arg("display_name") or filename
        if any(v.name == name for v in self.versions[pipeline_id]):
            raise _Refusal(409, "Failed to create a pipeline version")
        version = self._new_version(pipeline_id, name, request, spec)
        self.versions[pipeline_id].append(version)
        return version

    def _new_version(
        self, pipeline_id: str, name: str, request: RecordedRequest, spec: dict[str, Any]
    ) -> Any:
        return models.V2beta1PipelineVersion(
            pipeline_id=pipeline_id,
            pipeline_version_id=str(uuid.uuid4()),
            name=name,
            display_name=request.arg("display_name") or name,
            description=request.arg("description"),
            created_at=self._now(),
            pipeline_spec=spec,
        )

    def _create_recurring_run(self, request: RecordedRequest, raw: bytes) -> Any:
        self._allow_query(request)
        rr = self._body(request, raw, "V2beta1RecurringRun")
        if not rr.display_name:
            raise _Refusal(400, "recurring run must have a display_name")
        if rr.experiment_id not in self.experiments:
            raise _Refusal(404, f"experiment {rr.experiment_id} not found")
        self._check_pipeline_source(rr.pipeline_spec, rr.pipeline_version_reference)
        self._check_parameters(rr.runtime_config)
        concurrency = int(rr.max_concurrency or 0)
        if not 1 <= concurrency <= 10:
            raise _Refusal(400, "max concurrency of the recurring run must be between 1 and 10")
        trigger = rr.trigger
        if trigger is None or (trigger.cron_schedule is None) == (
            trigger.periodic_schedule is None
        ):
            raise _Refusal(400, "a recurring run needs exactly one of cron_schedule and periodic")
        schedule = trigger.cron_schedule or trigger.periodic_schedule
        if trigger.cron_schedule is not None:
            cron = trigger.cron_schedule.cron or ""
            # robfig/cron v1, the scheduler's parser: 5 or 6 fields, or a descriptor.
            if not (cron.startswith("@") or len(cron.split()) in (5, 6)):
                raise _Refusal(400, f"invalid cron {cron!r}")
        elif int(trigger.periodic_schedule.interval_second or 0) <= 0:
            raise _Refusal(400, "interval_second must be positive")
        if schedule.start_time and schedule.end_time and schedule.end_time <= schedule.start_time:
            raise _Refusal(400, "end time is before start time")
        if rr.mode not in (None, "ENABLE", "DISABLE"):
            raise _Refusal(400, f"invalid mode {rr.mode}")
        created_at = self._now()
        created = models.V2beta1RecurringRun(
            recurring_run_id=str(uuid.uuid4()),
            display_name=rr.display_name,
            description=rr.description,
            pipeline_spec=rr.pipeline_spec,
            pipeline_version_reference=rr.pipeline_version_reference,
            runtime_config=rr.runtime_config,
            service_account=rr.service_account or "pipeline-runner",
            max_concurrency=str(concurrency),
            trigger=trigger,
            mode=rr.mode or "ENABLE",
            no_catchup=bool(rr.no_catchup),
            created_at=created_at,
            updated_at=created_at,
            status="ENABLED" if rr.mode != "DISABLE" else "DISABLED",
            namespace=self.experiments[rr.experiment_id].namespace,
            experiment_id=rr.experiment_id,
        )
        self.recurring_runs[created.recurring_run_id] = created
        return created

    def _list_recurring_runs(self, request: RecordedRequest, raw: bytes) -> Any:
        self._allow_query(
            request, "page_token", "page_size", "sort_by", "namespace", "filter", "experiment_id"
        )
        wanted = self._filter(request, {"display_name", "recurring_run_id"})
        experiment_id = request.arg("experiment_id")
        namespace = request.arg("namespace")
        found = [
            r
            for r in self.recurring_runs.values()
            if (experiment_id is None or r.experiment_id == experiment_id)
            and (not namespace or (r.namespace or "") == namespace)
            and all(getattr(r, k) == v for k, v in wanted.items())
        ]
        sort_by = request.arg("sort_by") or ""
        keys = {"": "created_at", "created_at": "created_at", "display_name": "display_name"}
        field, _, order = sort_by.partition(" ")
        if field not in keys or order not in ("", "asc", "desc"):
            raise _Refusal(400, f"the fake cannot sort recurring runs by {sort_by!r}")
        # The server breaks ties on the primary key, so a page boundary never splits a tie.
        found.sort(
            key=lambda r: (getattr(r, keys[field]), r.recurring_run_id), reverse=order == "desc"
        )
        page, next_token = self._page(request, found)
        return models.V2beta1ListRecurringRunsResponse(
            recurring_runs=page, total_size=len(found), next_page_token=next_token
        )

    def _get_recurring_run(self, request: RecordedRequest, raw: bytes, id: str) -> Any:  # noqa: A002
        self._allow_query(request)
        if id not in self.recurring_runs:
            raise _Refusal(404, f"recurring run {id} not found")
        return self.recurring_runs[id]

    def _delete_recurring_run(self, request: RecordedRequest, raw: bytes, rr_id: str) -> Any:
        self._allow_query(request)
        self._no_body(request, raw)
        if rr_id not in self.recurring_runs:
            raise _Refusal(404, f"recurring run {rr_id} not found")
        del self.recurring_runs[rr_id]
        return {}

    def _enable_recurring_run(self, request: RecordedRequest, raw: bytes, rr_id: str) -> Any:
        return self._set_enabled(request, raw, rr_id, enabled=True)

    def _disable_recurring_run(self, request: RecordedRequest, raw: bytes, rr_id: str) -> Any:
        return self._set_enabled(request, raw, rr_id, enabled=False)

    def _set_enabled(
        self, request: RecordedRequest, raw: bytes, rr_id: str, *, enabled: bool
    ) -> Any:
        self._allow_query(request)
        self._no_body(request, raw)
        if rr_id not in self.recurring_runs:
            raise _Refusal(404, f"recurring run {rr_id} not found")
        rr = self.recurring_runs[rr_id]
        # The server answers both mode and status from the job's Enabled column.
        rr.mode = "ENABLE" if enabled else "DISABLE"
        rr.status = "ENABLED" if enabled else "DISABLED"
        rr.updated_at = self._now()
        return {}

    @staticmethod
    def _no_body(request: RecordedRequest, raw: bytes) -> None:
        # These calls carry everything in the path; kfp_server_api sends no body.
        if raw.strip() not in (b"", b"{}"):
            raise _Refusal(400, f"{request.method} {request.path} takes no body, got {raw[:80]!r}")

    # -- checks shared by runs and recurring runs ---------------------------------------------

    def _check_pipeline_source(self, pipeline_spec: Any, reference: Any) -> None:
        if (pipeline_spec is None) == (reference is None):
            raise _Refusal(400, "give exactly one of pipeline_spec and pipeline_version_reference")
        if pipeline_spec is not None:
            check_pipeline_spec(pipeline_spec)
            return
        versions = self.versions.get(reference.pipeline_id or "")
        if versions is None:
            raise _Refusal(404, f"pipeline {reference.pipeline_id} not found")
        if not any(v.pipeline_version_id == reference.pipeline_version_id for v in versions):
            raise _Refusal(404, f"pipeline version {reference.pipeline_version_id} not found")

    @staticmethod
    def _check_parameters(runtime_config: Any) -> None:
        parameters = (runtime_config.parameters if runtime_config else None) or {}
        if len(go_json(parameters)) > _MAX_PARAMETER_BYTES:
            raise _Refusal(
                400,
                "Failed to convert API runtime config to its internal representation due to "
                "parameters conversion error: The input parameter length exceed maximum size "
                f"of {_MAX_PARAMETER_BYTES}",
            )

    def _uploaded_spec(self, request: RecordedRequest, raw: bytes) -> tuple[str, dict[str, Any]]:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            raise _Refusal(400, f"expected multipart/form-data, got {content_type!r}")
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw
        )
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            request.files[str(name)] = (part.get_filename() or "", part.get_payload(decode=True))
        if "uploadfile" not in request.files:
            raise _Refusal(400, "Failed to read pipeline from file")
        filename, content = request.files["uploadfile"]
        if not filename.endswith((".yaml", ".yml")):
            raise _Refusal(400, f"the fake accepts only .yaml/.yml uploads, got {filename!r}")
        try:
            documents = list(yaml.safe_load_all(content.decode("utf-8")))
        except (UnicodeDecodeError, yaml.YAMLError) as e:
            raise _Refusal(400, f"uploaded file is not YAML: {e}") from e
        if not documents or not isinstance(documents[0], dict):
            raise _Refusal(400, "uploaded file has no pipeline spec")
        check_pipeline_spec(documents[0])
        for platform in documents[1:]:
            _parse_proto(platform, pipeline_spec_pb2.PlatformSpec(), "platform spec")
        return filename, documents[0]


# -- model and proto checks --------------------------------------------------------------------


def check_pipeline_spec(spec: Any) -> pipeline_spec_pb2.PipelineSpec:
    """Parses a run's pipeline spec (bare, or ``{pipeline_spec, platform_spec}``) strictly."""
    if isinstance(spec, dict) and "pipeline_spec" in spec:
        unknown = set(spec) - {"pipeline_spec", "platform_spec"}
        if unknown:
            raise _Refusal(400, f"unexpected keys {sorted(unknown)} beside pipeline_spec")
        if "platform_spec" in spec:
            _parse_proto(spec["platform_spec"], pipeline_spec_pb2.PlatformSpec(), "platform spec")
        spec = spec["pipeline_spec"]
    parsed = _parse_proto(spec, pipeline_spec_pb2.PipelineSpec(), "pipeline spec")
    if not parsed.pipeline_info.name or not parsed.root.dag.tasks:
        raise _Refusal(400, "pipeline spec has no pipelineInfo.name or no root DAG tasks")
    return parsed


def _parse_proto(data: Any, message: Any, what: str) -> Any:
    if not isinstance(data, dict):
        raise _Refusal(400, f"{what} must be a JSON object")
    try:
        return json_format.ParseDict(data, message, ignore_unknown_fields=False)
    except json_format.ParseError as e:
        raise _Refusal(400, f"invalid {what}: {e}") from e


def go_json(value: Any) -> bytes:
    """JSON as the KFP API server's Go code measures it: compact, with HTML characters escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text.encode("utf-8")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def to_model(data: Any, type_name: str, where: str) -> Any:
    """Deserialises JSON into a ``kfp_server_api`` type strictly, as protojson would.

    Keys may be the JSON names of the model's ``attribute_map`` or their lowerCamelCase forms
    (protojson reads both); any other key, and any value of the wrong type, is a 400.
    """
    inner = re.fullmatch(r"list\[(.*)\]", type_name)
    if inner:
        if not isinstance(data, list):
            raise _Refusal(400, f"{where}: expected a list, got {type(data).__name__}")
        return [to_model(item, inner.group(1), f"{where}[{i}]") for i, item in enumerate(data)]
    inner = re.fullmatch(r"dict\(str, (.*)\)", type_name)
    if inner:
        if not isinstance(data, dict):
            raise _Refusal(400, f"{where}: expected an object, got {type(data).__name__}")
        return {k: to_model(v, inner.group(1), f"{where}.{k}") for k, v in data.items()}
    if type_name == "object":
        return data
    if type_name in ("str", "int", "bool", "float"):
        expected = {"str": str, "int": int, "bool": bool, "float": (int, float)}[type_name]
        if not isinstance(data, expected) or (type_name != "bool" and isinstance(data, bool)):
            raise _Refusal(400, f"{where}: expected {type_name}, got {json.dumps(data)[:80]}")
        return data
    if type_name == "datetime":
        if not isinstance(data, str):
            raise _Refusal(400, f"{where}: expected an RFC 3339 timestamp, got {data!r}")
        try:
            moment = dt.datetime.fromisoformat(data)
        except ValueError as e:
            raise _Refusal(400, f"{where}: not an RFC 3339 timestamp: {data!r}") from e
        if moment.tzinfo is None:
            raise _Refusal(400, f"{where}: RFC 3339 needs Z or an offset: {data!r}")
        return moment
    cls = getattr(models, type_name)
    if not cls.openapi_types:  # an enum
        if isinstance(data, int) and not isinstance(data, bool):
            data = _ENUM_NUMBERS.get(type_name, {}).get(data, data)
        if data not in cls.allowable_values:
            raise _Refusal(400, f"{where}: {data!r} is not one of {cls.allowable_values}")
        return data
    if not isinstance(data, dict):
        raise _Refusal(400, f"{where}: expected a {type_name} object, got {data!r}")
    by_json_name = {}
    for attr, json_name in cls.attribute_map.items():
        by_json_name[json_name] = attr
        by_json_name[_camel(json_name)] = attr
    kwargs = {}
    for key, value in data.items():
        attr = by_json_name.get(key)
        if attr is None:
            raise _Refusal(400, f"{where}: unknown field {key!r} for {type_name}")
        if (type_name, attr) in _INT64_FIELDS:
            ok = (isinstance(value, int) and not isinstance(value, bool)) or (
                isinstance(value, str) and re.fullmatch(r"-?\d+", value)
            )
            if not ok:
                raise _Refusal(400, f"{where}.{key}: expected an int64, got {value!r}")
            kwargs[attr] = str(value)
        elif value is not None:
            kwargs[attr] = to_model(value, cls.openapi_types[attr], f"{where}.{key}")
    return cls(**kwargs)
