"""The commands for a Kubeflow Pipelines cluster: ``compile``, ``submit`` and ``schedule``.

``schedule`` also manages recurring runs by name: ``mlrail schedule list|pause|resume|delete``
(:mod:`mlrail.cli.schedules`). What the commands that talk to the KFP API share (its address
from ``--host`` or ``$KF_PIPELINES_ENDPOINT``, the token, exit status 3 when it cannot be
reached, ``--output json``) is :mod:`mlrail.cli.kfp_access`. The work is done by
:mod:`mlrail.kfp`, imported when a command runs (kfp costs about 0.6 s to import).

``compile`` names the component image by digest with ``--image-digest sha256:…`` (else the
:data:`IMAGE_DIGEST_ENV` environment variable) or ``--image-record FILE``, the record
images/build.sh writes; so do ``submit`` and ``schedule`` when they compile a pipeline by name (a
compiled package is sent as it is: the options are refused with one, the variable not read). A
malformed digest or record is a usage error before anything compiles.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from mlrail.cli.kfp_access import (
    ENDPOINT_ENV,
    EXIT_STATUSES,
    EXIT_UNREACHABLE,
    TOKEN_ENV,
    connection_args,
    host_arg,
    kfp_token,
    output_arg,
    print_json,
    reaching_kfp,
)
from mlrail.cli.options import Subcommands, integer, output_file, writable_folder
from mlrail.cli.provenance import add_provenance_args, run_record
from mlrail.cli.schedules import (
    SCHEDULE_ACTIONS,
    cmd_schedule_change,
    cmd_schedule_list,
    schedule_action_args,
    schedule_action_parser,
)
from mlrail.errors import MlrailError
from mlrail.redact import redact

__all__ = [
    "DEFAULT_PIPELINE",
    "ENDPOINT_ENV",
    "EXIT_UNREACHABLE",
    "IMAGE_DIGEST_ENV",
    "SCHEDULE_ACTIONS",
    "TOKEN_ENV",
    "add_compile",
    "add_schedule",
    "add_submit",
    "cmd_compile",
    "cmd_schedule",
    "cmd_schedule_change",
    "cmd_schedule_list",
    "cmd_submit",
    "schedule_action_args",
    "schedule_action_parser",
]

DEFAULT_PIPELINE = "training"
#: The environment variable holding the component image's digest for ``mlrail compile`` (and
#: ``submit`` and ``schedule`` of a pipeline by name).
IMAGE_DIGEST_ENV = "MLRAIL_IMAGE_DIGEST"


#: Pipeline parameters whose values are bounds or shares (``--param`` of submit and schedule):
#: name → (lowest, highest, whether the lowest is allowed, whether the highest is allowed).
_PARAMETER_RANGES = {
    "eval_ratio": (0.0, 1.0, False, False),
    "test_ratio": (0.0, 1.0, True, False),
    "parity_tolerance": (0.0, math.inf, True, False),
    "max_accuracy_drop": (0.0, math.inf, True, False),
    "max_rmse_increase": (0.0, math.inf, True, False),
    "train_workers": (1.0, 256.0, True, True),
}


def _params(pairs: Sequence[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; a value is JSON when it parses as JSON, else a string.

    Bounds and shares of mlrail's pipelines (:data:`_PARAMETER_RANGES`) are checked here: a
    negative tolerance turns a gate off, and NaN passes every comparison.
    """
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise MlrailError(f"--param {pair!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
        if key in _PARAMETER_RANGES and isinstance(out[key], int | float):
            low, high, low_ok, high_ok = _PARAMETER_RANGES[key]
            x = float(out[key])
            if not (
                math.isfinite(x)
                and (low < x or (low_ok and x == low))
                and (x < high or (high_ok and x == high))
            ):
                ends = f"{'[' if low_ok else '('}{low:g}, {high:g}{']' if high_ok else ')'}"
                raise MlrailError(f"--param {key}={value}: must be in {ends}")
    return out


def _package(a: argparse.Namespace, tmp: str) -> str:
    """A compiled YAML path as given, or a pipeline name compiled into ``tmp``.

    A name is compiled as ``mlrail compile`` would, with the component image it pins
    (:func:`_component_image`); a compiled package already names its images.
    """
    target = a.pipeline
    if target.endswith((".yaml", ".yml", ".json")) or Path(target).is_file():
        if a.image_digest or a.image_record:
            flag = "--image-digest" if a.image_digest else "--image-record"
            raise MlrailError(
                f"{flag} pins the image of a pipeline given by name; {target} is compiled "
                "already (compile it with the pin: mlrail compile --help)"
            )
        if not Path(target).is_file():
            raise MlrailError(f"{target}: no such pipeline package")
        return target
    from mlrail.compiler import compile_pipeline

    image = _component_image(a)
    return str(compile_pipeline(target, Path(tmp) / f"{target}.yaml", component_image=image))


def _image_digest(text: str) -> str:
    """``--image-digest``: the component image named by this digest (``sha256:`` + 64 hex)."""
    from mlrail.compiler import component_image_by_digest

    try:
        return component_image_by_digest(text)
    except MlrailError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _image_record(path: str) -> str:
    """``--image-record``: the component image of images/build.sh's digest record."""
    from mlrail.compiler import component_image_of_record

    try:
        return component_image_of_record(path)
    except MlrailError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _component_image(a: argparse.Namespace) -> str | None:
    """The component image by digest: --image-digest or --image-record, else $IMAGE_DIGEST_ENV."""
    if a.image_digest or a.image_record:
        return str(a.image_digest or a.image_record)
    digest = os.environ.get(IMAGE_DIGEST_ENV)
    if not digest:
        return None
    from mlrail.compiler import component_image_by_digest

    try:
        return component_image_by_digest(digest)
    except MlrailError as e:
        raise MlrailError(f"${IMAGE_DIGEST_ENV}: {e}") from None


def cmd_compile(a: argparse.Namespace) -> int:
    """``mlrail compile``: writes the IR file or the manifests folder; exit status 0."""
    from mlrail.compiler import compile_manifests, compile_pipeline

    image = _component_image(a)
    if a.format == "manifests":
        folder = a.output or "pipeline-manifests"
        writable_folder("-o", Path(folder))
        out = compile_manifests(a.pipeline, folder, namespace=a.namespace, component_image=image)
    else:
        output_file("-o", a.output or "pipeline.yaml")
        out = compile_pipeline(a.pipeline, a.output or "pipeline.yaml", component_image=image)
    print(f"wrote {out}" + (f" (tasks run {image})" if image else ""))
    return 0


@reaching_kfp
def cmd_submit(a: argparse.Namespace) -> int:
    """``mlrail submit``: creates one run and prints its id (``--output json``: its id, name,
    experiment and UI link); exit status 0."""
    from mlrail.kfp import submit

    token, arguments = kfp_token(a), _params(a.param)  # usage errors before the pipeline compiles
    with tempfile.TemporaryDirectory() as tmp:
        package = _package(a, tmp)
        result = submit(
            a.host,
            package,
            arguments=run_record(a, package, token, arguments),
            experiment=a.experiment,
            run_name=a.run_name,
            namespace=a.namespace,
            existing_token=token,
            enable_caching=False if a.no_cache else None,
            timeout=a.timeout,
        )
    if a.output == "json":
        print_json(
            {
                "run_id": result.run_id,
                "run_name": result.run_name,
                "experiment": a.experiment,
                "experiment_id": result.experiment_id,
                "namespace": a.namespace,
                "url": result.url,
                "host": redact(a.host),
            }
        )
        return 0
    print(f"run {result.run_id} created in experiment {a.experiment!r}")
    return 0


@reaching_kfp
def cmd_schedule(a: argparse.Namespace) -> int:
    """``mlrail schedule``: creates, keeps or replaces the recurring run; exit status 0."""
    from mlrail.kfp import schedule

    def when(flag: str, text: str | None) -> datetime | None:
        try:
            return datetime.fromisoformat(text) if text else None
        except ValueError:
            raise MlrailError(f"{flag} {text!r}: not an ISO 8601 time") from None

    start, end = when("--start", a.start), when("--end", a.end)
    token, arguments = kfp_token(a), _params(a.param)
    with tempfile.TemporaryDirectory() as tmp:
        package = _package(a, tmp)
        arguments = run_record(a, package, token, arguments)
        result = schedule(
            a.host,
            package,
            name=a.name,
            cron=a.cron,
            interval_seconds=a.interval,
            max_concurrency=a.max_concurrency,
            catchup=a.catchup,
            start=start,
            end=end,
            arguments=arguments,
            experiment=a.experiment,
            namespace=a.namespace,
            existing_token=token,
            enable_caching=False if a.no_cache else None,
            timeout=a.timeout,
        )
    if a.output == "json":
        print_json(
            {
                "recurring_run_id": result.recurring_run_id,
                "name": result.name,
                "action": result.action,
                "enabled": result.enabled,
                "experiment": a.experiment,
                "experiment_id": result.experiment_id,
                "namespace": a.namespace,
                "cron": result.cron,
                "interval_seconds": result.interval_seconds,
                "max_concurrency": a.max_concurrency,
                "catchup": a.catchup,
                "start": start,
                "end": end,
                "pipeline_id": result.pipeline_id,
                "pipeline_version_id": result.pipeline_version_id,
                "pipeline_version_name": result.pipeline_version_name,
                "removed_ids": list(result.removed_ids),
                "changed": list(result.changed),
                "url": result.url,
                "host": redact(a.host),
            }
        )
        return 0
    what = {
        "created": "created",
        "unchanged": "unchanged",
        "replaced": f"replaced {', '.join(result.removed_ids)} ({', '.join(result.changed)} "
        "changed)",
    }[result.action]
    print(f"recurring run {result.recurring_run_id} ({result.name!r}) {what}")
    if result.action == "unchanged" and result.removed_ids:
        print(
            f"deleted the other recurring run(s) named {result.name!r}: "
            + ", ".join(result.removed_ids)
        )
    if not result.enabled:
        again = f"mlrail schedule resume --host {a.host} --name {shlex.quote(result.name)}"
        if a.experiment != "Default":
            again += f" --experiment {shlex.quote(a.experiment)}"
        print(redact(f"it is paused, as it was: `{again}` starts it again"))
    return 0


def _kfp_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "pipeline",
        nargs="?",
        default=DEFAULT_PIPELINE,
        help="compiled pipeline YAML, or a pipeline name in mlrail.pipelines "
        f"(default: {DEFAULT_PIPELINE})",
    )
    host_arg(p)
    p.add_argument("--experiment", default="Default", help="experiment name (created if absent)")
    p.add_argument("--namespace", default=None, help="Kubeflow profile namespace")
    p.add_argument(
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help=(
            "pipeline parameter; VALUE is JSON when it parses as JSON "
            "(repeatable; e.g. train_workers=4)"
        ),
    )
    connection_args(p)
    add_provenance_args(p, token=True)
    p.add_argument(
        "--no-cache", action="store_true", help="turn caching off for every task of this run"
    )
    _image_args(p, "when PIPELINE is a name, ")


def _image_args(p: argparse.ArgumentParser, when: str = "") -> None:
    """``--image-digest`` or ``--image-record``: the component image by digest (see the module
    doc); ``when`` starts each help text with the case they apply to."""
    pin = p.add_mutually_exclusive_group()
    pin.add_argument(
        "--image-digest",
        type=_image_digest,
        metavar="sha256:HEX",
        help=f"{when}every task runs the component image by this digest, not by tag "
        f"(default: ${IMAGE_DIGEST_ENV})",
    )
    pin.add_argument(
        "--image-record",
        type=_image_record,
        metavar="FILE",
        help=f"{when}every task runs the component image named in this digest record "
        "(images/digests/kustomization.yaml, written by images/build.sh)",
    )


def add_compile(sub: Subcommands) -> None:
    """``mlrail compile``: a pipeline as KFP IR YAML or as KFP resources."""
    p = sub.add_parser("compile", help="compile a pipeline to KFP IR YAML")
    p.add_argument(
        "pipeline",
        nargs="?",
        default=DEFAULT_PIPELINE,
        help=f"a pipeline name in mlrail.pipelines (default: {DEFAULT_PIPELINE})",
    )
    p.add_argument(
        "-o",
        "--output",
        help="the IR file (default pipeline.yaml), or with --format manifests a kustomize folder "
        "(default pipeline-manifests/)",
    )
    p.add_argument(
        "--format",
        choices=["ir", "manifests"],
        default="ir",
        help="ir: KFP IR YAML for the UI and the client; manifests: KFP Pipeline and "
        "PipelineVersion resources (Kubernetes-native mode) for GitOps",
    )
    p.add_argument(
        "--namespace", default="kubeflow", help="namespace of the resources (--format manifests)"
    )
    _image_args(p)
    p.set_defaults(func=cmd_compile)


def add_submit(sub: Subcommands) -> None:
    """``mlrail submit``: one run on a cluster."""
    p = sub.add_parser(
        "submit", help="create a run on a Kubeflow Pipelines server", epilog=EXIT_STATUSES
    )
    _kfp_args(p)
    p.add_argument(
        "--run-name",
        default=None,
        help="the run's display name (default: the pipeline's name and the UTC time)",
    )
    output_arg(p, "one object with run_id, run_name, experiment, experiment_id and url")
    p.set_defaults(func=cmd_submit)


def add_schedule(sub: Subcommands) -> None:
    """``mlrail schedule``: a recurring run by name (its actions: :func:`schedule_action_args`)."""
    p = sub.add_parser(
        "schedule",
        help="create or update a recurring run; also: schedule list|pause|resume|delete",
        description="Create a recurring run of a pipeline, or bring the one with this name up to "
        "date: an identical one is left unchanged, a different one is replaced.",
        epilog="Manage recurring runs by name (each has --help):\n"
        + "\n".join(
            f"  mlrail schedule {action:<6}  {text}" for action, text in SCHEDULE_ACTIONS.items()
        )
        + "\n\n"
        + EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _kfp_args(p)
    p.add_argument(
        "--name",
        required=True,
        help="recurring run name, its identity in the experiment: a second call updates it",
    )
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", help="cron expression, 5 fields or KFP's 6 (with seconds)")
    when.add_argument("--interval", type=integer(1), metavar="SECONDS", help="run every SECONDS")
    p.add_argument(
        "--max-concurrency",
        type=integer(1),
        default=1,
        metavar="N",
        help="most runs of this schedule at once, 1 to 10 (default: 1)",
    )
    p.add_argument("--catchup", action="store_true", help="run missed intervals (off by default)")
    p.add_argument("--start", help="ISO 8601 start time")
    p.add_argument("--end", help="ISO 8601 end time")
    output_arg(
        p,
        "one object with recurring_run_id, name, action (created, unchanged, replaced), enabled, "
        "experiment, cron or interval_seconds, pipeline version and url",
    )
    p.set_defaults(func=cmd_schedule)
