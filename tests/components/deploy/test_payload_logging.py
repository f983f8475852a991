"""deploy's payload logging on KServe (log_sample_rate, payload_log_url): the InferenceService
fields each runtime gets, checked against the CRD, against what `mlrail serve` parses once KServe
has appended them to the ServingRuntime's arguments, and through the kserve target's decisions
(logging switched on, kept, switched off) against the fake API."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlrail.cli.program import build_parser
from mlrail.components.deploy import core, kserve
from tests.manifests.kube_schema import K8S_VERSIONS, CrdSchemas, crd_errors
from tests.manifests.kustomize import MANIFESTS

from .fake_kube import FakeKube, Revision
from .scenarios import NAME, NAMESPACE, URI, Context, run
from .v2_servers import Servers

RECEIVER = "http://mlrail-payload-logs.mlrail.svc.cluster.local/"


def _render(onnx_model: Path, out: Path, **options: Any) -> dict[str, Any]:
    core.deploy(onnx_model, out, target="render", model_name=NAME, onnx_model_uri=URI, **options)
    return dict(yaml.safe_load((out / "inferenceservice.yaml").read_text()))


def _runtime_args() -> list[str]:
    runtime = yaml.safe_load((MANIFESTS / "base" / "servingruntime.yaml").read_text())
    (container,) = runtime["spec"]["containers"]
    return list(container["args"])


def test_the_mlrail_runtime_logs_through_its_own_sampling_sink(
    onnx_model: Path, tmp_path: Path, require_crds: CrdSchemas
) -> None:
    isvc = _render(onnx_model, tmp_path / "d", log_sample_rate=0.1)
    predictor = isvc["spec"]["predictor"]
    assert predictor["model"]["args"] == ["--log-payloads", RECEIVER, "--log-sample-rate", "0.1"]
    assert "logger" not in predictor  # KServe's logger would log everything, unsampled
    for k8s in K8S_VERSIONS:
        assert crd_errors(isvc, require_crds, k8s) == []
    # KServe appends an InferenceService's args to the runtime's (MergeRuntimeContainers): the
    # container runs `mlrail serve ... --log-payloads <receiver> --log-sample-rate 0.1`
    args = build_parser().parse_args(_runtime_args() + predictor["model"]["args"])
    assert (args.command, args.model_repository) == ("serve", "/mnt/models")
    assert (args.log_payloads, args.log_sample_rate) == (RECEIVER, 0.1)


def test_triton_logs_through_kserves_logger_which_cannot_sample(
    onnx_model: Path, tmp_path: Path, require_crds: CrdSchemas
) -> None:
    isvc = _render(
        onnx_model,
        tmp_path / "d",
        runtime="kserve-tritonserver",
        log_sample_rate=0.1,
        payload_log_url="http://collector.observability:8080/payloads",
    )
    predictor = isvc["spec"]["predictor"]
    assert predictor["logger"] == {
        "mode": "all",
        "url": "http://collector.observability:8080/payloads",
    }
    assert "args" not in predictor["model"]  # Triton would not know the flags
    for k8s in K8S_VERSIONS:
        assert crd_errors(isvc, require_crds, k8s) == []


@pytest.mark.parametrize("runtime", core.RUNTIMES)
def test_a_rate_of_zero_logs_nothing(runtime: str) -> None:
    predictor = core.inference_service("m", "ns", "s3://b/k", runtime=runtime)["spec"]["predictor"]
    assert "logger" not in predictor and "args" not in predictor["model"]
    assert kserve.payload_logging(runtime, 0.0, RECEIVER) == {}


def test_the_default_url_is_the_receiver_in_the_models_namespace() -> None:
    isvc = core.inference_service("m", "team-a", "s3://b/k", log_sample_rate=1.0)
    assert isvc["spec"]["predictor"]["model"]["args"] == [
        "--log-payloads",
        "http://mlrail-payload-logs.team-a.svc.cluster.local/",
        "--log-sample-rate",
        "1.0",
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"log_sample_rate": -0.1}, r"log_sample_rate -0\.1: expected a fraction from 0"),
        ({"log_sample_rate": 1.5}, r"log_sample_rate 1\.5"),
        ({"log_sample_rate": math.nan}, r"log_sample_rate nan"),
        (
            {"log_sample_rate": 0.1, "payload_log_url": "mlrail-payload-logs:80"},
            r"payload_log_url 'mlrail-payload-logs:80': expected an http:// or https:// URL",
        ),
        (
            {"log_sample_rate": 0.1, "payload_log_url": "http:///nohost"},
            r"payload_log_url 'http:///nohost'",
        ),
    ],
)
def test_bad_logging_settings_are_refused_before_any_call(
    onnx_model: Path, tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    fake = FakeKube()
    with pytest.raises(ValueError, match=message):
        core.deploy(
            onnx_model,
            tmp_path / "d",
            target="kserve",
            onnx_model_uri="s3://b/k",
            api=fake,
            **options,
        )
    assert fake.calls == [] and not (tmp_path / "d").exists()


@pytest.fixture
def ctx(servers: Servers, onnx_model: Path, tmp_path: Path) -> Context:
    return Context(servers.good, servers.bad, onnx_model, tmp_path)


def _live_logging(fake: FakeKube) -> tuple[Any, Any]:
    predictor = fake.live(NAMESPACE, NAME)["spec"]["predictor"]
    return predictor["model"].get("args"), predictor.get("logger")


def test_switching_logging_on_keeping_it_and_off_are_three_decisions(ctx: Context) -> None:
    fake = FakeKube([Revision(ctx.good)] * 4)
    on = run(ctx, fake, "on", log_sample_rate=0.25)
    assert on.error is None and on.result is not None and on.result.decision == "applied"
    args = ["--log-payloads", RECEIVER, "--log-sample-rate", "0.25"]
    assert _live_logging(fake) == (args, None)

    # the same model with the same logging: nothing to apply
    fake.received.clear()
    again = run(ctx, fake, "again", log_sample_rate=0.25)
    assert again.result is not None and again.result.decision == "unchanged"
    assert fake.received == []

    # another rate is a change: applied, the new rate live
    rate = run(ctx, fake, "rate", log_sample_rate=0.5)
    assert rate.result is not None and rate.result.decision == "applied"
    assert _live_logging(fake)[0] == ["--log-payloads", RECEIVER, "--log-sample-rate", "0.5"]

    # off: not "unchanged" (the live object still logs), and the apply drops the arguments
    off = run(ctx, fake, "off", log_sample_rate=0.0)
    assert off.result is not None and off.result.decision == "applied", off.error
    assert _live_logging(fake) == (None, None)
