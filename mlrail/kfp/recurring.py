"""Recurring runs as the API server reports them, found by name: list, pause, resume, delete.

A recurring run is known by its display name (in its experiment, when one is given):
:func:`list_schedules`, :func:`pause_schedule`, :func:`resume_schedule` and
:func:`delete_schedule` find it by name and refuse when none or several have it. Reading a
recurring run back (:func:`schedule_info`, :func:`recurring_runs`) is shared with
:func:`mlrail.kfp.schedules.schedule`, which compares what is live with what it would create.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from mlrail.errors import MlrailError
from mlrail.kfp.checks import check_host, check_name
from mlrail.kfp.connection import (
    DEFAULT_TIMEOUT,
    KfpApiError,
    connect,
    equals_filter,
    kfp_calls,
    ui_url,
)

if TYPE_CHECKING:  # kfp costs ~0.6 s to import; the CLI imports this package lazily anyway.
    import kfp

__all__ = [
    "DESCRIPTION",
    "SHA256_IN_DESCRIPTION",
    "ScheduleInfo",
    "ScheduleLookupError",
    "delete_schedule",
    "list_schedules",
    "lookup_version_name",
    "pause_schedule",
    "recurring_runs",
    "resume_schedule",
    "schedule_info",
]


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
        package_sha256: The SHA-256 of the package it was scheduled from, as
            :func:`~mlrail.kfp.schedules.schedule` records it in the description; None for one
            that mlrail did not create.
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
        host: The KFP API address, with its scheme (see :func:`~mlrail.kfp.runs.submit`).
        experiment: Only those of the experiment with this name; None for every experiment.
        namespace: The user namespace of a multi-user deployment; None for single-user.
        name: Only those with this display name.
        existing_token: A bearer token for the API, obtained outside mlrail.
        timeout: Seconds to wait for each answer (see :mod:`mlrail.kfp.connection`).

    Returns:
        The recurring runs, with their experiment's and pipeline version's names looked up.

    Raises:
        ValueError: The host or a name is invalid (nothing was sent).
        ScheduleLookupError: No experiment has the name ``experiment`` (nothing is created).
        KfpApiError: The API server could not be reached or refused a request.
    """
    check_host(host)
    if experiment is not None:
        check_name("experiment", experiment)
    if name is not None:
        check_name("name", name)
    with kfp_calls(host, timeout):
        client = connect(host, existing_token)
        return _list_infos(host, client, experiment=experiment, namespace=namespace, name=name)


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
        host: The KFP API address, with its scheme (see :func:`~mlrail.kfp.runs.submit`).
        name: The recurring run's display name.
        experiment: The experiment to look in; None to look in every experiment.
        namespace: The user namespace of a multi-user deployment; None for single-user.
        existing_token: A bearer token for the API, obtained outside mlrail.
        timeout: Seconds to wait for each answer (see :mod:`mlrail.kfp.connection`).

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
        host: The KFP API address, with its scheme (see :func:`~mlrail.kfp.runs.submit`).
        name: The recurring run's display name.
        experiment: The experiment to look in; None to look in every experiment.
        namespace: The user namespace of a multi-user deployment; None for single-user.
        existing_token: A bearer token for the API, obtained outside mlrail.
        timeout: Seconds to wait for each answer (see :mod:`mlrail.kfp.connection`).

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
        host: The KFP API address, with its scheme (see :func:`~mlrail.kfp.runs.submit`).
        name: The recurring run's display name.
        experiment: The experiment to look in; None to look in every experiment.
        namespace: The user namespace of a multi-user deployment; None for single-user.
        existing_token: A bearer token for the API, obtained outside mlrail.
        timeout: Seconds to wait for each answer (see :mod:`mlrail.kfp.connection`).

    Returns:
        The recurring run as it was before the deletion.

    Raises:
        ValueError: The host or a name is invalid (nothing was sent).
        ScheduleLookupError: No recurring run, or more than one, has the name (nothing deleted).
        KfpApiError: The API server could not be reached or refused a request.
    """
    return _act_on_one(host, name, experiment, namespace, existing_token, "delete", timeout)


# -- reading recurring runs back --------------------------------------------------------------

# Where schedule() records the package's hash, to know later whether a recurring run is the same.
DESCRIPTION = "Scheduled by mlrail from the pipeline package with sha256:{sha256}"
SHA256_IN_DESCRIPTION = re.compile(r"\bsha256:([0-9a-f]{64})\b")
# The API server serves at most 200 items a page (list.Options); fewer, larger pages are quicker.
_PAGE_SIZE = 100


def _moment(value: Any) -> datetime | None:
    """A trigger's start or end time from the API; a zero timestamp means none."""
    if not isinstance(value, datetime):
        return None
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return None if moment.timestamp() == 0 else moment


def schedule_info(
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
    digest = SHA256_IN_DESCRIPTION.search(rr.description or "")
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
        url=ui_url(host, f"recurringrun/details/{rr.recurring_run_id}"),
    )


def recurring_runs(
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
            filter=equals_filter("display_name", name) if name is not None else None,
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
            self._versions[pipeline_id, version_id] = lookup_version_name(
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


def lookup_version_name(
    client: kfp.Client, pipeline_id: str | None, version_id: str | None
) -> str | None:
    """A pipeline version's name; None when it was deleted or none is given."""
    if not pipeline_id or not version_id:
        return None
    version = _unless_missing(lambda: client.get_pipeline_version(pipeline_id, version_id))
    return (version.display_name or version.name or version_id) if version else None


def _experiment_id(client: kfp.Client, experiment: str, namespace: str | None) -> str:
    """The id of an existing experiment; never creates one."""
    found = (
        client.list_experiments(
            filter=equals_filter("display_name", experiment),
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


def _list_infos(
    host: str,
    client: kfp.Client,
    *,
    experiment: str | None,
    namespace: str | None,
    name: str | None,
) -> list[ScheduleInfo]:
    experiment_id = _experiment_id(client, experiment, namespace) if experiment else None
    found = recurring_runs(
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
            schedule_info(
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
    check_host(host)
    check_name("name", name)
    if experiment is not None:
        check_name("experiment", experiment)
    with kfp_calls(host, timeout):
        client = connect(host, existing_token)
        found = _list_infos(host, client, experiment=experiment, namespace=namespace, name=name)
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
        return schedule_info(
            host,
            client.get_recurring_run(rr.recurring_run_id),
            experiment_name=rr.experiment_name,
            pipeline_version_name=rr.pipeline_version_name,
        )
