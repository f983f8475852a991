"""deploy's local target switches payload logging per model (``<repository>/<model>/logging.json``)
and a real ``mlrail serve --model-repository`` then logs that model, naming the identity deploy
recorded, under ``<repository>/_logs``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from mlrail.components.deploy.core import deploy
from mlrail.serving.payload_log.settings import read_sample_rate
from tests.serving.serve_cli import mlrail_serve

from .models import other_model


def test_a_rate_writes_logging_json_and_zero_removes_it(onnx_model: Path, tmp_path: Path) -> None:
    repo = tmp_path / "models"
    first = deploy(
        onnx_model, tmp_path / "d1", target="local", model_name="penguins",
        model_repository=str(repo), log_sample_rate=0.25,
    )  # fmt: skip
    assert json.loads((repo / "penguins" / "logging.json").read_text()) == {"sample_rate": 0.25}
    assert sorted(p.name for p in (repo / "penguins").iterdir()) == [
        "1", "config.pbtxt", "logging.json"
    ]  # fmt: skip

    # the same model again: nothing pushed, but the switch follows the new rate
    again = deploy(
        onnx_model, tmp_path / "d2", target="local", model_name="penguins",
        model_repository=str(repo), log_sample_rate=0.0,
    )  # fmt: skip
    assert (first.decision, again.decision) == ("pushed", "unchanged")
    assert not (repo / "penguins" / "logging.json").exists()
    assert read_sample_rate(repo / "penguins") == 0.0


def test_the_default_leaves_logging_off(onnx_model: Path, tmp_path: Path) -> None:
    repo = tmp_path / "models"
    deploy(onnx_model, tmp_path / "d", target="local", model_name="penguins",
           model_repository=str(repo))  # fmt: skip
    assert not (repo / "penguins" / "logging.json").exists()


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan"), True])
def test_a_rate_outside_0_to_1_is_refused_before_anything_is_pushed(
    onnx_model: Path, tmp_path: Path, rate: float
) -> None:
    repo = tmp_path / "models"
    with pytest.raises(ValueError, match="log_sample_rate must be from 0"):
        deploy(
            onnx_model, tmp_path / "d", target="local", model_name="penguins",
            model_repository=str(repo), log_sample_rate=rate,
        )  # fmt: skip
    assert not list(repo.rglob("model.onnx")) and not list(repo.rglob("logging.json"))


def test_the_log_folders_name_is_no_model_name(onnx_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'_logs' is the repository's payload log folder"):
        deploy(onnx_model, tmp_path / "d", target="local", model_name="_logs",
               model_repository=str(tmp_path / "models"))  # fmt: skip
    assert not (tmp_path / "models").exists()


def test_mlrail_serve_logs_the_deployed_model_with_its_identity(
    onnx_model: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "models"
    deployed = deploy(
        onnx_model, tmp_path / "d", target="local", model_name="penguins",
        model_repository=str(repo), log_sample_rate=1.0,
    )  # fmt: skip
    request = json.loads((onnx_model / "golden.json").read_text())["request"]
    with mlrail_serve(repo) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        for i in range(3):
            response = http.post("/v2/models/penguins/infer", json={**request, "id": f"g-{i}"})
            assert response.status_code == 200, response.text
        # a second version deployed while serving is logged with its own identity
        newer = other_model(onnx_model, tmp_path / "newer")
        second = deploy(
            newer, tmp_path / "d2", target="local", model_name="penguins",
            model_repository=str(repo), log_sample_rate=1.0,
        )  # fmt: skip
        for _ in range(1200):
            if http.get("/v2/models/penguins").json()["versions"] == ["2"]:
                break
            http.get("/v2/health/ready")  # requests drive the re-scan
            time.sleep(0.05)
        response = http.post("/v2/models/penguins/infer", json={**request, "id": "after"})
        assert response.status_code == 200 and response.json()["model_version"] == "2"
        assert http.get("/v2/models").json() == {"models": ["penguins"]}  # _logs is no model
        code, stderr = server.stop()

    assert code in (0, -15), stderr
    files = sorted((repo / "_logs" / "penguins").glob("*/*/part-*.jsonl"))
    logged = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert [(r["id"], r["version"], r["identity"]) for r in logged] == [
        ("g-0", "1", deployed.identity),
        ("g-1", "1", deployed.identity),
        ("g-2", "1", deployed.identity),
        ("after", "2", second.identity),
    ]
    assert deployed.identity != second.identity and deployed.identity.startswith("onnx-graph-v1:")
    assert logged[0]["inputs"] == request["inputs"]
