"""The ``mlrail`` program: its parser, and :func:`main`, which runs a command.

A command's error (:class:`~mlrail.errors.MlrailError`, ``ValueError``, ``OSError``) becomes one
line on stderr, ``mlrail <command>: error: <what>``, and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mlrail import __version__
from mlrail.cli.cluster import add_compile, add_schedule, add_submit, schedule_action_args
from mlrail.cli.data import add_evaluate, add_schema, add_validate
from mlrail.cli.doctor import add_doctor
from mlrail.cli.monitor import add_monitor
from mlrail.cli.options import Parser
from mlrail.cli.payloads import add_payload_receiver
from mlrail.cli.releases import add_releases, add_rollback
from mlrail.cli.run import add_run
from mlrail.cli.serve import add_serve
from mlrail.errors import MlrailError
from mlrail.redact import redact

__all__ = ["build_parser", "main", "parse_args"]


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command; ``schedule list|pause|resume|delete`` have their own
    (see :func:`parse_args`)."""
    parser = Parser(
        prog="mlrail",
        description="Kubeflow Pipelines components from a data file to a served ONNX model.",
        epilog="exit status: 0 done; 1 a problem found (a failed or stopped run, anomalies, a"
        " model not blessed, a doctor check failed); 2 a usage or input error; 3 the KFP API"
        " could not be reached (submit, schedule)",
    )
    parser.add_argument("--version", action="version", version=f"mlrail {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # in this order in `mlrail --help`
    add_run(sub)
    add_compile(sub)
    add_submit(sub)
    add_schedule(sub)
    add_validate(sub)
    add_evaluate(sub)
    add_schema(sub)
    add_serve(sub)
    add_monitor(sub)
    add_payload_receiver(sub)
    add_releases(sub)
    add_rollback(sub)
    add_doctor(sub)
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line parsed: ``schedule list|pause|resume|delete`` or any other command."""
    return schedule_action_args(argv) or build_parser().parse_args(argv)


def _os_error(e: OSError) -> str:
    """An OSError on one line, naming the path(s): ``PATH: Permission denied``."""
    what = e.strerror or str(e)
    if e.filename is None:
        return what
    where = str(e.filename) + (f" -> {e.filename2}" if e.filename2 is not None else "")
    return f"{where}: {what}"


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line (``sys.argv`` by default) and returns the exit status: 0, 1 when
    the command found a problem (a failed run, anomalies, a model not blessed), 2 for usage and
    input errors, 3 when the KFP API cannot be reached (submit and schedule return it)."""
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        return int(args.func(args))
    except (MlrailError, ValueError, OSError) as e:
        message = _os_error(e) if isinstance(e, OSError) else str(e)
        # one line: a library's message may span several
        message = " ".join(message.split()) or type(e).__name__
        print(f"mlrail {args.command}: error: {redact(message)}", file=sys.stderr)
        return 2
