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

- a folder, the log root: JSON Lines in the one partitioned layout
  (:mod:`mlrail.serving.payload_log.partitioned`, shared with the cluster's payload receiver)::

      <root>/<model>/<YYYY-MM-DD>/<HH>/part-<YYYYMMDDTHHMMSSffffffZ>-<host>-<pid>-<seq>.jsonl

  one record per inference::

      {"id": "<request id>", "model": "penguins", "version": "2",
       "identity": "onnx-graph-v1:<hex>" (the version's mlrail.identity metadata, or null),
       "timestamp": "2026-01-30T10:45:00.000123Z", "latency_ms": 0.182,
       "inputs": [<the request's V2 inputs, as sent>], "outputs": [<the response's V2 outputs>]}

  Hour folders in UTC by each record's timestamp; each process (each server worker) writes its
  own files, closed before they would pass ``max_file_bytes`` (64 MiB) or when the hour changes;
  files ``0600``, no symbolic link followed below the root, hour folders older than
  ``retention_hours`` (168: seven days) removed. Without ``--log-payloads``, a local repository's
  models are logged per model (:mod:`mlrail.serving.payload_log.settings`: ``logging.json``,
  under ``<repository>/_logs``).

- an ``http(s)://`` URL: CloudEvents 1.0 in structured mode (``application/cloudevents+json``),
  two per request, as KServe's payload logger sends them, so KServe's tooling (message-dumper,
  Knative brokers, its drift/outlier detectors) reads them unchanged: ``type``
  ``org.kubeflow.serving.inference.request`` with the V2 request body as ``data``, then
  ``org.kubeflow.serving.inference.response`` with the V2 response body; both share the request id
  as ``id`` and carry KServe's extensions (``inferenceservicename`` = the model, ``namespace``
  from ``POD_NAMESPACE``, ``component`` = ``predictor``, ``endpoint``), plus ``modelversion``,
  mlrail's ``mlrailidentity`` (the version's identity, when it has one) and, on the response,
  ``latencyus``.

After a failed write the logger backs off (1 s, doubling to 60 s): records offered meanwhile are
dropped at once (``sink_backoff``), instead of a reconnect per record to a collector that is down
(which cost 16% of the server's throughput).

Latency is measured from the request's start to its response body being encoded.

A full disk or an unwritable log folder is a failed write like any other: counted, backed off,
never felt by a request (nor by readiness).

Modules: ``writer`` (the queue, the writer thread, back-off), ``file_sink`` and
``cloudevents_sink`` (the two sinks), ``partitioned`` (the layout's writer, reusable),
``settings`` (per-model ``logging.json``), ``documents`` (logged bodies as V2 JSON);
:func:`open_payload_log`, here, picks the sink.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from mlrail.serving.payload_log.cloudevents_sink import (
    CE_IDENTITY_EXTENSION,
    CE_REQUEST_TYPE,
    CE_RESPONSE_TYPE,
    CloudEventsSink,
)
from mlrail.serving.payload_log.file_sink import FileSink
from mlrail.serving.payload_log.partitioned import (
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_RETENTION_HOURS,
    PartitionedWriter,
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
    "CE_IDENTITY_EXTENSION",
    "CE_REQUEST_TYPE",
    "CE_RESPONSE_TYPE",
    "DEFAULT_MAX_FILE_BYTES",
    "DEFAULT_QUEUE_BYTES",
    "DEFAULT_QUEUE_SIZE",
    "DEFAULT_RETENTION_HOURS",
    "FileSink",
    "PartitionedWriter",
    "PayloadLogger",
    "backoff_delay",
    "check_log_root",
    "open_payload_log",
]


def open_payload_log(
    destination: str,
    sample_rate: float,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    on_drop: Callable[[str, int], None] | None = None,
    *,
    queue_bytes: int = DEFAULT_QUEUE_BYTES,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    retention_hours: float | None = DEFAULT_RETENTION_HOURS,
    create: bool = True,
) -> PayloadLogger:
    """A :class:`PayloadLogger` writing under a log root or POSTing CloudEvents to a URL.

    Args:
        destination: The log root folder, or an ``http://``/``https://`` URL.
        sample_rate: The fraction of answered inferences logged, in ``(0, 1]``.
        queue_size: Records waiting to be written at most; beyond it records are dropped.
        on_drop: Called with ``(reason, count)`` for dropped records.
        queue_bytes: Body bytes queued or being written at most.
        max_file_bytes: A log file is closed before it would pass this size.
        retention_hours: Hour folders older than this are removed (None: kept).
        create: Create the root now (``0700``, its parent must exist) and refuse one that is
            not a writable folder; False leaves that to the first write, whose failure is
            counted like any other (a repository's ``_logs``: logging never stops serving).

    Returns:
        The running logger; call ``close()`` to flush it.

    Raises:
        ValueError: A setting is out of range, the URL has no host, or (``create``) the root
            cannot be created or written to.
    """
    sink: Sink
    if destination.startswith(("http://", "https://")):
        sink = CloudEventsSink(destination)
    else:
        root = Path(destination)
        if create:
            check_log_root(root)
        sink = FileSink(root, max_file_bytes=max_file_bytes, retention_hours=retention_hours)
    try:
        return PayloadLogger(sink, sample_rate, queue_size, on_drop, queue_bytes=queue_bytes)
    except ValueError:
        sink.close()
        raise


def check_log_root(root: Path) -> None:
    """Create the log root if missing (``0700``); refuse one that is not a writable folder.

    Raises:
        ValueError: naming the folder and what is wrong with it.
    """
    if root.exists() and not root.is_dir():
        raise ValueError(f"payload log folder {root} is not a folder (give a folder: the log root)")
    try:
        root.mkdir(mode=0o700, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot use payload log folder {root}: {e.strerror or e}") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise ValueError(f"cannot use payload log folder {root}: not writable")
