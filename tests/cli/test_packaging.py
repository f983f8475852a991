"""What the package says about itself: the licence file in the wheel, project URLs and
classifiers, ``python -m mlrail``, and a written reason beside every dependency cap."""

from __future__ import annotations

import email
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PYPROJECT = ROOT / "pyproject.toml"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """mlrail's wheel, built from this checkout with the installed setuptools (no network)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [built] = out.glob("mlrail-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_carries_the_apache_licence_and_says_so(wheel: zipfile.ZipFile) -> None:
    [licence] = [n for n in wheel.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
    text = wheel.read(licence).decode()
    assert text == (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    [metadata] = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    meta = email.message_from_bytes(wheel.read(metadata))
    assert meta["License-Expression"] == "Apache-2.0" and meta["License-File"] == "LICENSE"
    assert "Typing :: Typed" in meta.get_all("Classifier")
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert set(urls) >= {"Homepage", "Source", "Issues"}
    assert "mlrail/__main__.py" in wheel.namelist()  # python -m mlrail


def _dependency_blocks() -> list[list[str]]:
    """The dependency arrays of pyproject.toml as their lines (comments included)."""
    text = PYPROJECT.read_text(encoding="utf-8")
    blocks = re.findall(r"^(?:dependencies|dev) = \[\n(.*?)^\]", text, re.M | re.S)
    return [block.splitlines() for block in blocks]


#: A reason for a cap talks about versions; a comment on what a library is for does not.
_REASON = re.compile(r"\b(cap|pin|major|minor|version|release)", re.I)


def _unexplained_caps(lines: list[str]) -> list[str]:
    """Capped or pinned requirements with no reason on their line or in the comment block
    above them (a block explains the capped requirements that follow it, up to the first
    requirement without a cap)."""
    found, explained = [], False
    for line in lines:
        code, _, comment = line.partition("#")
        if not code.strip():
            explained = explained or bool(_REASON.search(comment))
            continue
        capped = re.search(r"<|==|~=", code.split(";")[0])
        if capped and not (_REASON.search(comment) or explained):
            found.append(code.strip().strip(",").strip('"'))
        if not capped:
            explained = False
    return found


def test_every_dependency_cap_has_its_reason() -> None:
    blocks = _dependency_blocks()
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    listed = len(config["dependencies"]) + len(config["optional-dependencies"]["dev"])
    assert sum(1 for b in blocks for line in b if line.strip().startswith('"')) == listed
    assert [cap for block in blocks for cap in _unexplained_caps(block)] == []


def test_an_unexplained_cap_is_caught() -> None:
    lines = [
        "    # why a is capped",
        '    "a>=1,<2",',
        '    "b==3",',  # still under a's comment block
        '    "c>=1",',
        '    "d<5",',
        '    "e<6",  # pinned: the reason inline',
        "    # evaluate's fairness metrics (what it is for, nothing more)",
        '    "fairlearn>=0.15,<0.16",',
    ]
    assert _unexplained_caps(lines) == ["d<5", "fairlearn>=0.15,<0.16"]
