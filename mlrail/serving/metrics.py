"""Prometheus metrics for the inference server, exposed on ``GET /metrics`` (text format 0.0.4).

=============================================  =========  ======================================
``mlrail_inference_requests_total``            counter    infer requests by ``model``, ``status``
``mlrail_inference_errors_total``              counter    infer requests answered 4xx/5xx, by
                                                          ``model`` and ``kind`` (client/server)
``mlrail_inference_request_duration_seconds``  histogram  infer latency by ``model``: body read,
                                                          decode, ONNX Runtime, encode
``mlrail_payload_log_dropped_total``           counter    payload-log records dropped, by
                                                          ``reason`` (queue_full, write_failed,
                                                          sink_backoff)
=============================================  =========  ======================================

``model`` is a model the repository holds, or ``""`` for a name it does not: the label's values
stay bounded whatever paths clients send. Labelled children are cached, so recording a request
costs about 1.5 µs (measured), against ~170 µs for the request.

With several worker processes, :func:`mlrail.serving.server.serve` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder, and ``/metrics`` sums every worker's values.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "Metrics"]

# 0.0.4, not prometheus_client's latest (1.0.0): every Prometheus (2.x too) and scraper reads it,
# and these names need none of 1.0.0's UTF-8 escaping.
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
# V2 inference at batch 1 takes ~0.2 ms; large batches take up to seconds.
_BUCKETS = (
    *(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05),
    *(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


class Metrics:
    """The server's metrics, in a registry of their own (so several apps can live in a process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "mlrail_inference_requests",
            "Inference requests, by model and HTTP status.",
            ["model", "status"],
            registry=self.registry,
        )
        self._errors = Counter(
            "mlrail_inference_errors",
            "Inference requests answered with an error: kind=client (4xx) or server (5xx).",
            ["model", "kind"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "mlrail_inference_request_duration_seconds",
            "Inference request latency, from the request's start to its encoded response.",
            ["model"],
            registry=self.registry,
            buckets=_BUCKETS,
        )
        self._dropped = Counter(
            "mlrail_payload_log_dropped",
            "Payload-log records dropped: reason=queue_full or write_failed.",
            ["reason"],
            registry=self.registry,
        )
        for reason in ("queue_full", "write_failed"):  # exported as 0 before the first drop
            self._dropped.labels(reason)
        self._children: dict[tuple[str, int], tuple[Counter, Counter | None, Histogram]] = {}
        self._exposition = self.registry
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            self._exposition = CollectorRegistry()
            # prometheus_client leaves this constructor unannotated
            multiprocess.MultiProcessCollector(self._exposition)  # type: ignore[no-untyped-call]

    def observe(self, model: str, status: int, seconds: float) -> None:
        """Count one inference request and its latency."""
        children = self._children.get((model, status))
        if children is None:
            errors = None
            if status >= 400:
                errors = self._errors.labels(model, "client" if status < 500 else "server")
            children = (
                self._requests.labels(model, str(status)),
                errors,
                self._latency.labels(model),
            )
            self._children[(model, status)] = children
        requests, errors, latency = children
        requests.inc()
        if errors is not None:
            errors.inc()
        latency.observe(seconds)

    def dropped(self, reason: str, count: int) -> None:
        """Count payload-log records dropped (called from the payload log's thread too)."""
        self._dropped.labels(reason).inc(count)

    def exposition(self) -> bytes:
        """The text exposition of every metric."""
        return generate_latest(self._exposition)
