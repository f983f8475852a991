"""Payload logging of a deployed model: what the InferenceService says so that sampled requests
and responses reach the in-cluster payload receiver (``mlrail payload-receiver``, the
``mlrail-payload-logs`` Service of ``manifests/base/payload-logs.yaml``), which writes them to
the object store in the payload log layout (hour folders, immutable part files).

Two routes, one per runtime, both ending as KServe-format CloudEvents at the same receiver:

- ``mlrail-onnx``: the server's own CloudEvents sink, switched on by container arguments:
  ``spec.predictor.model.args: [--log-payloads, <url>, --log-sample-rate, <rate>]``. KServe
  appends an InferenceService's ``args`` to its ServingRuntime's (``MergeRuntimeContainers`` in
  kserve's inferenceservice utils: "Strategic merge patch will replace args but more useful
  behaviour here is to concatenate"), so the runtime's ``serve ... --model-repository
  /mnt/models`` stays and gains the two flags. The server samples (a random draw per answered
  request), logs only answered requests, drops rather than delays when the receiver is slow or
  down, and sends the version (``modelversion``) and latency (``latencyus``) with each pair.
- ``kserve-tritonserver``: Triton has no such sink, so KServe's own payload logger (the agent
  sidecar KServe injects): ``spec.predictor.logger: {mode: all, url: <url>}``. KServe's logger
  **cannot sample**: every request and response is sent, whatever ``log_sample_rate`` (above 0)
  says; its events carry neither the model's version beyond the response body nor a latency.

Why the runtime's sink for mlrail-onnx rather than KServe's logger for both: it samples (10%
logging costs a tenth of the traffic), it runs in the server's writer thread off the request path
with a bounded queue, and it needs no sidecar (in RawDeployment mode KServe's logger also
needs the agent container injected into every predictor pod).
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit

__all__ = ["RECEIVER_PORT", "RECEIVER_SERVICE", "payload_logging", "receiver_url"]

#: The receiver's Service in the namespace of the InferenceService (manifests/base).
RECEIVER_SERVICE = "mlrail-payload-logs"
#: Its Service port.
RECEIVER_PORT = 80


def receiver_url(namespace: str) -> str:
    """The in-cluster URL of the payload receiver Service in ``namespace``."""
    return f"http://{RECEIVER_SERVICE}.{namespace}.svc.cluster.local/"


def _check(sample_rate: float, url: str) -> None:
    if not (math.isfinite(sample_rate) and 0.0 <= sample_rate <= 1.0):
        raise ValueError(
            f"log_sample_rate {sample_rate}: expected a fraction from 0 (off) to 1 (every request)"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"payload_log_url {url!r}: expected an http:// or https:// URL with a host (the "
            f"payload receiver, e.g. {receiver_url('mlrail')})"
        )


def payload_logging(runtime: str, sample_rate: float, url: str) -> dict[str, Any]:
    """The predictor fields that send sampled payloads to ``url`` (none when ``sample_rate`` is 0).

    Args:
        runtime: ``mlrail-onnx`` or ``kserve-tritonserver``.
        sample_rate: The fraction of answered requests logged, 0 (off) to 1; Triton's route
            (KServe's logger) logs every request whenever it is above 0.
        url: The receiver's URL.

    Returns:
        ``{"model": {"args": [...]}}`` (mlrail-onnx) or ``{"logger": {...}}`` (Triton), to merge
        into ``spec.predictor``; ``{}`` when logging is off.

    Raises:
        ValueError: a rate outside 0-1 or a URL that is not http(s) with a host.
    """
    _check(sample_rate, url)
    if sample_rate == 0.0:
        return {}
    if runtime == "mlrail-onnx":
        # repr of a float is its shortest exact spelling, which argparse's float() reads back
        return {"model": {"args": ["--log-payloads", url, "--log-sample-rate", repr(sample_rate)]}}
    return {"logger": {"mode": "all", "url": url}}
