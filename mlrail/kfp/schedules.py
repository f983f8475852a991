"""A recurring run by name: :func:`schedule` creates it, leaves it unchanged or replaces it.

The function behind ``mlrail schedule``. KFP has no update for a recurring run, so a changed one
is replaced (see :func:`schedule` for the order of the steps and what a failure leaves); the
package's SHA-256, recorded in the recurring run's description, tells an unchanged one apart.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shlex
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlrail.kfp.checks import (
    check_arguments,
    check_host,
    check_name,
    check_trigger,
    check_window,
    load_pipeline_spec,
    package_to_send,
)
from mlrail.kfp.connection import (
    DEFAULT_TIMEOUT,
    KfpApiError,
    api_errors,
    as_kfp_api_error,
    connect,
    equals_filter,
    kfp_calls,
)
from mlrail.kfp.recurring import (
    DESCRIPTION,
    SHA256_IN_DESCRIPTION,
    ScheduleInfo,
    lookup_version_name,
    recurring_runs,
    schedule_info,
)

if TYPE_CHECKING:  # kfp costs ~0.6 s to import; the CLI imports this package lazily anyway.
    import kfp

__all__ = ["MAX_CONCURRENCY", "ScheduleAction", "ScheduleResult", "schedule"]

#: The KFP API server accepts ``max_concurrency`` from 1 to this value for a recurring run.
MAX_CONCURRENCY = 10


#: What :func:`schedule` did: created the first recurring run of the name, found it as asked,
#: or replaced it (see :func:`schedule`).
ScheduleAction = Literal["created", "unchanged", "replaced"]


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
        host: The KFP API address, with its scheme (see :func:`~mlrail.kfp.runs.submit`).
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
        timeout: Seconds to wait for each answer (see :mod:`mlrail.kfp.connection`).
        enable_caching: As for :func:`~mlrail.kfp.runs.submit`; applied to the uploaded
            version, because ``kfp.Client`` ignores it for a recurring run of a stored version.
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
    check_host(host)
    check_name("name", name)
    check_name("experiment", experiment)
    cron_expression, interval = check_trigger(cron, interval_seconds)
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
        raise ValueError(f"max_concurrency must be an integer, got {max_concurrency!r}")
    if not 1 <= max_concurrency <= MAX_CONCURRENCY:
        raise ValueError(
            f"max_concurrency must be between 1 and {MAX_CONCURRENCY} (the KFP API server's "
            f"limit), got {max_concurrency}"
        )
    start_time, end_time = check_window(start, end)
    spec = load_pipeline_spec(package_path)
    parameters = check_arguments(spec, arguments or {}, package_path)
    pipeline = pipeline_name if pipeline_name is not None else spec.pipeline_info.name
    check_name("pipeline_name", pipeline)

    with (
        package_to_send(package_path, enable_caching) as package,
        kfp_calls(host, timeout),
    ):
        digest = hashlib.sha256(Path(package).read_bytes()).hexdigest()
        client = connect(host, existing_token)
        experiment_id = client.create_experiment(name=experiment, namespace=namespace).experiment_id
        live = [
            schedule_info(host, rr)
            for rr in recurring_runs(client, experiment_id=experiment_id, name=name)
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
            version_name = lookup_version_name(client, keep.pipeline_id, keep.pipeline_version_id)
            if version_name is not None:  # else its version was deleted: replace it below
                extra = [rr for rr in live if rr is not keep]
                _delete_all(host, client, extra, kept=keep)
                return result(keep, "unchanged", extra, version_name)

        # Same bytes, other settings: run the version the old recurring run ran.
        version = None
        for rr in reversed(live):
            if pipeline_id and rr.pipeline_id == pipeline_id and rr.package_sha256 == digest:
                found = lookup_version_name(client, pipeline_id, rr.pipeline_version_id)
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
                description=DESCRIPTION.format(sha256=digest),
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
        new = schedule_info(host, created)
        _delete_all(host, client, live, kept=new)
    return result(new, "replaced" if live else "created", live, version_name)


def _find_pipeline(client: kfp.Client, pipeline_name: str, namespace: str | None) -> str | None:
    """The id of the pipeline with this name, or None."""
    pipelines = (
        client.list_pipelines(
            filter=equals_filter("display_name", pipeline_name), namespace=namespace, page_size=2
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
                pipeline_id, filter=equals_filter("display_name", candidate), page_size=2
            ).pipeline_versions
            or []
        ):
            recorded = SHA256_IN_DESCRIPTION.search(found.description or "")
            if recorded and recorded.group(1) == digest:
                return pipeline_id, found.pipeline_version_id, candidate
    version = client.upload_pipeline_version(
        package,
        pipeline_version_name=version_name,
        pipeline_id=pipeline_id,
        description=description,
    )
    return pipeline_id, version.pipeline_version_id, version_name


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
            except api_errors():
                still_paused.append(rr_id)
        if still_paused:
            failure = as_kfp_api_error(host, e) if isinstance(e, api_errors()) else e
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
        except api_errors() as e:
            failures.append(f"{rr.recurring_run_id} ({as_kfp_api_error(host, e)})")
    if failures:
        raise KfpApiError(
            f"recurring run {kept.recurring_run_id} ({kept.name!r}) is in place, but deleting "
            f"the one(s) of the same name that it stands in for failed: {'; '.join(failures)}. "
            "Run the same command again to delete them"
        )
