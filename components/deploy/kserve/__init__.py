"""deploy's ``kserve`` target: apply an InferenceService, wait, smoke-test, canary, roll back.

Pure Python over three injected things, so every decision is testable without a cluster:
``api`` (:class:`~.api.KubeApi`, the two Kubernetes calls made), ``http``
(:data:`~.smoke.HttpPost`, the smoke test's POST) and ``clock`` (:class:`~.clock.Clock`, the
waits). :func:`~.api.connect` builds the real ``api`` from in-cluster credentials (kubeconfig as
the fallback); ``kubernetes`` is imported only there.

The modules, from the decisions down:

- :mod:`.rollout`: the decision table (apply, unchanged, canary, promote, roll back) and why;
- :mod:`.status`: reading the InferenceService's status, and waiting until it is Ready;
- :mod:`.smoke`: the smoke test, golden.json's request against ONNX Runtime's answers;
- :mod:`.api`: the Kubernetes calls, their errors, and the RBAC rule that allows each call;
- :mod:`.payload_logging`: the predictor fields that send sampled payloads to the receiver;
- :mod:`.records`: the rollout record (deployment.json) and :class:`DeployError`;
- :mod:`.clock`: time for the waits.

This package's API is the names below; core.py uses them as ``kserve.<name>``.
"""

from mlrail.components.deploy.kserve.api import (
    FIELD_MANAGER,
    GROUP,
    MODE_ANNOTATION,
    MODEL_HASH_ANNOTATION,
    MODEL_IDENTITY_ANNOTATION,
    MODEL_SIGNER_ANNOTATION,
    PLURAL,
    TAG_ROUTING_ANNOTATION,
    VERSION,
    KubeApi,
    KubernetesApi,
    connect,
)
from mlrail.components.deploy.kserve.clock import Clock
from mlrail.components.deploy.kserve.payload_logging import (
    RECEIVER_SERVICE,
    payload_logging,
    receiver_url,
)
from mlrail.components.deploy.kserve.records import DeployError, Rollout, SmokeTest
from mlrail.components.deploy.kserve.rollout import (
    DECISIONS,
    DEPLOYMENT_MODES,
    check_canary,
    rollout,
)
from mlrail.components.deploy.kserve.smoke import HttpPost, golden_rows, smoke_test

__all__ = [
    "DECISIONS",
    "DEPLOYMENT_MODES",
    "FIELD_MANAGER",
    "GROUP",
    "MODEL_HASH_ANNOTATION",
    "MODEL_IDENTITY_ANNOTATION",
    "MODEL_SIGNER_ANNOTATION",
    "MODE_ANNOTATION",
    "PLURAL",
    "RECEIVER_SERVICE",
    "TAG_ROUTING_ANNOTATION",
    "VERSION",
    "Clock",
    "DeployError",
    "HttpPost",
    "KubeApi",
    "KubernetesApi",
    "Rollout",
    "SmokeTest",
    "check_canary",
    "connect",
    "golden_rows",
    "payload_logging",
    "receiver_url",
    "rollout",
    "smoke_test",
]
