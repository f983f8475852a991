"""images/sbom.py: one CycloneDX document per image, Python and Debian packages together."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SBOM = REPO / "images" / "sbom.py"

PYTHON_BOM = {
    "bomFormat": "CycloneDX",
    "specVersion": "1.6",
    "metadata": {"tools": {"components": [{"name": "cyclonedx-py", "version": "7.5.0"}]}},
    "components": [
        {
            "type": "library",
            "bom-ref": "numpy==2.4.6",
            "name": "numpy",
            "version": "2.4.6",
            "purl": "pkg:pypi/numpy@2.4.6",
        },
        {"type": "library", "bom-ref": "mlrail==0.1.0", "name": "mlrail", "version": "0.1.0"},
    ],
    "dependencies": [{"ref": "numpy==2.4.6"}, {"ref": "mlrail==0.1.0", "dependsOn": []}],
}
DPKG = "bsdutils\t1:2.38.1-5+deb12u3\tamd64\nca-certificates\t20230311+deb12u1\tall\n"


def _sbom(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(SBOM), *args], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _merged(tmp_path: Path) -> Path:
    (tmp_path / "python.json").write_text(json.dumps(PYTHON_BOM), encoding="utf-8")
    (tmp_path / "dpkg.txt").write_text(DPKG, encoding="utf-8")
    out = tmp_path / "image.cdx.json"
    _sbom(
        "--image", "localhost/mlrail:0.1.0", "--version", "0.1.0",
        "--image-id", "sha256:" + "ab" * 32,
        "--python-bom", str(tmp_path / "python.json"), "--dpkg", str(tmp_path / "dpkg.txt"),
        "--out", str(out),
    )  # fmt: skip
    return out


def test_debian_packages_join_the_python_ones_with_valid_purls(tmp_path: Path) -> None:
    bom = json.loads(_merged(tmp_path).read_text(encoding="utf-8"))
    purls = [c.get("purl") for c in bom["components"]]
    # The epoch's colon is percent-encoded, as the purl spec requires of a version.
    assert purls == [
        "pkg:pypi/numpy@2.4.6",
        None,
        "pkg:deb/debian/bsdutils@1%3A2.38.1-5%2Bdeb12u3?arch=amd64&distro=debian-12",
        "pkg:deb/debian/ca-certificates@20230311%2Bdeb12u1?arch=all&distro=debian-12",
    ]
    assert bom["specVersion"] == "1.6"
    assert bom["metadata"]["tools"] == PYTHON_BOM["metadata"]["tools"]


def test_the_image_is_the_subject_and_depends_on_every_component(tmp_path: Path) -> None:
    bom = json.loads(_merged(tmp_path).read_text(encoding="utf-8"))
    subject = bom["metadata"]["component"]
    assert (subject["type"], subject["name"], subject["version"]) == (
        "container",
        "localhost/mlrail",
        "0.1.0",
    )
    assert subject["hashes"] == [{"alg": "SHA-256", "content": "ab" * 32}]
    refs = {c["bom-ref"] for c in bom["components"]}
    (image,) = [d for d in bom["dependencies"] if d["ref"] == subject["bom-ref"]]
    assert set(image["dependsOn"]) == refs
    # Every component is named in the dependency graph, as CycloneDX consumers expect.
    assert refs <= {d["ref"] for d in bom["dependencies"]}


def test_count_reports_python_and_debian_components(tmp_path: Path) -> None:
    out = _merged(tmp_path)
    assert _sbom("--count", str(out)).strip() == "4 components (2 Python, 2 Debian)"
