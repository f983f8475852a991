"""Payload logging: a sample of inference requests and responses, written off the request path.

So serving-time inputs can be compared with the training data later (drift, skew), each sampled
inference that was answered (200) is handed to a queue bounded in bytes; one background thread
writes it out. The request path only draws a random number and, when sampled, appends the bodies
it already holds (the bytes as received and sent, never parsed objects: a parsed request costs
about 15x its size, and 40 requests of 3.8 MB held that way took a server from 104 to 1,565 MB).
A full queue, a failing sink or a sink in back-off drops records (counted); nothing here delays or
fails a request.

The writer thread turns the bodies into V2 JSON (:func:`mlrail.artifacts.v2.json_body` decodes
the binary tensor data extension), in one of two sinks, chosen by :func:`open_payload_log` from
``--log-payloads``:

- a file path: JSON Lines, one record per request, appended (``O_APPEND``, one ``write`` per
  batch, so several worker processes can share the file)::

      {"id": "<request id>", "model": "penguins", "version": "2",
       "timestamp": "2026-01-30T10:45:00.000123Z", "latency_ms": 0.182,
       "inputs": [<the request's V2 inputs, as sent>], "outputs": [<the response's V2 outputs>]}

  The file is created ``0600`` (payloads are user data), a symbolic link at its path is refused
  (``O_NOFOLLOW``), and it is rotated: once it would pass ``rotate_bytes`` (64 MiB) or has been
  written to for ``rotate_seconds`` (1 h), ``payloads.jsonl`` is renamed
  ``payloads-<UTC time>.jsonl`` and a new one is started; the ``keep_files`` (8) newest rotated
  files are kept. Workers sharing the
  file rotate under an advisory lock on it, and each reopens the path when it finds it renamed.

- an ``http(s)://`` URL: CloudEvents 1.0 in structured mode (``application/cloudevents+json``),
  two per request, as KServe's payload logger sends them, so KServe's tooling (message-dumper,
  Knative brokers, its drift/outlier detectors) reads them unchanged: ``type``
  ``org.kubeflow.serving.inference.request`` with the V2 request body as ``data``, then
  ``org.kubeflow.serving.inference.response`` with the V2 response body; both share the request id
  as ``id`` and carry KServe's extensions (``inferenceservicename`` = the model, ``namespace``
  from ``POD_NAMESPACE``, ``component`` = ``predictor``, ``endpoint``), plus ``modelversion`` and,
  on the response, ``latencyus``.

After a failed write the logger backs off (1 s, doubling to 60 s): records offered meanwhile are
dropped at once (``sink_backoff``), instead of a reconnect per record to a collector that is down
(which cost 16% of the server's throughput).

Latency is measured from the request's start to its response body being encoded.

Modules: ``writer`` (the queue, the writer thread, back-off), ``file_sink`` and
``cloudevents_sink`` (the two sinks), ``documents`` (logged bodies as V2 JSON);
:func:`open_payload_log`, here, picks the sink.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlrail.serving.payload_log.cloudevents_sink import (
    CE_REQUEST_TYPE,
    CE_RESPONSE_TYPE,
    CloudEventsSink,
)
from mlrail.serving.payload_log.file_sink import (
    DEFAULT_KEEP_FILES,
    DEFAULT_ROTATE_BYTES,
    DEFAULT_ROTATE_SECONDS,
    FileSink,
)
from mlrail.serving.payload_log.writer import (
    BACKOFF_MAX_SECONDS,
    DEFAULT_QUEUE_BYTES,
    DEFAULT_QUEUE_SIZE,
    PayloadLogger,
    Sink,
    backoff_delay,
)

__all__ = [
    "BACKOFF_MAX_SECONDS",
    "CE_REQUEST_TYPE",
    "CE_RESPONSE_TYPE",
    "DEFAULT_KEEP_FILES",
    "DEFAULT_QUEUE_BYTES",
    "DEFAULT_QUEUE_SIZE",
    "DEFAULT_ROTATE_BYTES",
    "DEFAULT_ROTATE_SECONDS",
    "PayloadLogger",
    "backoff_delay",
    "open_payload_log",
]


def open_payload_log(
    destination: str,
    sample_rate: float,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    on_drop: Callable[[str, int], None] | None = None,
    *,
    queue_bytes: int = DEFAULT_QUEUE_BYTES,
    rotate_bytes: int = DEFAULT_ROTATE_BYTES,
    rotate_seconds: float = DEFAULT_ROTATE_SECONDS,
    keep_files: int = DEFAULT_KEEP_FILES,
) -> PayloadLogger:
    """A :class:`PayloadLogger` writing to a JSON Lines file or POSTing CloudEvents to a URL.

    Args:
        destination: A file path (its folder must exist), or an ``http://``/``https://`` URL.
        sample_rate: The fraction of answered inferences logged, in ``(0, 1]``.
        queue_size: Records waiting to be written at most; beyond it records are dropped.
        on_drop: Called with ``(reason, count)`` for dropped records.
        queue_bytes: Body bytes queued or being written at most.
        rotate_bytes: A log file is rotated before it would pass this size.
        rotate_seconds: A log file is rotated once it is this old.
        keep_files: Rotated files kept (the oldest beyond it are removed).

    Returns:
        The running logger; call ``close()`` to flush it.

    Raises:
        ValueError: A setting is out of range, the URL has no host, or the file cannot be
            opened for appending (a symbolic link or not a regular file included).
    """
    sink: Sink
    if destination.startswith(("http://", "https://")):
        sink = CloudEventsSink(destination)
    else:
        sink = FileSink(
            Path(destination),
            rotate_bytes=rotate_bytes,
            rotate_seconds=rotate_seconds,
            keep_files=keep_files,
        )
    try:
        return PayloadLogger(sink, sample_rate, queue_size, on_drop, queue_bytes=queue_bytes)
    except ValueError:
        sink.close()
        raise
