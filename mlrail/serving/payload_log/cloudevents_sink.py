"""The payload log's CloudEvents sink: two structured-mode CloudEvents 1.0 per inference, as
KServe's payload logger sends them, POSTed over a kept-alive connection."""

from __future__ import annotations

import http.client
import os
from typing import Any
from urllib.parse import urlsplit

import orjson

from mlrail.serving.payload_log.documents import document, utc_time
from mlrail.serving.payload_log.writer import Entry

__all__ = ["CE_IDENTITY_EXTENSION", "CE_REQUEST_TYPE", "CE_RESPONSE_TYPE", "CloudEventsSink"]

CE_REQUEST_TYPE = "org.kubeflow.serving.inference.request"  # KServe's payload logger's types
CE_RESPONSE_TYPE = "org.kubeflow.serving.inference.response"
#: mlrail's extension attribute: the answering version's identity (absent when unknown, as a
#: CloudEvents attribute cannot be null); KServe's tooling ignores extensions it does not know.
CE_IDENTITY_EXTENSION = "mlrailidentity"
_HTTP_TIMEOUT_SECONDS = 5.0


def _event_data(body: bytes, header_length: int | None) -> Any:
    """A request body as a CloudEvent's ``data``: the bytes themselves when they are JSON.

    The server parsed the body, so an all-JSON body is valid JSON unless it used the NaN or
    Infinity literals it also takes; without them the bytes go into the event as they are,
    neither parsed nor copied into objects (which cost the writer thread memory and GIL time).
    """
    if header_length is None and b"NaN" not in body and b"Infinity" not in body:
        return orjson.Fragment(body)
    return document(body, header_length)


class CloudEventsSink:
    """CloudEvents in structured mode, POSTed one by one over a kept-alive connection."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if not parts.hostname:
            raise ValueError(f"payload log URL {url!r} has no host")
        self.url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._namespace = os.environ.get("POD_NAMESPACE", "")
        self._connection: http.client.HTTPConnection | None = None

    def write(self, entries: list[Entry]) -> None:
        for e in entries:
            common = {
                "specversion": "1.0",
                "id": e.request_id,
                "source": f"/v2/models/{e.model}/versions/{e.version}",
                "time": utc_time(e.timestamp),
                "datacontenttype": "application/json",
                "inferenceservicename": e.model,
                "namespace": self._namespace,
                "component": "predictor",
                "endpoint": "",
                "modelversion": e.version,
            }
            if e.identity:
                common[CE_IDENTITY_EXTENSION] = e.identity
            request = _event_data(e.request, e.request_header_length)
            self._post(orjson.dumps({**common, "type": CE_REQUEST_TYPE, "data": request}))
            del request
            response = {
                **common,
                "type": CE_RESPONSE_TYPE,
                "time": utc_time(e.timestamp + e.latency),
                "latencyus": round(e.latency * 1e6),
                "data": (
                    orjson.Fragment(e.response)  # already JSON, written by the server
                    if e.response_header_length is None
                    else document(e.response, e.response_header_length)
                ),
            }
            self._post(orjson.dumps(response))

    def _post(self, body: bytes) -> None:
        headers = {"Content-Type": "application/cloudevents+json"}
        for attempt in (1, 2):  # a kept-alive connection the receiver closed: retry once
            reused = self._connection is not None
            connection = self._connection or self._connect()
            try:
                connection.request("POST", self._path, body, headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 2 or not reused:  # a fresh connection that failed: the sink is down
                    raise
                continue
            if response.status >= 300:
                raise RuntimeError(f"{self.url} answered {response.status} {response.reason}")
            return

    def _connect(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        self._connection = cls(self._host, self._port, timeout=_HTTP_TIMEOUT_SECONDS)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
