"""One CycloneDX SBOM per image: the image's Python packages and its Debian packages.

``cyclonedx-py environment`` lists the image's venv; the Debian packages of the debootstrap
base, which carry the interpreter, glibc and OpenSSL, are added from ``dpkg-query`` as
``pkg:deb`` components. Standard library only, except for ``--validate``.

Run inside the image by images/build.sh (``--validate`` needs cyclonedx-python-lib with its
json-validation extra, installed there in /tmp), and on the host for ``--count``:

    sbom.py --image NAME --version V --image-id ID --python-bom IN.json --dpkg LIST --out OUT.json
            [--validate]
    sbom.py --count OUT.json      prints the component count, Python and Debian
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from urllib.parse import quote

DEBIAN_DISTRO = "debian-12"


def _deb_components(dpkg_list: str) -> list[dict]:
    components = []
    for line in dpkg_list.splitlines():
        if not line.strip():
            continue
        name, version, arch = line.split("\t")
        purl = f"pkg:deb/debian/{name}@{quote(version, safe='')}?arch={arch}&distro={DEBIAN_DISTRO}"
        components.append(
            {"type": "library", "bom-ref": purl, "name": name, "version": version, "purl": purl}
        )
    return components


def merge(args: argparse.Namespace) -> dict:
    bom = json.loads(Path(args.python_bom).read_text(encoding="utf-8"))
    python = bom.get("components", [])
    debian = _deb_components(Path(args.dpkg).read_text(encoding="utf-8"))
    image_ref = f"{args.image}@{args.image_id}"
    bom.setdefault("metadata", {})["component"] = {
        "type": "container",
        "bom-ref": image_ref,
        "name": args.image.rsplit(":", 1)[0],
        "version": args.version,
        "hashes": [{"alg": "SHA-256", "content": args.image_id.removeprefix("sha256:")}],
    }
    bom["components"] = python + debian
    dependencies = bom.setdefault("dependencies", [])
    dependencies.append({"ref": image_ref, "dependsOn": [c["bom-ref"] for c in bom["components"]]})
    dependencies.extend({"ref": c["bom-ref"]} for c in debian)
    return bom


def validate(text: str) -> None:
    """Fail unless the document is valid CycloneDX 1.6 JSON (strict: no unknown fields)."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise SystemExit(f"sbom.py: the SBOM is not valid CycloneDX 1.6: {error}")


def count(path: str) -> str:
    components = json.loads(Path(path).read_text(encoding="utf-8"))["components"]
    # Everything that is not a Debian package came from cyclonedx-py: the venv's distributions
    # (mlrail itself has no purl, as it was installed from a local wheel).
    debian = sum(c.get("purl", "").startswith("pkg:deb/") for c in components)
    python = len(components) - debian
    return f"{len(components)} components ({python} Python, {debian} Debian)"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", metavar="SBOM")
    p.add_argument("--image")
    p.add_argument("--version")
    p.add_argument("--image-id")
    p.add_argument("--python-bom")
    p.add_argument("--dpkg")
    p.add_argument("--out")
    p.add_argument("--validate", action="store_true", help="check it against the CycloneDX schema")
    args = p.parse_args()
    if args.count:
        print(count(args.count))
        return
    text = json.dumps(merge(args), indent=2, sort_keys=True) + "\n"
    if args.validate:
        validate(text)
    out = Path(args.out)
    # Atomic: a failed run leaves the previous SBOM, never half of a new one.
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
