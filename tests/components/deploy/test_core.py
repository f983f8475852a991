from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx
import pytest
import yaml

from mlrail.artifacts.identity import model_identity
from mlrail.components.deploy.core import Deployment, deploy, inference_service, storage_uri
from mlrail.errors import DataError
from tests.manifests.kube_schema import K8S_VERSIONS, CrdSchemas, crd_errors
from tests.manifests.policy import pod_security_violations

from .models import other_model, same_model_other_bytes, set_identity


def _local(onnx_model: Path, out: Path, repo: Path) -> Deployment:
    return deploy(
        onnx_model, out, target="local", model_name="penguins", model_repository=str(repo)
    )


def test_local_pushes_a_model_once_and_the_same_model_again_is_unchanged(
    onnx_model: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "models"
    first = _local(onnx_model, tmp_path / "d1", repo)
    # the same model in other bytes (as a same-seed retraining might write it): nothing pushed
    retrained = same_model_other_bytes(onnx_model, tmp_path / "retrained")
    second = _local(retrained, tmp_path / "d2", repo)
    assert (first.version, first.decision) == (1, "pushed")
    assert (second.version, second.decision) == (1, "unchanged")
    assert first.identity == second.identity == model_identity(onnx_model / "model.onnx")
    assert first.sha256 != second.sha256
    assert sorted(p.name for p in (repo / "penguins").iterdir()) == ["1", "config.pbtxt"]
    assert {p.name for p in (repo / "penguins" / "1").iterdir()} == {
        "model.onnx",
        "model_spec.json",
    }
    # the version serving keeps the first file's bytes
    assert (repo / "penguins" / "1" / "model.onnx").read_bytes() == (
        onnx_model / "model.onnx"
    ).read_bytes()
    record = json.loads((tmp_path / "d2" / "deployment.json").read_text())
    assert record["decision"] == "unchanged" and record["version"] == 1
    assert record["identity"] == record["previous_identity"] == first.identity
    assert json.loads((tmp_path / "d1" / "deployment.json").read_text())["previous_identity"] == ""


def test_local_pushes_a_new_version_for_a_model_one_ulp_away(
    onnx_model: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "models"
    first = _local(onnx_model, tmp_path / "d1", repo)
    changed = _local(other_model(onnx_model, tmp_path / "other"), tmp_path / "d2", repo)
    assert (changed.version, changed.decision) == (2, "pushed")
    assert changed.identity != first.identity and changed.previous_identity == first.identity
    # and back to the first model: the newest version is the other one, so it is pushed again
    again = _local(onnx_model, tmp_path / "d3", repo)
    assert (again.version, again.decision, again.identity) == (3, "pushed", first.identity)


def test_local_pushes_when_the_contract_differs_with_the_same_graph(
    onnx_model: Path, tmp_path: Path
) -> None:
    """The version is model.onnx and model_spec.json: a new spec is a new version."""
    repo = tmp_path / "models"
    _local(onnx_model, tmp_path / "d1", repo)
    src = tmp_path / "respec"
    shutil.copytree(onnx_model, src)
    spec = json.loads((src / "model_spec.json").read_text())
    spec["classes"] = list(reversed(spec["classes"]))
    (src / "model_spec.json").write_text(json.dumps(spec))
    assert _local(src, tmp_path / "d2", repo).decision == "pushed"


def test_a_model_changed_after_export_is_refused_naming_the_file(
    onnx_model: Path, tmp_path: Path
) -> None:
    """A weight changed, the identity export_onnx recorded left: deploy refuses it."""
    src = other_model(onnx_model, tmp_path / "tampered")
    proto = onnx.load(str(src / "model.onnx"))
    set_identity(proto, model_identity(onnx_model / "model.onnx"))
    (src / "model.onnx").write_bytes(proto.SerializeToString())
    with pytest.raises(DataError, match=r"tampered/model\.onnx: its metadata mlrail\.identity"):
        _local(src, tmp_path / "d", tmp_path / "models")
    assert not (tmp_path / "models" / "penguins").exists()


def test_render_writes_an_inference_service_that_fits_the_crd(
    onnx_model: Path, tmp_path: Path, require_crds: CrdSchemas
) -> None:
    result = deploy(
        onnx_model,
        tmp_path / "d",
        target="render",
        model_name="penguins",
        onnx_model_uri="minio://mlpipeline/v2/artifacts/run/export-onnx/onnx_model",
    )
    isvc = yaml.safe_load((tmp_path / "d" / "inferenceservice.yaml").read_text())
    model = isvc["spec"]["predictor"]["model"]
    assert model["modelFormat"] == {"name": "onnx"} and model["protocolVersion"] == "v2"
    assert (
        model["storageUri"]
        == "s3://mlpipeline/v2/artifacts/run/export-onnx/onnx_model/model_repository"
    )
    assert result.location == "mlrail/penguins"
    assert isvc["spec"]["predictor"]["serviceAccountName"] == "mlrail-serving"
    annotations = isvc["metadata"]["annotations"]
    assert annotations["serving.kserve.io/deploymentMode"] == "Serverless"
    assert annotations["serving.kserve.io/enable-tag-routing"] == "true"
    assert annotations["mlrail.io/model-sha256"] == result.sha256
    assert annotations["mlrail.io/model-identity"] == result.identity
    assert result.identity == model_identity(onnx_model / "model.onnx")
    assert result.decision == "rendered"
    assert isvc["spec"]["predictor"]["annotations"] == {
        "mlrail.io/model-identity": result.identity,
        "mlrail.io/model-sha256": result.sha256,
    }
    for k8s in K8S_VERSIONS:
        assert crd_errors(isvc, require_crds, k8s) == []
    # a typo is caught: the schema check is not vacuous
    isvc["spec"]["predictor"]["minReplica"] = 1
    assert crd_errors(isvc, require_crds, K8S_VERSIONS[-1]) != []


def test_the_inference_service_meets_pod_security_restricted() -> None:
    isvc = inference_service("m", "ns", "s3://b/k", service_account="mlrail-serving")
    assert pod_security_violations([isvc]) == []
    predictor = isvc["spec"]["predictor"]
    assert predictor["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert predictor["automountServiceAccountToken"] is False
    # the check is not vacuous: without deploy's settings the container part is refused
    del predictor["model"]["securityContext"]["allowPrivilegeEscalation"]
    predictor["model"]["securityContext"]["capabilities"] = {"drop": []}
    assert pod_security_violations([isvc]) == [
        "InferenceService/m predictor model: capabilities.drop must include ALL"
    ]


def test_raw_deployment_renders_without_tag_routing(tmp_path: Path) -> None:
    isvc = inference_service(
        "m", "ns", "s3://b/k", deployment_mode="RawDeployment", min_replicas=2, max_replicas=4
    )
    annotations = isvc["metadata"]["annotations"]
    assert annotations == {"serving.kserve.io/deploymentMode": "RawDeployment"}
    predictor = isvc["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (2, 4)


def test_both_runtimes_render(tmp_path: Path) -> None:
    for runtime in ("mlrail-onnx", "kserve-tritonserver"):
        isvc = inference_service("m", "ns", "s3://b/k", runtime=runtime)
        assert isvc["spec"]["predictor"]["model"]["runtime"] == runtime
    with pytest.raises(ValueError, match="runtime 'triton'"):
        inference_service("m", "ns", "s3://b/k", runtime="triton")


@pytest.mark.parametrize("name", ["Penguins", "my_model", "-x", "a" * 46])
def test_names_kubernetes_refuses_are_refused_here(name: str) -> None:
    with pytest.raises(ValueError, match="cannot name an InferenceService"):
        inference_service(name, "ns", "s3://b/k")


def test_storage_uri() -> None:
    assert storage_uri("gs://b/x/") == "gs://b/x/model_repository"
    assert storage_uri("minio://b/x") == "s3://b/x/model_repository"


def test_missing_model_and_unknown_target(tmp_path: Path, onnx_model: Path) -> None:
    with pytest.raises(DataError, match="no ONNX model"):
        deploy(tmp_path, tmp_path / "d", model_repository=str(tmp_path / "r"))
    with pytest.raises(ValueError, match="target 'cluster'"):
        deploy(onnx_model, tmp_path / "d", target="cluster")
    assert not (tmp_path / "d").exists()


def test_concurrent_deploys_never_share_or_half_write_a_version(
    onnx_model: Path, tmp_path: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    repo = tmp_path / "models"
    # six different models: the same one again would be "unchanged"
    models = [other_model(onnx_model, tmp_path / f"m{i}", ulps=i + 1) for i in range(6)]

    def push(i: int) -> int | None:
        return deploy(
            models[i],
            tmp_path / f"d{i}",
            target="local",
            model_name="m",
            model_repository=str(repo),
        ).version

    with ThreadPoolExecutor(max_workers=6) as pool:
        versions = sorted(pool.map(push, range(6)))
    assert versions == [1, 2, 3, 4, 5, 6]
    folders = sorted(p.name for p in (repo / "m").iterdir())
    assert folders == ["1", "2", "3", "4", "5", "6", "config.pbtxt"]  # no .incoming-* left
    pushed = sorted((repo / "m" / str(v) / "model.onnx").read_bytes() for v in range(1, 7))
    assert pushed == sorted((m / "model.onnx").read_bytes() for m in models)


_PUSH = """
import sys
from mlrail.components.deploy.core import deploy
print(deploy(sys.argv[1], sys.argv[2], target="local", model_name="m",
             model_repository=sys.argv[3]).version)
"""


def test_concurrent_deploys_from_separate_processes_get_distinct_versions(
    onnx_model: Path, tmp_path: Path
) -> None:
    """Two `mlrail run`s on one working folder push from two processes, not two threads."""
    import subprocess
    import sys

    repo = tmp_path / "models"
    models = [other_model(onnx_model, tmp_path / f"m{i}", ulps=i + 1) for i in range(4)]
    pushes = [
        subprocess.Popen(
            [sys.executable, "-c", _PUSH, str(models[i]), str(tmp_path / f"d{i}"), str(repo)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    versions = sorted(int(p.communicate()[0]) for p in pushes)
    assert [p.returncode for p in pushes] == [0, 0, 0, 0]
    assert versions == [1, 2, 3, 4]
    assert sorted(p.name for p in (repo / "m").iterdir()) == ["1", "2", "3", "4", "config.pbtxt"]


def test_deploying_under_another_name_renames_the_triton_config(
    onnx_model: Path, tmp_path: Path
) -> None:
    deploy(
        onnx_model,
        tmp_path / "d",
        target="local",
        model_name="birds",
        model_repository=str(tmp_path / "r"),
    )
    config = (tmp_path / "r" / "birds" / "config.pbtxt").read_text()
    assert config.startswith('name: "birds"\n') and 'platform: "onnxruntime_onnx"' in config
    # export's config but for the name: one writer for both
    exported = (onnx_model / "model_repository" / "penguins" / "config.pbtxt").read_text()
    assert config == exported.replace('name: "penguins"\n', 'name: "birds"\n', 1)


def test_folders_that_are_not_versions_do_not_move_the_next_version(
    onnx_model: Path, tmp_path: Path
) -> None:
    """``0``, ``01`` and ``latest`` are not versions to the server, so not to deploy either:
    deploy used to count any digit-named folder, and pushed version 2 beside an ``01`` that
    ``mlrail serve`` does not serve."""
    from mlrail.serving.repository import Repository

    repo = tmp_path / "models"
    for name in ("0", "01", "latest"):
        shutil.copytree(onnx_model / "model_repository" / "penguins" / "1", repo / "m" / name)
    result = deploy(
        onnx_model, tmp_path / "d", target="local", model_name="m", model_repository=str(repo)
    )
    assert result.version == 1
    served = Repository(repo).model("m")
    assert served is not None and served.versions == (1,)
    assert served.served is not None and served.served.version == result.version
