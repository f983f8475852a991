"""The architecture holds (DESIGN §2): the import-linter contracts in pyproject.toml are kept, and
they catch what they are meant to catch.

Each mutant adds one module to a copy of the source tree that breaks one rule, the import
inside a function (where the two cycles issue 11 found were hidden), and the contracts must
reject it, naming the import.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = ROOT / ".ci" / "lint_imports.py"
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
    "importlinter"
]


def _contract(kind: str) -> dict[str, list[str]]:
    (found,) = [c for c in CONFIG["contracts"] if c["type"] == kind]
    return found


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(LINT), "--root", str(root)], capture_output=True, text=True
    )


def test_the_contracts_are_kept() -> None:
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Contracts: {len(CONFIG['contracts'])} kept, 0 broken." in done.stdout


def test_every_module_of_mlrail_has_a_layer() -> None:
    """A new top-level module must be placed in a layer, or the layers say nothing about it."""
    named = {
        m.strip()
        for layer in _contract("layers")["layers"]
        for m in layer.replace(":", "|").split("|")
    }
    present = {
        f"mlrail.{p.stem}"
        for p in (ROOT / "mlrail").iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    } | {"mlrail.components", "mlrail.pipelines"}
    present.discard("mlrail.data")  # the bundled data files: no code
    assert present - named == set(), "modules in no layer"
    assert named - present == set(), "layers naming modules that do not exist"


def test_every_component_is_independent() -> None:
    components = {
        f"mlrail.components.{p.parent.name}" for p in (ROOT / "components").glob("*/component.py")
    }
    assert set(_contract("independence")["modules"]) == components


MUTANTS = {
    "a component imports another": (
        "components/train/_mutant.py",
        "mlrail.components.ingest",
        "mlrail.components.train._mutant -> mlrail.components.ingest",
    ),
    "the artifacts layer imports a component": (
        "mlrail/artifacts/_mutant.py",
        "mlrail.components.train",
        "mlrail.artifacts._mutant -> mlrail.components.train",
    ),
    "serving imports a component": (
        "mlrail/serving/_mutant.py",
        "mlrail.components.deploy",
        "mlrail.serving._mutant -> mlrail.components.deploy",
    ),
    "a pipeline imports the local runner": (
        "pipelines/_mutant.py",
        "mlrail.local",
        "mlrail.pipelines._mutant -> mlrail.local",
    ),
    # the floor's layer names its modules one by one: the mutant replaces one (in the copy)
    "the floor imports the artifacts layer": (
        "mlrail/redact.py",
        "mlrail.artifacts.modelspec",
        "mlrail.redact -> mlrail.artifacts.modelspec",
    ),
}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__")
    for folder in ("mlrail", "components", "pipelines"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def _module(path: Path, imported: str) -> None:
    path.write_text(f"def _mutant() -> None:\n    import {imported}  # noqa: F401\n")


@pytest.mark.parametrize("mutant", MUTANTS)
def test_the_contracts_reject(tree: Path, mutant: str) -> None:
    where, imported, named = MUTANTS[mutant]
    _module(tree / where, imported)
    done = _lint(tree)
    assert done.returncode == 1, done.stdout
    assert named in done.stdout


def test_the_contracts_reject_a_cycle(tree: Path) -> None:
    evaluate = tree / "components" / "evaluate"
    _module(evaluate / "_mutant_a.py", "mlrail.components.evaluate._mutant_b")
    _module(evaluate / "_mutant_b.py", "mlrail.components.evaluate._mutant_a")
    done = _lint(tree)
    assert done.returncode == 1, done.stdout
    assert "No cycles are allowed in mlrail.components.evaluate." in done.stdout
    assert "._mutant_" in done.stdout


def test_every_package_is_in_the_distribution() -> None:
    """pyproject.toml lists mlrail's packages one by one (components/ and pipelines/ are mapped
    under mlrail): a package missing there works in the editable install and is absent from
    the wheel the images are built from."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]
    mapped = {
        "mlrail": "mlrail",
        "mlrail.components": "components",
        "mlrail.pipelines": "pipelines",
    }
    assert setuptools["package-dir"] == mapped
    found = set()
    for name, folder in mapped.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *parts)))
    found |= {"mlrail.data"}  # the bundled data: files, no __init__.py
    assert set(setuptools["packages"]) == found


def test_no_test_imports_a_conftest() -> None:
    """Fixtures are pytest's to find in conftest.py; what a test imports comes from a helpers
    module (tests/helpers.py and its kind), so a conftest never doubles as a library."""
    importers = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").rglob("*.py")
        if re.search(r"^\s*(from|import)\s+\S*conftest\b", path.read_text(encoding="utf-8"), re.M)
    ]
    assert importers == []
