"""Opt-in: the training pipeline runs in the component image, in real containers.

kfp.local.DockerRunner starts one container per step from ``localhost/mlrail:<version>`` through
podman's Docker-compatible API, run the way the restricted Pod Security profile runs a pod: the
image's own non-root user, a read-only root file system with a tmpfs on /tmp, every capability
dropped, no privilege escalation, and no network. The serving image then serves the model the
run deployed, under the same restrictions, and answers export_onnx's golden request.

    images/build.sh
    MLRAIL_CONTAINER_TESTS=1 .venv/bin/pytest -m container tests/images -s

Skipped unless asked for (``MLRAIL_CONTAINER_TESTS=1`` or ``-m container``; see tests/opt_in.py).
Asked for, it fails, never skips, when what it needs is missing: the docker package, a Docker API,
either image. ``DOCKER_HOST``, when set, names the Docker API to use; otherwise the test starts
``podman system service`` on a socket of its own, with images/containers.conf (runc, cgroupfs,
ulimits), and stops it at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlrail import __version__
from tests.opt_in import OptIn

pytestmark = pytest.mark.container

REPO = Path(__file__).resolve().parents[2]
IMAGE = f"localhost/mlrail:{__version__}"
SERVING_IMAGE = f"localhost/mlrail-serving:{__version__}"
USER = 10001  # the component image's USER
# One set of docker-py `containers.run` arguments for the probe and for every pipeline step.
RUN_ARGS: dict[str, Any] = {
    "read_only": True,
    "network_mode": "none",
    "tmpfs": {"/tmp": "rw,nosuid,nodev,mode=1777,size=1g"},
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
    "mem_limit": "4g",  # the largest step's limit on the cluster (train, export_onnx)
    # Stated, not left to the engine: its defaults exceed these machines' limits (containers.conf).
    "ulimits": [
        {"name": "nofile", "soft": 16384, "hard": 16384},
        {"name": "nproc", "soft": 16384, "hard": 16384},
    ],
}
STEPS = ("ingest", "validate", "train", "evaluate", "export-onnx", "deploy")
NEED = OptIn("container", "MLRAIL_CONTAINER_TESTS", how="build the images with images/build.sh")
PARITY_BOUND = 1e-5


@pytest.fixture(scope="module")
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, str]]:
    """A docker-py client and its DOCKER_HOST, with the component image present."""
    NEED.check(request.config)
    try:
        import docker
    except ImportError:
        NEED.missing("the docker package is not installed: pip install docker")
    service = None
    host = os.environ.get("DOCKER_HOST", "")
    if not host:
        podman = shutil.which("podman")
        NEED.require(podman, "DOCKER_HOST is not set and there is no podman to serve a Docker API")
        assert podman is not None  # for mypy: require() failed otherwise
        folder = tmp_path_factory.mktemp("podman")
        socket, service_log = folder / "podman.sock", folder / "service.log"
        host = f"unix://{socket}"
        with open(service_log, "wb") as log:
            service = subprocess.Popen(
                [podman, "system", "service", "--time=0", host],
                env={**os.environ, "CONTAINERS_CONF": str(REPO / "images" / "containers.conf")},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while not socket.exists() and service.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if not socket.exists():
            service.kill()
            service.wait()
            NEED.missing(f"podman system service did not start: {service_log.read_text()}")
    client = None
    try:
        try:
            # the client asks the API for its version on creation: an absent API fails here
            client = docker.DockerClient(base_url=host)
            client.ping()
        except (docker.errors.DockerException, OSError) as e:  # requests errors are OSErrors
            NEED.missing(f"the Docker API at {host} does not answer: {e}")
        try:
            client.images.get(IMAGE)
        except docker.errors.ImageNotFound:
            NEED.missing(f"{IMAGE} is not built: run images/build.sh")
        yield client, host
    finally:
        if client is not None:
            client.close()
        if service is not None:
            service.terminate()
            service.wait(timeout=30)


def test_steps_run_as_non_root_on_a_read_only_root_without_network(engine) -> None:
    client, _ = engine
    probe = (
        "id -u; "
        "if touch /probe 2>/dev/null; then echo root-writable; else echo root-read-only; fi; "
        "touch /tmp/probe && echo tmp-writable; "
        "ls /sys/class/net"
    )
    # Detached, then waited for: with remove=True, podman's API may drop the logs before they
    # are read.
    container = client.containers.run(IMAGE, ["sh", "-c", probe], detach=True, **RUN_ARGS)
    try:
        assert container.wait(timeout=120)["StatusCode"] == 0
        out = container.logs().decode()
    finally:
        container.remove(force=True)
    uid, root, tmp, *interfaces = out.split()
    assert int(uid) == USER != 0
    assert root == "root-read-only"
    assert tmp == "tmp-writable"  # KFP's launcher command writes the component's code to mktemp
    assert interfaces == ["lo"], "network_mode none leaves only the loopback interface"


@pytest.fixture(scope="module")
def pipeline_run(engine, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run of the training pipeline in containers: its folder, result and log."""
    _, host = engine
    work = tmp_path_factory.mktemp("container-run")
    root = work / "pipeline_root"
    root.mkdir()
    # Bind-mounted into every step at the same path; the steps write as the image's user.
    root.chmod(0o777)
    request = {
        "pipeline_root": str(root),
        "arguments": {
            "source": "bundled:penguins",
            "deploy_target": "local",
            "model_repository": str(root / "models"),
        },
        "run_args": RUN_ARGS,
    }
    (work / "request.json").write_text(json.dumps(request), encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("_docker_run.py")),
            str(work / "request.json"),
            str(work / "result.json"),
        ],
        cwd=work,
        env={**os.environ, "MLRAIL_COMPONENT_IMAGE": IMAGE, "DOCKER_HOST": host},
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    log = proc.stdout + proc.stderr
    (work / "run.log").write_text(log, encoding="utf-8")
    assert proc.returncode == 0, log[-4000:]
    result = json.loads((work / "result.json").read_text(encoding="utf-8"))
    return {"root": root, "models": root / "models", "result": result, "log": log}


def test_training_pipeline_runs_in_containers(pipeline_run) -> None:
    result, log, root = pipeline_run["result"], pipeline_run["log"], pipeline_run["root"]
    assert result["error"] == "", f"{result['error']}\n{log[-4000:]}"
    statuses = {step: result["steps"].get(step, {}).get("status") for step in STEPS}
    assert statuses == dict.fromkeys(STEPS, "SUCCESS"), log[-4000:]
    assert log.count(f"Found image '{IMAGE}'") == len(STEPS), "every step ran in the image"

    (run_dir,) = root.glob("training-*")
    parity_file = run_dir / "export-onnx" / "onnx_model" / "parity.json"
    parity = json.loads(parity_file.read_text(encoding="utf-8"))
    assert parity["max_abs_diff"] <= PARITY_BOUND, parity
    # Written from inside the container by the image's user (rootful podman maps uids 1:1).
    assert parity_file.stat().st_uid == USER
    deployment = json.loads(
        (run_dir / "deploy" / "deployment" / "deployment.json").read_text(encoding="utf-8")
    )
    assert (Path(deployment["location"]) / "model.onnx").is_file()
    assert Path(deployment["location"]).is_relative_to(pipeline_run["models"])

    print(  # the figures, with -s
        f"\ncontainer run of {IMAGE} in {result['seconds']} s: "
        + ", ".join(f"{s} {result['steps'][s]['seconds']} s" for s in STEPS)
        + f"; parity max |diff| {parity['max_abs_diff']:.2g}; files owned by uid {USER}"
    )


# Run inside the serving container (it has no network to reach from outside): wait until ready,
# then send the golden request and print the answer.
_CLIENT = """
import json, os, sys, time, urllib.request
base = "http://127.0.0.1:8080"
for _ in range(300):
    try:
        if urllib.request.urlopen(base + "/v2/health/ready", timeout=2).status == 200:
            break
    except OSError:
        time.sleep(0.2)
request = urllib.request.Request(
    base + "/v2/models/" + sys.argv[1] + "/infer",
    data=os.environ["GOLDEN_REQUEST"].encode(),
    headers={"Content-Type": "application/json"},
)
print(urllib.request.urlopen(request, timeout=30).read().decode())
"""


def test_serving_image_answers_the_golden_request(engine, pipeline_run) -> None:
    client, _ = engine
    import docker

    try:
        client.images.get(SERVING_IMAGE)
    except docker.errors.ImageNotFound:
        NEED.missing(f"{SERVING_IMAGE} is not built: run images/build.sh")
    assert pipeline_run["result"]["error"] == "", "no deployed model to serve"
    (run_dir,) = pipeline_run["root"].glob("training-*")
    golden = json.loads(
        (run_dir / "export-onnx" / "onnx_model" / "golden.json").read_text(encoding="utf-8")
    )
    (model,) = [p.name for p in pipeline_run["models"].iterdir()]
    # The image's own ENTRYPOINT and CMD, as the ServingRuntime runs them, on the model mounted
    # read-only where KServe's storage initializer puts it.
    server = client.containers.run(
        SERVING_IMAGE,
        detach=True,
        volumes={str(pipeline_run["models"]): {"bind": "/mnt/models", "mode": "ro"}},
        **RUN_ARGS,
    )
    try:
        exit_code, output = server.exec_run(
            ["python3", "-c", _CLIENT, model],
            environment={"GOLDEN_REQUEST": json.dumps(golden["request"])},
        )
        logs = server.logs().decode()[-2000:]
    finally:
        server.remove(force=True)
    assert exit_code == 0, output.decode() + logs
    answer = json.loads(output.decode())
    (got,), (want,) = answer["outputs"], golden["outputs"]
    assert got["shape"] == want["shape"]
    diff = max(abs(a - b) for a, b in zip(got["data"], want["data"], strict=True))
    assert diff <= PARITY_BOUND, diff
    print(f"\n{SERVING_IMAGE} answered the golden request: max |diff| {diff:.2g}")
