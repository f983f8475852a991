"""``mlrail serve --verify-key``: a real server refuses tampered and unsigned versions, by file.

Each version is made the way export_onnx and deploy make one: version 1 of a model in a
scratch repository, signed (:func:`mlrail.artifacts.signing.sign_version`), then pushed
(:func:`mlrail.artifacts.model_repository.push`) into the served repository as version N. A
tampered version is prepared in a scratch copy and renamed in whole, so the server never sees
it half-made.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from mlrail.artifacts import model_repository, signing

from .helpers import (
    CLASSIFIER_SPEC,
    REGRESSOR_SPEC,
    classifier_model,
    classifier_request,
    copy_version,
    free_port,
    session,
    write_classifier,
)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    for who in ("ours", "theirs"):
        signing.generate_key_pair(folder / f"{who}.pem", folder / f"{who}.pub")
    return {
        "private": folder / "ours.pem",
        "public": folder / "ours.pub",
        "other_private": folder / "theirs.pem",
    }


def signed_version(scratch: Path, bias: float, key: Path | None) -> Path:
    """export_onnx's version 1 of a classifier, signed with ``key`` (unsigned if None)."""
    model_folder = scratch / f"export-{bias}" / "penguins"
    src = write_classifier(scratch / f"src-{bias}", 1, bias=bias)
    version = model_folder / str(model_repository.push(model_folder, src, CLASSIFIER_SPEC))
    if key is not None:
        signing.sign_version(version, key)
    return version


def one_byte_changed(model: Path, bias: float) -> None:
    """Flip one bit of a weight: still a valid ONNX model, so only the signature can tell."""
    offset = next(i for i in classifier_model(bias).graph.initializer if i.name == "offset")
    data = bytearray(model.read_bytes())
    at = data.find(offset.raw_data)
    assert at > 0 and data.count(offset.raw_data) == 1
    data[at] ^= 0x01
    model.write_bytes(bytes(data))


@dataclass
class Serving:
    url: str
    process: subprocess.Popen[str]
    http: httpx.Client

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def wait_for(self, path: str, done: Callable[[httpx.Response], bool]) -> httpx.Response:
        """GET ``path`` until ``done`` (each GET also triggers the server's re-scan)."""
        deadline = time.monotonic() + 60
        while True:
            response = self.http.get(path)
            if done(response):
                return response
            if time.monotonic() > deadline:
                raise AssertionError(f"{path}: still {response.status_code} {response.text}")
            time.sleep(0.1)

    def stop(self) -> str:
        """SIGTERM, then the server's log (stderr)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.communicate(timeout=60)[1]


@contextmanager
def mlrail_serve(repository: Path, *options: str) -> Iterator[Serving]:
    """``mlrail serve --model-repository REPOSITORY --port <free> OPTIONS`` until live."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlrail.cli", "serve", "--model-repository", str(repository)]
        + ["--port", str(port), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=10) as http:
            serving = Serving(url, process, http)
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise AssertionError(f"mlrail serve exited: {process.communicate()[1]}")
                try:
                    if http.get("/v2/health/live").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError("mlrail serve did not come up")
                time.sleep(0.05)
            yield serving
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def answer(serving: Serving) -> list[float]:
    response = serving.http.post(
        "/v2/models/penguins/infer", json=classifier_request([39.5], ["Dream"])
    )
    assert response.status_code == 200, response.text
    return [float(x) for x in response.json()["outputs"][0]["data"]]


def expected(version: Path) -> list[float]:
    inputs = {
        "bill_length_mm": np.array([[39.5]], dtype=np.float32),
        "island": np.array([["Dream"]], dtype=object),
    }
    return [float(x) for x in session(version).run(None, inputs)[0].ravel()]


@pytest.fixture
def served(tmp_path: Path, keys: dict[str, Path]) -> Path:
    """A repository serving ``penguins`` version 1, signed with our key and pushed."""
    models = tmp_path / "models"
    model_repository.push(
        models / "penguins", signed_version(tmp_path, 0.0, keys["private"]), CLASSIFIER_SPEC
    )
    return models


def test_a_signed_version_loads_and_a_new_signed_version_replaces_it(
    tmp_path: Path, served: Path, keys: dict[str, Path]
) -> None:
    with mlrail_serve(served, "--verify-key", str(keys["public"])) as serving:
        assert serving.get("/v2/health/ready").json() == {"ready": True}
        assert answer(serving) == pytest.approx(expected(served / "penguins" / "1"))

        v2 = signed_version(tmp_path, 1.0, keys["private"])
        assert model_repository.push(served / "penguins", v2, CLASSIFIER_SPEC) == 2
        serving.wait_for("/v2/models/penguins", lambda r: r.json().get("versions") == ["2"])
        assert answer(serving) == pytest.approx(expected(served / "penguins" / "2"))
        assert answer(serving) != pytest.approx(expected(served / "penguins" / "1"))
        log = serving.stop()
    assert "not loaded" not in log and "Traceback" not in log


def _tamper_model(version: Path, served: Path, keys: dict[str, Path]) -> None:
    one_byte_changed(version / "model.onnx", bias=1.0)


def _swap_config(version: Path, served: Path, keys: dict[str, Path]) -> None:
    # the live config is shared by the versions: the one being served keeps serving
    config = served / "penguins" / "config.pbtxt"
    config.write_text(model_repository.triton_config("penguins", REGRESSOR_SPEC))


def _other_key(version: Path, served: Path, keys: dict[str, Path]) -> None:
    signing.sign_version(version, keys["other_private"])


def _unsigned(version: Path, served: Path, keys: dict[str, Path]) -> None:
    (version / "model.sig").unlink()


@pytest.mark.parametrize(
    ("tamper", "file", "reason"),
    [
        (_tamper_model, "penguins/2/model.onnx", "changed since it was signed"),
        (_swap_config, "penguins/config.pbtxt", "swapped or edited"),
        (_other_key, "penguins/2/model.sig", "signed with another key"),
        (_unsigned, "penguins/2/model.sig", "unsigned"),
    ],
    ids=["one-byte-in-model.onnx", "swapped-config.pbtxt", "another-key", "unsigned"],
)
def test_a_tampered_version_is_refused_at_reload_and_the_old_one_keeps_serving(
    tmp_path: Path,
    served: Path,
    keys: dict[str, Path],
    tamper: Callable[[Path, Path, dict[str, Path]], None],
    file: str,
    reason: str,
) -> None:
    with mlrail_serve(served, "--verify-key", str(keys["public"])) as serving:
        before = answer(serving)
        # version 2, pushed as deploy would, into a scratch copy of the model; tampered there
        scratch = tmp_path / "scratch" / "penguins"
        model_repository.push(
            scratch, signed_version(tmp_path, 1.0, keys["private"]), CLASSIFIER_SPEC
        )
        tamper(scratch / "1", served, keys)
        copy_version(scratch / "1", served / "penguins" / "2")

        refused = serving.wait_for(
            "/v2/models/penguins/versions/2/ready", lambda r: r.status_code == 503
        )
        error = refused.json()["error"]
        assert f"{file}: " in error and reason in error
        assert str(served) not in error  # clients get repository-relative paths
        # still serving version 1, unchanged
        assert serving.get("/v2/models/penguins/ready").json() == {
            "name": "penguins",
            "ready": True,
        }
        assert serving.get("/v2/models/penguins").json()["versions"] == ["1"]
        assert answer(serving) == before
        assert serving.get("/v2/health/ready").status_code == 200
        log = serving.stop()
    refusals = [line for line in log.splitlines() if "version 2 not loaded" in line]
    assert len(refusals) == 1, log  # one line, not one per re-scan
    assert str(served / file) in refusals[0] and reason in refusals[0]


@pytest.mark.parametrize(
    ("tamper", "file", "reason"),
    [
        (_tamper_model, "penguins/1/model.onnx", "changed since it was signed"),
        (_swap_config, "penguins/config.pbtxt", "swapped or edited"),
        (_other_key, "penguins/1/model.sig", "signed with another key"),
        (_unsigned, "penguins/1/model.sig", "unsigned"),
    ],
    ids=["one-byte-in-model.onnx", "swapped-config.pbtxt", "another-key", "unsigned"],
)
def test_a_tampered_version_is_refused_at_start(
    tmp_path: Path,
    keys: dict[str, Path],
    tamper: Callable[[Path, Path, dict[str, Path]], None],
    file: str,
    reason: str,
) -> None:
    models = tmp_path / "models"
    model_repository.push(
        models / "penguins", signed_version(tmp_path, 1.0, keys["private"]), CLASSIFIER_SPEC
    )
    tamper(models / "penguins" / "1", models, keys)

    with mlrail_serve(models, "--verify-key", str(keys["public"])) as serving:
        not_ready = serving.get("/v2/health/ready")
        assert not_ready.status_code == 503
        assert f"{file}: " in not_ready.json()["error"] and reason in not_ready.json()["error"]
        response = serving.http.post(
            "/v2/models/penguins/infer", json=classifier_request([39.5], ["Dream"])
        )
        assert response.status_code == 503 and file in response.json()["error"]
        log = serving.stop()
    assert str(models / file) in log


def test_without_a_key_an_unsigned_model_serves_and_nothing_is_verified(
    tmp_path: Path, served: Path
) -> None:
    _unsigned(served / "penguins" / "1", served, {})
    code = (
        "import sys\n"
        "from mlrail.serving.app import create_app\n"
        f"app = create_app({str(served)!r})\n"
        "print(app.repository.model('penguins').ready, 'model_signing' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


def test_a_bad_verify_key_stops_mlrail_serve_before_it_binds(
    tmp_path: Path, served: Path, keys: dict[str, Path]
) -> None:
    port = free_port()
    for key in (tmp_path / "missing.pub", keys["private"]):
        run = subprocess.run(
            [sys.executable, "-m", "mlrail.cli", "serve", "--model-repository", str(served)]
            + ["--port", str(port), "--verify-key", str(key)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode != 0
        assert str(key) in run.stderr and "Traceback" not in run.stderr
        assert "serving " not in run.stdout


def test_two_workers_verify_too(tmp_path: Path, served: Path, keys: dict[str, Path]) -> None:
    _unsigned(served / "penguins" / "1", served, keys)
    with mlrail_serve(served, "--verify-key", str(keys["public"]), "--workers", "2") as serving:
        not_ready = serving.get("/v2/models/penguins/versions/1/ready")
        assert not_ready.status_code == 503 and "unsigned" in not_ready.json()["error"]
        serving.stop()


def test_the_cli_takes_verify_key() -> None:
    from mlrail.cli import build_parser

    assert build_parser().parse_args(["serve", "--verify-key", "k.pub"]).verify_key == "k.pub"
    assert build_parser().parse_args(["serve"]).verify_key is None


def test_a_refused_version_loads_once_its_config_is_restored(
    tmp_path: Path, served: Path, keys: dict[str, Path]
) -> None:
    config = served / "penguins" / "config.pbtxt"
    good = config.read_text()
    with mlrail_serve(served, "--verify-key", str(keys["public"])) as serving:
        _swap_config(served / "penguins" / "1", served, keys)
        scratch = tmp_path / "scratch" / "penguins"
        model_repository.push(
            scratch, signed_version(tmp_path, 1.0, keys["private"]), CLASSIFIER_SPEC
        )
        copy_version(scratch / "1", served / "penguins" / "2")
        serving.wait_for("/v2/models/penguins/versions/2/ready", lambda r: r.status_code == 503)

        # nothing in version 2's folder changes: the refusal is not cached past config.pbtxt
        config.write_text(good)

        serving.wait_for("/v2/models/penguins", lambda r: r.json().get("versions") == ["2"])
        assert answer(serving) == pytest.approx(expected(served / "penguins" / "2"))
        serving.stop()
