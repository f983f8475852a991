"""Submit a compiled pipeline to a Kubeflow Pipelines cluster, once or on a schedule.

The functions behind ``mlrail submit`` and ``mlrail schedule``. They talk to the KFP v2beta1 API
through ``kfp.Client`` only, and check everything they can before the first request, so a typo in
a cron expression, a parameter name or a date fails here with a message instead of half-way
through (an experiment created, a pipeline uploaded, no schedule).

What is checked before anything is sent:

- the package is a compiled KFP pipeline (IR YAML that parses as a ``PipelineSpec``);
- the arguments: every name is a parameter of the pipeline, every required parameter is given,
  every value has the declared type (and is one of the declared literals, if any) and is JSON;
- the size of the arguments, measured the way the API server measures it: the parameters as one
  compact JSON object must fit in 10,000 bytes (``MaxParameterBytes`` of the KFP API server);
- for a schedule: exactly one of cron and interval, the cron expression's shape and ranges,
  ``max_concurrency`` in 1..10, start before end and end in the future.

Cron expressions: KFP parses them with ``robfig/cron`` v1, which reads the FIRST field as
seconds. A standard 5-field expression such as ``0 2 * * *`` ("02:00 every day") would be read
there as "second 0 of minute 2 of every hour". :func:`normalize_cron` therefore turns a 5-field
expression into KFP's 6-field form by prefixing ``0`` (second zero): ``0 0 2 * * *``. Six fields
are taken as KFP's own form. Schedules are evaluated in UTC by the KFP scheduler.

``kfp.Client`` prints "Experiment details: <link>" and similar lines; they are sent to stderr
so that standard output carries only what the caller prints (the CLI prints the id).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mlrail.errors import MlrailError

if TYPE_CHECKING:  # kfp costs ~0.6 s to import; the CLI imports this module lazily anyway.
    import kfp
    from kfp.pipeline_spec import pipeline_spec_pb2

__all__ = [
    "MAX_CONCURRENCY",
    "MAX_PARAMETER_BYTES",
    "KfpApiError",
    "ScheduleResult",
    "SubmitResult",
    "normalize_cron",
    "schedule",
    "submit",
]

#: The KFP API server rejects a run whose parameters, as one JSON object, exceed this many bytes
#: (``util.MaxParameterBytes`` in the KFP backend).
MAX_PARAMETER_BYTES = 10_000

#: The KFP API server accepts ``max_concurrency`` from 1 to this value for a recurring run.
MAX_CONCURRENCY = 10

# The UI address, when it is not the API host (same variable kfp.Client reads).
_UI_ENDPOINT_ENV = "KF_PIPELINES_UI_ENDPOINT"


class KfpApiError(MlrailError):
    """The KFP API server could not be reached or refused a request.

    Attributes:
        status: The HTTP status of the refusal; None when the server was not reached.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True)
class SubmitResult:
    """A run created on the cluster.

    Attributes:
        run_id: The run's id.
        run_name: The run's display name.
        experiment_id: The id of the experiment that holds the run.
        url: The run's page in the Kubeflow Pipelines UI.
    """

    run_id: str
    run_name: str
    experiment_id: str
    url: str | None


@dataclasses.dataclass(frozen=True)
class ScheduleResult:
    """A recurring run created on the cluster.

    Attributes:
        recurring_run_id: The recurring run's id.
        name: The recurring run's display name.
        experiment_id: The id of the experiment that holds the recurring run and its runs.
        pipeline_id: The uploaded (or found) pipeline's id.
        pipeline_version_id: The pipeline version the recurring run starts.
        pipeline_version_name: That version's name (``<pipeline>`` for the first upload,
            ``<pipeline>-<sha256 prefix of the package>`` for later ones).
        cron: The 6-field cron expression sent to KFP; None for an interval schedule.
        interval_seconds: The period of an interval schedule; None for a cron schedule.
        url: The recurring run's page in the Kubeflow Pipelines UI.
    """

    recurring_run_id: str
    name: str
    experiment_id: str
    pipeline_id: str
    pipeline_version_id: str
    pipeline_version_name: str
    cron: str | None
    interval_seconds: int | None
    url: str | None


def submit(
    host: str,
    package_path: str,
    *,
    arguments: dict[str, Any] | None = None,
    experiment: str = "Default",
    run_name: str | None = None,
    namespace: str | None = None,
    existing_token: str | None = None,
    enable_caching: bool | None = None,
) -> SubmitResult:
    """Creates one run of a compiled pipeline, in an experiment created on first use.

    Args:
        host: The KFP API address, with its scheme: ``http://localhost:8888`` (a port-forward
            to ``ml-pipeline``) or ``https://<kubeflow>/pipeline``.
        package_path: A compiled pipeline (IR YAML, ``.yaml`` or ``.yml``).
        arguments: Values of the pipeline's parameters; the others take their defaults.
        experiment: Name of the experiment; reused when one with this name exists.
        run_name: Display name of the run; defaults to the pipeline name and the UTC time.
        namespace: The user namespace of a multi-user deployment; None for single-user.
        existing_token: A bearer token for the API, obtained outside mlrail.
        enable_caching: False turns caching off for every task of the run, at every depth (the
            ``kfp.Client`` override alone reaches only top-level tasks, not those under
            ``dsl.If``). None or True keep the compiled settings: tasks compiled with caching
            off (export_onnx, deploy) stay off, since a cache hit there would skip the work.

    Returns:
        The run's id, name, experiment id and UI link.

    Raises:
        ValueError: The package, the arguments or a name is invalid (nothing was sent).
        KfpApiError: The API server could not be reached or refused a request.
    """
    _check_host(host)
    _check_name("experiment", experiment)
    if run_name is not None:
        _check_name("run_name", run_name)
    spec = _load_pipeline_spec(package_path)
    parameters = _check_arguments(spec, arguments or {}, package_path)
    name = run_name or f"{spec.pipeline_info.name} {datetime.now(UTC):%Y-%m-%d %H-%M-%S}"

    with _package_to_send(package_path, enable_caching) as package, _kfp_calls(host):
        client = _client(host, existing_token)
        result = client.create_run_from_pipeline_package(
            pipeline_file=package,
            arguments=parameters,
            run_name=name,
            experiment_name=experiment,
            namespace=namespace,
        )
    run = result.run_info
    return SubmitResult(
        run_id=run.run_id,
        run_name=run.display_name or name,
        experiment_id=run.experiment_id,
        url=_ui_url(host, f"runs/details/{run.run_id}"),
    )


def schedule(
    host: str,
    package_path: str,
    *,
    name: str,
    cron: str | None = None,
    interval_seconds: int | None = None,
    max_concurrency: int = 1,
    catchup: bool = False,
    start: datetime | None = None,
    end: datetime | None = None,
    arguments: dict[str, Any] | None = None,
    experiment: str = "Default",
    namespace: str | None = None,
    existing_token: str | None = None,
    enable_caching: bool | None = None,
    pipeline_name: str | None = None,
) -> ScheduleResult:
    """Creates a recurring run of a compiled pipeline.

    A recurring run starts a pipeline version stored on the cluster, so the package is uploaded
    first: as a new pipeline when none has its name, else as a new version of that pipeline
    named ``<pipeline>-<first 12 hex digits of the package's SHA-256>``. A later schedule of the
    same bytes finds that version and reuses it instead of uploading a copy.

    Args:
        host: The KFP API address, with its scheme (see :func:`submit`).
        package_path: A compiled pipeline (IR YAML, ``.yaml`` or ``.yml``).
        name: Display name of the recurring run; must be unused in the experiment, so that a
            repeated command cannot double the runs.
        cron: When to run: standard 5-field cron (``0 2 * * *``, converted to KFP's 6-field form
            by prefixing second ``0``), KFP's 6-field form with seconds first
            (``0 0 2 * * *``), or ``@hourly``/``@daily``/``@weekly``/``@monthly``/``@yearly``.
            UTC. Exactly one of ``cron`` and ``interval_seconds``.
        interval_seconds: Run every this many seconds instead.
        max_concurrency: Most runs of this schedule at once, 1 to 10.
        catchup: Whether to start every interval missed while paused or behind (backfill);
            off by default, so only the latest missed interval runs.
        start: When the schedule begins; naive datetimes are taken as UTC, like the schedule.
        end: When the schedule ends; after ``start`` and in the future.
        arguments: Values of the pipeline's parameters for every run.
        experiment: Name of the experiment; reused when one with this name exists.
        namespace: The user namespace of a multi-user deployment; None for single-user.
        existing_token: A bearer token for the API, obtained outside mlrail.
        enable_caching: As for :func:`submit`; applied to the uploaded version, because
            ``kfp.Client`` ignores it for a recurring run of a stored version.
        pipeline_name: Name of the pipeline on the cluster; defaults to the package's own
            (``pipelineInfo.name``).

    Returns:
        The recurring run's id, its pipeline version and UI link.

    Raises:
        ValueError: The package, the arguments, the trigger or a name is invalid (nothing was
            sent), or a recurring run with this name already exists in the experiment (the
            experiment may have been created).
        KfpApiError: The API server could not be reached or refused a request.
    """
    _check_host(host)
    _check_name("name", name)
    _check_name("experiment", experiment)
    cron_expression, interval = _check_trigger(cron, interval_seconds)
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
        raise ValueError(f"max_concurrency must be an integer, got {max_concurrency!r}")
    if not 1 <= max_concurrency <= MAX_CONCURRENCY:
        raise ValueError(
            f"max_concurrency must be between 1 and {MAX_CONCURRENCY} (the KFP API server's "
            f"limit), got {max_concurrency}"
        )
    start_time, end_time = _check_window(start, end)
    spec = _load_pipeline_spec(package_path)
    parameters = _check_arguments(spec, arguments or {}, package_path)
    pipeline = pipeline_name if pipeline_name is not None else spec.pipeline_info.name
    _check_name("pipeline_name", pipeline)

    with _package_to_send(package_path, enable_caching) as package, _kfp_calls(host):
        client = _client(host, existing_token)
        experiment_id = client.create_experiment(name=experiment, namespace=namespace).experiment_id
        _refuse_existing_recurring_run(client, experiment_id, experiment, name)
        pipeline_id, version_id, version_name = _upload(client, package, pipeline, namespace)
        recurring_run = client.create_recurring_run(
            experiment_id=experiment_id,
            job_name=name,
            start_time=start_time,
            end_time=end_time,
            interval_second=interval,
            cron_expression=cron_expression,
            max_concurrency=max_concurrency,
            no_catchup=not catchup,
            params=parameters,
            pipeline_id=pipeline_id,
            version_id=version_id,
        )
    rr_id = recurring_run.recurring_run_id
    return ScheduleResult(
        recurring_run_id=rr_id,
        name=recurring_run.display_name or name,
        experiment_id=experiment_id,
        pipeline_id=pipeline_id,
        pipeline_version_id=version_id,
        pipeline_version_name=version_name,
        cron=cron_expression,
        interval_seconds=interval,
        url=_ui_url(host, f"recurringrun/details/{rr_id}"),
    )


# -- cron ------------------------------------------------------------------------------------

_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
_WEEKDAYS = {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}
# (name, lowest, highest, names) of each field of KFP's 6-field form, in order. robfig/cron v1
# bounds the day of week to 0-6: 7 (Sunday in some crons) is refused by the scheduler.
_CRON_FIELDS: tuple[tuple[str, int, int, Mapping[str, int]], ...] = (
    ("second", 0, 59, {}),
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _WEEKDAYS),
)
_CRON_DESCRIPTORS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)


def normalize_cron(expression: str) -> str:
    """Checks a cron expression and returns it in KFP's 6-field form (seconds first).

    Args:
        expression: 5 fields (standard cron: minute hour day-of-month month day-of-week), 6
            fields (KFP: second minute hour day-of-month month day-of-week) or a descriptor
            such as ``@daily``. Fields take ``*``, ``?``, numbers, names (``jan``, ``mon``),
            ranges ``a-b``, steps ``/n`` and comma lists.

    Returns:
        The 6-field expression (a 5-field one with ``0 `` prefixed), or the descriptor.

    Raises:
        ValueError: The expression has the wrong number of fields or a field out of range.
    """
    if not isinstance(expression, str):
        raise ValueError(f"cron must be a string, got {expression!r}")
    fields = expression.split()
    if fields and fields[0].startswith("@"):
        if len(fields) == 1 and fields[0] in _CRON_DESCRIPTORS:
            return fields[0]
        if fields[0] == "@every":
            raise ValueError(f"cron {expression!r}: for a fixed period use an interval instead")
        raise ValueError(
            f"cron {expression!r}: unknown descriptor; use one of "
            + ", ".join(sorted(_CRON_DESCRIPTORS))
        )
    if len(fields) == 5:
        # Standard cron has no seconds field; KFP's parser would read the minute as seconds.
        fields = ["0", *fields]
    elif len(fields) != 6:
        raise ValueError(
            f"cron {expression!r} has {len(fields)} fields; expected 5 (standard cron: minute "
            "hour day-of-month month day-of-week, e.g. '0 2 * * *') or 6 (KFP's form with "
            "seconds first, e.g. '0 0 2 * * *')"
        )
    for field, (what, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        _check_cron_field(expression, field, what, low, high, names)
    return " ".join(fields)


def _check_cron_field(
    expression: str, field: str, what: str, low: int, high: int, names: Mapping[str, int]
) -> None:
    def fail(reason: str) -> ValueError:
        return ValueError(f"cron {expression!r}: {what} field {field!r}: {reason}")

    def value(text: str) -> int:
        if text.lower() in names:
            return names[text.lower()]
        if not (text.isascii() and text.isdigit()):
            raise fail(f"{text!r} is not a number" + (" or a name" if names else ""))
        number = int(text)
        if not low <= number <= high:
            hint = " (use 0 for Sunday)" if what == "day of week" and number == 7 else ""
            raise fail(f"{number} is outside {low}-{high}{hint}")
        return number

    for part in field.split(","):
        range_text, _, step = part.partition("/")
        if not range_text:
            raise fail("empty entry")
        if step and not (step.isascii() and step.isdigit() and int(step) > 0):
            raise fail(f"step {step!r} is not a positive number")
        if range_text in ("*", "?"):
            continue
        first, dash, last = range_text.partition("-")
        if value(first) > (value(last) if dash else high):
            raise fail(f"range {range_text!r} runs backwards")


# -- checks before sending -------------------------------------------------------------------


def _check_host(host: str) -> None:
    # kfp.Client would prefix https:// to a bare host.name:port and warn; against a port-forward
    # (plain HTTP) that ends in an opaque TLS error, so ask for the scheme instead.
    if not isinstance(host, str) or not re.match(r"^https?://[^/\s]+", host):
        raise ValueError(
            f"host must be the KFP API address with its scheme, e.g. http://localhost:8888; "
            f"got {host!r}"
        )


def _check_name(what: str, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")


def _check_trigger(cron: str | None, interval_seconds: int | None) -> tuple[str | None, int | None]:
    if (cron is None) == (interval_seconds is None):
        raise ValueError(
            "give exactly one of cron and interval_seconds, got "
            + ("both" if cron is not None else "neither")
        )
    if cron is not None:
        return normalize_cron(cron), None
    if isinstance(interval_seconds, bool) or not isinstance(interval_seconds, int):
        raise ValueError(f"interval_seconds must be an integer, got {interval_seconds!r}")
    if interval_seconds <= 0:
        raise ValueError(f"interval_seconds must be positive, got {interval_seconds}")
    return None, interval_seconds


def _check_window(start: datetime | None, end: datetime | None) -> tuple[str | None, str | None]:
    def utc(what: str, moment: datetime | None) -> datetime | None:
        if moment is None:
            return None
        if not isinstance(moment, datetime):
            raise ValueError(f"{what} must be a datetime, got {moment!r}")
        # Naive means UTC: the scheduler evaluates cron in UTC, so one clock for everything.
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    begin, finish = utc("start", start), utc("end", end)
    if begin is not None and finish is not None and finish <= begin:
        raise ValueError(
            f"end ({finish:%Y-%m-%dT%H:%M:%SZ}) must be after start ({begin:%Y-%m-%dT%H:%M:%SZ})"
        )
    if finish is not None and finish <= datetime.now(UTC):
        raise ValueError(
            f"end ({finish:%Y-%m-%dT%H:%M:%SZ}) is in the past: the schedule would never run"
        )

    def rfc3339(moment: datetime | None) -> str | None:
        # The API stores whole seconds; RFC 3339 with Z is what its Timestamp fields parse.
        return None if moment is None else f"{moment:%Y-%m-%dT%H:%M:%SZ}"

    return rfc3339(begin), rfc3339(finish)


def _load_pipeline_spec(package_path: str) -> pipeline_spec_pb2.PipelineSpec:
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    path = Path(package_path)
    if path.suffix not in (".yaml", ".yml"):
        raise ValueError(f"{path}: expected a compiled pipeline (.yaml or .yml)")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ValueError(f"{path}: cannot read the pipeline package: {e.strerror}") from e
    if not data.strip():
        raise ValueError(f"{path}: the pipeline package is empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text (byte {e.start}); not a compiled pipeline") from e
    try:
        # A compiled pipeline may carry a second document, the platform spec (kfp-kubernetes).
        first = next(iter(yaml.safe_load_all(text)), None)
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(first, dict) or "root" not in first or "pipelineInfo" not in first:
        raise ValueError(
            f"{path}: not a compiled KFP pipeline (no pipelineInfo/root); compile it with "
            "`mlrail compile` or kfp.compiler.Compiler"
        )
    try:
        return json_format.ParseDict(first, pipeline_spec_pb2.PipelineSpec())
    except json_format.ParseError as e:
        raise ValueError(f"{path}: not a valid KFP PipelineSpec: {e}") from e


def _check_arguments(
    spec: pipeline_spec_pb2.PipelineSpec, arguments: Mapping[str, Any], package_path: str
) -> dict[str, Any]:
    from kfp.pipeline_spec import pipeline_spec_pb2

    types = pipeline_spec_pb2.ParameterType
    # (what a user should give, whether a value is of the type); bool is an int in Python.
    checks: dict[int, tuple[str, Any]] = {
        types.NUMBER_DOUBLE: (
            "a number",
            lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        ),
        types.NUMBER_INTEGER: (
            "an integer",
            lambda v: isinstance(v, int) and not isinstance(v, bool),
        ),
        types.STRING: ("a string", lambda v: isinstance(v, str)),
        types.BOOLEAN: ("true or false", lambda v: isinstance(v, bool)),
        types.LIST: ("a list", lambda v: isinstance(v, list)),
        types.STRUCT: ("a JSON object (dict)", lambda v: isinstance(v, dict)),
    }
    declared = spec.root.input_definitions.parameters
    not_names = [k for k in arguments if not isinstance(k, str)]
    if not_names:
        raise ValueError(f"parameter names must be strings, got {not_names!r}")
    unknown = sorted(str(k) for k in arguments if k not in declared)
    if unknown:
        raise ValueError(
            f"{package_path}: pipeline {spec.pipeline_info.name!r} has no parameter "
            f"{', '.join(map(repr, unknown))}; its parameters are: "
            + (", ".join(sorted(declared)) or "(none)")
        )
    missing = sorted(
        n
        for n, p in declared.items()
        if n not in arguments and not p.HasField("default_value") and not p.is_optional
    )
    if missing:
        raise ValueError(
            f"{package_path}: pipeline {spec.pipeline_info.name!r} needs a value for "
            + ", ".join(map(repr, missing))
        )

    sizes: dict[str, int] = {}
    for key, value in arguments.items():
        parameter = declared[key]
        check = checks.get(parameter.parameter_type)
        if check is not None and not check[1](value):
            declared_type = types.ParameterTypeEnum.Name(parameter.parameter_type)
            raise ValueError(
                f"parameter {key!r} is declared {declared_type}: give {check[0]}, got "
                f"{type(value).__name__} {_short(value)}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"parameter {key!r} is {value}: NaN and infinity are not JSON")
        try:
            encoded = _go_json(value)
        except (TypeError, ValueError) as e:
            raise ValueError(f"parameter {key!r} is not JSON-serialisable: {e}") from e
        literals = [_proto_value(v) for v in parameter.literals]
        if literals and value not in literals:
            raise ValueError(
                f"parameter {key!r} must be one of {', '.join(map(_short, literals))}; "
                f"got {_short(value)}"
            )
        sizes[key] = len(encoded)
        if sizes[key] > MAX_PARAMETER_BYTES:
            raise ValueError(
                f"parameter {key!r} is {sizes[key]:,} bytes as JSON; the KFP API server accepts "
                f"at most {MAX_PARAMETER_BYTES:,} bytes for all parameters together. Pass a path "
                "or URI to the data instead of the data itself"
            )
    total = len(_go_json(dict(arguments)))
    if total > MAX_PARAMETER_BYTES:
        largest = sorted(sizes.items(), key=lambda kv: -kv[1])[:3]
        raise ValueError(
            f"the parameters are {total:,} bytes together as JSON; the KFP API server accepts at "
            f"most {MAX_PARAMETER_BYTES:,}. Largest: "
            + ", ".join(f"{k!r} ({n:,} bytes)" for k, n in largest)
        )
    return dict(arguments)


def _go_json(value: Any) -> bytes:
    """JSON as the API server measures it: Go's encoding/json, compact, HTML characters escaped."""
    text = json.dumps(
        value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, sort_keys=True
    )
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text.encode("utf-8")


def _proto_value(value: Any) -> Any:
    from google.protobuf import json_format

    return json_format.MessageToDict(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- talking to the API ----------------------------------------------------------------------


@contextlib.contextmanager
def _package_to_send(package_path: str, enable_caching: bool | None) -> Iterator[str]:
    """Yields the package path, or a copy with caching off for every task when asked to."""
    # Not kfp.Client's enable_caching: it rewrites only root.dag's tasks (those under dsl.If or
    # ParallelFor live in component DAGs and would still hit the cache), and it is ignored
    # altogether for a recurring run of an uploaded version.
    if enable_caching is not False:
        yield package_path
        return
    with open(package_path, encoding="utf-8") as f:
        documents = list(yaml.safe_load_all(f))
    pipeline = documents[0]
    dags = [pipeline["root"]] + [c for c in pipeline.get("components", {}).values() if "dag" in c]
    for dag in dags:
        for task in dag.get("dag", {}).get("tasks", {}).values():
            task.setdefault("cachingOptions", {})["enableCache"] = False
    with tempfile.TemporaryDirectory(prefix="mlrail-submit-") as tmp:
        copy = os.path.join(tmp, Path(package_path).name)
        with open(copy, "w", encoding="utf-8") as f:
            yaml.safe_dump_all(documents, f, sort_keys=False)
        yield copy


@contextlib.contextmanager
def _kfp_calls(host: str) -> Iterator[None]:
    """Turns the client's failures into KfpApiError and its link printouts into stderr lines."""
    import kfp_server_api
    import urllib3

    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    except kfp_server_api.ApiException as e:
        raise KfpApiError(
            f"KFP API at {host} answered {e.status} {e.reason}: {_server_message(e.body)}",
            status=e.status,
        ) from e
    except urllib3.exceptions.HTTPError as e:
        reason = getattr(e, "reason", None) or e
        raise KfpApiError(f"cannot reach the KFP API at {host}: {reason}") from e
    except TimeoutError as e:  # kfp.Client gives up on /healthz after 5 failed attempts
        raise KfpApiError(f"KFP API at {host} did not pass its health check: {e}") from e


def _server_message(body: Any) -> str:
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(body)
    except (TypeError, ValueError):
        parsed = None
    if isinstance(parsed, dict) and (parsed.get("message") or parsed.get("error")):
        return str(parsed.get("message") or parsed.get("error"))
    text = str(body or "").strip()
    return text[:500] or "(no message)"


def _client(host: str, existing_token: str | None) -> kfp.Client:
    import kfp

    with warnings.catch_warnings():
        # Printed on every construction, about KFP releases older than 2.0 that nobody runs now.
        warnings.filterwarnings(
            "ignore",
            message="This client only works with Kubeflow Pipeline",
            category=FutureWarning,
        )
        return kfp.Client(host=host, existing_token=existing_token)


def _ui_url(host: str, route: str) -> str:
    base = os.environ.get(_UI_ENDPOINT_ENV) or host
    if not base.startswith(("http://", "https://")):
        base = "http://" + base
    return f"{base.rstrip('/')}/#/{route}"


def _filter(key: str, value: str) -> str:
    return json.dumps({"predicates": [{"operation": "EQUALS", "key": key, "string_value": value}]})


def _refuse_existing_recurring_run(
    client: kfp.Client, experiment_id: str, experiment: str, name: str
) -> None:
    found = client.list_recurring_runs(
        experiment_id=experiment_id, filter=_filter("display_name", name), page_size=1
    ).recurring_runs
    if found:
        raise ValueError(
            f"a recurring run named {name!r} already exists in experiment {experiment!r} "
            f"(id {found[0].recurring_run_id}); delete or disable it first, or choose another name"
        )


def _upload(
    client: kfp.Client, package: str, pipeline_name: str, namespace: str | None
) -> tuple[str, str, str]:
    """Uploads the package; returns (pipeline id, version id, version name)."""
    pipelines = (
        client.list_pipelines(
            filter=_filter("display_name", pipeline_name), namespace=namespace, page_size=2
        ).pipelines
        or []
    )
    if len(pipelines) > 1:
        raise ValueError(f"more than one pipeline is named {pipeline_name!r}; cannot choose")
    if not pipelines:
        pipeline = client.upload_pipeline(package, pipeline_name=pipeline_name, namespace=namespace)
        # The upload creates the pipeline and its first version; the response names only the
        # pipeline, so ask for the version.
        versions = client.list_pipeline_versions(
            pipeline.pipeline_id, sort_by="created_at desc", page_size=1
        ).pipeline_versions
        if not versions:
            raise KfpApiError(f"pipeline {pipeline_name!r} was uploaded but has no version")
        return pipeline.pipeline_id, versions[0].pipeline_version_id, versions[0].display_name

    pipeline_id = pipelines[0].pipeline_id
    digest = hashlib.sha256(Path(package).read_bytes()).hexdigest()
    version_name = f"{pipeline_name}-{digest[:12]}"
    same = client.list_pipeline_versions(
        pipeline_id, filter=_filter("display_name", version_name), page_size=1
    ).pipeline_versions
    if same:
        return pipeline_id, same[0].pipeline_version_id, version_name
    version = client.upload_pipeline_version(
        package,
        pipeline_version_name=version_name,
        pipeline_id=pipeline_id,
        description=f"sha256:{digest}",
    )
    return pipeline_id, version.pipeline_version_id, version_name
