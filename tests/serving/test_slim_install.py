"""The serving-only install: ``mlrail serve`` from a virtual environment holding only
images/serving.requirements.txt (what the serving image installs) and mlrail without its
dependencies, as the README's serving-only install and images/serving.Containerfile do::

    python3 -m venv serve-env
    serve-env/bin/pip install -c constraints.txt -r images/serving.requirements.txt
    serve-env/bin/pip install --no-deps .

The environment is made once per module, from the package index like any user's (pip's cache
makes it quick in CI, after the main install); a package the set lacks fails these tests, never
skips them. TensorFlow, pyarrow, pandas, scipy, kfp, MLflow and onnx must not be installed.

The serving image's two processes then run from it: ``mlrail serve`` on the trained penguins
model (tests/conftest.py), signed and served with ``--verify-key`` (model-signing), REST and gRPC,
sending its payload log to ``mlrail payload-receiver`` writing to a folder. The golden request
(export_onnx's) must get ONNX Runtime's recorded answer over both protocols, and the receiver
must write the inference's record.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from .helpers import free_port

REPO = Path(__file__).resolve().parents[2]
REQUIREMENTS = REPO / "images" / "serving.requirements.txt"
CONSTRAINTS = REPO / "constraints.txt"
# What the pipelines need and the server must not: none of it may be installed.
ABSENT = ("tensorflow", "keras", "pyarrow", "pandas", "scipy", "sklearn", "kfp", "mlflow", "onnx")
# What the server, its gRPC port and --verify-key import: all of it must be.
PRESENT = (
    "mlrail.serving.server",
    "mlrail.serving.payload_receiver",
    "onnxruntime",
    "numpy",
    "uvicorn",
    "httptools",
    "uvloop",
    "orjson",
    "prometheus_client",
    "grpc",
    "google.protobuf",
    "model_signing",
    "OpenSSL",
)
# The golden answer is ONNX Runtime's on the same graph: only float noise may differ.
BOUND = 1e-5


@dataclass(frozen=True)
class SlimEnv:
    python: Path
    mlrail: Path
    seconds: float


def _pip(python: Path, *args: str) -> None:
    """The test's own pip, installing into ``python``'s environment (pip's ``--python``): the
    new environment needs no pip of its own, which saves creating one."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-input", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**_clean_env(), "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert proc.returncode == 0, f"pip install {' '.join(args)} failed:\n{proc.stderr[-4000:]}"


def _clean_env() -> dict[str, str]:
    """This process's environment without what would let the test's own venv leak in."""
    env = dict(os.environ)
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):
        env.pop(name, None)
    return env


def _source_copy(dest: Path) -> Path:
    """The project as `pip install .` reads it, copied: a build writes build/ and *.egg-info
    beside the sources, and tests never write into the repository."""
    dest.mkdir()
    for path in REPO.iterdir():
        if path.is_file() and path.suffix in {".toml", ".md", ".txt", ""}:
            shutil.copy2(path, dest / path.name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for package in ("mlrail", "components", "pipelines"):
        shutil.copytree(REPO / package, dest / package, ignore=ignore)
    return dest


def _build_isolation() -> list[str]:
    """pip's flag to build mlrail's wheel with this interpreter's own build backend when it meets
    pyproject.toml's build requirements (no isolated build environment to download and install:
    about 15 s less), else nothing: pip's isolated build."""
    from packaging.requirements import Requirement

    build = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]
    for requirement in map(Requirement, build["requires"]):
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            return []
        if not requirement.specifier.contains(installed, prereleases=True):
            return []
    return ["--no-build-isolation"]


# One environment per session, however many modules import the fixture (tests/cli/test_doctor.py
# does): pytest makes one fixture definition per importing module, each would build its own.
_MADE: dict[Path, SlimEnv] = {}


@pytest.fixture(scope="session")
def slim(tmp_path_factory: pytest.TempPathFactory) -> SlimEnv:
    """The serving-only environment (made once per session: about a minute)."""
    session = tmp_path_factory.getbasetemp()
    if session not in _MADE:
        _MADE[session] = _make_slim(tmp_path_factory.mktemp("slim"))
    return _MADE[session]


def _make_slim(root: Path) -> SlimEnv:
    started = time.monotonic()
    venv.EnvBuilder(with_pip=False).create(root / "env")
    python = root / "env" / "bin" / "python"
    # --no-compile: the server compiles what it imports, once; the set has far more than that.
    _pip(python, "--no-compile", "-c", str(CONSTRAINTS), "-r", str(REQUIREMENTS))
    wheels = root / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *_build_isolation()]
        + ["--wheel-dir", str(wheels), str(_source_copy(root / "src"))],
        capture_output=True,
        text=True,
        check=False,
        env=_clean_env(),
    )
    assert proc.returncode == 0, f"mlrail's wheel did not build:\n{proc.stderr[-4000:]}"
    (wheel,) = wheels.glob("mlrail-*.whl")
    _pip(python, "--no-compile", "--no-deps", str(wheel))
    seconds = time.monotonic() - started
    print(f"\nserving-only environment made in {seconds:.1f} s")  # the figure, with -s
    return SlimEnv(python=python, mlrail=root / "env" / "bin" / "mlrail", seconds=seconds)


def _in_env(slim: SlimEnv, code: str) -> Any:
    proc = subprocess.run(
        [str(slim.python), "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env=_clean_env(),
        cwd=slim.python.parent,  # not the checkout: its mlrail/ folder would shadow the install
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_serving_set_is_installed_and_the_pipeline_stack_is_not(slim: SlimEnv) -> None:
    found = _in_env(
        slim,
        "import importlib.util, json, sys\n"
        f"print(json.dumps({{n: importlib.util.find_spec(n) is not None for n in {ABSENT!r}}}))",
    )
    assert [name for name, there in found.items() if there] == []
    # Each module imported for real (not only found): a missing dependency of theirs fails here.
    where = _in_env(
        slim,
        "import importlib, json\n"
        f"print(json.dumps({{n: importlib.import_module(n).__file__ for n in {PRESENT!r}}}))",
    )
    env_root = slim.python.parent.parent
    # mlrail from the environment's own install, not from the checkout
    assert Path(where["mlrail.serving.server"]).is_relative_to(env_root)


@pytest.fixture
def signed_repository(onnx_model: Path, tmp_path: Path) -> tuple[Path, Path]:
    """export_onnx's model repository, its version signed: (repository, public key)."""
    from mlrail.artifacts.signing import generate_key_pair, sign_version

    repository = tmp_path / "model_repository"
    shutil.copytree(onnx_model / "model_repository", repository)
    (version,) = repository.glob("*/1")
    generate_key_pair(tmp_path / "signing.key", tmp_path / "signing.pub")
    sign_version(version, tmp_path / "signing.key")
    return repository, tmp_path / "signing.pub"


@dataclass(frozen=True)
class Served:
    url: str  # REST
    grpc: str  # host:port
    payload_log: Path  # the payload receiver's folder


_GRPC_BANNER = re.compile(r"over gRPC on (\S+:\d+) ")


@contextmanager
def _running(
    command: list[str], ready_url: str, log: Path, banner: re.Pattern[str] | None = None
) -> Iterator[re.Match[str] | None]:
    """``command`` started, until ``ready_url`` answers 200 (and ``banner`` is in its output):
    the banner's match. Stopped with SIGTERM, as Kubernetes stops a pod."""
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**_clean_env(), "PYTHONUNBUFFERED": "1"},  # banners reach the log at once
            cwd=log.parent,
        )
    try:
        for _ in range(1200):  # up to two minutes; nothing here is timed
            if process.poll() is not None:
                raise AssertionError(f"{command[1]} exited {process.returncode}: {log.read_text()}")
            found = banner.search(log.read_text()) if banner else None
            try:
                ready = httpx.get(ready_url, timeout=1).status_code == 200
            except httpx.TransportError:
                ready = False
            if ready and (found or not banner):
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"{command[1]} was not ready: {log.read_text()}")
        yield found
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def served(slim: SlimEnv, signed_repository: tuple[Path, Path], tmp_path: Path) -> Iterator[Served]:
    """The environment's ``mlrail serve`` on the signed repository, REST and gRPC on free ports,
    logging payloads to the environment's ``mlrail payload-receiver`` (writing to a folder):
    the serving image's two processes."""
    repository, public_key = signed_repository
    payload_log = tmp_path / "payload-log"
    receiver_port, port = free_port(), free_port()
    receiver = [str(slim.mlrail), "payload-receiver", "--to", str(payload_log)]
    receiver += ["--port", str(receiver_port)]
    server = [str(slim.mlrail), "serve", "--model-repository", str(repository)]
    server += ["--port", str(port), "--grpc-port", "0", "--verify-key", str(public_key)]
    server += ["--log-payloads", f"http://127.0.0.1:{receiver_port}/"]
    url = f"http://127.0.0.1:{port}"
    with (
        _running(receiver, f"http://127.0.0.1:{receiver_port}/healthz", tmp_path / "receiver.log"),
        _running(
            server, f"{url}/v2/health/ready", tmp_path / "serve.log", _GRPC_BANNER
        ) as grpc_banner,
    ):
        assert grpc_banner is not None  # for mypy: _running waits for it
        yield Served(url=url, grpc=grpc_banner.group(1), payload_log=payload_log)


def _golden(onnx_model: Path) -> dict[str, Any]:
    return dict(json.loads((onnx_model / "golden.json").read_text(encoding="utf-8")))


def _same_as_golden(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert (got["name"], got["datatype"], list(got["shape"])) == (
        want["name"],
        want["datatype"],
        want["shape"],
    )
    np.testing.assert_allclose(np.ravel(got["data"]), want["data"], rtol=0, atol=BOUND)


def test_the_serving_set_answers_the_golden_request_over_rest(
    served: Served, onnx_model: Path
) -> None:
    golden = _golden(onnx_model)
    response = httpx.post(
        f"{served.url}/v2/models/penguins/infer", json=golden["request"], timeout=30
    )
    assert response.status_code == 200, response.text
    (got,), (want,) = response.json()["outputs"], golden["outputs"]
    _same_as_golden(got, want)
    # The server sent the request and its answer to the receiver, which paired them and wrote
    # one record for the inference into its folder.
    for _ in range(1200):  # up to two minutes: the sink sends in the background
        texts = [p.read_text() for p in served.payload_log.glob("penguins/*/*/part-*.jsonl")]
        if texts and all(text.endswith("\n") for text in texts):  # whole lines only
            break
        time.sleep(0.1)
    (record,) = [json.loads(line) for text in texts for line in text.splitlines()]
    assert record["outputs"][0]["data"] == got["data"], record


# V2 datatypes of the golden request and the ModelInferRequest contents field that carries them.
_CONTENTS = {"FP32": "fp32_contents", "FP64": "fp64_contents", "INT64": "int64_contents"}
_DTYPES = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64}


def test_the_serving_set_answers_the_golden_request_over_grpc(
    served: Served, onnx_model: Path
) -> None:
    import grpc

    from mlrail.serving.grpc import inference_pb2 as pb
    from mlrail.serving.grpc import inference_pb2_grpc as rpc

    golden = _golden(onnx_model)
    request = pb.ModelInferRequest(model_name="penguins")
    for tensor in golden["request"]["inputs"]:
        sent = request.inputs.add(
            name=tensor["name"], datatype=tensor["datatype"], shape=tensor["shape"]
        )
        if tensor["datatype"] == "BYTES":
            sent.contents.bytes_contents.extend(str(v).encode() for v in tensor["data"])
        else:
            getattr(sent.contents, _CONTENTS[tensor["datatype"]]).extend(tensor["data"])
    with grpc.insecure_channel(served.grpc) as channel:
        stub = rpc.GRPCInferenceServiceStub(channel)
        assert stub.ServerReady(pb.ServerReadyRequest(), timeout=30).ready
        response = stub.ModelInfer(request, timeout=30)
    (want,) = golden["outputs"]
    (out,) = response.outputs
    if response.raw_output_contents:
        data = np.frombuffer(response.raw_output_contents[0], dtype=_DTYPES[out.datatype])
    else:
        data = np.asarray(getattr(out.contents, _CONTENTS[out.datatype]))
    got = {"name": out.name, "datatype": out.datatype, "shape": list(out.shape), "data": data}
    _same_as_golden(got, want)
