"""Shared check: a component compiles to IR with mlrail's image and no run-time pip install."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from kfp import compiler

from mlrail.components._images import COMPONENT_IMAGE


def compiled_container(component: Any, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "component.yaml"
    compiler.Compiler().compile(component, str(out))
    spec = yaml.safe_load(out.read_text())
    (executor,) = spec["deploymentSpec"]["executors"].values()
    container = executor["container"]
    assert container["image"] == COMPONENT_IMAGE
    assert "pip install" not in " ".join(container["command"] + container.get("args", []))
    return spec
