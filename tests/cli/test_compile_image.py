"""``mlrail compile --image-digest / --image-record / $MLRAIL_IMAGE_DIGEST``: tasks by digest.

The component image is bound when the components are imported, so the compiler names the pinned
image in the compiled executors; these tests check that only the image changes, in every task.
"""

# No `from __future__ import annotations`: KFP reads the test pipeline's annotations as types.
import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlrail.cli import IMAGE_DIGEST_ENV, main
from mlrail.components._images import COMPONENT_IMAGE
from mlrail.errors import MlrailError
from tests.cli.usage import error_line
from tests.pipelines.golden import GOLDEN_DIR, compiled_once, normalise

REPO = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + hashlib.sha256(b"a component image").hexdigest()
REPOSITORY = COMPONENT_IMAGE.rsplit(":", 1)[0]  # ghcr.io/mlrail/mlrail unless overridden


@pytest.fixture(autouse=True)
def _no_digest_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(IMAGE_DIGEST_ENV, raising=False)


def _images(ir: dict[str, Any]) -> list[str]:
    return [e["container"]["image"] for e in ir["deploymentSpec"]["executors"].values()]


def _compile(tmp_path: Path, *args: str) -> str:
    out = tmp_path / "pipeline.yaml"
    assert main(["compile", "training", "-o", str(out), *args]) == 0
    return out.read_text(encoding="utf-8")


def _pinned_text(image: str) -> str:
    """The unpinned IR with only the component image replaced: what a pinned compile must give.

    The executors' images, and the constant register records as the run's image.
    """
    text = compiled_once("training")
    assert text.count(f"image: {COMPONENT_IMAGE}\n") == 8  # one per task: the guard below
    constant = f"constant: {COMPONENT_IMAGE}\n"
    assert text.count(constant) == 2  # register's and deploy's image parameter
    text = text.replace(constant, f"constant: {image}\n")
    return text.replace(f"image: {COMPONENT_IMAGE}\n", f"image: {image}\n")


def _record(folder: Path, component: str) -> Path:
    serving = "ghcr.io/mlrail/mlrail-serving@sha256:" + hashlib.sha256(b"serving").hexdigest()
    proc = subprocess.run(
        [sys.executable, str(REPO / "images" / "record.py"), "--out", str(folder)]
        + [f"mlrail={component}", f"mlrail-serving={serving}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return folder / "kustomization.yaml"


def test_image_digest_names_every_task_by_digest_and_changes_nothing_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pinned = _compile(tmp_path, "--image-digest", DIGEST)
    assert pinned == _pinned_text(f"{REPOSITORY}@{DIGEST}")
    assert set(_images(next(yaml.safe_load_all(pinned)))) == {f"{REPOSITORY}@{DIGEST}"}
    assert f"(tasks run {REPOSITORY}@{DIGEST})" in capsys.readouterr().out


def test_environment_pins_like_the_option_and_the_option_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(IMAGE_DIGEST_ENV, DIGEST)
    assert _compile(tmp_path) == _pinned_text(f"{REPOSITORY}@{DIGEST}")
    other = "sha256:" + "ab" * 32
    assert _compile(tmp_path, "--image-digest", other) == _pinned_text(f"{REPOSITORY}@{other}")


def test_image_record_names_the_record_component_image(tmp_path: Path) -> None:
    # The record names its own repository: where build.sh built or pushed the image.
    component = "registry.example:5000/team/mlrail@" + DIGEST
    record = _record(tmp_path / "digests", component)
    assert _compile(tmp_path, "--image-record", str(record)) == _pinned_text(component)


def test_pinned_compile_leaves_the_next_unpinned_one_by_tag(tmp_path: Path) -> None:
    # The pipeline object is shared by the process (kfp.local runs, other compiles): a pin must
    # not stick to it.
    _compile(tmp_path, "--image-digest", DIGEST)
    assert normalise(_compile(tmp_path)) == (GOLDEN_DIR / "training.yaml").read_text()


def test_manifests_format_pins_the_pipeline_version(tmp_path: Path) -> None:
    def version(*args: str) -> dict[str, Any]:
        out = tmp_path / f"gitops{len(args)}"
        assert main(["compile", "training", "--format", "manifests", "-o", str(out), *args]) == 0
        docs = list(yaml.safe_load_all((out / "training.yaml").read_text(encoding="utf-8")))
        return next(d for d in docs if d["kind"] == "PipelineVersion")

    tagged, pinned = version(), version("--image-digest", DIGEST)
    assert set(_images(pinned["spec"]["pipelineSpec"])) == {f"{REPOSITORY}@{DIGEST}"}
    assert set(_images(tagged["spec"]["pipelineSpec"])) == {COMPONENT_IMAGE}
    # A PipelineVersion is immutable: another image is another version.
    assert pinned["metadata"]["name"] != tagged["metadata"]["name"]


def _usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> tuple[int, str]:
    code, line = error_line(argv, capsys)
    assert list(tmp_path.iterdir()) == [], "nothing may be written"
    return code, line


@pytest.mark.parametrize(
    ("digest", "message"),
    [
        ("abc", "not an image digest (sha256: and 64 lower-case hexadecimal digits): 'abc'"),
        ("sha256:" + "A" * 64, "not an image digest"),
        ("sha512:" + "a" * 128, "not an image digest"),
        ("ab" * 32, "not an image digest"),  # the hex alone: which algorithm is not guessed
        ("sha256:" + "0" * 64, "is a placeholder, not the digest of a built image"),
    ],
    ids=["short", "upper-case", "sha512", "no-algorithm", "placeholder"],
)
def test_malformed_digest_is_a_usage_error_before_anything_compiles(
    digest: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["compile", "training", "-o", str(tmp_path / "p.yaml"), "--image-digest", digest]
    code, err = _usage_error(argv, capsys, tmp_path)
    assert code == 2
    assert err.startswith("mlrail compile: error: argument --image-digest: ") and message in err


def test_malformed_digest_in_the_environment_names_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(IMAGE_DIGEST_ENV, "latest")
    code, err = _usage_error(["compile", "-o", str(tmp_path / "p.yaml")], capsys, tmp_path)
    assert (code, err) == (
        2,
        f"mlrail compile: error: ${IMAGE_DIGEST_ENV}: not an image digest "
        "(sha256: and 64 lower-case hexadecimal digits): 'latest'",
    )


def test_digest_and_record_together_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = _record(tmp_path / "digests", f"{REPOSITORY}@{DIGEST}")
    out = tmp_path / "out"
    out.mkdir()
    argv = ["compile", "-o", str(out / "p.yaml"), "--image-digest", DIGEST]
    code, err = _usage_error([*argv, "--image-record", str(record)], capsys, out)
    assert code == 2
    assert "argument --image-record: not allowed with argument --image-digest" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "missing.yaml: No such file or directory"),
        ("kind: Kustomization\n", "not a digest record"),
        ("kind: Component\nimages: [{name: mlrail}]\n", "has no name, newName and digest"),
        (
            "kind: Component\nimages: [{name: mlrail-serving, newName: x, digest: sha256:"
            + "1" * 64
            + "}]\n",
            "the record names no 'mlrail' image",
        ),
        (
            "kind: Component\nimages: [{name: mlrail, newName: x, digest: 'sha256:"
            + "0" * 64
            + "'}]\n",
            "is a placeholder",
        ),
        ("kind: [Component\n", "not YAML (ParserError)"),
    ],
    ids=["missing", "not-a-component", "no-digest", "no-component-image", "placeholder", "yaml"],
)
def test_bad_record_is_a_usage_error_naming_the_option(
    content: str | None, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "record"
    folder.mkdir()
    record = folder / ("missing.yaml" if content is None else "kustomization.yaml")
    if content is not None:
        record.write_text(content, encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    argv = ["compile", "-o", str(out / "p.yaml"), "--image-record", str(record)]
    code, err = _usage_error(argv, capsys, out)
    assert code == 2
    assert err.startswith("mlrail compile: error: argument --image-record: ") and message in err


def test_a_pipeline_without_the_component_image_is_not_silently_left_by_tag() -> None:
    from kfp import dsl

    from mlrail.compiler import _with_component_image
    from tests.kfp_api.tiny_pipeline import echo

    @dsl.pipeline(name="elsewhere")
    def elsewhere() -> None:
        echo(message="hi")

    with pytest.raises(MlrailError, match="no task of 'elsewhere' runs the component image"):
        _with_component_image(elsewhere, f"{REPOSITORY}@{DIGEST}")
