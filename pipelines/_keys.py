"""Model-signing keys from Kubernetes Secrets, mounted into the one step that needs each.

Two Secrets, two steps, fixed places (the ServingRuntime component
``manifests/components/verify-models`` mounts the verify Secret at the same path):

- the Secret named by the pipeline parameter ``signing_key_secret`` (default
  ``mlrail-signing-key``), key ``signing.pem`` (a PEM EC private key), mounted in export_onnx:
  :data:`SIGNING_KEY_PATH`, ``/var/run/secrets/mlrail/signing/signing.pem``;
- the Secret named by ``verify_key_secret`` (default ``mlrail-verify-key``), key ``signing.pub``
  (its PEM public key), mounted in deploy: :data:`VERIFY_KEY_PATH`,
  ``/var/run/secrets/mlrail/verify/signing.pub``.

The key names are the files of :func:`mlrail.artifacts.signing.generate_key_pair` as the README
makes them (``generate_key_pair("signing.pem", "signing.pub")``), so ``kubectl create secret
generic mlrail-signing-key --from-file=signing.pem`` needs no renaming. The private key is in a
Secret of its own and reaches export_onnx only; deploy and the model server see only the public
one. Mounting needs no RBAC for the pipeline's account: the kubelet reads the Secret.

How a run uses them, and why it cannot misfire. The mounts are **optional** (a cluster without
the Secrets runs the pipeline as before: the kubelet mounts an empty folder) and they only make a
file available; they never turn signing or verification on. The pipeline parameters
``signing_key`` and ``verify_key`` stay what they were, file paths (empty: the step's
``$MLRAIL_SIGNING_KEY`` / ``$MLRAIL_VERIFY_KEY``, else off), and a run that wants the Secret's
key passes its mounted path, :data:`SIGNING_KEY_PATH` or :data:`VERIFY_KEY_PATH`:

- no key asked for: nothing is signed or verified, whether or not a Secret exists;
- a key asked for and its Secret (or the Secret's key) missing: the step fails before it
  converts or deploys anything, with one line naming the file (``/var/run/secrets/mlrail/
  signing/signing.pem: cannot read the key: No such file or directory``); it never goes on
  unsigned or unverified.

The other way round (an environment variable pointing at the mount, set on every run) would
sign whenever a Secret happens to exist, and fail every run on a cluster without one, because a
configured key that cannot be read is an error, never a silent "off". The parameters also keep
the choice visible: the Kubeflow UI shows each run's ``signing_key`` and ``verify_key``.

kfp.local ignores Kubernetes settings, so the same pipeline runs on a laptop, where
``signing_key``/``verify_key`` are local paths.
"""

from __future__ import annotations

from typing import TypeAlias

from kfp import dsl, kubernetes
from kfp.dsl import pipeline_channel

__all__ = [
    "SIGNING_KEY_FILE",
    "SIGNING_KEY_MOUNT",
    "SIGNING_KEY_PATH",
    "SIGNING_KEY_SECRET",
    "VERIFY_KEY_FILE",
    "VERIFY_KEY_MOUNT",
    "VERIFY_KEY_PATH",
    "VERIFY_KEY_SECRET",
    "mount_signing_key",
    "mount_verify_key",
]

#: The default name of the Secret holding the PEM EC private key export_onnx signs with.
SIGNING_KEY_SECRET = "mlrail-signing-key"
#: The private key's name in that Secret (the file name in the mounted folder).
SIGNING_KEY_FILE = "signing.pem"
#: Where export_onnx's container finds the signing Secret's keys.
SIGNING_KEY_MOUNT = "/var/run/secrets/mlrail/signing"
#: The ``signing_key`` that signs with the Secret's key.
SIGNING_KEY_PATH = f"{SIGNING_KEY_MOUNT}/{SIGNING_KEY_FILE}"

#: The default name of the Secret holding the PEM public key deploy (and the model server)
#: verify with.
VERIFY_KEY_SECRET = "mlrail-verify-key"
#: The public key's name in that Secret.
VERIFY_KEY_FILE = "signing.pub"
#: Where deploy's container (and the mlrail-onnx runtime's) finds the verify Secret's keys.
VERIFY_KEY_MOUNT = "/var/run/secrets/mlrail/verify"
#: The ``verify_key`` that verifies with the Secret's key.
VERIFY_KEY_PATH = f"{VERIFY_KEY_MOUNT}/{VERIFY_KEY_FILE}"

# A Secret's name as a literal or as a pipeline parameter (the run names it).
_SecretName: TypeAlias = str | pipeline_channel.PipelineParameterChannel


def mount_signing_key(task: dsl.PipelineTask, secret_name: _SecretName) -> dsl.PipelineTask:
    """Mount the signing Secret into ``task`` (export_onnx) at :data:`SIGNING_KEY_MOUNT`.

    Optional: a missing Secret mounts nothing and signs nothing (see the module doc); the run's
    ``signing_key`` decides whether the key is used.

    Args:
        task: The export_onnx task.
        secret_name: The Secret's name, usually the pipeline parameter ``signing_key_secret``.

    Returns:
        The task, for chaining.
    """
    return kubernetes.use_secret_as_volume(
        task, secret_name=secret_name, mount_path=SIGNING_KEY_MOUNT, optional=True
    )


def mount_verify_key(task: dsl.PipelineTask, secret_name: _SecretName) -> dsl.PipelineTask:
    """Mount the verify Secret into ``task`` (deploy) at :data:`VERIFY_KEY_MOUNT`.

    Optional: a missing Secret mounts nothing and verifies nothing (see the module doc); the
    run's ``verify_key`` decides whether the key is used.

    Args:
        task: The deploy task.
        secret_name: The Secret's name, usually the pipeline parameter ``verify_key_secret``.

    Returns:
        The task, for chaining.
    """
    return kubernetes.use_secret_as_volume(
        task, secret_name=secret_name, mount_path=VERIFY_KEY_MOUNT, optional=True
    )
