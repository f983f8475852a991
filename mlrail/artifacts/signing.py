"""Signed model versions: sign with a private key, verify with its public key, name what differs.

What is signed is what serves: one **version folder** of a model repository
(:mod:`mlrail.artifacts.model_repository`) together with the model's ``config.pbtxt``::

    <repository>/<name>/config.pbtxt             the live configuration (Triton reads it)
    <repository>/<name>/<version>/model.onnx         signed
    <repository>/<name>/<version>/model_spec.json    signed
    <repository>/<name>/<version>/model_config.pbtxt signed: the config.pbtxt it was signed with
    <repository>/<name>/<version>/model.sig          the signature (a Sigstore bundle)

The signature is the OpenSSF ``model-signing`` library's, over every file of the version folder
but ``model.sig`` itself (an added, missing or changed file is refused). Two things are not
fixed when a version is signed, so they are left out of what is signed:

- the version number: export_onnx signs version 1, deploy pushes it as version N. The signature
  covers the files' names and bytes inside the folder, not the folder's own name (the library's
  manifests compare equal whatever the model's name), so a renamed folder still verifies;
- the model's name: ``config.pbtxt`` sits one level up, is shared by the versions, and says the
  name the model is deployed under (Triton requires it to equal the folder's name). So the
  version carries a signed copy, ``model_config.pbtxt``, and :func:`verify_version` requires the
  live ``config.pbtxt`` to be that copy with its top-level ``name:`` line set to the model
  folder's name (:func:`config_for`), byte for byte. A swapped or edited ``config.pbtxt`` is
  refused, naming it; a deploy under another name is not.

:func:`mlrail.artifacts.model_repository.push` copies ``model_config.pbtxt`` and ``model.sig``
with the version and writes the live ``config.pbtxt`` from the signed copy (:func:`config_for`),
so a signature travels with every push and the configuration Triton reads is the one signed.

Keys are elliptic-curve (P-256, P-384 or P-521) PEM files, model-signing's
``use_elliptic_key_signer``; a Kubernetes Secret is mounted as such a file.
:func:`generate_key_pair` makes a pair. Sigstore keyless signing (an OIDC identity) is
model-signing's ``use_sigstore_signer``; it needs network access and is not wrapped here.

``model_signing`` costs about 0.7 s to import, so it is imported inside the functions that use
it: a server with no key configured never imports it.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlrail.artifacts.pbtxt import pbtxt_string
from mlrail.errors import ModelError
from mlrail.io import atomic_write_bytes, atomic_write_text

__all__ = [
    "SIGNATURE_FILE",
    "SIGNED_CONFIG_FILE",
    "SignatureError",
    "Verified",
    "config_for",
    "generate_key_pair",
    "is_signed",
    "key_fingerprint",
    "read_public_key",
    "sign_version",
    "verify_version",
]

#: The signature of a version folder, inside it (it travels with the version).
SIGNATURE_FILE = "model.sig"
#: The ``config.pbtxt`` a version was signed with, inside the version folder.
SIGNED_CONFIG_FILE = "model_config.pbtxt"
# The model's live configuration, one level above its version folders (model_repository's
# CONFIG_FILE; not imported from there, which imports this module).
_CONFIG_FILE = "config.pbtxt"

# The curves model-signing's key-based signer and verifier accept.
_CURVES = ("secp256r1", "secp384r1", "secp521r1")

# The top-level name field of a Triton config: the first unindented ``name:`` line.
_NAME_LINE = re.compile(r"^name:[^\n]*$", re.MULTILINE)


class SignatureError(ModelError):
    """A model version that is unsigned, or whose files do not match its signature.

    Attributes:
        path: The file that does not match (or the signature that does not verify).
    """

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


@dataclass(frozen=True)
class Verified:
    """A version whose files match its signature.

    Attributes:
        folder: The version folder.
        files: The signed files' names (relative to the folder), sorted.
        signer: The public key's fingerprint (``sha256:`` of its PEM), as the signature's
            key hint records it.
    """

    folder: Path
    files: tuple[str, ...]
    signer: str


def config_for(signed_config: str, model_name: str) -> str:
    """The live ``config.pbtxt`` for a signed configuration deployed as ``model_name``.

    The signed text with its top-level ``name:`` line (the first unindented one) set to
    ``model_name``; the rest byte for byte.

    Raises:
        ModelError: The signed configuration has no top-level ``name:`` line.
    """
    if not _NAME_LINE.search(signed_config):
        raise ModelError(f"{SIGNED_CONFIG_FILE}: no top-level 'name:' line")
    line = f"name: {pbtxt_string(model_name)}"
    return _NAME_LINE.sub(lambda _: line, signed_config, count=1)


def is_signed(version_folder: str | os.PathLike[str]) -> bool:
    """Whether the version folder holds a signature file."""
    return (Path(version_folder) / SIGNATURE_FILE).is_file()


def generate_key_pair(
    private_key: str | os.PathLike[str], public_key: str | os.PathLike[str]
) -> str:
    """Write a new P-256 key pair as PEM files (the private one readable by its owner only).

    Returns:
        The public key's fingerprint (:func:`key_fingerprint`).
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_path = Path(private_key)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private_pem)
    atomic_write_bytes(public_key, public_pem)
    return key_fingerprint(public_key)


def read_public_key(public_key: str | os.PathLike[str]) -> bytes:
    """The public key's PEM bytes, checked to be an EC key model-signing verifies with.

    Raises:
        ModelError: The file is missing, not a PEM public key, or not on a supported curve.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = Path(public_key)
    try:
        pem = path.read_bytes()
    except OSError as e:
        raise ModelError(f"{path}: cannot read the public key: {e.strerror or e}") from None
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as e:
        raise ModelError(f"{path}: not a PEM public key ({e})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in _CURVES:
        raise ModelError(f"{path}: not an elliptic-curve public key on P-256, P-384 or P-521")
    return pem


def _check_private_key(path: Path) -> None:
    """Refuse a private key model-signing cannot sign with, naming the file."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        pem = path.read_bytes()
    except OSError as e:
        raise ModelError(f"{path}: cannot read the private key: {e.strerror or e}") from None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as e:  # not PEM, or encrypted
        raise ModelError(f"{path}: cannot sign with this key: {e}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in _CURVES:
        raise ModelError(
            f"{path}: cannot sign with this key: not an elliptic-curve key on P-256, P-384 or P-521"
        )


def key_fingerprint(key: str | os.PathLike[str]) -> str:
    """``sha256:<hex>`` of the public key's canonical PEM (model-signing's key hint).

    ``key`` is the public key file, or the private one (its public half is used), so a signer
    that holds only the private key can record who signed.
    """
    from cryptography.hazmat.primitives import serialization

    path = Path(key)
    try:
        pem = path.read_bytes()
    except OSError as e:
        raise ModelError(f"{path}: cannot read the key: {e.strerror or e}") from None
    if b"PRIVATE KEY" in pem:
        _check_private_key(path)
        public = serialization.load_pem_private_key(pem, password=None).public_key()
    else:
        public = serialization.load_pem_public_key(read_public_key(path))
    canonical = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def sign_version(
    version_folder: str | os.PathLike[str],
    private_key: str | os.PathLike[str],
    *,
    config: str | os.PathLike[str] | None = None,
) -> Path:
    """Sign a version folder and its model's configuration with an EC private key.

    Copies the configuration into the folder as ``model_config.pbtxt``, then writes
    ``model.sig`` over every file of the folder (see the module doc).

    Args:
        version_folder: ``<repository>/<name>/<version>``.
        private_key: The PEM private key file (a mounted Secret is such a file).
        config: The ``config.pbtxt`` to sign with it (default: the model folder's).

    Returns:
        The signature file.

    Raises:
        ModelError: The folder, its configuration or the key cannot be read or used.
    """
    folder = Path(version_folder)
    config_path = Path(config) if config is not None else folder.parent / _CONFIG_FILE
    if not folder.is_dir():
        raise ModelError(f"{folder}: not a version folder")
    try:
        config_text = config_path.read_text(encoding="utf-8")
    except OSError as e:
        raise ModelError(f"{config_path}: cannot read the model configuration: {e}") from None
    config_for(config_text, folder.parent.name)  # refuses a config without a name line
    key_path = Path(private_key)
    _check_private_key(key_path)  # before anything is written: a failed sign changes nothing
    atomic_write_text(folder / SIGNED_CONFIG_FILE, config_text)
    (folder / SIGNATURE_FILE).unlink(missing_ok=True)

    import model_signing

    # model-signing 1.1's Config.__init__ lacks "-> None", hence the ignores
    hashing = model_signing.hashing.Config().set_ignored_paths(paths=[SIGNATURE_FILE])  # type: ignore[no-untyped-call]
    signer = model_signing.signing.Config().use_elliptic_key_signer(private_key=key_path)  # type: ignore[no-untyped-call]
    # signed into a scratch folder, then written atomically: no half-written model.sig
    with tempfile.TemporaryDirectory(prefix="mlrail-sign-") as scratch:
        signature = Path(scratch) / SIGNATURE_FILE
        try:
            signer.set_hashing_config(hashing).sign(folder, signature)
        except ValueError as e:  # a symbolic link in the folder, ...
            raise ModelError(f"{folder}: cannot sign this folder: {e}") from None
        atomic_write_bytes(folder / SIGNATURE_FILE, signature.read_bytes())
    return folder / SIGNATURE_FILE


def verify_version(
    version_folder: str | os.PathLike[str],
    public_key: str | os.PathLike[str],
    *,
    model_name: str | None = None,
) -> Verified:
    """Check a version folder and its model's ``config.pbtxt`` against the version's signature.

    Args:
        version_folder: ``<repository>/<name>/<version>``.
        public_key: The PEM public key the version must be signed with.
        model_name: The name ``config.pbtxt`` must carry (default: the model folder's name).

    Returns:
        What was verified.

    Raises:
        SignatureError: No ``model.sig`` ("unsigned"), a signature from another key or one that
            does not verify, a file added, missing or changed since signing, or a
            ``config.pbtxt`` other than the signed one; the message names the file.
        ModelError: The public key cannot be read.
    """
    folder = Path(version_folder)
    signature = folder / SIGNATURE_FILE
    key_path = Path(public_key)
    read_public_key(key_path)  # a clear error for a bad key before the library's
    if not signature.is_file():
        raise SignatureError(
            signature, f"unsigned: the version has no {SIGNATURE_FILE} and a key is configured"
        )

    import model_signing

    verifier = model_signing.verifying.Config().use_elliptic_key_verifier(public_key=key_path)  # type: ignore[no-untyped-call]
    try:
        verifier.verify(folder, signature)
    except ValueError as e:
        raise _mismatch(folder, key_path, str(e)) from None
    except Exception as e:  # a corrupt bundle (JSON, protobuf) or a bad signature (cryptography)
        raise SignatureError(
            signature, f"does not verify with {key_path}: {type(e).__name__}: {e}".rstrip(": ")
        ) from None

    signed_config = folder / SIGNED_CONFIG_FILE
    live_config = folder.parent / _CONFIG_FILE
    name = model_name if model_name is not None else folder.parent.name
    try:
        expected = config_for(signed_config.read_text(encoding="utf-8"), name)
    except (OSError, ModelError) as e:
        raise SignatureError(signed_config, f"the signed configuration is unusable: {e}") from None
    try:
        live = live_config.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SignatureError(live_config, f"cannot read the model configuration: {e}") from None
    if live != expected:
        raise SignatureError(
            live_config,
            f"does not match the configuration signed with version {folder.name} "
            f"({SIGNED_CONFIG_FILE}, named {name!r}): it was swapped or edited",
        )
    files = sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name != SIGNATURE_FILE
    )
    return Verified(folder=folder, files=tuple(files), signer=key_fingerprint(key_path))


# model-signing 1.1's messages (verifying.Config.verify and its key-based verifier), parsed
# so the error names the file; anything else is passed on whole.
_DIFF_LIST = re.compile(r"^Signature mismatch: (\[.*\])$", re.DOTALL)
_CHANGED = re.compile(r"^Hash mismatch for '(.+)': Expected ")
_EXTRA = re.compile(r"^Extra files found in model '.*?': (.+)$")
_MISSING = re.compile(r"^Missing files in model '.*?': (.+)$")


def _mismatch(folder: Path, key_path: Path, message: str) -> SignatureError:
    signature = folder / SIGNATURE_FILE
    if message.startswith("Key mismatch"):
        return SignatureError(signature, f"signed with another key than {key_path}")
    match = _DIFF_LIST.match(message)
    if match is None:
        return SignatureError(signature, f"does not verify with {key_path}: {message}")
    try:
        diffs = [str(d) for d in ast.literal_eval(match.group(1))]
    except (ValueError, SyntaxError):
        diffs = [match.group(1)]
    for diff in diffs:
        if m := _CHANGED.match(diff):
            return SignatureError(folder / m.group(1), "changed since it was signed")
    for diff in diffs:
        if m := _EXTRA.match(diff):
            return SignatureError(folder / m.group(1).split(", ")[0], "not signed (added)")
        if m := _MISSING.match(diff):
            return SignatureError(folder / m.group(1).split(", ")[0], "signed but missing")
    return SignatureError(signature, f"does not match the folder: {'; '.join(diffs)}")
