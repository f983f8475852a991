"""The Kubeflow Pipelines API's version, from its ``/apis/v2beta1/healthz``.

The API server answers that path with a hand-written body (kubeflow/pipelines
backend/src/apiserver/main.go): ``{"commit_sha": …, "tag_name": …, "multi_user": …}``. The
generated ``kfp_server_api`` model (``V2beta1GetHealthzResponse``) keeps only ``multi_user``
(and ``pipeline_store``), and ``kfp.Client``'s own health check retries five times five seconds
apart; so this is one plain GET with a timeout, read as JSON.

The range a server must be in is the installed mlrail's ``kfp`` requirement: the pipelines
are compiled by that SDK, and a backend older than it may not run what it compiles (the RBAC
and IR were read against the same release, see manifests/base/rbac.yaml).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from mlrail.doctor.report import Check, Status
from mlrail.redact import redact

__all__ = ["HEALTHZ", "check_kfp_api"]

HEALTHZ = "/apis/v2beta1/healthz"
_NAME = "KFP API"
_REACH = (
    "check --host: the KFP API's address, such as http://localhost:8888 after "
    "`kubectl port-forward -n kubeflow svc/ml-pipeline 8888:8888`"
)


def _row(status: Status, found: str, needed: str, fix: str = "") -> Check:
    return Check("kfp", _NAME, status, redact(found), needed, "", fix)


def _get(url: str, token: str | None, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (http(s) only)
        data: bytes = answer.read()
        return data


def check_kfp_api(host: str, needed: SpecifierSet, *, token: str | None, timeout: float) -> Check:
    """The KFP API at ``host``: reachable, and its version within ``needed``.

    Args:
        host: The API's address (``http(s)://host:port``; a bare ``host:port`` means http).
        needed: The versions mlrail supports (the ``kfp`` requirement's specifier).
        token: A bearer token, for an API behind authentication.
        timeout: Seconds to wait for the connection and the answer.

    Returns:
        One row; an unreachable or refusing server is a ``fail`` row naming the error.
    """
    from mlrail.doctor.environment import shown_range

    wanted = shown_range(needed)
    base = host.rstrip("/")
    if "://" not in base:
        base = "http://" + base
    if not base.startswith(("http://", "https://")):
        return _row("fail", f"{host}: not an http(s) address", wanted, _REACH)
    try:
        body = _get(base + HEALTHZ, token, timeout)
    except urllib.error.HTTPError as e:
        found = f"{base}{HEALTHZ}: HTTP {e.code} {e.reason}"
        if e.code in (401, 403):
            return _row(
                "fail", found, wanted, "give a token: --token-file PATH or $MLRAIL_KFP_TOKEN"
            )
        return _row("fail", found, wanted, "--host must be the KFP API (svc/ml-pipeline, :8888)")
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = e.reason if isinstance(e, urllib.error.URLError) else e
        if isinstance(reason, TimeoutError):
            reason = f"no answer within {timeout:g} s"
        return _row("fail", f"{base}: unreachable ({reason})", wanted, _REACH)
    try:
        answer = json.loads(body)
        assert isinstance(answer, dict)
    except (ValueError, AssertionError):
        return _row("fail", f"{base}{HEALTHZ}: not JSON", wanted, _REACH)
    tag = str(answer.get("tag_name") or "").strip()
    mode = "multi-user" if answer.get("multi_user") else "single-user"
    if not tag or tag == "unknown":
        return _row("warn", f"reachable, {mode}; version not reported", wanted, "ask the KFP admin")
    try:
        version = Version(tag)
    except InvalidVersion:
        return _row("warn", f"{tag} ({mode}; not a version)", wanted, "ask the KFP admin")
    if needed.contains(version, prereleases=True):
        return _row("ok", f"{tag} ({mode})", wanted)
    return _row(
        "fail",
        f"{tag} ({mode})",
        wanted,
        f"upgrade Kubeflow Pipelines to {wanted}, or use an mlrail release built for {tag}",
    )
