"""``mlrail serve``: a model repository over the Open Inference Protocol v2, REST and gRPC.

gRPC is on by default (port 8081, as KServe's model server); ``--grpc-port off`` serves REST
only, and then gRPC is never imported. ``--grpc-port 0``, like ``--port 0``, picks a free port:
0 keeps the meaning it has for ``--port`` (tests and side-by-side servers need it), so "off" is
a word of its own. The server's limits are flags here; their defaults and reasons are in
:mod:`mlrail.serving.limits`, which is not imported to build the parser (``--help`` stays fast).
"""

from __future__ import annotations

import argparse

from mlrail.cli.options import DEFAULT_WORKDIR, Subcommands, integer, seconds

__all__ = ["DEFAULT_GRPC_PORT", "add_serve", "cmd_serve"]

#: KServe's ModelServer listens for gRPC on 8081 beside REST on 8080; so does mlrail serve.
DEFAULT_GRPC_PORT = 8081


def add_serve(sub: Subcommands) -> None:
    """``mlrail serve``: a model repository over the Open Inference Protocol v2."""
    p = sub.add_parser("serve", help="serve a model repository over the Open Inference Protocol v2")
    p.add_argument(
        "--model-repository",
        default=f"{DEFAULT_WORKDIR}/models",
        help="folder of models in the Triton layout, <name>/<version>/model.onnx, as deploy's "
        "local target writes it; new versions are picked up without a restart "
        f"(default: {DEFAULT_WORKDIR}/models)",
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1 only)")
    p.add_argument(
        "--port",
        type=int,
        default=8080,
        help="REST (HTTP/1.1) port; 0 picks a free port, printed in the banner (default: 8080)",
    )
    p.add_argument(
        "--grpc-port",
        type=_grpc_port,
        default=DEFAULT_GRPC_PORT,
        metavar="PORT|off",
        help="V2 gRPC port (inference.GRPCInferenceService, as tritonclient.grpc and KServe's "
        "gRPC client call it); 0 picks a free port, printed in the banner; off serves REST "
        f"only (default: {DEFAULT_GRPC_PORT}, KServe's gRPC port)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes, each with its own copy of the models; REST and gRPC "
        "connections are spread over them (default: 1)",
    )
    p.add_argument("--model-version", type=int, default=None, help="pin this version")
    p.add_argument(
        "--log-payloads",
        metavar="DIR_OR_URL",
        default=None,
        help="log every model's sampled inference inputs and outputs: JSON Lines under the "
        "folder DIR (DIR/<model>/<YYYY-MM-DD>/<HH>/part-*.jsonl, created if missing), or "
        "CloudEvents (KServe's logger format) POSTed to an http(s):// URL (default: each model "
        "with a logging.json, written by deploy's local target, at its rate under "
        "<model-repository>/_logs)",
    )
    p.add_argument(
        "--log-sample-rate",
        type=float,
        default=1.0,
        metavar="0..1",
        help="fraction of answered inferences logged with --log-payloads (default: 1.0; a "
        "model's logging.json sets its own)",
    )
    p.add_argument(
        "--verify-key",
        metavar="PUBLIC_KEY",
        default=None,
        help="PEM public key: serve only model versions signed with its private key, checked "
        "at load and at every reload; an unsigned or changed version is refused and the model "
        "keeps the version it had (default: no verification)",
    )
    # limits against careless and hostile clients (defaults and reasons: mlrail.serving.limits);
    # None keeps serve()'s default, which is not imported here to keep --help fast
    limit = p.add_argument_group("limits per server process")
    limit.add_argument(
        "--max-body-bytes", type=integer(1), help="largest request body (413 above; 16 MiB)"
    )
    limit.add_argument(
        "--max-header-bytes",
        type=integer(1024),
        help="request line and headers together (431 above; 64 KiB)",
    )
    limit.add_argument(
        "--header-timeout", type=seconds, help="seconds to receive the headers (408; 10)"
    )
    limit.add_argument("--body-timeout", type=seconds, help="seconds to receive a body (408; 30)")
    limit.add_argument(
        "--max-connections",
        type=integer(1),
        help="open connections (1024, always kept below the open-file limit)",
    )
    limit.add_argument(
        "--max-bytes-in-flight",
        type=integer(1),
        help="request bodies being read or answered at once (503 + Retry-After above; "
        "16 MiB, or --max-body-bytes if larger)",
    )
    p.set_defaults(func=cmd_serve)


def cmd_serve(a: argparse.Namespace) -> int:
    """``mlrail serve``: serves until stopped; exit status 0."""
    from mlrail.serving.server import serve

    # serve() prints the banner itself once the socket is bound (with the port really bound),
    # so nothing is announced before a start-up error
    limits = {
        key: value
        for key in (
            "max_body_bytes",
            "max_header_bytes",
            "header_timeout",
            "body_timeout",
            "max_connections",
            "max_bytes_in_flight",
        )
        if (value := getattr(a, key)) is not None
    }
    serve(
        a.model_repository,
        host=a.host,
        port=a.port,
        workers=a.workers,
        model_version=a.model_version,
        log_payloads=a.log_payloads,
        log_sample_rate=a.log_sample_rate,
        verify_key=a.verify_key,
        grpc_port=a.grpc_port,
        **limits,
    )
    return 0


def _grpc_port(text: str) -> int | None:
    """A port number for gRPC (checked by serve(), as --port is), or ``off`` (None: REST only)."""
    if text.strip().lower() == "off":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number or 'off': {text!r}") from None
