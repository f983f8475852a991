"""The payload receiver: KServe payload-logger CloudEvents in, the payload log layout out.

On a cluster the models' payload logs reach the object store through this server (``mlrail
payload-receiver``, the ``mlrail-payload-logs`` Deployment and Service of
``manifests/base/payload-logs.yaml``). Two senders post to it: ``mlrail serve --log-payloads
<url>`` in the mlrail-onnx runtime (structured-mode CloudEvents, sampled) and KServe's own
payload logger for Triton (binary-mode CloudEvents, every request). It pairs each request event
with its response event by the CloudEvent ``id`` and writes one record per inference::

    <root>/<model>/<YYYY-MM-DD>/<HH>/part-<YYYYMMDDTHHMMSSffffffZ>-<host>-<pid>-<seq>.jsonl

    {"id": <the CloudEvent id: the request id>,
     "model": <inferenceservicename, else the response's model_name>,
     "version": <the response body's model_version, else the modelversion extension, else null>,
     "identity": <the mlrailidentity extension, else null (KServe's logger never sends it)>,
     "timestamp": <the request event's time (when the server took the request), else when the
                   receiver got it; its UTC hour picks the folder>,
     "latency_ms": <latencyus / 1000, else null (KServe's logger does not send it)>,
     "inputs": <the request's V2 inputs>, "outputs": <the response's V2 outputs>}

``<root>`` is a folder (written by ``mlrail serve``'s own writer,
:class:`~mlrail.serving.payload_log.partitioned.PartitionedWriter`) or an object store URI
(``s3://bucket/prefix``: buffered, flushed as new immutable part objects; :mod:`.store`).
Memory is bounded: the events waiting for their other half (:mod:`.pairs`: a count, a byte cap
and a time to live), the object store's buffer, and each request's body (413 above the limit).
What cannot be recorded is counted at ``/metrics``, never a crash: an unpaired event, an error
response, a store that fails.

Modules: :mod:`.events` (reading a CloudEvent), :mod:`.pairs` (pairing, the record),
:mod:`.store` (folder or object store), :mod:`.server` (HTTP), and :func:`run` here.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import threading
from collections.abc import Callable

from mlrail.serving.payload_receiver.events import BadEvent, Event, parse_event
from mlrail.serving.payload_receiver.pairs import (
    DEFAULT_MAX_PENDING,
    DEFAULT_MAX_PENDING_BYTES,
    DEFAULT_TTL_SECONDS,
    Pairs,
    record,
)
from mlrail.serving.payload_receiver.server import (
    DEFAULT_IDLE_SECONDS,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_BYTES_IN_FLIGHT,
    Receiver,
    ReceiverServer,
)
from mlrail.serving.payload_receiver.store import (
    DEFAULT_FLUSH_BYTES,
    DEFAULT_FLUSH_SECONDS,
    DEFAULT_MAX_BUFFER_BYTES,
    open_store,
)

__all__ = [
    "BadEvent",
    "Event",
    "Pairs",
    "Receiver",
    "ReceiverServer",
    "open_store",
    "parse_event",
    "record",
    "run",
]

logger = logging.getLogger("mlrail.serving")
_TICK_SECONDS = 1.0  # how often expired pairs are dropped and a due flush is written


def run(
    root: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_bytes_in_flight: int = DEFAULT_MAX_BYTES_IN_FLIGHT,
    idle_seconds: float = DEFAULT_IDLE_SECONDS,
    max_pending: int = DEFAULT_MAX_PENDING,
    max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
    ttl_seconds: float = DEFAULT_TTL_SECONDS,
    flush_seconds: float = DEFAULT_FLUSH_SECONDS,
    flush_bytes: int = DEFAULT_FLUSH_BYTES,
    max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Receive payload CloudEvents on ``host:port`` until SIGTERM or SIGINT, writing to ``root``.

    On the signal the server stops taking connections and the object store's buffer is written
    before returning (a pod being replaced loses no buffered record).

    Raises:
        OSError: The address cannot be bound.
        DataError: No filesystem opens ``root``.
        ValueError: A setting is out of range.
    """
    store = open_store(
        root,
        flush_seconds=flush_seconds,
        flush_bytes=flush_bytes,
        max_buffer_bytes=max_buffer_bytes,
    )
    pairs = Pairs(max_pending, max_pending_bytes, ttl_seconds)
    receiver = Receiver(pairs, store)
    if ":" in host:
        ReceiverServer.address_family = socket.AF_INET6
    server = ReceiverServer(
        (host, port),
        receiver,
        max_body_bytes=max_body_bytes,
        idle_seconds=idle_seconds,
        max_bytes_in_flight=max_bytes_in_flight,
    )
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(_TICK_SECONDS):
            pairs.expire()
            store.flush()

    def on_signal(signum: int, frame: object) -> None:
        # shutdown() waits for serve_forever to return: from another thread
        threading.Thread(target=server.shutdown, daemon=True).start()

    say = announce or _print
    previous = {}
    if threading.current_thread() is threading.main_thread():  # only there can signals be set
        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    ticker = threading.Thread(target=tick, name="mlrail-payload-receiver-flush", daemon=True)
    ticker.start()
    bound, bound_port = str(server.server_address[0]), int(server.server_address[1])
    if not ipaddress.ip_address(bound).is_loopback:
        logger.warning(
            "listening on %s:%d, beyond this machine: the receiver has no authentication; "
            "restrict who reaches it (the manifests' NetworkPolicy admits only model servers)",
            host,
            bound_port,
        )
    shown = f"[{bound}]" if ":" in bound else bound
    say(f"receiving payload CloudEvents on http://{shown}:{bound_port}/, writing to {root}")
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        stop.set()
        ticker.join()
        server.server_close()
        store.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
        dropped = ", ".join(f"{k} {v}" for k, v in {**pairs.dropped, **store.dropped}.items())
        say(f"stopped: {receiver.records} record(s), {store.written} written; dropped: {dropped}")


def _print(line: str) -> None:
    print(line, flush=True)
