"""``serve``: a real uvicorn server in a subprocess, over HTTP on 127.0.0.1; import weight."""

from __future__ import annotations

import inspect
import resource
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest

from mlrail.errors import ModelError
from mlrail.serving.server import ListenError, serve

from .helpers import Running, classifier_request, free_port, running_server, session


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
    # The banner, once the socket was bound: loopback by default, and no warning about it.
    assert f"serving {repo} on http://127.0.0.1:{server.port} " in stdout
    assert "no authentication" not in stderr
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


def test_real_server_with_two_workers_logs_payloads_and_sums_metrics(
    repo: Path, tmp_path: Path
) -> None:
    log = tmp_path / "logs"
    with (
        running_server(repo, workers=2, log_payloads=str(log)) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        for i in range(8):
            response = http.post(
                "/v2/models/penguins/infer", json=classifier_request([40.0], ["Dream"], id=str(i))
            )
            assert response.status_code == 200
        # Whichever worker answers /metrics, it reports both workers' requests.
        for _ in range(4):
            metrics = http.get("/metrics").text
            assert 'mlrail_inference_requests_total{model="penguins",status="200"} 8.0' in metrics

        code, _, stderr = stop(server)

    assert code in (0, -signal.SIGTERM), stderr
    files = sorted(log.glob("penguins/*/*/part-*.jsonl"))
    ids = sorted(orjson.loads(line)["id"] for f in files for line in f.read_bytes().splitlines())
    assert ids == [str(i) for i in range(8)]  # every record flushed by the shutdown
    # Written by the workers themselves (part-<time>-<host>-<pid>-<seq>), not the supervisor.
    pids = {int(f.name.split("-")[-2]) for f in files}
    assert pids and server.process.pid not in pids


def test_cli_serve_takes_the_payload_log_flags(tmp_path: Path) -> None:
    from mlrail.cli import build_parser

    args = build_parser().parse_args(
        ["serve", "--log-payloads", "http://collector/", "--log-sample-rate", "0.25"]
    )
    defaults = build_parser().parse_args(["serve"])

    assert args.log_payloads == "http://collector/" and args.log_sample_rate == 0.25
    assert defaults.log_payloads is None and defaults.log_sample_rate == 1.0


def test_cli_serve_refuses_a_sample_rate_above_one(repo: Path, tmp_path: Path) -> None:
    from mlrail.cli import main

    code = main(
        [
            "serve",
            "--model-repository",
            str(repo),
            "--port",
            str(free_port()),
            "--log-payloads",
            str(tmp_path / "logs"),
            "--log-sample-rate",
            "2",
        ]
    )

    assert code == 2
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize("port", [99999, -1, 65536])
def test_serve_refuses_a_port_outside_1_to_65535(repo: Path, port: int) -> None:
    with pytest.raises(ValueError, match="port must be between 1 and 65535"):
        serve(str(repo), port=port)


BANNER = """
import sys
from mlrail.serving.server import serve
try:
    serve(sys.argv[1], host=sys.argv[2], port=int(sys.argv[3]))
except Exception as e:
    print(f"{type(e).__name__}: {e}", file=sys.stderr)
    sys.exit(2)
"""


def start_for_banner(repo: Path, host: str, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", BANNER, str(repo), host, str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_port_zero_binds_a_free_port_and_the_banner_names_it(repo: Path) -> None:
    process = start_for_banner(repo, "127.0.0.1", 0)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()  # printed once bound: the server answers at once
        port = int(banner.rsplit(":", 1)[1].split()[0])
        assert banner.startswith(f"serving {repo} on http://127.0.0.1:{port} ")
        assert 0 < port < 65536
        assert httpx.get(f"http://127.0.0.1:{port}/v2/health/live", timeout=30).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert "no authentication" not in stderr


def test_any_address_but_loopback_warns_once_that_there_is_no_authentication(repo: Path) -> None:
    process = start_for_banner(repo, "0.0.0.0", 0)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert "on http://0.0.0.0:" in banner
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert stderr.count("no authentication") == 1, stderr


def test_a_port_in_use_is_a_clear_error_and_no_banner_is_printed(repo: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        process = start_for_banner(repo, "127.0.0.1", taken.getsockname()[1])
        stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 2
    assert stdout == ""  # the banner comes only once the socket is bound
    assert "ListenError: cannot listen on 127.0.0.1:" in stderr and "in use" in stderr
    assert issubclass(ListenError, OSError)


def test_the_open_file_limit_is_raised_to_its_hard_limit(repo: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard <= 256:
        pytest.skip(f"the hard open-file limit here ({hard}) leaves nothing to raise to")
    low = 256

    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))

    process = subprocess.Popen(
        [sys.executable, "-c", BANNER, str(repo), "127.0.0.1", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lower,
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()
        limits = Path(f"/proc/{process.pid}/limits").read_text()
        line = next(x for x in limits.splitlines() if x.startswith("Max open files"))
        assert line.split()[3:5] == [str(hard), str(hard)]
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)


def test_max_connections_above_the_open_file_limit_is_refused(repo: Path) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with pytest.raises(ValueError, match="too close to the open-file limit"):
        serve(str(repo), port=0, max_connections=hard)
