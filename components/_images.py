"""The only place images are named.

The tag follows ``mlrail.__version__`` so a component and the library inside its image always
match; the registry and repository can be overridden with environment variables at compile time
(``MLRAIL_COMPONENT_IMAGE`` / ``MLRAIL_SERVING_IMAGE`` take a full reference).

A release names images by digest instead: ``images/build.sh`` records the digest of each image it
built under :data:`COMPONENT_NAME` and :data:`SERVING_NAME` (``images/record.py``), ``mlrail
compile --image-digest`` / ``--image-record`` names the component image by digest, and the prod
overlay takes the serving image from the same record.
"""

import os
import re

from mlrail import __version__

__all__ = [
    "COMPONENT_IMAGE",
    "COMPONENT_NAME",
    "DIGEST_PATTERN",
    "REGISTRY",
    "SERVING_IMAGE",
    "SERVING_NAME",
    "by_digest",
]

#: The images' names: the last part of each repository, what images/build.sh tags
#: (``localhost/<name>:<version>``), its digest record's keys and manifests/base's image name.
COMPONENT_NAME = "mlrail"
SERVING_NAME = "mlrail-serving"

REGISTRY = os.environ.get("MLRAIL_REGISTRY", "ghcr.io/mlrail")
COMPONENT_IMAGE = os.environ.get(
    "MLRAIL_COMPONENT_IMAGE", f"{REGISTRY}/{COMPONENT_NAME}:{__version__}"
)
SERVING_IMAGE = os.environ.get("MLRAIL_SERVING_IMAGE", f"{REGISTRY}/{SERVING_NAME}:{__version__}")

#: An image digest as registries and podman write it: only sha256, in lower case.
DIGEST_PATTERN = re.compile(r"sha256:[0-9a-f]{64}")
# What placeholders in manifests use: well-formed, and the digest of no image anyone built.
_PLACEHOLDER = "sha256:" + "0" * 64


def by_digest(image: str, digest: str) -> str:
    """``image`` named by ``digest`` instead of its tag: ``<repository>@sha256:…``.

    Args:
        image: A reference by tag (``ghcr.io/mlrail/mlrail:0.1.0``), by digest, or bare.
        digest: ``sha256:`` and 64 lower-case hexadecimal digits.

    Returns:
        The reference by digest.

    Raises:
        ValueError: ``digest`` is not a sha256 digest, or is the all-zero placeholder.
    """
    if not DIGEST_PATTERN.fullmatch(digest):
        raise ValueError(
            f"not an image digest (sha256: and 64 lower-case hexadecimal digits): {digest!r}"
        )
    if digest == _PLACEHOLDER:
        raise ValueError(f"{digest} is a placeholder, not the digest of a built image")
    repository = image.split("@", 1)[0]
    # A colon after the last slash starts the tag; one before it is a registry's port.
    name_start = repository.rfind("/") + 1
    if ":" in repository[name_start:]:
        repository = repository[: repository.rindex(":")]
    return f"{repository}@{digest}"
