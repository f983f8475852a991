"""``mlrail schedule list|pause|resume|delete``: recurring runs managed by name.

argparse cannot put sub-commands beside the optional PIPELINE of ``mlrail schedule [PIPELINE]
...``, so :func:`~mlrail.cli.program.parse_args` hands these to their own small parsers
(:func:`schedule_action_args`). The work is done by :mod:`mlrail.kfp`, imported when a command
runs.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence

from mlrail.cli.kfp_access import (
    EXIT_STATUSES,
    connection_args,
    host_arg,
    kfp_token,
    output_arg,
    print_json,
    reaching_kfp,
)
from mlrail.cli.options import Parser

__all__ = [
    "SCHEDULE_ACTIONS",
    "cmd_schedule_change",
    "cmd_schedule_list",
    "schedule_action_args",
    "schedule_action_parser",
]

# `mlrail schedule ACTION ...`: argparse cannot put sub-commands beside the optional PIPELINE of
# `mlrail schedule [PIPELINE] ...`, so main() hands these to their own small parsers.
SCHEDULE_ACTIONS = {
    "list": "list recurring runs with their status, trigger and pipeline version",
    "pause": "disable a recurring run by name (it starts no run until resumed)",
    "resume": "enable a paused recurring run by name",
    "delete": "delete a recurring run by name (the runs it started are kept)",
}


def schedule_action_args(argv: Sequence[str]) -> argparse.Namespace | None:
    """The parsed `mlrail schedule ACTION ...`, or None for any other command line."""
    if len(argv) < 2 or argv[0] != "schedule" or argv[1] not in SCHEDULE_ACTIONS:
        return None
    action = argv[1]
    args = schedule_action_parser(action).parse_args(argv[2:])
    args.command = f"schedule {action}"
    args.func = cmd_schedule_list if action == "list" else cmd_schedule_change
    args.action = action
    return args


def schedule_action_parser(action: str) -> argparse.ArgumentParser:
    """The parser of `mlrail schedule ACTION` (one of :data:`SCHEDULE_ACTIONS`)."""
    p = Parser(
        prog=f"mlrail schedule {action}",
        description=SCHEDULE_ACTIONS[action],
        epilog=EXIT_STATUSES,
    )
    host_arg(p)
    if action != "list":
        p.add_argument("--name", required=True, help="the recurring run's name")
    p.add_argument(
        "--experiment",
        default=None,
        help="only in this experiment (default: every experiment"
        + ("" if action == "list" else "; several matches are refused")
        + ")",
    )
    p.add_argument("--namespace", default=None, help="Kubeflow profile namespace")
    connection_args(p)
    if action == "list":
        output_arg(
            p,
            "one object: recurring_runs, each with its id, name, status, trigger, "
            "window, parameters, pipeline version, experiment and UI link",
        )
    return p


@reaching_kfp
def cmd_schedule_list(a: argparse.Namespace) -> int:
    """``mlrail schedule list``: a table of recurring runs (``--output json``: their fields);
    exit status 0."""
    from mlrail.kfp import list_schedules

    found = list_schedules(
        a.host,
        experiment=a.experiment,
        namespace=a.namespace,
        existing_token=kfp_token(a),
        timeout=a.timeout,
    )
    if a.output == "json":
        print_json(
            {
                "recurring_runs": [
                    {
                        **dataclasses.asdict(rr),
                        "trigger": rr.trigger,
                        "parameters": dict(rr.parameters),
                    }
                    for rr in found
                ]
            }
        )
        return 0
    if not found:
        where = f" in experiment {a.experiment!r}" if a.experiment else ""
        print(f"no recurring runs{where}")
        return 0
    rows = [("NAME", "ID", "STATUS", "TRIGGER", "PIPELINE VERSION", "EXPERIMENT")]
    rows += [
        (
            rr.name,
            rr.recurring_run_id,
            "enabled" if rr.enabled else "disabled",
            rr.trigger,
            rr.pipeline_version_name or rr.pipeline_version_id or "(inline spec)",
            rr.experiment_name or rr.experiment_id or "",
        )
        for rr in found
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


@reaching_kfp
def cmd_schedule_change(a: argparse.Namespace) -> int:
    """``mlrail schedule pause|resume|delete``: one recurring run by name; exit status 0."""
    from mlrail.kfp import delete_schedule, pause_schedule, resume_schedule

    act, done = {
        "pause": (pause_schedule, "paused"),
        "resume": (resume_schedule, "resumed"),
        "delete": (delete_schedule, "deleted"),
    }[a.action]
    rr = act(
        a.host,
        a.name,
        experiment=a.experiment,
        namespace=a.namespace,
        existing_token=kfp_token(a),
        timeout=a.timeout,
    )
    print(f"recurring run {rr.recurring_run_id} ({rr.name!r}) {done}")
    return 0
