"""The payload receiver (manifests/base/payload-logs.yaml) in every overlay: what deploy's
payload_log_url points at, run as `mlrail payload-receiver` with the pipelines' object store
Secret in the component image (it has pyarrow, which writing to s3:// needs; the serving image
does not), reachable from model servers only, reaching the object store only.

Pod Security and the NetworkPolicy rules over every pod template are test_policy.py's (they
see the receiver's Deployment); the real API server admits its pod in tests/cluster."""

from __future__ import annotations

import inspect
import tomllib
from typing import Any

import pytest
from packaging.requirements import Requirement

from mlrail.cli.options import Parser
from mlrail.cli.payloads import add_payload_receiver
from mlrail.components.deploy import kserve
from mlrail.pipelines._cluster import OBJECT_STORE_KEYS
from mlrail.pipelines.training import pipeline_function

from .kustomize import OVERLAYS, RECORD, REPO, Render, default_image
from .policy import KSERVE_ISVC_LABEL, selector_matches

NAME = "mlrail-payload-logs"
RECEIVER_POD = {"app.kubernetes.io/name": NAME}
PREDICTOR = {KSERVE_ISVC_LABEL: "penguins", "component": "predictor"}
IMAGES = REPO / "images"


def _one(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def _container(objs: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = _one(objs, "Deployment", NAME)["spec"]["template"]["spec"]["containers"]
    return container


def _policies(objs: list[dict[str, Any]], labels: dict[str, str], kind: str) -> dict[str, Any]:
    """The rules of ``kind`` (ingress, egress) of every policy selecting pods with ``labels``."""
    return {
        p["metadata"]["name"]: p["spec"].get(kind, [])
        for p in objs
        if p["kind"] == "NetworkPolicy"
        and kind.capitalize() in p["spec"].get("policyTypes", [])
        and selector_matches(p["spec"]["podSelector"], labels)
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_service_is_the_url_deploy_logs_to(render: Render, overlay: str) -> None:
    objs = render(overlay)
    service = _one(objs, "Service", NAME)
    deployment = _one(objs, "Deployment", NAME)
    assert kserve.RECEIVER_SERVICE == NAME
    assert kserve.receiver_url("mlrail") == f"http://{NAME}.mlrail.svc.cluster.local/"
    (port,) = service["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (80, 8080)  # the URL names no port: 80
    # the Service reaches the receiver's pods
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector_matches({"matchLabels": service["spec"]["selector"]}, template_labels)
    assert deployment["spec"]["selector"]["matchLabels"] == RECEIVER_POD
    # both events of one inference come from one model server: to one receiver
    assert service["spec"]["sessionAffinity"] == "ClientIP"


def _component_image(overlay: str) -> str:
    """The reference each overlay gives the component image (``mlrail``, not ``mlrail-serving``)."""
    return {
        "local": "mlrail:dev",
        "dev": default_image("COMPONENT_IMAGE"),
        "prod": RECORD["mlrail"],
    }[overlay]


def _names(requirements: list[str]) -> set[str]:
    return {Requirement(r).name.lower() for r in requirements}


def test_only_the_component_image_can_write_to_the_object_store() -> None:
    # Why the receiver runs the component image: `--to s3://...` opens the store with pyarrow
    # (mlrail.io.filesystem). The component image installs mlrail's own dependencies (build.sh
    # reads them from the wheel: pyproject.toml's); the serving image only its slim set.
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    serving = (IMAGES / "serving.requirements.txt").read_text().splitlines()
    serving = [line for line in serving if line.strip() and not line.lstrip().startswith("#")]
    assert "pyarrow" in _names(project["dependencies"])
    assert "pyarrow" not in _names(serving)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_receiver_runs_the_component_image_with_flags_the_cli_takes(
    render: Render, overlay: str
) -> None:
    objs = render(overlay)
    container = _container(objs)
    (runtime,) = [o for o in objs if o["kind"] == "ServingRuntime"]
    assert container["image"] == _component_image(overlay)
    assert container["image"] != runtime["spec"]["containers"][0]["image"]
    # the component image has no ENTRYPOINT (its CMD is `mlrail --help`): the pod names the
    # console script pyproject.toml installs
    component = (IMAGES / "component.Containerfile").read_text()
    assert "ENTRYPOINT" not in component and 'CMD ["mlrail", "--help"]' in component
    assert container["command"] == ["mlrail"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["mlrail"] == "mlrail.cli:main"
    parser = Parser(prog="mlrail")
    add_payload_receiver(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(container["args"])
    assert (args.command, args.host, args.port) == ("payload-receiver", "0.0.0.0", 8080)
    assert args.to.startswith("s3://")
    assert [p["containerPort"] for p in container["ports"]] == [args.port]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": args.port}
    for bound in ("requests", "limits"):
        assert set(container["resources"][bound]) == {"cpu", "memory"}, bound
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_object_store_secret_is_the_pipelines_own(render: Render, overlay: str) -> None:
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in _container(render(overlay))["env"]}
    secret = inspect.signature(pipeline_function()).parameters["object_store_secret"].default
    assert {ref["name"] for ref in env.values()} == {secret}
    assert {name: ref["key"] for name, ref in env.items()} == OBJECT_STORE_KEYS
    # the key pair is required (a receiver without it only counts failures); the endpoint is
    # absent for AWS S3 itself
    assert [n for n, ref in env.items() if ref.get("optional")] == ["AWS_ENDPOINT_URL"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_model_servers_reach_the_receiver(render: Render, overlay: str) -> None:
    objs = render(overlay)
    ingress = _policies(objs, RECEIVER_POD, "ingress")
    assert set(ingress) == {"default-deny-all", "allow-payload-logs-ingress"}
    (rule,) = ingress["allow-payload-logs-ingress"]
    (source,) = rule["from"]
    assert selector_matches(source["podSelector"], PREDICTOR)
    assert not selector_matches(source["podSelector"], {"app": "anything-else"})
    assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]
    # and model servers may send there (test_policy.py: nothing else of theirs opens)
    assert "allow-serving-egress-payload-logs" in _policies(objs, PREDICTOR, "egress")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_receiver_reaches_only_dns_and_the_overlays_object_store(
    render: Render, overlay: str
) -> None:
    objs = render(overlay)
    egress = _policies(objs, RECEIVER_POD, "egress")
    assert set(egress) == {
        "default-deny-all",
        "allow-dns-egress",
        "allow-payload-logs-egress-object-store",
    }
    pipelines = _one(objs, "NetworkPolicy", "allow-pipeline-egress-object-store")
    # the overlay's object store, as the pipelines reach it: never the base's placeholder
    assert egress["allow-payload-logs-egress-object-store"] == pipelines["spec"]["egress"]
    assert "SET-IN-OVERLAY" not in str(egress)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_receiver_has_no_api_token(render: Render, overlay: str) -> None:
    objs = render(overlay)
    account = _one(objs, "ServiceAccount", NAME)
    spec = _one(objs, "Deployment", NAME)["spec"]["template"]["spec"]
    assert account["automountServiceAccountToken"] is False
    assert spec["serviceAccountName"] == NAME and spec["automountServiceAccountToken"] is False
