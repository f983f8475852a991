"""``mlrail submit`` and ``mlrail schedule`` of a pipeline by name pin its image as ``compile``.

``--image-digest``, ``--image-record`` and ``$MLRAIL_IMAGE_DIGEST`` mean what they mean for
``mlrail compile`` (tests/cli/test_compile_image.py); here the fake KFP API's stored bodies show
what reached the server: the run's inline pipeline spec, the uploaded pipeline version's.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from mlrail.cli import IMAGE_DIGEST_ENV
from mlrail.components._images import COMPONENT_IMAGE
from tests.cli.test_compile_image import DIGEST, REPOSITORY, _record
from tests.cli.test_submit_schedule import _exit_code
from tests.kfp_api.fake_server import FakeKfpServer

PINNED = f"{REPOSITORY}@{DIGEST}"
TRAINING_TASKS = 8


@pytest.fixture(autouse=True)
def _no_digest_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(IMAGE_DIGEST_ENV, raising=False)


def _images(spec: Mapping[str, Any]) -> list[str]:
    """Every executor's image in a pipeline spec (bare, or beside its platform spec)."""
    spec = spec.get("pipeline_spec", spec)
    return [e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()]


def _run_images(server: FakeKfpServer) -> list[str]:
    [run] = server.runs.values()
    return _images(run.pipeline_spec)


def _uploaded_images(server: FakeKfpServer) -> list[str]:
    [versions] = server.versions.values()
    [version] = versions
    return _images(version.pipeline_spec)


def _submit(server: FakeKfpServer, *rest: str) -> int:
    return _exit_code(["submit", "--host", server.url, "training", *rest])


def _schedule(server: FakeKfpServer, *rest: str) -> int:
    argv = ["schedule", "--host", server.url, "training", "--name", "nightly"]
    return _exit_code([*argv, "--cron", "0 2 * * *", *rest])


def test_submit_by_name_with_image_digest_sends_every_task_by_digest(
    kfp_api: FakeKfpServer,
) -> None:
    assert _submit(kfp_api, "--image-digest", DIGEST) == 0
    assert _run_images(kfp_api) == [PINNED] * TRAINING_TASKS


def test_submit_by_name_without_a_pin_sends_the_tag(kfp_api: FakeKfpServer) -> None:
    # the other side of the test above: the pin is what changes the image
    assert _submit(kfp_api) == 0
    assert _run_images(kfp_api) == [COMPONENT_IMAGE] * TRAINING_TASKS


def test_submit_by_name_reads_the_environment(
    kfp_api: FakeKfpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(IMAGE_DIGEST_ENV, DIGEST)
    assert _submit(kfp_api) == 0
    assert _run_images(kfp_api) == [PINNED] * TRAINING_TASKS


def test_schedule_by_name_uploads_the_pipeline_by_digest(kfp_api: FakeKfpServer) -> None:
    assert _schedule(kfp_api, "--image-digest", DIGEST) == 0
    assert _uploaded_images(kfp_api) == [PINNED] * TRAINING_TASKS


def test_schedule_by_name_with_image_record_uploads_the_record_image(
    kfp_api: FakeKfpServer, tmp_path: Path
) -> None:
    component = "registry.example:5000/team/mlrail@" + DIGEST
    record = _record(tmp_path / "digests", component)
    assert _schedule(kfp_api, "--image-record", str(record)) == 0
    assert _uploaded_images(kfp_api) == [component] * TRAINING_TASKS


def test_schedule_by_name_reads_the_environment(
    kfp_api: FakeKfpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(IMAGE_DIGEST_ENV, DIGEST)
    assert _schedule(kfp_api) == 0
    assert _uploaded_images(kfp_api) == [PINNED] * TRAINING_TASKS


@pytest.mark.parametrize("command", ["submit", "schedule"])
def test_a_pin_with_a_compiled_package_is_refused_before_any_request(
    kfp_api: FakeKfpServer, package: str, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # the package names its images already: a pin it cannot apply is not silently dropped
    argv = [command, "--host", kfp_api.url, package, "--image-digest", DIGEST]
    if command == "schedule":
        argv += ["--name", "nightly", "--cron", "0 2 * * *"]
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert (
        f"--image-digest pins the image of a pipeline given by name; {package} is compiled" in err
    )
    assert kfp_api.requests == []


def test_a_compiled_package_is_sent_as_it_is_whatever_the_environment(
    kfp_api: FakeKfpServer, package: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(IMAGE_DIGEST_ENV, DIGEST)
    assert _exit_code(["submit", "--host", kfp_api.url, package]) == 0
    assert set(_run_images(kfp_api)) == {"python:3.11-slim"}  # tests/kfp_api/tiny_pipeline.py's


@pytest.mark.parametrize("command", ["submit", "schedule"])
def test_a_malformed_digest_is_a_usage_error_before_any_request(
    kfp_api: FakeKfpServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    run = _submit if command == "submit" else _schedule
    assert run(kfp_api, "--image-digest", "sha256:" + "0" * 64) == 2
    assert "argument --image-digest: " in capsys.readouterr().err
    monkeypatch.setenv(IMAGE_DIGEST_ENV, "latest")
    assert run(kfp_api) == 2
    assert f"mlrail {command}: error: ${IMAGE_DIGEST_ENV}: not an image digest" in (
        capsys.readouterr().err
    )
    assert kfp_api.requests == []
