"""Every overlay renders the objects mlrail needs, with images set only through kustomize."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

from .kustomize import MANIFESTS, OVERLAYS, RECORD, REPO, Render, default_image, pinned_copy

EXPECTED_OBJECTS = {
    ("Namespace", "mlrail"),
    ("ServiceAccount", "mlrail-pipeline-runner"),
    ("ServiceAccount", "mlrail-serving"),
    ("Role", "mlrail-pipeline-runner"),
    ("RoleBinding", "mlrail-pipeline-runner"),
    ("NetworkPolicy", "default-deny-all"),
    ("NetworkPolicy", "allow-dns-egress"),
    ("NetworkPolicy", "allow-serving-ingress"),
    ("NetworkPolicy", "allow-serving-egress-object-store"),
    ("NetworkPolicy", "allow-pipeline-egress"),
    ("NetworkPolicy", "allow-pipeline-egress-object-store"),
    ("NetworkPolicy", "allow-pipeline-egress-api-server"),
    ("NetworkPolicy", "allow-pipeline-egress-registry"),
    ("NetworkPolicy", "allow-pipeline-egress-event-sink"),
    ("Secret", "mlrail-s3-credentials"),
    ("ServingRuntime", "mlrail-onnx"),
    # the payload receiver (payload-logs.yaml)
    ("ServiceAccount", "mlrail-payload-logs"),
    ("Deployment", "mlrail-payload-logs"),
    ("Service", "mlrail-payload-logs"),
    ("NetworkPolicy", "allow-payload-logs-ingress"),
    ("NetworkPolicy", "allow-payload-logs-egress-object-store"),
    ("NetworkPolicy", "allow-serving-egress-payload-logs"),
    # train's data-parallel workers (trainingruntime.yaml)
    ("TrainingRuntime", "mlrail-train"),
    ("ServiceAccount", "mlrail-trainer"),
    ("NetworkPolicy", "allow-trainer-workers"),
    ("NetworkPolicy", "allow-trainer-egress-object-store"),
}
SERVE_ARGS = ["serve", "--host", "0.0.0.0", "--port", "8080", "--model-repository", "/mnt/models"]
# The names base/ uses (servingruntime.yaml; payload-logs.yaml's receiver runs the component
# image); overlays replace them through kustomize `images:`.
SERVING_IMAGE_NAME = "mlrail-serving"
COMPONENT_IMAGE_NAME = "mlrail"
# Where the prod overlay takes its images from: images/build.sh's digest record, a Component;
# then the Component every overlay shares that applies its cluster-endpoints.yaml.
PROD_COMPONENTS = ["../../../images/digests", "../../base/cluster-endpoints"]


def _serving_container(objs: list[dict[str, Any]]) -> dict[str, Any]:
    (runtime,) = [o for o in objs if o["kind"] == "ServingRuntime"]
    (container,) = runtime["spec"]["containers"]
    return container


def _receiver_container(objs: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = [o for o in objs if o["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _trainer_container(objs: list[dict[str, Any]]) -> dict[str, Any]:
    (runtime,) = [o for o in objs if o["kind"] == "TrainingRuntime"]
    (job,) = runtime["spec"]["template"]["spec"]["replicatedJobs"]
    (container,) = job["template"]["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_the_expected_objects(render: Render, overlay: str) -> None:
    objs = render(overlay)
    names = [(o["kind"], o["metadata"]["name"]) for o in objs]
    assert len(names) == len(set(names)), f"duplicate objects in {overlay}: {names}"
    assert set(names) == EXPECTED_OBJECTS


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_namespaced_objects_land_in_mlrail(render: Render, overlay: str) -> None:
    misplaced = [
        (o["kind"], o["metadata"]["name"], o["metadata"].get("namespace"))
        for o in render(overlay)
        if o["kind"] != "Namespace" and o["metadata"].get("namespace") != "mlrail"
    ]
    assert misplaced == []


def test_role_binding_subject_is_the_runner_account(render: Render) -> None:
    (binding,) = [o for o in render("prod") if o["kind"] == "RoleBinding"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "mlrail-pipeline-runner", "namespace": "mlrail"}
    ]


def test_local_overlay_uses_the_locally_built_images(render: Render) -> None:
    objs = render("local")
    assert _serving_container(objs)["image"] == "mlrail-serving:dev"
    assert _receiver_container(objs)["image"] == "mlrail:dev"
    assert _trainer_container(objs)["image"] == "mlrail:dev"


def test_dev_overlay_images_match_components_images(render: Render) -> None:
    # Images are named in components/_images.py; the dev overlay must point at the same ones.
    objs = render("dev")
    assert _serving_container(objs)["image"] == default_image("SERVING_IMAGE")
    assert _receiver_container(objs)["image"] == default_image("COMPONENT_IMAGE")
    # train's workers run the same image as the step that starts them
    assert _trainer_container(objs)["image"] == default_image("COMPONENT_IMAGE")


@pytest.mark.parametrize(
    ("name", "constant"),
    [(SERVING_IMAGE_NAME, "SERVING_IMAGE"), (COMPONENT_IMAGE_NAME, "COMPONENT_IMAGE")],
)
def test_the_record_names_the_repositories_components_images_names(
    name: str, constant: str
) -> None:
    # The record names the repository it was pushed to; a push to the default registry gives
    # the repository components/_images.py names.
    repository = default_image(constant).rsplit(":", 1)[0]
    assert RECORD[name].startswith(repository + "@sha256:")


def test_prod_overlay_takes_the_images_from_the_digest_record(render: Render) -> None:
    objs = render("prod")
    assert _serving_container(objs)["image"] == RECORD[SERVING_IMAGE_NAME]
    assert _receiver_container(objs)["image"] == RECORD[COMPONENT_IMAGE_NAME]
    assert _trainer_container(objs)["image"] == RECORD[COMPONENT_IMAGE_NAME]


def test_prod_overlay_does_not_render_without_a_digest_record(kubectl: str, tmp_path: Path) -> None:
    # A checkout where images/build.sh never ran: no image by tag, no placeholder, no render.
    manifests = pinned_copy(tmp_path, record=None)
    proc = subprocess.run(
        [kubectl, "kustomize", str(manifests / "overlays" / "prod")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0 and proc.stdout == ""
    assert f"{tmp_path / 'images' / 'digests'}: no such file or directory" in proc.stderr


@pytest.mark.parametrize("overlay", ("base", *(f"overlays/{o}" for o in OVERLAYS)))
def test_images_are_named_only_through_kustomize_images(overlay: str) -> None:
    kustomization = yaml.safe_load((MANIFESTS / overlay / "kustomization.yaml").read_text())
    patches = yaml.safe_dump(kustomization.get("patches", []))
    assert "image" not in patches, "set images with kustomize `images:`, not with patches"
    if overlay == "base":
        assert "images" not in kustomization, "the base leaves image references to the overlays"
    elif overlay == "overlays/prod":
        # Only the record names prod's images: no tag or placeholder digest here to fall back on.
        assert "images" not in kustomization
        assert kustomization["components"] == PROD_COMPONENTS
    else:
        assert [i["name"] for i in kustomization["images"]] == [
            COMPONENT_IMAGE_NAME,
            SERVING_IMAGE_NAME,
        ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_replaces_the_base_image_names(render: Render, overlay: str) -> None:
    objs = render(overlay)
    assert _serving_container(objs)["image"] not in (SERVING_IMAGE_NAME, COMPONENT_IMAGE_NAME)
    assert _receiver_container(objs)["image"] not in (SERVING_IMAGE_NAME, COMPONENT_IMAGE_NAME)
    assert _trainer_container(objs)["image"] not in (SERVING_IMAGE_NAME, COMPONENT_IMAGE_NAME)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_servingruntime_serves_onnx_over_v2(render: Render, overlay: str) -> None:
    (runtime,) = [o for o in render(overlay) if o["kind"] == "ServingRuntime"]
    spec = runtime["spec"]
    assert runtime["apiVersion"] == "serving.kserve.io/v1alpha1"
    assert spec["supportedModelFormats"] == [{"name": "onnx", "version": "1", "autoSelect": False}]
    assert spec["protocolVersions"] == ["v2", "grpc-v2"]  # gRPC on 8081, serve's default
    container = _serving_container(render(overlay))
    assert container["name"] == "kserve-container"
    assert "command" not in container, "the image ENTRYPOINT (mlrail) must stay in charge"
    assert container["args"] == SERVE_ARGS
    assert [p["containerPort"] for p in container["ports"]] == [8080]
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8080}
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": 8080}
    for bound in ("requests", "limits"):
        assert set(container["resources"][bound]) == {"cpu", "memory"}, bound
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_trainingruntime_is_what_trainer_and_train_expect(render: Render, overlay: str) -> None:
    from mlrail.components.train import multiworker, trainjob

    (runtime,) = [o for o in render(overlay) if o["kind"] == "TrainingRuntime"]
    assert runtime["apiVersion"] == f"{trainjob.GROUP}/{trainjob.VERSION}"
    assert runtime["metadata"]["name"] == trainjob.RUNTIME
    spec = runtime["spec"]
    # no framework policy: Trainer's PlainML plugin, which passes numNodes and env through
    assert set(spec["mlPolicy"]) == {"numNodes"}
    (job,) = spec["template"]["spec"]["replicatedJobs"]
    # what Trainer's TrainingRuntime webhook demands of the trainer's replicated Job
    # (pkg/webhooks/trainingruntime_webhook.go: replicas 1, a container named node)
    assert job["template"]["metadata"]["labels"] == {
        "trainer.kubeflow.org/trainjob-ancestor-step": "trainer"
    }
    assert job["replicas"] == 1 and job["name"] == "node"
    # a failed worker fails the run (synchronous training cannot go on without it)
    assert spec["template"]["spec"]["failurePolicy"] == {"maxRestarts": 0}
    assert job["template"]["spec"]["backoffLimit"] == 0
    pod = job["template"]["spec"]["template"]
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["serviceAccountName"] == "mlrail-trainer"
    assert pod["spec"]["automountServiceAccountToken"] is False
    container = _trainer_container(render(overlay))
    assert container["name"] == trainjob.CONTAINER
    assert container["command"] == ["python3", "-m", multiworker.MODULE]
    assert [p["containerPort"] for p in container["ports"]] == [multiworker.PORT]
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    env = {e["name"] for e in container["env"]}
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"} <= env
    # what train's TrainJob sets must not be fixed here
    assert multiworker.WORKERS_ENV not in env and "args" not in container


def test_local_overlay_asks_for_less_than_prod(render: Render) -> None:
    local = _serving_container(render("local"))["resources"]["limits"]["memory"]
    prod = _serving_container(render("prod"))["resources"]["limits"]["memory"]
    assert (local, prod) == ("512Mi", "2Gi")


def test_manifests_pass_yamllint() -> None:
    config = YamlLintConfig(
        "extends: default\n"
        "rules:\n"
        "  line-length: {max: 100}\n"
        # kustomize files are single documents; a leading '---' adds nothing.
        "  document-start: disable\n"
    )
    # generated files (KFP's own YAML dump) are checked by schema and regenerated, not hand-styled
    written = [p for p in sorted(MANIFESTS.rglob("*.yaml")) if not _generated(p)]
    problems = [
        f"{path.relative_to(REPO)}:{p.line}:{p.column}: {p.message}"
        for path in written
        for p in linter.run(path.read_text(), config, str(path))
    ]
    assert written and problems == []


def _generated(path: Path) -> bool:
    return path.read_text().startswith("# Generated by")
