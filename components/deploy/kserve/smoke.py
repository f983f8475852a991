"""The smoke test: golden.json's request posted to the new model, its answers compared.

``golden.json``'s request (the first eval rows, written by export_onnx) is posted to
``/v2/models/<name>/infer``, where ``<name>`` is the model's folder in ``model_repository`` (the
name the V2 server uses, which may differ from the InferenceService's); outputs are compared by
name with ONNX Runtime's recorded ones within ``tolerance + rtol * max(|expected|, largest
|expected|)`` (parity.json's bound, :mod:`mlrail.artifacts.parity`). For
``kserve-tritonserver`` rows with a missing number are left out: Triton's JSON reader takes no
``null``. Transport errors and 502/503/504 are retried twice. With ``ingress_url`` the request
goes to the ingress gateway instead, with the ``Host`` of the model's URL.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from mlrail.artifacts.parity import DEFAULT_RTOL, DEFAULT_TOLERANCE
from mlrail.components.deploy.kserve.clock import FIRST_DELAY, Clock, SystemClock
from mlrail.components.deploy.kserve.records import SmokeTest

__all__ = ["HttpPost", "golden_rows", "smoke_test", "urllib_post"]

_SMOKE_ATTEMPTS = 3
_RETRY_STATUSES = frozenset({502, 503, 504})
_HTTP_TIMEOUT = 30.0


#: ``http(url, body, headers, timeout) -> (status, body)``; raises OSError when no answer came.
HttpPost = Callable[[str, bytes, Mapping[str, str], float], tuple[int, bytes]]


def urllib_post(
    url: str, body: bytes, headers: Mapping[str, str], timeout: float
) -> tuple[int, bytes]:
    """:data:`HttpPost` over urllib: the default outside tests."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as e:  # an answer, with an error status
        return int(e.code), bytes(e.read())


def golden_rows(golden: Mapping[str, Any], drop_missing: bool) -> tuple[dict[str, Any], list]:
    """golden.json's request and expected outputs, without rows that hold a ``null`` if asked."""
    request = golden["request"]
    outputs = list(golden["outputs"])
    if not drop_missing:
        return dict(request), outputs
    inputs = request["inputs"]
    rows = int(inputs[0]["shape"][0])
    keep = [r for r in range(rows) if all(i["data"][r] is not None for i in inputs)]
    if len(keep) == rows:
        return dict(request), outputs

    def take(tensor: Mapping[str, Any]) -> dict[str, Any]:
        width = math.prod(tensor["shape"][1:])
        data = [tensor["data"][r * width + j] for r in keep for j in range(width)]
        return {**tensor, "shape": [len(keep), *tensor["shape"][1:]], "data": data}

    return {**request, "inputs": [take(i) for i in inputs]}, [take(o) for o in outputs]


def _flat(data: Any) -> list[Any]:
    if isinstance(data, list):
        return [leaf for item in data for leaf in _flat(item)]
    return [data]


def _compare(
    expected: list[Mapping[str, Any]], answer: Any, tolerance: float, rtol: float
) -> tuple[float | None, str]:
    """(max abs diff, "" or what is wrong)."""
    # numpy only when a smoke test compares: deploy's other paths never need it
    import numpy as np

    from mlrail.artifacts.parity import compare

    if not isinstance(answer, Mapping) or not isinstance(answer.get("outputs"), list):
        return None, f"the answer is not a V2 inference response: {str(answer)[:200]}"
    got = {str(o.get("name")): o for o in answer["outputs"] if isinstance(o, Mapping)}
    worst = 0.0
    problems: list[str] = []
    for want in expected:
        name = want["name"]
        if name not in got:
            return None, f"output {name!r} missing from the answer (got {sorted(got)})"
        if list(got[name].get("shape") or []) != list(want["shape"]):
            return None, f"output {name!r} has shape {got[name].get('shape')}, not {want['shape']}"
        values = _flat(got[name].get("data"))
        if len(values) != len(want["data"]) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in values
        ):
            return None, f"output {name!r} holds non-numbers or the wrong count: {values[:10]}"
        # parity.json's bound (mlrail.artifacts.parity), over this output's values
        within = compare(np.asarray(want["data"]), np.asarray(values), tolerance, rtol)
        worst = max(worst, float(within.diff.max(initial=0.0)))
        for i in np.flatnonzero(within.ratio > 1.0)[: 3 - len(problems)]:
            problems.append(
                f"{name}[{i}] = {values[i]:.7g}, ONNX Runtime gave {want['data'][i]:.7g}"
            )
    if problems:
        return worst, (
            f"answers differ from ONNX Runtime's by up to {worst:.3g} (bound {tolerance:g} + "
            f"{rtol:g} x max(|value|, largest |value|)): " + "; ".join(problems)
        )
    return worst, ""


def smoke_test(
    golden: Mapping[str, Any],
    base_url: str,
    model: str,
    *,
    http: HttpPost = urllib_post,
    clock: Clock | None = None,
    ingress_url: str = "",
    tolerance: float = DEFAULT_TOLERANCE,
    rtol: float = DEFAULT_RTOL,
    drop_missing: bool = False,
) -> SmokeTest:
    """POST golden.json's request to ``<base_url>/v2/models/<model>/infer``; compare answers."""
    clock = clock or SystemClock()
    request, expected = golden_rows(golden, drop_missing)
    rows = int(request["inputs"][0]["shape"][0]) if request["inputs"] else 0
    path = f"/v2/models/{urllib.parse.quote(model)}/infer"
    headers = {"Content-Type": "application/json"}
    url = base_url.rstrip("/") + path
    if ingress_url:
        headers["Host"] = urllib.parse.urlsplit(base_url).netloc
        url = ingress_url.rstrip("/") + path

    def result(ok: bool, reason: str, **figures: Any) -> SmokeTest:
        figures = {"max_abs_diff": None, "latency_ms": None, **figures}
        return SmokeTest(
            url, model, rows, tolerance=tolerance, rtol=rtol, ok=ok, reason=reason, **figures
        )

    if rows == 0:
        return result(False, "no golden row without missing values to send", attempts=0)
    body = json.dumps(request).encode()
    where = f"{url}" + (f" (Host: {headers['Host']})" if "Host" in headers else "")
    delay = FIRST_DELAY
    for attempt in range(1, _SMOKE_ATTEMPTS + 1):
        started = time.perf_counter()
        try:
            status, answer = http(url, body, headers, _HTTP_TIMEOUT)
        except OSError as e:
            status, answer, failure = 0, b"", f"no answer from {where}: {e}"
        else:
            failure = f"HTTP {status} from {where}: {answer[:300].decode(errors='replace')}"
        latency = (time.perf_counter() - started) * 1000
        if status == 200:
            break
        if attempt == _SMOKE_ATTEMPTS or (status and status not in _RETRY_STATUSES):
            return result(False, failure, attempts=attempt)
        clock.sleep(delay)
        delay *= 2
    try:
        parsed = json.loads(answer)
    except ValueError:
        parsed = answer[:200].decode(errors="replace")
    worst, problem = _compare(expected, parsed, tolerance, rtol)
    return result(
        not problem,
        f"{where}: {problem}" if problem else "",
        max_abs_diff=worst,
        latency_ms=round(latency, 3),
        attempts=attempt,
    )
