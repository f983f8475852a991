"""Reaching the KFP API: the client, timeouts on every request, and its failures as one error.

Every request has a connect and a read timeout (``timeout``, default :data:`DEFAULT_TIMEOUT`
seconds to read, at most :data:`CONNECT_TIMEOUT` to connect): ``kfp.Client`` sets none, so a
host that accepts the connection and never answers (a stuck port-forward, a proxy with no
backend) would block for ever, starting with the health check its constructor makes. A read
that times out is not retried. Errors never hold credentials: a ``user:password@`` in the host
is masked (:func:`mlrail.redact.redact`), and the token is never part of a message.

``kfp.Client`` prints "Experiment details: <link>" and similar lines; they are sent to stderr
so that standard output carries only what the caller prints (the CLI prints the id).

The host: as ``kfp.Client`` takes it, the one given, else ``$KF_PIPELINES_ENDPOINT``
(:func:`endpoint`); the UI's address likewise (``$KF_PIPELINES_UI_ENDPOINT``, :func:`ui_base`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mlrail.errors import MlrailError
from mlrail.redact import redact

if TYPE_CHECKING:  # kfp costs ~0.6 s to import; the CLI imports this package lazily anyway.
    import kfp

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "ENDPOINT_ENV",
    "KfpApiError",
    "api_errors",
    "as_kfp_api_error",
    "connect",
    "endpoint",
    "equals_filter",
    "kfp_calls",
    "ui_base",
    "ui_url",
]

#: Seconds to wait for each answer of the KFP API (an upload of a large package included).
DEFAULT_TIMEOUT = 60.0
#: Most seconds to wait for a connection (less when ``timeout`` is less).
CONNECT_TIMEOUT = 10.0

#: The KFP API's address when no host is given: the variable ``kfp.Client`` reads for it (its
#: ``host`` argument, when given and not empty, wins).
ENDPOINT_ENV = "KF_PIPELINES_ENDPOINT"
# The UI address, when it is not the API host (same variable kfp.Client reads).
_UI_ENDPOINT_ENV = "KF_PIPELINES_UI_ENDPOINT"
# urllib3's "HTTPConnection(host='h', port=9): " before the reason a connection failed
_CONNECTION_PREFIX = re.compile(r"^\w*Connection\(host=.*?, port=\d+\): ")


def endpoint(host: str | None) -> str | None:
    """The KFP API's address as ``kfp.Client`` finds it: ``host`` unless empty, else
    ``$KF_PIPELINES_ENDPOINT`` unless empty; None when neither is given."""
    return host or os.environ.get(ENDPOINT_ENV) or None


class KfpApiError(MlrailError):
    """The KFP API server could not be reached or refused a request.

    Attributes:
        status: The HTTP status of the refusal; None when the server was not reached (no
            connection, no answer in time, or a health check it never passed).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(redact(message))
        self.status = status

    @property
    def unreachable(self) -> bool:
        """Whether the API could not be reached at all (rather than refusing a request)."""
        return self.status is None


@contextlib.contextmanager
def kfp_calls(host: str, timeout: float = DEFAULT_TIMEOUT) -> Iterator[None]:
    """Timeouts on every request; the client's failures as KfpApiError; its link printouts on
    stderr."""
    _check_timeout(timeout)
    try:
        with contextlib.redirect_stdout(sys.stderr), _timeouts(timeout):
            yield
    except api_errors() as e:
        raise as_kfp_api_error(host, e, timeout) from e


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


def api_errors() -> tuple[type[Exception], ...]:
    """What the client raises when the API refuses or cannot be reached."""
    import kfp_server_api
    import urllib3

    # TimeoutError: kfp.Client gives up on /healthz after 5 failed attempts.
    return (kfp_server_api.ApiException, urllib3.exceptions.HTTPError, TimeoutError)


def as_kfp_api_error(host: str, error: Exception, timeout: float = DEFAULT_TIMEOUT) -> KfpApiError:
    """One of :func:`api_errors` as a KfpApiError that says what happened, in one line."""
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
    return KfpApiError(
        f"cannot reach the KFP API at {host}: {_CONNECTION_PREFIX.sub('', str(reason))}"
    )


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


def connect(host: str, existing_token: str | None) -> kfp.Client:
    """A ``kfp.Client`` for the host; call it inside :func:`kfp_calls` (it checks health)."""
    import kfp

    with warnings.catch_warnings():
        # Printed on every construction, about KFP releases older than 2.0 that nobody runs now.
        warnings.filterwarnings(
            "ignore",
            message="This client only works with Kubeflow Pipeline",
            category=FutureWarning,
        )
        return kfp.Client(host=host, existing_token=existing_token)


def ui_url(host: str, route: str) -> str:
    """A page of the Kubeflow Pipelines UI: on ``$KF_PIPELINES_UI_ENDPOINT`` if set, else the
    host."""
    return f"{ui_base(host)}/#/{route}"


def ui_base(host: str) -> str:
    """The Kubeflow Pipelines UI's address: ``$KF_PIPELINES_UI_ENDPOINT`` if set, else the host."""
    base = os.environ.get(_UI_ENDPOINT_ENV) or host
    if not base.startswith(("http://", "https://")):
        base = "http://" + base
    return base.rstrip("/")


def equals_filter(key: str, value: str) -> str:
    """The API's ``filter`` parameter for ``key == value``."""
    return json.dumps({"predicates": [{"operation": "EQUALS", "key": key, "string_value": value}]})
