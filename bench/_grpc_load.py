"""The gRPC side of bench_load.py: the request, and a closed-loop load generator.

``python bench/_grpc_load.py HOST:PORT REQUEST_FILE CONCURRENCY SECONDS MAX_REQUESTS`` calls
``inference.GRPCInferenceService/ModelInfer`` with the serialized ``ModelInferRequest`` in
REQUEST_FILE from CONCURRENCY tasks on one channel (one HTTP/2 connection, as a
``tritonclient.grpc`` client holds), each sending its next call as soon as the answer arrives,
for SECONDS or MAX_REQUESTS calls. It prints one line as bench_load's wrk script does
(``RESULT requests=... duration_us=... p50_us=... p99_us=... errors=... cpu_us=...``), with the
generator's own CPU time per call: no C gRPC load generator (ghz) is available here, so the
generator is Python (grpc.aio, bytes in and out, no message parsing on the hot path); when its
CPU per call nears the wall time per call at this concurrency, it is the bottleneck.
"""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

METHOD = "/inference.GRPCInferenceService/ModelInfer"


def request_message(model: str, feeds: dict[str, np.ndarray]) -> bytes:
    """The serialized ``ModelInferRequest`` for ``feeds``, raw_input_contents as tritonclient
    sends them (little-endian elements; BYTES as 4-byte length + UTF-8)."""
    from mlrail.serving.grpc import inference_pb2 as pb

    request = pb.ModelInferRequest(model_name=model, id="1")
    for name, array in feeds.items():
        if array.dtype == object:
            datatype = "BYTES"
            raw = b"".join(
                len(b).to_bytes(4, "little") + b for b in (str(v).encode() for v in array.ravel())
            )
        else:
            datatype = "FP32"
            raw = np.ascontiguousarray(array, "<f4").tobytes()
        request.inputs.add(name=name, datatype=datatype, shape=list(array.shape))
        request.raw_input_contents.append(raw)
    return request.SerializeToString()


def outputs(answer: bytes) -> list[np.ndarray]:
    """The raw FP32 outputs of a serialized ``ModelInferResponse``."""
    from mlrail.serving.grpc import inference_pb2 as pb

    response = pb.ModelInferResponse.FromString(answer)
    return [
        np.frombuffer(raw, "<f4").reshape(list(o.shape))
        for o, raw in zip(response.outputs, response.raw_output_contents, strict=True)
    ]


def call_once(target: str, request: bytes) -> bytes:
    """One ModelInfer call (the bench's check that the server answers)."""
    import grpc

    with grpc.insecure_channel(target) as channel:
        answer: bytes = channel.unary_unary(METHOD)(request, timeout=10)
    return answer


def measure(
    target: str, request_file: Path, connections: int, seconds: float, max_requests: int
) -> dict[str, float]:
    """This script in its own process; its figures as bench_load's ``wrk`` returns them."""
    args = [str(connections), f"{seconds:g}", str(max_requests)]
    out = subprocess.run(
        [sys.executable, __file__, target, str(request_file), *args],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    r = {k: float(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
    return {
        "rps": r["requests"] / (r["duration_us"] / 1e6),
        "p50": r["p50_us"] / 1e6,
        "p99": r["p99_us"] / 1e6,
        "errors": r["errors"],
        "requests": r["requests"],
        "capped": float(r["requests"] >= max_requests),
        "client_cpu_us": r["cpu_us"],
    }


def _ratios(a: list[dict[str, float]], b: list[dict[str, float]], key: str) -> list[float]:
    return [x[key] / y[key] for x, y in zip(a, b, strict=True)]


def print_ratios(
    concurrency: list[int],
    per: dict[tuple[str, int], list[dict[str, float]]],
    fmt: Callable[[list[float], float, int], str],
) -> None:
    """gRPC against REST on the same server, and what gRPC being on costs REST (per run)."""
    print()
    print(f"{'gRPC (ratios within each run)':<44}{'median (min-max)':>22}")
    for c in concurrency:
        grpc, rest, off = per[("grpc", c)], per[("grpc_on", c)], per[("mlrail", c)]
        for label, values in (
            ("grpc/REST requests/s", _ratios(grpc, rest, "rps")),
            ("grpc/REST p50", _ratios(grpc, rest, "p50")),
            ("REST, gRPC on/off requests/s", _ratios(rest, off, "rps")),
            ("REST, gRPC on/off p50", _ratios(rest, off, "p50")),
        ):
            print(f"{label + f', concurrency {c}':<44}{fmt(values, 1, 2) + 'x':>22}")
        client = [g["client_cpu_us"] for g in grpc]
        wall = [1e6 / g["rps"] for g in grpc]
        print(
            f"{f'gRPC generator CPU per call (us), conc. {c}':<44}{fmt(client, 1, 1):>22}"
            f"   (wall per call {fmt(wall, 1, 1)} us)"
        )


async def _load(
    target: str, request: bytes, concurrency: int, seconds: float, max_requests: int
) -> dict[str, Any]:
    import grpc

    latencies: list[float] = []
    errors = 0
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.unary_unary(METHOD)  # bytes in, bytes out
        await call(request, timeout=10)  # connect before the clock starts
        end = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < end and len(latencies) < max_requests:
                t = time.perf_counter()
                try:
                    await call(request, timeout=5)
                except grpc.aio.AioRpcError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - t)

        cpu = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        duration = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
    used = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    return {
        "requests": len(latencies),
        "duration_us": int(duration * 1e6),
        "p50_us": int(np.percentile(latencies, 50) * 1e6),
        "p99_us": int(np.percentile(latencies, 99) * 1e6),
        "errors": errors,
        "cpu_us": int(used / max(len(latencies), 1) * 1e6),
    }


if __name__ == "__main__":
    target, path, concurrency, seconds, max_requests = sys.argv[1:6]
    with open(path, "rb") as f:
        body = f.read()
    import uvloop  # the loop the servers run on too (uvicorn's "uvloop")

    uvloop.install()
    result = asyncio.run(_load(target, body, int(concurrency), float(seconds), int(max_requests)))
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()), flush=True)
