"""Submit a compiled pipeline to a Kubeflow Pipelines cluster, once or on a schedule.

The functions behind ``mlrail submit`` and ``mlrail schedule`` (with its ``list``, ``pause``,
``resume`` and ``delete``). They talk to the KFP v2beta1 API through ``kfp.Client`` only, and
check everything they can before the first request, so a typo in a cron expression, a parameter
name or a date fails here with a message instead of half-way through (an experiment created, a
pipeline uploaded, no schedule).

A recurring run is known by its name in its experiment: :func:`schedule` leaves an identical one
unchanged and replaces a different one (KFP has no update), and :func:`list_schedules`,
:func:`pause_schedule`, :func:`resume_schedule` and :func:`delete_schedule` find it by name.

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

Every request has a connect and a read timeout (``timeout``, default :data:`DEFAULT_TIMEOUT`
seconds to read, at most :data:`CONNECT_TIMEOUT` to connect): ``kfp.Client`` sets none, so a
host that accepts the connection and never answers (a stuck port-forward, a proxy with no
backend) would block for ever, starting with the health check its constructor makes. A read
that times out is not retried. Errors never hold credentials: a ``user:password@`` in the host
is masked (:func:`mlrail.redact.redact`), and the token is never part of a message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import re
import shlex
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from mlrail.errors import MlrailError
from mlrail.redact import redact

if TYPE_CHECKING:  # kfp costs ~0.6 s to import; the CLI imports this module lazily anyway.
    import kfp
    from kfp.pipeline_spec import pipeline_spec_pb2

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "MAX_CONCURRENCY",
    "MAX_PARAMETER_BYTES",
    "KfpApiError",
    "ScheduleAction",
    "ScheduleInfo",
    "ScheduleLookupError",
    "ScheduleResult",
    "SubmitResult",
    "delete_schedule",
    "list_schedules",
    "normalize_cron",
    "pause_schedule",
    "resume_schedule",
    "schedule",
    "submit",
]

#: The KFP API server rejects a run whose parameters, as one JSON object, exceed this many bytes
#: (``util.MaxParameterBytes`` in the KFP backend).
MAX_PARAMETER_BYTES = 10_000

#: The KFP API server accepts ``max_concurrency`` from 1 to this value for a recurring run.
MAX_CONCURRENCY = 10

#: Seconds to wait for each answer of the KFP API (an upload of a large package included).
DEFAULT_TIMEOUT = 60.0
#: Most seconds to wait for a connection (less when ``timeout`` is less).
CONNECT_TIMEOUT = 10.0

# The UI address, when it is not the API host (same variable kfp.Client reads).
_UI_ENDPOINT_ENV = "KF_PIPELINES_UI_ENDPOINT"


class KfpApiError(MlrailError):
    """The KFP API server could not be reached or refused a request.

    Attributes:
        status: The HTTP status of the refusal; None when the server was not reached.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(redact(message))
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


class ScheduleLookupError(MlrailError):
    """No recurring run (or experiment), or more than one, has the name asked for.

    Attributes:
        name: The name looked up.
        matches: The recurring runs that have it, when there are several.
    """

    def __init__(
        self,
        message: str,
        *,
        name: str,
        matches: tuple[ScheduleInfo, ...] | list[ScheduleInfo] = (),
    ) -> None:
        super().__init__(message)
        self.name = name
        self.matches = tuple(matches)


#: What :func:`schedule` did: created the first recurring run of the name, found it as asked,
#: or replaced it (see :func:`schedule`).
ScheduleAction = Literal["created", "unchanged", "replaced"]


@dataclasses.dataclass(frozen=True)
class ScheduleInfo:
    """A recurring run as the API server reports it.

    Attributes:
        recurring_run_id: The recurring run's id.
        name: Its display name.
        experiment_id: The id of the experiment that holds it and its runs.
        experiment_name: That experiment's name, when looked up (None if not, or deleted).
        namespace: Its namespace in a multi-user deployment; None in single-user mode.
        enabled: Whether it starts runs (False once paused). Read from the recurring run's
            ``mode``, which the API server answers from the same stored flag as ``status``.
        cron: Its cron expression (KFP's 6-field form); None for an interval schedule.
        interval_seconds: Its period; None for a cron schedule.
        start: When it begins, in UTC; None if not bounded.
        end: When it ends, in UTC; None if not bounded.
        max_concurrency: Most of its runs at once.
        catchup: Whether missed intervals are all run (backfill).
        parameters: The pipeline arguments of every run.
        pipeline_id: The pipeline it runs; None if it carries an inline pipeline spec.
        pipeline_version_id: The pipeline version it runs; None likewise.
        pipeline_version_name: That version's name, when looked up (None if not, or deleted).
        package_sha256: The SHA-256 of the package it was scheduled from, as :func:`schedule`
            records it in the description; None for one that mlrail did not create.
        url: Its page in the Kubeflow Pipelines UI.
    """

    recurring_run_id: str
    name: str
    experiment_id: str | None
    experiment_name: str | None
    namespace: str | None
    enabled: bool
    cron: str | None
    interval_seconds: int | None
    start: datetime | None
    end: datetime | None
    max_concurrency: int
    catchup: bool
    parameters: Mapping[str, Any] = dataclasses.field(hash=False)  # a dict: keeps it hashable
    pipeline_id: str | None
    pipeline_version_id: str | None
    pipeline_version_name: str | None
    package_sha256: str | None
    url: str | None

    @property
    def trigger(self) -> str:
        """The trigger in a few words: ``cron 0 0 2 * * *`` or ``every 3600s``."""
        if self.cron is not None:
            return f"cron {self.cron}"
        if self.interval_seconds is not None:
            return f"every {self.interval_seconds}s"
        return "(no trigger)"


@dataclasses.dataclass(frozen=True)
class ScheduleResult:
    """The recurring run that has the name after :func:`schedule`.

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
        action: ``created``, ``unchanged`` or ``replaced``.
        enabled: Whether the recurring run starts runs (a paused one that is unchanged or
            replaced stays paused).
        removed_ids: The recurring runs of the same name that were deleted: the one replaced,
            and any duplicates (left by the UI, another client or an interrupted replacement).
        changed: For ``replaced``, what differed from the newest of them: ``pipeline``,
            ``package``, ``trigger``, ``start``, ``end``, ``max_concurrency``, ``catchup`` or
            ``arguments``; or ``version`` when only the pipeline version it ran was deleted.
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
    action: ScheduleAction
    enabled: bool
    removed_ids: tuple[str, ...]
    changed: tuple[str, ...]


def submit(
    host: str,
    package_path: str,
    *,
    arguments: dict[str, Any] | None = None,
    experiment: str = "Default",
    run_name: str | None = None,
    namespace: str | None = None,
    existing_token: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
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
        timeout: Seconds to wait for each answer (see the module doc).
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

    with (
        _package_to_send(package_path, enable_caching) as package,
        _kfp_calls(host, timeout),
    ):
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
    timeout: float = DEFAULT_TIMEOUT,
    enable_caching: bool | None = None,
    pipeline_name: str | None = None,
) -> ScheduleResult:
    """Creates a recurring run of a compiled pipeline, or brings the one of that name up to date.

    The name identifies the recurring run in its experiment, so the same command can run again
    (from CI, say) without doubling the runs:

    - no recurring run has the name: one is **created**;
    - one has it and matches what would be created (the pipeline and its package's SHA-256, the
      trigger, ``max_concurrency``, catch-up, start, end and the arguments) and its pipeline
      version still exists: it is left **unchanged** and nothing is created or uploaded; a
      paused one stays paused;
    - one has it and differs: it is **replaced**. KFP's API cannot update a recurring run, so
      the replacement is: upload the new version if needed, *disable* the old recurring run,
      create the new one, then *delete* the old one. Disabling first means two enabled
      recurring runs of the name never coexist, not even for a moment; deleting last means a
      failure never leaves no schedule: if the creation fails, the old one is re-enabled and
      the error raised (and if re-enabling fails too, the error says which one stays paused).
      If the deletion fails, the new one runs, the old one stays disabled, and the error says
      so; running the same command again finds the new one unchanged and deletes the old one.
      A paused recurring run is replaced by a paused one: a pause is kept.

    Two recurring runs of the same name can only come from outside this function (the UI, the
    ``kfp`` client) or from an interrupted replacement; a call removes the extra ones: it keeps
    one that matches (preferring an enabled one), else replaces them all.

    The package's SHA-256 is recorded in the recurring run's description; a recurring run that
    mlrail did not create has none there, so it never matches and is replaced. Two calls racing
    each other on the same name can still both create: the API has no lock to prevent it.

    The package is uploaded as a new pipeline when none has its name, else as a new version of
    that pipeline named ``<pipeline>-<first 12 hex digits of the package's SHA-256>``; a later
    schedule of the same bytes reuses that version instead of uploading a copy.

    Args:
        host: The KFP API address, with its scheme (see :func:`submit`).
        package_path: A compiled pipeline (IR YAML, ``.yaml`` or ``.yml``).
        name: Display name of the recurring run, its identity in the experiment.
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
        timeout: Seconds to wait for each answer (see the module doc).
        enable_caching: As for :func:`submit`; applied to the uploaded version, because
            ``kfp.Client`` ignores it for a recurring run of a stored version.
        pipeline_name: Name of the pipeline on the cluster; defaults to the package's own
            (``pipelineInfo.name``).

    Returns:
        What was done (``action``: ``created``, ``unchanged`` or ``replaced``), the recurring
        run that now has the name, its pipeline version and UI link.

    Raises:
        ValueError: The package, the arguments, the trigger or a name is invalid (nothing was
            sent), or several pipelines have the pipeline's name.
        KfpApiError: The API server could not be reached or refused a request; when that
            happened half-way through a replacement, the message says what is left.
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

    with (
        _package_to_send(package_path, enable_caching) as package,
        _kfp_calls(host, timeout),
    ):
        digest = hashlib.sha256(Path(package).read_bytes()).hexdigest()
        client = _client(host, existing_token)
        experiment_id = client.create_experiment(name=experiment, namespace=namespace).experiment_id
        live = [
            _info(host, rr)
            for rr in _recurring_runs(client, experiment_id=experiment_id, name=name)
        ]
        pipeline_id = _find_pipeline(client, pipeline, namespace)
        wanted = _Wanted(
            pipeline_id=pipeline_id,
            package_sha256=digest,
            cron=cron_expression,
            interval_seconds=interval,
            start=_parse_rfc3339(start_time),
            end=_parse_rfc3339(end_time),
            max_concurrency=max_concurrency,
            catchup=catchup,
            parameters=parameters,
        )

        def result(
            rr: ScheduleInfo, action: ScheduleAction, removed: list[ScheduleInfo], version: str
        ) -> ScheduleResult:
            return ScheduleResult(
                recurring_run_id=rr.recurring_run_id,
                name=rr.name or name,
                experiment_id=experiment_id,
                pipeline_id=rr.pipeline_id or "",
                pipeline_version_id=rr.pipeline_version_id or "",
                pipeline_version_name=version,
                cron=cron_expression,
                interval_seconds=interval,
                url=rr.url,
                action=action,
                enabled=rr.enabled,
                removed_ids=tuple(r.recurring_run_id for r in removed),
                changed=(_differences(live[-1], wanted) or ("version",))
                if action == "replaced"
                else (),
            )

        same = [rr for rr in live if not _differences(rr, wanted)]
        if same:
            keep = next((rr for rr in same if rr.enabled), same[0])
            version_name = _version_name(client, keep.pipeline_id, keep.pipeline_version_id)
            if version_name is not None:  # else its version was deleted: replace it below
                extra = [rr for rr in live if rr is not keep]
                _delete_all(host, client, extra, kept=keep)
                return result(keep, "unchanged", extra, version_name)

        # Same bytes, other settings: run the version the old recurring run ran.
        version = None
        for rr in reversed(live):
            if pipeline_id and rr.pipeline_id == pipeline_id and rr.package_sha256 == digest:
                found = _version_name(client, pipeline_id, rr.pipeline_version_id)
                if found is not None and rr.pipeline_version_id:  # else deleted since then
                    version = (pipeline_id, rr.pipeline_version_id, found)
                break
        if version is None:
            version = _upload(client, package, digest, pipeline, pipeline_id, namespace)
        pipeline_id, version_id, version_name = version

        enabled = not live or any(rr.enabled for rr in live)
        created = _create_in_place_of(
            host,
            client,
            live,
            name,
            lambda: client.create_recurring_run(
                experiment_id=experiment_id,
                job_name=name,
                description=_DESCRIPTION.format(sha256=digest),
                start_time=start_time,
                end_time=end_time,
                interval_second=interval,
                cron_expression=cron_expression,
                max_concurrency=max_concurrency,
                no_catchup=not catchup,
                params=parameters,
                pipeline_id=pipeline_id,
                version_id=version_id,
                enabled=enabled,
            ),
        )
        new = _info(host, created)
        _delete_all(host, client, live, kept=new)
    return result(new, "replaced" if live else "created", live, version_name)


def list_schedules(
    host: str,
    *,
    experiment: str | None = None,
    namespace: str | None = None,
    name: str | None = None,
    existing_token: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[ScheduleInfo]:
    """Lists recurring runs, oldest first, every page of them.

    Args:
        host: The KFP API address, with its scheme (see :func:`submit`).
        experiment: Only those of the experiment with this name; None for every experiment.
        namespace: The user namespace of a multi-user deployment; None for single-user.
        name: Only those with this display name.
        existing_token: A bearer token for the API, obtained outside mlrail.
        timeout: Seconds to wait for each answer (see the module doc).

    Returns:
        The recurring runs, with their experiment's and pipeline version's names looked up.

    Raises:
        ValueError: The host or a name is invalid (nothing was sent).
        ScheduleLookupError: No experiment has the name ``experiment`` (nothing is created).
        KfpApiError: The API server could not be reached or refused a request.
    """
    _check_host(host)
    if experiment is not None:
        _check_name("experiment", experiment)
    if name is not None:
        _check_name("name", name)
    with _kfp_calls(host, timeout):
        client = _client(host, existing_token)
        return _list(host, client, experiment=experiment, namespace=namespace, name=name)


def pause_schedule(
    host: str,
    name: str,
    *,
    experiment: str | None = None,
    namespace: str | None = None,
    existing_token: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> ScheduleInfo:
    """Disables the recurring run with this name: it starts no run until resumed.

    Args:
        host: The KFP API address, with its scheme (see :func:`submit`).
        name: The recurring run's display name.
        experiment: The experiment to look in; None to look in every experiment.
        namespace: The user namespace of a multi-user deployment; None for single-user.
        existing_token: A bearer token for the API, obtained outside mlrail.
        timeout: Seconds to wait for each answer (see the module doc).

    Returns:
        The recurring run as the server reports it afterwards.

    Raises:
        ValueError: The host or a name is invalid (nothing was sent).
        ScheduleLookupError: No recurring run, or more than one, has the name (nothing changed).
        KfpApiError: The API server could not be reached or refused a request.
    """
    return _act_on_one(host, name, experiment, namespace, existing_token, "disable", timeout)


def resume_schedule(
    host: str,
    name: str,
    *,
    experiment: str | None = None,
    namespace: str | None = None,
    existing_token: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> ScheduleInfo:
    """Enables the recurring run with this name again (after :func:`pause_schedule`).

    With catch-up off (mlrail's default), only the latest interval missed while paused runs.

    Args:
        host: The KFP API address, with its scheme (see :func:`submit`).
        name: The recurring run's display name.
        experiment: The experiment to look in; None to look in every experiment.
        namespace: The user namespace of a multi-user deployment; None for single-user.
        existing_token: A bearer token for the API, obtained outside mlrail.
        timeout: Seconds to wait for each answer (see the module doc).

    Returns:
        The recurring run as the server reports it afterwards.

    Raises:
        ValueError: The host or a name is invalid (nothing was sent).
        ScheduleLookupError: No recurring run, or more than one, has the name (nothing changed).
        KfpApiError: The API server could not be reached or refused a request.
    """
    return _act_on_one(host, name, experiment, namespace, existing_token, "enable", timeout)


def delete_schedule(
    host: str,
    name: str,
    *,
    experiment: str | None = None,
    namespace: str | None = None,
    existing_token: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> ScheduleInfo:
    """Deletes the recurring run with this name; the runs it started are kept.

    Args:
        host: The KFP API address, with its scheme (see :func:`submit`).
        name: The recurring run's display name.
        experiment: The experiment to look in; None to look in every experiment.
        namespace: The user namespace of a multi-user deployment; None for single-user.
        existing_token: A bearer token for the API, obtained outside mlrail.
        timeout: Seconds to wait for each answer (see the module doc).

    Returns:
        The recurring run as it was before the deletion.

    Raises:
        ValueError: The host or a name is invalid (nothing was sent).
        ScheduleLookupError: No recurring run, or more than one, has the name (nothing deleted).
        KfpApiError: The API server could not be reached or refused a request.
    """
    return _act_on_one(host, name, experiment, namespace, existing_token, "delete", timeout)


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
            f"got {redact(repr(host))}"
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
def _kfp_calls(host: str, timeout: float = DEFAULT_TIMEOUT) -> Iterator[None]:
    """Timeouts on every request; the client's failures as KfpApiError; its link printouts on
    stderr."""
    _check_timeout(timeout)
    try:
        with contextlib.redirect_stdout(sys.stderr), _timeouts(timeout):
            yield
    except _api_errors() as e:
        raise _as_kfp_api_error(host, e, timeout) from e


def _check_timeout(timeout: float) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise ValueError(f"timeout must be a number of seconds, got {timeout!r}")
    if not (math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")


@contextlib.contextmanager
def _timeouts(timeout: float) -> Iterator[None]:
    """Give every request of the generated API client a connect and a read timeout.

    ``kfp.Client`` passes no ``_request_timeout`` to any call, and makes its first one (the
    health check) inside its constructor, before a caller could reach its REST client; so the
    default is filled in on the REST client's class, for the duration of these calls only.
    (``_request_timeout`` is the generated client's own per-call option; a pool-wide urllib3
    default does not help: the REST client passes ``timeout=None`` explicitly.)
    """
    import urllib3
    from kfp_server_api import rest

    pair = (min(CONNECT_TIMEOUT, timeout), timeout)
    original = rest.RESTClientObject.request

    def request(self: Any, *args: Any, _request_timeout: Any = None, **kwargs: Any) -> Any:
        # a read that timed out is not retried: a host that does not answer once will not
        # answer the same request again, and urllib3 would wait three more times
        self.pool_manager.connection_pool_kw.setdefault("retries", urllib3.Retry(3, read=0))
        return original(self, *args, _request_timeout=_request_timeout or pair, **kwargs)

    rest.RESTClientObject.request = request
    try:
        yield
    finally:
        rest.RESTClientObject.request = original


def _api_errors() -> tuple[type[Exception], ...]:
    """What the client raises when the API refuses or cannot be reached."""
    import kfp_server_api
    import urllib3

    # TimeoutError: kfp.Client gives up on /healthz after 5 failed attempts.
    return (kfp_server_api.ApiException, urllib3.exceptions.HTTPError, TimeoutError)


def _as_kfp_api_error(host: str, error: Exception, timeout: float = DEFAULT_TIMEOUT) -> KfpApiError:
    import kfp_server_api
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError

    if isinstance(error, KfpApiError):
        return error
    if isinstance(error, kfp_server_api.ApiException):
        return KfpApiError(
            f"KFP API at {host} answered {error.status} {error.reason}: "
            f"{_server_message(error.body)}",
            status=error.status,
        )
    if isinstance(error, TimeoutError):
        return KfpApiError(f"KFP API at {host} did not pass its health check: {error}")
    reason = getattr(error, "reason", None) or error
    # urllib3 derives a refused connection (NewConnectionError) from ConnectTimeoutError
    if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
        return KfpApiError(
            f"cannot connect to the KFP API at {host}: no connection within "
            f"{min(CONNECT_TIMEOUT, timeout):g} s"
        )
    if isinstance(reason, ReadTimeoutError):
        return KfpApiError(
            f"KFP API at {host} accepted the connection but sent no answer within {timeout:g} s "
            "(read timeout; raise it with --timeout if the server is just slow)"
        )
    return KfpApiError(f"cannot reach the KFP API at {host}: {reason}")


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


def _find_pipeline(client: kfp.Client, pipeline_name: str, namespace: str | None) -> str | None:
    """The id of the pipeline with this name, or None."""
    pipelines = (
        client.list_pipelines(
            filter=_filter("display_name", pipeline_name), namespace=namespace, page_size=2
        ).pipelines
        or []
    )
    if len(pipelines) > 1:
        raise ValueError(f"more than one pipeline is named {pipeline_name!r}; cannot choose")
    return str(pipelines[0].pipeline_id) if pipelines else None


def _upload(
    client: kfp.Client,
    package: str,
    digest: str,
    pipeline_name: str,
    pipeline_id: str | None,
    namespace: str | None,
) -> tuple[str, str, str]:
    """Uploads the package unless a version holds these bytes.

    Returns:
        (pipeline id, version id, version name).
    """
    description = f"sha256:{digest}"
    if pipeline_id is None:
        # The server gives the first version the pipeline's description: the hash finds it later.
        pipeline = client.upload_pipeline(
            package, pipeline_name=pipeline_name, description=description, namespace=namespace
        )
        # The upload creates the pipeline and its first version; the response names only the
        # pipeline, so ask for the version.
        versions = client.list_pipeline_versions(
            pipeline.pipeline_id, sort_by="created_at desc", page_size=1
        ).pipeline_versions
        if not versions:
            raise KfpApiError(f"pipeline {pipeline_name!r} was uploaded but has no version")
        return pipeline.pipeline_id, versions[0].pipeline_version_id, versions[0].display_name

    version_name = f"{pipeline_name}-{digest[:12]}"
    # A later version of these bytes has the hash in its name; the first one has the pipeline's.
    for candidate in (version_name, pipeline_name):
        for found in (
            client.list_pipeline_versions(
                pipeline_id, filter=_filter("display_name", candidate), page_size=2
            ).pipeline_versions
            or []
        ):
            recorded = _SHA256_IN_DESCRIPTION.search(found.description or "")
            if recorded and recorded.group(1) == digest:
                return pipeline_id, found.pipeline_version_id, candidate
    version = client.upload_pipeline_version(
        package,
        pipeline_version_name=version_name,
        pipeline_id=pipeline_id,
        description=description,
    )
    return pipeline_id, version.pipeline_version_id, version_name


# -- recurring runs ---------------------------------------------------------------------------

# Where schedule() records the package's hash, to know later whether a recurring run is the same.
_DESCRIPTION = "Scheduled by mlrail from the pipeline package with sha256:{sha256}"
_SHA256_IN_DESCRIPTION = re.compile(r"\bsha256:([0-9a-f]{64})\b")
# The API server serves at most 200 items a page (list.Options); fewer, larger pages are quicker.
_PAGE_SIZE = 100


@dataclasses.dataclass(frozen=True)
class _Wanted:
    """What schedule() would create, in the terms of ScheduleInfo."""

    pipeline_id: str | None
    package_sha256: str
    cron: str | None
    interval_seconds: int | None
    start: datetime | None
    end: datetime | None
    max_concurrency: int
    catchup: bool
    parameters: Mapping[str, Any]


def _differences(live: ScheduleInfo, wanted: _Wanted) -> tuple[str, ...]:
    """The names of what differs between a live recurring run and what schedule() would make."""
    pairs = {
        "pipeline": (live.pipeline_id, wanted.pipeline_id),
        "package": (live.package_sha256, wanted.package_sha256),
        "trigger": ((live.cron, live.interval_seconds), (wanted.cron, wanted.interval_seconds)),
        "start": (live.start, wanted.start),
        "end": (live.end, wanted.end),
        "max_concurrency": (live.max_concurrency, wanted.max_concurrency),
        "catchup": (live.catchup, wanted.catchup),
        "arguments": (_canonical_json(live.parameters), _canonical_json(wanted.parameters)),
    }
    if wanted.pipeline_id is None:  # not uploaded yet: nothing live can run it
        pairs["pipeline"] = (live.pipeline_id, "")
    return tuple(what for what, (have, want) in pairs.items() if have != want)


def _canonical_json(value: Any) -> str:
    """Arguments as JSON the way the API server hands them back.

    Parameters are protobuf Values there, so every number is a double: 2 and 2.0 must compare
    equal, while true and 1 must not (Python says ``True == 1``).
    """

    def canonical(v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, int | float | Mapping | list | tuple):
            return v
        if isinstance(v, int | float):
            return float(v)
        if isinstance(v, Mapping):
            return {str(k): canonical(x) for k, x in v.items()}
        return [canonical(x) for x in v]

    return json.dumps(canonical(value), sort_keys=True, default=str)


def _parse_rfc3339(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _moment(value: Any) -> datetime | None:
    """A trigger's start or end time from the API; a zero timestamp means none."""
    if not isinstance(value, datetime):
        return None
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return None if moment.timestamp() == 0 else moment


def _info(
    host: str,
    rr: Any,
    *,
    experiment_name: str | None = None,
    pipeline_version_name: str | None = None,
) -> ScheduleInfo:
    """A ``V2beta1RecurringRun`` as a ScheduleInfo."""
    trigger = rr.trigger
    cron = getattr(getattr(trigger, "cron_schedule", None), "cron", None) or None
    periodic = getattr(trigger, "periodic_schedule", None)
    window = getattr(trigger, "cron_schedule", None) if cron else periodic
    interval = (
        int(periodic.interval_second)
        if cron is None and periodic is not None and periodic.interval_second is not None
        else None
    )
    reference = rr.pipeline_version_reference
    parameters = (rr.runtime_config.parameters if rr.runtime_config else None) or {}
    digest = _SHA256_IN_DESCRIPTION.search(rr.description or "")
    # The API answers mode and status from the same stored flag; mode is the one always set.
    enabled = rr.mode == "ENABLE" if rr.mode in ("ENABLE", "DISABLE") else rr.status == "ENABLED"
    return ScheduleInfo(
        recurring_run_id=rr.recurring_run_id,
        name=rr.display_name or "",
        experiment_id=rr.experiment_id or None,
        experiment_name=experiment_name,
        namespace=rr.namespace or None,
        enabled=enabled,
        cron=cron,
        interval_seconds=interval,
        start=_moment(getattr(window, "start_time", None)),
        end=_moment(getattr(window, "end_time", None)),
        max_concurrency=int(rr.max_concurrency or 0),
        catchup=not rr.no_catchup,
        parameters=dict(parameters),
        pipeline_id=(reference.pipeline_id or None) if reference else None,
        pipeline_version_id=(reference.pipeline_version_id or None) if reference else None,
        pipeline_version_name=pipeline_version_name,
        package_sha256=digest.group(1) if digest else None,
        url=_ui_url(host, f"recurringrun/details/{rr.recurring_run_id}"),
    )


def _recurring_runs(
    client: kfp.Client,
    *,
    experiment_id: str | None = None,
    namespace: str | None = None,
    name: str | None = None,
) -> list[Any]:
    """Every recurring run that matches, oldest first, through all pages."""
    found: list[Any] = []
    token = ""
    seen: set[str] = set()
    while True:
        page = client.list_recurring_runs(
            page_token=token,
            page_size=_PAGE_SIZE,
            sort_by="created_at",
            experiment_id=experiment_id,
            namespace=namespace,
            filter=_filter("display_name", name) if name is not None else None,
        )
        found.extend(page.recurring_runs or [])
        token = page.next_page_token or ""
        if not token:
            return found
        if token in seen:
            raise KfpApiError("the KFP API returned the same page of recurring runs twice")
        seen.add(token)


class _Names:
    """Looks up experiment and pipeline version names, once each."""

    def __init__(self, client: kfp.Client) -> None:
        self._client = client
        self._experiments: dict[str, str | None] = {}
        self._versions: dict[tuple[str, str], str | None] = {}

    def experiment(self, experiment_id: str | None) -> str | None:
        if not experiment_id:
            return None
        if experiment_id not in self._experiments:
            found = _unless_missing(lambda: self._client.get_experiment(experiment_id))
            self._experiments[experiment_id] = found.display_name if found else None
        return self._experiments[experiment_id]

    def version(self, pipeline_id: str | None, version_id: str | None) -> str | None:
        if not pipeline_id or not version_id:
            return None
        if (pipeline_id, version_id) not in self._versions:
            self._versions[pipeline_id, version_id] = _version_name(
                self._client, pipeline_id, version_id
            )
        return self._versions[pipeline_id, version_id]


def _unless_missing(call: Callable[[], Any]) -> Any:
    """The call's answer, or None when the API answers 404 (deleted since it was referenced)."""
    import kfp_server_api

    try:
        return call()
    except kfp_server_api.ApiException as e:
        if e.status == 404:
            return None
        raise


def _version_name(
    client: kfp.Client, pipeline_id: str | None, version_id: str | None
) -> str | None:
    if not pipeline_id or not version_id:
        return None
    version = _unless_missing(lambda: client.get_pipeline_version(pipeline_id, version_id))
    return (version.display_name or version.name or version_id) if version else None


def _experiment_id(client: kfp.Client, experiment: str, namespace: str | None) -> str:
    """The id of an existing experiment; never creates one."""
    found = (
        client.list_experiments(
            filter=_filter("display_name", experiment),
            namespace=namespace or client.get_user_namespace() or None,
            page_size=2,
        ).experiments
        or []
    )
    if len(found) != 1:
        where = f" in namespace {namespace!r}" if namespace else ""
        raise ScheduleLookupError(
            f"no experiment named {experiment!r}{where}"
            if not found
            else f"{len(found)} experiments are named {experiment!r}{where}",
            name=experiment,
        )
    return str(found[0].experiment_id)


def _list(
    host: str,
    client: kfp.Client,
    *,
    experiment: str | None,
    namespace: str | None,
    name: str | None,
) -> list[ScheduleInfo]:
    experiment_id = _experiment_id(client, experiment, namespace) if experiment else None
    found = _recurring_runs(
        client,
        experiment_id=experiment_id,
        # Without an experiment, a multi-user server needs the namespace: the one the client uses.
        namespace=None if experiment_id else namespace or client.get_user_namespace() or None,
        name=name,
    )
    names = _Names(client)
    infos = []
    for rr in found:
        reference = rr.pipeline_version_reference
        infos.append(
            _info(
                host,
                rr,
                experiment_name=names.experiment(rr.experiment_id),
                pipeline_version_name=names.version(
                    reference.pipeline_id if reference else None,
                    reference.pipeline_version_id if reference else None,
                ),
            )
        )
    return infos


def _act_on_one(
    host: str,
    name: str,
    experiment: str | None,
    namespace: str | None,
    existing_token: str | None,
    action: Literal["enable", "disable", "delete"],
    timeout: float,
) -> ScheduleInfo:
    _check_host(host)
    _check_name("name", name)
    if experiment is not None:
        _check_name("experiment", experiment)
    with _kfp_calls(host, timeout):
        client = _client(host, existing_token)
        found = _list(host, client, experiment=experiment, namespace=namespace, name=name)
        where = f" in experiment {experiment!r}" if experiment else ""
        if not found:
            raise ScheduleLookupError(f"no recurring run named {name!r}{where}", name=name)
        if len(found) > 1:
            listed = "; ".join(
                f"{rr.recurring_run_id} in experiment {rr.experiment_name or rr.experiment_id!r}"
                for rr in found
            )
            hint = "" if experiment else " (choose one with the experiment)"
            raise ScheduleLookupError(
                f"{len(found)} recurring runs are named {name!r}{where}: {listed}{hint}",
                name=name,
                matches=found,
            )
        [rr] = found
        if action == "delete":
            client.delete_recurring_run(rr.recurring_run_id)
            return rr
        if action == "enable":
            client.enable_recurring_run(rr.recurring_run_id)
        else:
            client.disable_recurring_run(rr.recurring_run_id)
        return _info(
            host,
            client.get_recurring_run(rr.recurring_run_id),
            experiment_name=rr.experiment_name,
            pipeline_version_name=rr.pipeline_version_name,
        )


def _create_in_place_of(
    host: str, client: kfp.Client, live: list[ScheduleInfo], name: str, create: Callable[[], Any]
) -> Any:
    """Disables the enabled ones of ``live``, then creates; re-enables them if that fails."""
    disabled: list[str] = []
    try:
        for rr in live:
            if rr.enabled:
                client.disable_recurring_run(rr.recurring_run_id)
                disabled.append(rr.recurring_run_id)
        return create()
    except Exception as e:  # whatever failed, the schedule that was running runs again
        still_paused = []
        for rr_id in disabled:
            try:
                client.enable_recurring_run(rr_id)
            except _api_errors():
                still_paused.append(rr_id)
        if still_paused:
            failure = _as_kfp_api_error(host, e) if isinstance(e, _api_errors()) else e
            raise KfpApiError(
                f"{failure}; the recurring run {name!r} was not replaced, and re-enabling the "
                f"old one failed: {', '.join(still_paused)} stays paused (resume it with "
                f"`mlrail schedule resume --name {shlex.quote(name)}`)",
                status=getattr(failure, "status", None),
            ) from e
        raise


def _delete_all(
    host: str, client: kfp.Client, doomed: list[ScheduleInfo], *, kept: ScheduleInfo
) -> None:
    """Deletes the recurring runs ``kept`` stands in for; says which are left if that fails."""
    failures = []
    for rr in doomed:
        try:
            client.delete_recurring_run(rr.recurring_run_id)
        except _api_errors() as e:
            failures.append(f"{rr.recurring_run_id} ({_as_kfp_api_error(host, e)})")
    if failures:
        raise KfpApiError(
            f"recurring run {kept.recurring_run_id} ({kept.name!r}) is in place, but deleting "
            f"the one(s) of the same name that it stands in for failed: {'; '.join(failures)}. "
            "Run the same command again to delete them"
        )
