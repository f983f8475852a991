"""The deploy component: a thin KFP adapter over :mod:`mlrail.components.deploy.core`."""

from kfp import dsl
from kfp.dsl import Artifact, Input, Model, Output

from mlrail.components._images import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def deploy(
    onnx_model: Input[Model],
    deployment: Output[Artifact],
    target: str = "local",
    model_name: str = "model",
    model_repository: str = "",
    namespace: str = "mlrail",
    runtime: str = "mlrail-onnx",
    deployment_mode: str = "Serverless",
    canary_traffic_percent: int = 0,
    min_replicas: int = 1,
    max_replicas: int = 1,
    cpu: str = "500m",
    memory: str = "512Mi",
    timeout_seconds: int = 600,
    ingress_url: str = "",
    verify_key: str = "",
):
    """Puts the checked ONNX model where it serves: a local model repository or KServe.

    Args:
        onnx_model: The model written by export_onnx.
        deployment: deployment.json (what was decided and what serves now, with the model's
            identity and signature status) and, for ``render`` and ``kserve``,
            inferenceservice.yaml.
        target: ``local`` (a new version in ``model_repository``, unless its newest version has
            the same identity: ``unchanged``), ``render`` (write the KServe
            InferenceService without a cluster) or ``kserve`` (apply it, wait for Ready,
            smoke-test the endpoint with the golden requests, canary, roll back on failure).
        model_name: The model's name in the repository and of the InferenceService.
        model_repository: Folder of the local model repository (target ``local``).
        namespace: Namespace of the InferenceService (``render``, ``kserve``).
        runtime: ``mlrail-onnx`` or ``kserve-tritonserver`` (``render``, ``kserve``).
        deployment_mode: ``Serverless`` (Knative revisions; canary possible) or
            ``RawDeployment``.
        canary_traffic_percent: 0 for a full rollout; 1-99 sends that share to the new revision,
            smoke-tests it, then promotes it or rolls back (Serverless only).
        min_replicas: Fewest predictor pods (0 lets Serverless scale to zero).
        max_replicas: Most predictor pods.
        cpu: CPU request and limit of the model server.
        memory: Memory request and limit of the model server.
        timeout_seconds: Longest wait for the InferenceService to be Ready (each wait).
        ingress_url: Send the smoke test through this ingress gateway with the service's Host
            header; empty: straight to the cluster-local address.
        verify_key: Path of a PEM public key file (e.g. a mounted Secret): the model must be
            signed with its private key, and is verified before anything is pushed, applied or
            rendered; empty: the MLRAIL_VERIFY_KEY environment variable's, else not verified.
    """
    from mlrail.components.deploy import core

    result = core.deploy(
        onnx_model.path,
        deployment.path,
        target=target,
        model_name=model_name,
        model_repository=model_repository,
        onnx_model_uri=onnx_model.uri,
        namespace=namespace,
        runtime=runtime,
        deployment_mode=deployment_mode,
        canary_traffic_percent=canary_traffic_percent,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        cpu=cpu,
        memory=memory,
        timeout_seconds=timeout_seconds,
        ingress_url=ingress_url,
        verify_key=verify_key,
    )
    deployment.metadata.update(
        {
            "target": result.target,
            "model_name": result.model_name,
            "location": result.location,
            "version": result.version or 0,
            "sha256": result.sha256,
            "identity": result.identity,
            "decision": result.decision,
            "url": result.url,
            "signature": result.signature.status,
            "signer": result.signature.signer,
        }
    )
