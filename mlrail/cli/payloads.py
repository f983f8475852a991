"""``mlrail payload-receiver``: KServe payload CloudEvents in, the payload log layout out.

The receiver the cluster's model servers post their sampled requests and responses to
(:mod:`mlrail.serving.payload_receiver`); ``--to`` is a folder or an object store URI.
"""

from __future__ import annotations

import argparse

from mlrail.cli.options import Subcommands, integer, seconds

__all__ = ["add_payload_receiver", "cmd_payload_receiver"]


def add_payload_receiver(sub: Subcommands) -> None:
    """``mlrail payload-receiver``: write KServe payload CloudEvents as the payload log."""
    p = sub.add_parser(
        "payload-receiver",
        help="receive KServe payload-logger CloudEvents and write them as the payload log",
        description="Pairs each inference's request and response CloudEvents (KServe's payload "
        "logger format: binary or structured mode) and writes one record per inference to "
        "<to>/<model>/<YYYY-MM-DD>/<HH>/part-*.jsonl.",
    )
    p.add_argument(
        "--to",
        required=True,
        metavar="ROOT",
        help="the log root: a folder, or an object store URI such as s3://bucket/payload-logs "
        "(endpoint from AWS_ENDPOINT_URL)",
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1 only)")
    p.add_argument("--port", type=integer(0), default=8080, help="0 picks a free port")
    limit = p.add_argument_group("limits (memory stays bounded by these)")
    limit.add_argument(
        "--max-body-bytes", type=integer(1), help="largest event body (413 above; 16 MiB)"
    )
    limit.add_argument(
        "--max-bytes-in-flight",
        type=integer(1),
        help="event bodies being read and taken at once (503 + Retry-After above; 32 MiB)",
    )
    limit.add_argument(
        "--max-pending",
        type=integer(1),
        help="events waiting for their other half (the oldest dropped above; 10000)",
    )
    limit.add_argument("--max-pending-bytes", type=integer(1), help="their bytes (64 MiB)")
    limit.add_argument(
        "--pending-ttl", type=seconds, help="seconds an event waits for its other half (60)"
    )
    store = p.add_argument_group("object store (URI roots): buffered, written as new part objects")
    store.add_argument("--flush-seconds", type=seconds, help="oldest buffered record's age (60)")
    store.add_argument("--flush-bytes", type=integer(1), help="buffered bytes (16 MiB)")
    store.add_argument(
        "--max-buffer-bytes", type=integer(1), help="records beyond it are dropped (128 MiB)"
    )
    p.set_defaults(func=cmd_payload_receiver)


def cmd_payload_receiver(a: argparse.Namespace) -> int:
    """``mlrail payload-receiver``: receives until stopped; exit status 0."""
    from mlrail.serving.payload_receiver import run

    options = {
        key: value
        for key, value in (
            ("max_body_bytes", a.max_body_bytes),
            ("max_bytes_in_flight", a.max_bytes_in_flight),
            ("max_pending", a.max_pending),
            ("max_pending_bytes", a.max_pending_bytes),
            ("ttl_seconds", a.pending_ttl),
            ("flush_seconds", a.flush_seconds),
            ("flush_bytes", a.flush_bytes),
            ("max_buffer_bytes", a.max_buffer_bytes),
        )
        if value is not None  # None keeps run()'s default
    }
    run(a.to, host=a.host, port=a.port, **options)
    return 0
