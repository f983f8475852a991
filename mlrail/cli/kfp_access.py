"""What the commands that talk to the KFP API share: its address, its token, the exit status
when it cannot be reached, ``--output json`` and their flags.

The address: ``--host URL``, else the :data:`ENDPOINT_ENV` environment variable, as ``kfp.Client``
reads it (:func:`kfp_host`). An API that cannot be reached (no connection, no answer in time) is one
line naming the host and exit status :data:`EXIT_UNREACHABLE`, not 2 (:func:`reaching_kfp`).

The token: ``--token-file PATH`` (a projected service account token, say) or ``--token``
(visible to other users in the process list: avoid it on shared machines), else the
:data:`TOKEN_ENV` environment variable (:func:`kfp_token`). It is never printed.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from mlrail.cli.options import seconds
from mlrail.errors import MlrailError

__all__ = [
    "ENDPOINT_ENV",
    "EXIT_STATUSES",
    "EXIT_UNREACHABLE",
    "TOKEN_ENV",
    "connection_args",
    "kfp_host",
    "host_arg",
    "output_arg",
    "print_json",
    "reaching_kfp",
    "kfp_token",
]

#: The environment variable holding the KFP API's bearer token.
TOKEN_ENV = "MLRAIL_KFP_TOKEN"
#: The KFP API's address without ``--host``: the variable ``kfp.Client`` reads
#: (mlrail.kfp.connection.ENDPOINT_ENV; spelled here so ``--help`` imports no kfp).
ENDPOINT_ENV = "KF_PIPELINES_ENDPOINT"
#: The exit status when the KFP API cannot be reached (2 is a usage or input error, 1 a problem
#: found): a script can wait and retry on this one alone.
EXIT_UNREACHABLE = 3
#: The exit statuses of the commands that talk to the KFP API (their --help epilog).
EXIT_STATUSES = (
    "exit status: 0 done; 2 a usage or input error, or a request the KFP API refused; "
    f"{EXIT_UNREACHABLE} the KFP API could not be reached (no connection, no answer in time)"
)


def kfp_token(a: argparse.Namespace) -> str | None:
    """The KFP token: --token or --token-file, else $MLRAIL_KFP_TOKEN (see the module doc)."""
    token = getattr(a, "token", None)  # doctor takes --token-file alone
    if token and a.token_file:
        raise MlrailError("give --token or --token-file, not both")
    if a.token_file:
        try:
            token = Path(a.token_file).read_text(encoding="utf-8").strip()
        except OSError as e:
            raise MlrailError(f"--token-file {a.token_file}: {e.strerror or e}") from e
        except UnicodeDecodeError as e:
            raise MlrailError(f"--token-file {a.token_file}: not a text file") from e
        if not token:
            raise MlrailError(f"--token-file {a.token_file}: the file is empty")
        return token
    return token or os.environ.get(TOKEN_ENV) or None


def kfp_host(a: argparse.Namespace) -> str:
    """``--host``, else ``$KF_PIPELINES_ENDPOINT`` (as ``kfp.Client``); a usage error if neither."""
    host = a.host or os.environ.get(ENDPOINT_ENV)
    if not host:
        raise MlrailError(
            f"--host: where is the KFP API? Give --host URL or set ${ENDPOINT_ENV} "
            "(e.g. http://localhost:8888 through a port-forward to ml-pipeline)"
        )
    return host


def reaching_kfp(command: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    """Run a command that talks to the KFP API: the host resolved (:func:`kfp_host`) into
    ``a.host``, and an API that cannot be reached reported on one line naming the host, with
    exit status :data:`EXIT_UNREACHABLE` (a refusal stays an error: status 2)."""

    @functools.wraps(command)
    def run(a: argparse.Namespace) -> int:
        from mlrail.kfp import KfpApiError

        a.host = kfp_host(a)
        try:
            return command(a)
        except KfpApiError as e:
            if not e.unreachable:
                raise
            print(f"mlrail {a.command}: error: {' '.join(str(e).split())}", file=sys.stderr)
            return EXIT_UNREACHABLE

    return run


def print_json(record: Any) -> None:
    """``--output json``: one JSON document on standard output (times as ISO 8601)."""

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        raise TypeError(f"{type(value).__name__} is not JSON")

    print(json.dumps(record, indent=2, sort_keys=True, default=plain))


def host_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--host",
        default=None,
        metavar="URL",
        help="KFP API endpoint, e.g. http://localhost:8888 (a port-forward to ml-pipeline); "
        f"without it, ${ENDPOINT_ENV}, as kfp.Client reads it",
    )


def output_arg(p: argparse.ArgumentParser, json_holds: str) -> None:
    p.add_argument(
        "--output",
        choices=["text", "json"],
        default="text",
        help=f"text: a line for people; json: {json_holds} (default: text)",
    )


def connection_args(p: argparse.ArgumentParser) -> None:
    """How to reach and authenticate to the KFP API."""
    p.add_argument(
        "--token-file",
        metavar="PATH",
        default=None,
        help="file holding the bearer token for the KFP API, e.g. a projected service account "
        f"token (default: ${TOKEN_ENV})",
    )
    p.add_argument(
        "--token",
        default=None,
        help="bearer token for the KFP API; other users can read it in the process list: "
        f"prefer --token-file or ${TOKEN_ENV}",
    )
    p.add_argument(
        "--timeout",
        type=seconds,
        default=60.0,
        metavar="SECONDS",
        help="seconds to wait for each answer of the KFP API (default: 60; connecting: at most 10)",
    )
