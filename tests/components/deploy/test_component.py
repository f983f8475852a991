import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kfp.dsl import HTML, Artifact, Model
from kubernetes import client

from mlrail.artifacts.identity import model_identity
from mlrail.components.deploy import deploy
from tests.components._compile import compiled_container

from .fake_kube import FakeKube, KubeHttpFront, Revision
from .v2_servers import Servers


def _release(tmp_path: Path) -> dict[str, Artifact]:
    return {
        "release": Artifact(name="release", uri=str(tmp_path / "release")),
        "release_page": HTML(name="release_page", uri=str(tmp_path / "release_page")),
    }


def test_python_func_pushes_locally(onnx_model: Path, tmp_path: Path) -> None:
    deployment = Artifact(name="deployment", uri=str(tmp_path / "deployment"))
    deploy.python_func(
        onnx_model=Model(name="onnx_model", uri=str(onnx_model)),
        deployment=deployment,
        **_release(tmp_path),
        target="local",
        model_name="penguins",
        model_repository=str(tmp_path / "repo"),
        namespace="mlrail",
        runtime="mlrail-onnx",
        requested_by="ada",
        reason="hotfix",
        pipeline_name="training",
        run_id="run-9",
        kfp_ui_url="https://kfp.example/",
        image="registry.example/mlrail@sha256:" + "e" * 64,
    )
    assert deployment.metadata["version"] == 1 and deployment.metadata["target"] == "local"
    assert deployment.metadata["decision"] == "pushed"
    assert deployment.metadata["identity"] == model_identity(onnx_model / "model.onnx")
    assert (tmp_path / "repo" / "penguins" / "1" / "model.onnx").is_file()
    # not a registered version, no store: the record is the artifact's alone, unnumbered
    record = json.loads((tmp_path / "release" / "release.json").read_text())
    assert (record["kind"], record["number"], record["model"]["registry_version"]) == (
        "deploy", None, None,
    )  # fmt: skip
    assert record["where"]["decision"] == "pushed" and record["where"]["version"] == 1
    assert record["request"] == {"requested_by": "ada", "reason": "hotfix"}
    assert record["build"]["run_url"] == "https://kfp.example/#/runs/details/run-9"
    assert record["build"]["image_digest"] == "sha256:" + "e" * 64
    page = (tmp_path / "release_page").read_text()
    assert page.startswith("<!DOCTYPE html>") and "penguins" in page


@pytest.fixture
def kubeconfig_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[type[KubeHttpFront]]:
    """Points KUBECONFIG at whatever front is started; restores the client's defaults after."""
    saved = client.Configuration.get_default_copy()
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)

    class Front(KubeHttpFront):
        def __enter__(self) -> KubeHttpFront:
            front = super().__enter__()
            config = tmp_path / "kubeconfig"
            config.write_text(
                yaml.safe_dump(
                    {
                        "apiVersion": "v1",
                        "kind": "Config",
                        "clusters": [{"name": "c", "cluster": {"server": front.url}}],
                        "users": [{"name": "u", "user": {"token": "t"}}],
                        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                        "current-context": "x",
                    }
                )
            )
            monkeypatch.setenv("KUBECONFIG", str(config))
            return front

    yield Front
    client.Configuration.set_default(saved)


def test_python_func_deploys_to_kserve(
    onnx_model: Path,
    tmp_path: Path,
    servers: Servers,
    kubeconfig_for: type[KubeHttpFront],
) -> None:
    fake = FakeKube([Revision(servers.good, ready_after=0)])
    deployment = Artifact(name="deployment", uri=str(tmp_path / "deployment"))
    with kubeconfig_for(fake):
        deploy.python_func(
            # a local URI: Model.path maps minio:// to /minio/..., the launcher's download folder
            onnx_model=Model(name="onnx_model", uri=str(onnx_model)),
            deployment=deployment,
            **_release(tmp_path),
            target="kserve",
            model_name="penguins",
            namespace="mlrail",
            deployment_mode="Serverless",
            canary_traffic_percent=10,
            min_replicas=1,
            max_replicas=3,
            cpu="1",
            memory="1Gi",
            timeout_seconds=30,
        )
    assert deployment.metadata["decision"] == "applied"  # first deploy: the canary went to 100%
    assert deployment.metadata["url"] == "http://penguins-mlrail.example.com"
    (body,) = fake.received
    predictor = body["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (1, 3)
    assert predictor["model"]["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert predictor["model"]["storageUri"] == f"{onnx_model}/model_repository"
    record = json.loads((tmp_path / "deployment" / "deployment.json").read_text())
    assert record["smoke_test"]["ok"] and "first deploy" in record["notes"][0]
    release = json.loads((tmp_path / "release" / "release.json").read_text())
    assert release["where"]["inference_service"] == "penguins"
    assert release["where"]["url"] == "http://penguins-mlrail.example.com"


def test_compiles(tmp_path: Path) -> None:
    spec = compiled_container(deploy, tmp_path)
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    canary = parameters["canary_traffic_percent"]
    assert (canary["defaultValue"], canary["parameterType"]) == (0, "NUMBER_INTEGER")
    assert "rolls back" in canary["description"]  # the docstring reaches the Kubeflow UI
    assert {
        "deployment_mode",
        "min_replicas",
        "max_replicas",
        "cpu",
        "memory",
        "timeout_seconds",
        "ingress_url",
    } <= set(parameters)
