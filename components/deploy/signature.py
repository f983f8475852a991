"""deploy's signature check: before anything is pushed, applied or rendered.

export_onnx signs version 1 of the artifact's model repository
(``model_repository/<name>/1``: ``model.onnx``, ``model_spec.json``, ``model_config.pbtxt``,
``model.sig``; :mod:`mlrail.artifacts.signing`). With a public key (``verify_key``, else
``$MLRAIL_VERIFY_KEY``) deploy verifies that version and its ``config.pbtxt`` against it, and
requires the artifact's top-level ``model.onnx`` and ``model_spec.json`` (what evaluate measured)
to be the signed ones byte for byte; any difference, another key's signature or no signature is
refused with :class:`~mlrail.artifacts.signing.SignatureError`, one line naming the file. With no
key nothing is verified (recorded as ``not verified``, or ``unsigned`` for an unsigned model).

A signed artifact is deployed from its signed version folder (the local target pushes that
folder, so ``model.sig`` and ``model_config.pbtxt`` travel with the version; KServe's
``storageUri`` is the repository holding it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mlrail.artifacts import model_repository as repository
from mlrail.artifacts.model_repository import CONFIG_FILE, MODEL_FILE, SPEC_FILE
from mlrail.artifacts.signing import (
    SIGNATURE_FILE,
    SignatureError,
    is_signed,
    read_public_key,
    verify_version,
)

__all__ = [
    "NOT_VERIFIED",
    "UNSIGNED",
    "VERIFIED",
    "VERIFY_KEY_ENV",
    "Signature",
    "check",
    "still_verifies",
    "resolve_key",
]

#: The environment variable naming the public key when ``verify_key`` is empty.
VERIFY_KEY_ENV = "MLRAIL_VERIFY_KEY"
VERIFIED, UNSIGNED, NOT_VERIFIED = "verified", "unsigned", "not verified"


@dataclass(frozen=True)
class Signature:
    """deployment.json's ``signature``: ``verified`` (with the signer: the public key's
    fingerprint), ``not verified`` (signed, no key configured) or ``unsigned`` (no signature,
    no key configured)."""

    status: str
    signer: str = ""


def resolve_key(configured: str) -> str:
    """The public key file to verify with: ``configured``, else ``$MLRAIL_VERIFY_KEY``, else ""."""
    return configured or os.environ.get(VERIFY_KEY_ENV, "")


def _version(src: Path) -> Path | None:
    """The newest version of the one model in the artifact's model repository, if any."""
    configs = sorted((src / "model_repository").glob(f"*/{CONFIG_FILE}"))
    return repository.latest_version(configs[0].parent) if len(configs) == 1 else None


def check(src: Path, key: str) -> tuple[Signature, Path]:
    """Verify the artifact ``src`` with the public key file ``key`` ("" : no verification).

    Returns:
        The signature's record, and the folder to deploy from: the signed version folder when
        the artifact is signed, else ``src``.

    Raises:
        SignatureError: A key is configured and the model is unsigned, signed with another key,
            or a file differs from what was signed (named).
        ModelError: The key cannot be read (named).
    """
    version = _version(src)
    if not key:
        if version is not None and is_signed(version):
            return Signature(NOT_VERIFIED), version
        return Signature(UNSIGNED), src
    read_public_key(key)  # a missing or unusable key is named first, whatever the model
    if version is None:
        raise SignatureError(
            src / "model_repository",
            f"unsigned: no model version with a {SIGNATURE_FILE} in the artifact and a key "
            "is configured",
        )
    verified = verify_version(version, key)
    for name in (MODEL_FILE, SPEC_FILE):
        top = src / name
        if not top.is_file() or top.read_bytes() != (version / name).read_bytes():
            raise SignatureError(top, f"differs from the signed {version.relative_to(src) / name}")
    return Signature(VERIFIED, verified.signer), version


def still_verifies(version: Path, key: str) -> bool:
    """Whether a version already in a repository verifies with ``key`` ("" : whether signed)."""
    if not key:
        return is_signed(version)
    try:
        verify_version(version, key)
    except SignatureError:
        return False
    return True
