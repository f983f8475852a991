"""Who asked for a run, and which pipeline it runs: the values ``run``, ``submit`` and
``schedule`` pass as the ``requested_by`` and ``pipeline_version`` parameters.

They are labels, kept with the registered version and shown in the Kubeflow UI, not proof: the
KFP token's subject is read without verifying the token (the API server does that), and a git
identity is whatever the user configured.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import getpass
import json
import subprocess
from pathlib import Path
from typing import Any

from mlrail.errors import MlrailError

__all__ = ["add_provenance_args", "requested_by", "run_record", "token_subject"]

#: Longest a ``git config`` lookup may take (a hung network file system must not hold a run).
_GIT_TIMEOUT = 5.0


def add_provenance_args(p: argparse.ArgumentParser, *, token: bool) -> None:
    """``--requested-by`` and ``--reason`` (``token``: the command has a KFP token)."""
    first = "the KFP token's subject, else " if token else ""
    p.add_argument(
        "--requested-by",
        default="",
        metavar="WHO",
        help="who asked for this run; shown in the Kubeflow UI, kept with the registered "
        f"version (default: {first}git's user.email or user.name of the repository here, "
        "else $USER)",
    )
    p.add_argument(
        "--reason",
        default="",
        help="why this run was asked for; shown in the Kubeflow UI, kept with the registered "
        "version",
    )


def token_subject(token: str | None) -> str:
    """The ``email`` (else ``sub``) claim of a JWT bearer token, unverified; "" if not a JWT."""
    parts = (token or "").split(".")
    if len(parts) != 3:
        return ""
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (binascii.Error, ValueError):
        return ""
    if not isinstance(claims, dict):
        return ""
    for claim in ("email", "sub"):
        value = claims.get(claim)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _git_identity(folder: Path) -> str:
    """git's user.email (else user.name) as seen from ``folder`` (its repository's own, else
    the user's global setting)."""
    for key in ("user.email", "user.name"):
        try:
            done = subprocess.run(
                ["git", "-C", str(folder), "config", "--get", key],
                capture_output=True,
                text=True,
                timeout=_GIT_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return ""  # no git here
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    return ""


def _in_repository(folder: Path) -> bool:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "--is-inside-work-tree"],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and done.stdout.strip() == "true"


def requested_by(
    explicit: str = "", *, token: str | None = None, folder: Path | None = None
) -> str:
    """Who asked for a run: ``explicit``, else the KFP token's subject, else the git identity of
    the repository holding ``folder`` (default: the current folder), else the login name."""
    if explicit.strip():
        return explicit.strip()
    if subject := token_subject(token):
        return subject
    here = folder or Path.cwd()
    if _in_repository(here) and (who := _git_identity(here)):
        return who
    try:
        return getpass.getuser()  # $LOGNAME, $USER, ..., else the password database's name
    except (OSError, KeyError):
        return ""


def run_record(
    a: argparse.Namespace, package: str, token: str | None, arguments: dict[str, Any]
) -> dict[str, Any]:
    """``arguments`` with who asked for the run, why, and the pipeline's version filled in, for
    the ones the package's pipeline takes (mlrail's do); a ``--param`` given wins.

    The version is the SHA-256 of the package's bytes (KFP has no placeholder for it); the
    requester is ``--requested-by``, else the KFP token's subject, else the git identity here,
    else the login name. ``kfp_ui_url`` is the UI's address (``$KF_PIPELINES_UI_ENDPOINT``, else
    the host), so the registered version links to its run.
    """
    import yaml

    from mlrail.kfp.connection import ui_base
    from mlrail.local.ir import ir_version

    try:
        spec = next(yaml.safe_load_all(Path(package).read_text(encoding="utf-8")))
        takes = set(spec["root"].get("inputDefinitions", {}).get("parameters", {}))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, StopIteration, KeyError, TypeError) as e:
        raise MlrailError(f"{package}: not a compiled pipeline ({e})") from None
    for flag, name, value in (
        ("--requested-by", "requested_by", a.requested_by),
        ("--reason", "reason", a.reason),
    ):
        if not value:
            continue
        if name not in takes:
            raise MlrailError(f"{flag}: the pipeline {package} has no {name} parameter")
        if name in arguments:
            raise MlrailError(f"give {flag} or --param {name}=..., not both")
    filled = {
        "requested_by": lambda: requested_by(a.requested_by, token=token),
        "reason": lambda: a.reason,
        "pipeline_version": lambda: ir_version(package),
        "kfp_ui_url": lambda: _without_credentials(ui_base(a.host)),
    }
    out = dict(arguments)
    for name, value in filled.items():
        if name in takes and name not in out:
            out[name] = value()
    return out


def _without_credentials(url: str) -> str:
    """``url`` without a ``user:password@`` (a parameter is shown in the UI and kept)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
