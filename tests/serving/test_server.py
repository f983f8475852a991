"""``serve``: a real uvicorn server in a subprocess, over HTTP on 127.0.0.1; import weight."""

from __future__ import annotations

import inspect
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest

from mlrail.errors import ModelError
from mlrail.serving.server import serve

from .helpers import classifier_request, session

SERVE = """
import json, sys
from mlrail.serving.server import serve
serve(sys.argv[1], port=int(sys.argv[2]), **json.loads(sys.argv[3]))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Running:
    url: str
    port: int
    process: subprocess.Popen[str]


@contextmanager
def running_server(repo: Path, **options: object) -> Iterator[Running]:
    """``serve(repo, port=<free>, **options)`` in a subprocess, up and answering /v2/health/live."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(repo), str(port), json.dumps(options)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"server exited {process.returncode}: {process.communicate()[1]}"
                )
            try:
                if httpx.get(f"{url}/v2/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("server did not come up before the deadline")
            time.sleep(0.05)
        yield Running(url=url, port=port, process=process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def stop(server: Running) -> tuple[int, str, str]:
    """SIGTERM (what Kubernetes sends), then the exit code and output."""
    server.process.send_signal(signal.SIGTERM)
    stdout, stderr = server.process.communicate(timeout=60)
    return server.process.returncode, stdout, stderr


def test_real_server_answers_v2_over_http_and_shuts_down_cleanly(repo: Path) -> None:
    with (
        running_server(repo, log_level="info", max_body_bytes=4096) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        assert http.get("/v2/health/ready").json() == {"ready": True}
        assert http.get("/v2").json()["name"] == "mlrail"
        metadata = http.get("/v2/models/penguins").json()
        assert metadata["versions"] == ["2"] and metadata["platform"] == "onnxruntime_onnx"

        response = http.post(
            "/v2/models/penguins/infer",
            json=classifier_request([39.5, 48.0], ["Dream", "Biscoe"], id="a"),
        )
        assert response.status_code == 200
        body = response.json()
        expected = session(repo / "penguins" / "2").run(
            None,
            {
                "bill_length_mm": np.array([[39.5], [48.0]], dtype=np.float32),
                "island": np.array([["Dream"], ["Biscoe"]], dtype=object),
            },
        )[0]
        np.testing.assert_array_equal(
            np.asarray(body["outputs"][0]["data"], dtype=np.float32).reshape(2, 3), expected
        )
        assert body["id"] == "a"

        response = http.post("/v2/models/penguins/infer", content=b"{not json")
        assert response.status_code == 422 and "not valid JSON" in response.json()["error"]
        response = http.post(
            "/v2/models/penguins/infer", json=classifier_request([40.0], ["Dream"] * 2)
        )
        assert response.status_code == 400 and "'island'" in response.json()["error"]
        response = http.post("/v2/models/penguins/infer", content=b" " * 5000)
        assert response.status_code == 413

        code, stdout, stderr = stop(server)

    # uvicorn finishes in-flight work, then re-raises the signal: the status is SIGTERM's.
    assert code in (0, -signal.SIGTERM), stderr
    assert "Application shutdown complete" in stderr and "Finished server process" in stderr
    assert f"Uvicorn running on http://127.0.0.1:{server.port}" in stderr  # loopback by default
    assert "Traceback" not in stderr
    assert '"GET /v2/health/ready' not in stdout + stderr  # no access log by default


def test_real_server_with_two_workers(repo: Path) -> None:
    with (
        running_server(repo, workers=2, model_version=1) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        for _ in range(4):  # a few requests, so both workers are likely to answer one
            response = http.post(
                "/v2/models/penguins/infer", json=classifier_request([40.0], ["Dream"])
            )
            assert response.status_code == 200
            assert response.json()["model_version"] == "1"  # the pin reached the workers

        code, _, stderr = stop(server)

    assert code in (0, -signal.SIGTERM), stderr
    assert "Traceback" not in stderr


def test_serve_binds_loopback_and_logs_no_requests_by_default() -> None:
    parameters = inspect.signature(serve).parameters

    assert parameters["host"].default == "127.0.0.1"
    assert parameters["access_log"].default is False
    assert parameters["port"].default == 8080
    assert parameters["workers"].default == 1
    assert parameters["model_version"].default is None
    assert parameters["log_level"].default == "warning"


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_refuses_a_missing_repository_before_binding(tmp_path: Path, workers: int) -> None:
    with pytest.raises(ModelError, match="model repository not found"):
        serve(str(tmp_path / "nope"), port=free_port(), workers=workers)


def test_serve_refuses_zero_workers(repo: Path) -> None:
    with pytest.raises(ModelError, match="workers must be at least 1"):
        serve(str(repo), port=free_port(), workers=0)


def test_importing_the_server_loads_no_heavy_library() -> None:
    heavy = [
        "tensorflow",
        "keras",
        "tf2onnx",
        "onnxruntime",
        "pyarrow",
        "kfp",
        "uvicorn",
        "kserve",
        "fastapi",
    ]
    code = (
        "import sys, json; import mlrail.serving.server; "
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r}))))"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert orjson.loads(result.stdout) == []
