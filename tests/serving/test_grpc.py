"""The V2 gRPC server beside REST: a real ``serve`` on 127.0.0.1 (subprocess), called through
mlrail's own generated stubs (their private descriptor pool lets them live in pytest's process
beside kserve, which test_clients.py imports) and through ``tritonclient.grpc`` in a process of
its own (:mod:`tests.serving.grpc_clients`).

Covers: the generated modules are current; health, readiness and metadata; typed ``contents``
in, typed out, and raw in, raw out; refusals with their status and a message naming the input
(unknown model, bad datatype, wrong shape, an oversized message), REST answering afterwards;
one repository (hot reload), one metrics registry and one payload log for both protocols;
several workers; gRPC never loaded with the port off.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest

from mlrail.cli.program import build_parser
from mlrail.serving.grpc import inference_pb2 as pb
from mlrail.serving.grpc import inference_pb2_grpc as pb_grpc
from mlrail.serving.grpc.generate import GENERATED

from .helpers import (
    Running,
    free_port,
    publish_classifier,
    running_server,
    session,
    write_classifier,
    write_regressor,
)

ROOT = Path(__file__).parents[2]
LIMIT = 64 * 1024  # the body limit of the server under test: an oversized message is cheap


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("grpc") / "models"
    write_classifier(root, 1, bias=0.5)
    write_regressor(root, 1, bias=0.25)
    return root


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("grpc-logs")


@pytest.fixture(scope="module")
def served(repo: Path, logs: Path) -> Iterator[tuple[Running, int]]:
    grpc_port = free_port()
    options = {"grpc_port": grpc_port, "max_body_bytes": LIMIT, "log_payloads": str(logs)}
    with running_server(repo, **options) as running:
        yield running, grpc_port


@pytest.fixture
def stub(served: tuple[Running, int]) -> Iterator[pb_grpc.GRPCInferenceServiceStub]:
    with grpc.insecure_channel(f"127.0.0.1:{served[1]}") as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


def _raw_request(rows: int, model: str = "penguins", **extra: Any) -> pb.ModelInferRequest:
    lengths = np.linspace(35, 55, rows, dtype=np.float32).reshape(rows, 1)
    islands = [("Biscoe", "Dream", "Torgersen")[i % 3].encode() for i in range(rows)]
    strings = b"".join(len(s).to_bytes(4, "little") + s for s in islands)
    tensor = pb.ModelInferRequest.InferInputTensor
    return pb.ModelInferRequest(
        model_name=model,
        inputs=[
            tensor(name="bill_length_mm", datatype="FP32", shape=[rows, 1]),
            tensor(name="island", datatype="BYTES", shape=[rows, 1]),
        ],
        raw_input_contents=[lengths.tobytes(), strings],
        **extra,
    )


def _feeds(rows: int) -> dict[str, np.ndarray]:
    lengths = np.linspace(35, 55, rows, dtype=np.float32).reshape(rows, 1)
    islands = [("Biscoe", "Dream", "Torgersen")[i % 3] for i in range(rows)]
    return {"bill_length_mm": lengths, "island": np.array(islands, object).reshape(rows, 1)}


def _refusal(call: Any, request: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(request)
    return caught.value


# -- the generated code ---------------------------------------------------------------------------


def test_the_committed_generated_modules_are_current(tmp_path: Path) -> None:
    """``python -m mlrail.serving.grpc.generate`` writes exactly the committed files."""
    # in a process of its own: grpcio-tools' protoc crashes (SIGSEGV) in a process that has
    # loaded TensorFlow's and the other tests' native libraries
    command = [sys.executable, "-m", "mlrail.serving.grpc.generate", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    package = ROOT / "mlrail" / "serving" / "grpc"
    for name in GENERATED:
        assert (tmp_path / name).read_text() == (package / name).read_text(), (
            f"{name} is stale: run python -m mlrail.serving.grpc.generate"
        )


def test_mlrails_messages_are_the_wire_names_clients_use() -> None:
    """Package ``inference``, service ``GRPCInferenceService``: the paths tritonclient and
    KServe call."""
    service = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    assert service.full_name == "inference.GRPCInferenceService"
    assert {m.name for m in service.methods} >= {
        "ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer"
    }  # fmt: skip
    field = pb.ModelInferRequest.DESCRIPTOR.fields_by_name["raw_input_contents"]
    assert field.number == 7


# -- health, readiness and metadata --------------------------------------------------------------


def test_health_readiness_and_metadata(stub: pb_grpc.GRPCInferenceServiceStub) -> None:
    assert stub.ServerLive(pb.ServerLiveRequest()).live
    assert stub.ServerReady(pb.ServerReadyRequest()).ready
    assert stub.ModelReady(pb.ModelReadyRequest(name="penguins")).ready
    assert stub.ModelReady(pb.ModelReadyRequest(name="penguins", version="1")).ready
    server = stub.ServerMetadata(pb.ServerMetadataRequest())
    assert server.name == "mlrail" and "binary_tensor_data" in server.extensions
    meta = stub.ModelMetadata(pb.ModelMetadataRequest(name="penguins"))
    assert meta.platform == "onnxruntime_onnx" and list(meta.versions) == ["1"]
    assert [(t.name, t.datatype, list(t.shape)) for t in meta.inputs] == [
        ("bill_length_mm", "FP32", [-1, 1]),
        ("island", "BYTES", [-1, 1]),
    ]
    assert [(t.name, list(t.shape)) for t in meta.outputs] == [("probabilities", [-1, 3])]


def test_tritonclient_grpc_reads_health_and_metadata(served: tuple[Running, int]) -> None:
    """``is_server_live``/``is_server_ready``/``is_model_ready``/``get_model_metadata``."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.serving.grpc_clients",
            "triton-grpc",
            f"127.0.0.1:{served[1]}",
        ],
        input=json.dumps([{"call": "health", "model": "penguins"}]),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (health,) = json.loads(done.stdout)
    assert health == {
        "live": True,
        "ready": True,
        "model_ready": True,
        "inputs": [["bill_length_mm", "FP32", [-1, 1]], ["island", "BYTES", [-1, 1]]],
    }


# -- inference -----------------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [1, 64])
def test_raw_inputs_get_raw_outputs_equal_to_onnx_runtimes(
    stub: pb_grpc.GRPCInferenceServiceStub, repo: Path, rows: int
) -> None:
    response = stub.ModelInfer(_raw_request(rows, id="req-1"))

    assert response.model_name == "penguins" and response.model_version == "1"
    assert response.id == "req-1"
    (output,) = response.outputs
    assert output.name == "probabilities" and output.datatype == "FP32"
    assert list(output.shape) == [rows, 3] and not output.contents.fp32_contents
    (raw,) = response.raw_output_contents
    got = np.frombuffer(raw, "<f4").reshape(rows, 3)
    (want,) = session(repo / "penguins" / "1").run(None, _feeds(rows))
    np.testing.assert_array_equal(got, want)


def test_typed_contents_get_typed_outputs(
    stub: pb_grpc.GRPCInferenceServiceStub, repo: Path
) -> None:
    feeds = _feeds(4)
    tensor = pb.ModelInferRequest.InferInputTensor
    request = pb.ModelInferRequest(
        model_name="penguins",
        inputs=[
            tensor(
                name="bill_length_mm",
                datatype="FP32",
                shape=[4, 1],
                contents=pb.InferTensorContents(fp32_contents=feeds["bill_length_mm"].ravel()),
            ),
            tensor(
                name="island",
                datatype="BYTES",
                shape=[4, 1],
                contents=pb.InferTensorContents(
                    bytes_contents=[s.encode() for s in feeds["island"].ravel()]
                ),
            ),
        ],
    )

    response = stub.ModelInfer(request)

    assert not response.raw_output_contents
    (output,) = response.outputs
    got = np.array(output.contents.fp32_contents, np.float32).reshape(list(output.shape))
    (want,) = session(repo / "penguins" / "1").run(None, feeds)
    np.testing.assert_array_equal(got, want)


# -- refusals ------------------------------------------------------------------------------------


def test_an_unknown_model_is_not_found(stub: pb_grpc.GRPCInferenceServiceStub) -> None:
    error = _refusal(stub.ModelInfer, _raw_request(1, model="nope"))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == "Model with name nope does not exist. Models: penguins, regressor."
    error = _refusal(stub.ModelMetadata, pb.ModelMetadataRequest(name="nope"))
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_a_bad_datatype_is_an_invalid_argument_naming_the_input(
    stub: pb_grpc.GRPCInferenceServiceStub,
) -> None:
    request = _raw_request(2)
    request.inputs[0].datatype = "BYTES"

    error = _refusal(stub.ModelInfer, request)

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == (
        "input 'bill_length_mm': datatype BYTES does not match the model's FP32; send FP32 (or "
        "FP16, FP64, INT16, INT32, INT64, INT8, UINT16, UINT32, UINT64, UINT8, converted)"
    )


def test_typed_contents_in_the_wrong_field_are_named(
    stub: pb_grpc.GRPCInferenceServiceStub,
) -> None:
    tensor = pb.ModelInferRequest.InferInputTensor
    request = pb.ModelInferRequest(
        model_name="regressor",
        inputs=[
            tensor(
                name="x",
                datatype="FP32",
                shape=[1, 1],
                contents=pb.InferTensorContents(fp64_contents=[1.0]),
            )
        ],
    )
    error = _refusal(stub.ModelInfer, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == (
        "input 'x': datatype FP32 takes its elements in contents.fp32_contents, "
        "got contents.fp64_contents"
    )


def test_a_wrong_shape_is_an_invalid_argument_naming_the_input(
    stub: pb_grpc.GRPCInferenceServiceStub,
) -> None:
    request = _raw_request(2)
    del request.inputs[0].shape[:]
    request.inputs[0].shape.extend([1, 2])

    error = _refusal(stub.ModelInfer, request)

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == (
        "input 'bill_length_mm': shape [1, 2] does not match the model's [-1, 1] (-1: any size)"
    )


def test_raw_contents_that_do_not_match_the_shape_are_named(
    stub: pb_grpc.GRPCInferenceServiceStub,
) -> None:
    request = _raw_request(2)
    request.raw_input_contents[0] = b"\0" * 4  # one FP32 for two rows

    error = _refusal(stub.ModelInfer, request)

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "input 'bill_length_mm'" in error.details() and "8 bytes" in error.details()


def test_an_oversized_message_is_refused_and_rest_still_answers(
    stub: pb_grpc.GRPCInferenceServiceStub, served: tuple[Running, int]
) -> None:
    rows = LIMIT // 4 + 1  # FP32 alone is over the body limit
    request = _raw_request(rows)

    error = _refusal(stub.ModelInfer, request)

    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert str(LIMIT) in error.details()
    assert httpx.get(f"{served[0].url}/v2/health/ready").json() == {"ready": True}
    assert stub.ServerLive(pb.ServerLiveRequest()).live


# -- shared with REST: metrics, payload log, hot reload ----------------------------------------


def _count(metrics: str, model: str, status: str) -> float:
    prefix = f'mlrail_inference_requests_total{{model="{model}",status="{status}"}} '
    lines = [line for line in metrics.splitlines() if line.startswith(prefix)]
    return float(lines[0].split()[-1]) if lines else 0.0


def test_grpc_calls_are_counted_in_the_rest_servers_metrics(
    stub: pb_grpc.GRPCInferenceServiceStub, served: tuple[Running, int]
) -> None:
    metrics = f"{served[0].url}/metrics"
    before = httpx.get(metrics).text
    stub.ModelInfer(_raw_request(1, model="penguins"))
    request = _raw_request(1)
    request.inputs[0].datatype = "BYTES"
    with pytest.raises(grpc.RpcError):
        stub.ModelInfer(request)

    after = httpx.get(metrics).text

    assert _count(after, "penguins", "200") == _count(before, "penguins", "200") + 1
    assert _count(after, "penguins", "400") == _count(before, "penguins", "400") + 1


def test_grpc_inferences_go_to_the_payload_log_as_v2_json(
    stub: pb_grpc.GRPCInferenceServiceStub, logs: Path
) -> None:
    stub.ModelInfer(_raw_request(3, model="penguins", id="logged-by-grpc"))

    deadline = time.monotonic() + 60
    records: list[dict[str, Any]] = []
    while not records:
        for path in logs.glob("penguins/*/*/part-*.jsonl"):
            for line in path.read_text().splitlines():
                record = json.loads(line)
                if "logged-by-grpc" in line:
                    records.append(record)
        assert records or time.monotonic() < deadline, "the gRPC inference was never logged"
        time.sleep(0.1)
    text = json.dumps(records[0])
    assert "Dream" in text and "probabilities" in text  # the decoded request and the answer


def test_a_new_version_is_served_over_grpc_without_a_restart(
    stub: pb_grpc.GRPCInferenceServiceStub, repo: Path
) -> None:
    publish_classifier(repo, 2, bias=-1.0)
    deadline = time.monotonic() + 60
    while stub.ModelInfer(_raw_request(1)).model_version != "2":
        assert time.monotonic() < deadline, "version 2 was never served"
        time.sleep(0.1)
    (raw,) = stub.ModelInfer(_raw_request(5)).raw_output_contents
    (want,) = session(repo / "penguins" / "2").run(None, _feeds(5))
    np.testing.assert_array_equal(np.frombuffer(raw, "<f4").reshape(5, 3), want)


# -- processes and options -----------------------------------------------------------------------


def test_several_workers_serve_grpc_on_one_port(tmp_path: Path) -> None:
    """Every worker listens on the port (SO_REUSEPORT: one listening socket per worker in the
    kernel's table), and calls on many connections are all answered and counted once."""
    repo = tmp_path / "models"
    write_regressor(repo, 1)
    grpc_port = free_port()
    with running_server(repo, grpc_port=grpc_port, workers=2) as running:
        answered = 0
        deadline = time.monotonic() + 60
        while answered < 40:
            with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
                stub = pb_grpc.GRPCInferenceServiceStub(channel)
                try:
                    stub.ServerLive(pb.ServerLiveRequest(), wait_for_ready=True, timeout=30)
                except grpc.RpcError:
                    assert time.monotonic() < deadline
                    continue
                request = pb.ModelInferRequest(
                    model_name="regressor",
                    inputs=[
                        pb.ModelInferRequest.InferInputTensor(
                            name="x", datatype="FP32", shape=[1, 1]
                        )
                    ],
                    raw_input_contents=[np.float32(2.0).tobytes()],
                )
                (raw,) = stub.ModelInfer(request).raw_output_contents
                assert np.frombuffer(raw, "<f4").tolist() == [5.0]
                answered += 1
        metrics = httpx.get(f"{running.url}/metrics").text
        assert _count(metrics, "regressor", "200") == 40
        # each worker starts its gRPC server once its models are loaded: wait for the second
        while _listening(grpc_port) < 2:
            assert time.monotonic() < deadline, "only one worker listens for gRPC"
            time.sleep(0.1)
        assert _listening(grpc_port) == 2


def _listening(port: int) -> int:
    """Listening TCP sockets on ``port`` (state 0A in /proc/net/tcp and tcp6: gRPC listens on
    127.0.0.1 through an IPv6 socket, as ::ffff:127.0.0.1)."""
    rows = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        rows += [r.split() for r in Path(table).read_text().splitlines()[1:]]
    return sum(1 for r in rows if r[1].endswith(f":{port:04X}") and r[3] == "0A")


def test_with_the_grpc_port_off_grpc_is_never_loaded(tmp_path: Path) -> None:
    """A REST-only server process has no gRPC library mapped (the REST path stays light)."""
    repo = tmp_path / "models"
    write_regressor(repo, 1)
    with running_server(repo) as running:
        maps = Path(f"/proc/{running.process.pid}/maps").read_text()
        assert "cygrpc" not in maps
        assert httpx.get(f"{running.url}/v2/health/ready").status_code == 200
    grpc_port = free_port()
    with running_server(repo, grpc_port=grpc_port) as running:
        assert "cygrpc" in Path(f"/proc/{running.process.pid}/maps").read_text()


def test_the_cli_serves_grpc_on_8081_by_default_and_off_turns_it_off(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = build_parser()
    assert parser.parse_args(["serve"]).grpc_port == 8081
    assert parser.parse_args(["serve", "--grpc-port", "off"]).grpc_port is None
    assert parser.parse_args(["serve", "--grpc-port", "0"]).grpc_port == 0
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for flag, words in [
        ("--model-repository MODEL_REPOSITORY", "folder of models in the Triton layout"),
        ("--port PORT", "REST (HTTP/1.1) port"),
        ("--grpc-port PORT|off", "V2 gRPC port"),
        ("--workers WORKERS", "server processes"),
    ]:
        assert f"{flag} {words}" in shown, f"{flag} has no help text"


def test_a_grpc_port_in_use_fails_the_start_before_the_banner(tmp_path: Path) -> None:
    repo = tmp_path / "models"
    write_regressor(repo, 1)
    grpc_port = free_port()
    with running_server(repo, grpc_port=grpc_port):
        code = (
            "import sys\nfrom mlrail.serving.server import serve\n"
            f"serve({str(repo)!r}, port=0, grpc_port={grpc_port})"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
        )
    assert done.returncode != 0
    assert "serving" not in done.stdout
    assert f"cannot listen for gRPC on 127.0.0.1:{grpc_port}" in done.stderr


# -- the README section "Serving over gRPC" ------------------------------------------------------

_README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")


def _readme_grpc() -> tuple[str, str]:
    """The README's one ``mlrail serve ... --grpc-port`` line and its one tritonclient.grpc
    example."""
    (command,) = [
        line
        for block in re.findall(r"```sh\n(.*?)```", _README, flags=re.S)
        for line in block.splitlines()
        if line.startswith("mlrail serve ") and "--grpc-port" in line
    ]
    (example,) = [
        b
        for b in re.findall(r"```python\n(.*?)```", _README, flags=re.S)
        if "tritonclient.grpc" in b
    ]
    return command, example


def test_the_readme_grpc_command_and_example_run_as_written(
    onnx_model: Path, tmp_path: Path
) -> None:
    """The README's ``mlrail serve ... --grpc-port`` (ports made free) with the trained penguins
    model, and its tritonclient.grpc example (in a process of its own) printing ONNX Runtime's
    probabilities."""
    import shlex
    import shutil

    from .serve_cli import mlrail_serve

    models = tmp_path / "models"
    shutil.copytree(onnx_model / "model_repository" / "penguins", models / "penguins")
    readme_command, readme_example = _readme_grpc()
    args = shlex.split(readme_command)[2:]
    args[args.index("--model-repository") + 1] = str(models)
    grpc_port = free_port()
    args[args.index("--grpc-port") + 1] = str(grpc_port)
    port = args.index("--port")
    del args[port : port + 2]  # mlrail_serve passes a free --port itself
    with mlrail_serve(models, *args[2:]):
        code = readme_example.replace('"127.0.0.1:8081"', f'"127.0.0.1:{grpc_port}"')
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
        )
    assert done.returncode == 0, done.stderr
    printed = np.array(re.findall(r"[-\d.e]+", done.stdout), dtype=np.float32)
    feeds = {
        "island": np.array([["Biscoe"]], object), "bill_length_mm": np.array([[46.5]], np.float32),
        "bill_depth_mm": np.array([[15.2]], np.float32),
        "flipper_length_mm": np.array([[219.0]], np.float32),
        "body_mass_g": np.array([[5200.0]], np.float32), "sex": np.array([["male"]], object),
        "year": np.array([[2008.0]], np.float32),
    }  # fmt: skip
    (want,) = session(models / "penguins" / "1").run(["probabilities"], feeds)
    np.testing.assert_allclose(printed, want.reshape(-1), rtol=1e-6)
