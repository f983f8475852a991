"""The server's own counters, read from its Prometheus ``/metrics`` (mlrail serve's names).

The payload log holds only answered requests, so the error rate comes from here: requests by
status and errors by kind for the model, since the server started (counters are cumulative;
the report says so). A server that cannot be reached is reported, never raised.
"""

from __future__ import annotations

import urllib.request
from typing import Any

__all__ = ["scrape"]

_TIMEOUT = 5.0


def scrape(url: str, model: str) -> dict[str, Any]:
    """``{"url", "requests", "errors", "error_rate", "by_status"}`` for ``model``, or
    ``{"url", "error"}`` when the endpoint cannot be read."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT) as response:  # noqa: S310 (user's URL)
            text = response.read().decode("utf-8", "replace")
        families = list(text_string_to_metric_families(text))
    except (OSError, ValueError) as e:
        return {"url": url, "error": f"cannot read the server's metrics: {e}"}
    by_status: dict[str, float] = {}
    errors = 0.0
    for family in families:
        for sample in family.samples:
            if sample.labels.get("model") != model:
                continue
            if sample.name == "mlrail_inference_requests_total":
                status = sample.labels.get("status", "")
                by_status[status] = by_status.get(status, 0.0) + sample.value
            elif sample.name == "mlrail_inference_errors_total":
                errors += sample.value
    requests = sum(by_status.values())
    return {
        "url": url,
        "requests": requests,
        "errors": errors,
        "error_rate": errors / requests if requests else None,
        "by_status": by_status,
        "since": "the server's start (cumulative counters)",
    }
