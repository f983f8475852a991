"""``mlrail serve`` on the penguins model the pipeline exports, with the README's request."""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pytest

from mlrail.artifacts.modelspec import ModelSpec
from mlrail.components.deploy.core import deploy
from tests.serving.helpers import free_port

README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")


def _readme_request() -> dict:
    """The body of the README's ``curl ... /infer -d '...'`` example."""
    body = re.search(r"/infer -d '(\{.*?\})'", README, flags=re.S)
    assert body, "the README's infer example is gone"
    return json.loads(body.group(1))


def _penguins_repository(onnx_model: Path, tmp_path: Path) -> Path:
    """A local model repository holding the exported penguins model, deployed as version 1."""
    repo = tmp_path / "models"
    deploy(
        onnx_model,
        tmp_path / "d",
        target="local",
        model_name="penguins",
        model_repository=str(repo),
    )
    return repo


def test_mlrail_serve_answers_the_readme_request(onnx_model: Path, tmp_path: Path) -> None:
    repo = _penguins_repository(onnx_model, tmp_path)
    port = free_port()
    line = next(x for x in README.splitlines() if x.startswith("mlrail serve "))
    args = shlex.split(line)[1:]
    args[args.index("--model-repository") + 1] = str(repo)
    args[args.index("--port") + 1] = str(port)
    with _mlrail_serve(args, port, tmp_path / "serve.log") as url:
        meta = httpx.get(f"{url}/v2/models/penguins").json()
        assert meta["name"] == "penguins" and meta["versions"] == ["1"]
        request = _readme_request()
        reply = httpx.post(f"{url}/v2/models/penguins/infer", json=request)
        assert reply.status_code == 200, reply.text
        (out,) = reply.json()["outputs"]
        assert out["name"] == "probabilities" and out["shape"] == [1, 3]
        # the same answer as ONNX Runtime on the deployed file
        spec = ModelSpec.read(repo / "penguins" / "1")
        feed = {
            i["name"]: np.array(
                i["data"], np.float32 if i["datatype"] == "FP32" else object
            ).reshape(1, 1)
            for i in request["inputs"]
        }
        session = ort.InferenceSession(str(repo / "penguins" / "1" / "model.onnx"))
        (want,) = session.run([spec.output], feed)
        np.testing.assert_allclose(out["data"], want.reshape(-1), atol=1e-6)
        assert spec.classes[int(np.argmax(out["data"]))] == "Gentoo"
        bad = httpx.post(f"{url}/v2/models/penguins/infer", content=b"{not json")
        assert bad.status_code == 422 and "error" in bad.json()


@contextlib.contextmanager
def _mlrail_serve(args: list[str], port: int, log: Path) -> Iterator[str]:
    """``python -m mlrail.cli <args>`` until it answers /v2/health/ready; its output in ``log``."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlrail.cli", *args], stdout=out, stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/v2/health/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def test_mlrail_serve_refuses_a_port_outside_1_to_65535(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlrail.cli import main

    code = main(["serve", "--model-repository", str(tmp_path), "--port", "99999"])

    assert code == 2
    err = capsys.readouterr().err
    assert "port must be between 1 and 65535 (0: any free port), got 99999" in err
    assert "Traceback" not in err


def test_mlrail_serve_limits_reach_the_server_and_the_banner_comes_once(
    onnx_model: Path, tmp_path: Path
) -> None:
    """``--max-header-bytes`` is the server's limit (431), and the banner is printed once, after
    the socket is bound (never before a start-up error)."""
    repo = _penguins_repository(onnx_model, tmp_path)
    port = free_port()
    args = [
        "serve",
        "--model-repository",
        str(repo),
        "--port",
        str(port),
        "--max-header-bytes",
        "2048",
    ]
    log = tmp_path / "serve.log"
    with _mlrail_serve(args, port, log) as url:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(
                b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 4096 + b"\r\n\r\n"
            )
            assert s.recv(100).startswith(b"HTTP/1.1 431")
        assert (
            httpx.get(f"{url}/v2/health/live", headers={"X-Small": "a" * 1000}).status_code == 200
        )
    assert log.read_text().count(f"serving {repo} on http://127.0.0.1:{port}") == 1, log.read_text()
