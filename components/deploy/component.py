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
):
    """Puts the checked ONNX model where it serves: a local model repository or an InferenceService.

    Args:
        onnx_model: The model written by export_onnx.
        deployment: deployment.json (and inferenceservice.yaml for ``render``).
        target: ``local`` (a new version in ``model_repository``) or ``render`` (write the KServe
            InferenceService without a cluster).
        model_name: The model's name in the repository and of the InferenceService.
        model_repository: Folder of the local model repository (target ``local``).
        namespace: Namespace of the InferenceService (target ``render``).
        runtime: ``mlrail-onnx`` or ``kserve-tritonserver`` (target ``render``).
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
    )
    deployment.metadata.update(
        {
            "target": result.target,
            "model_name": result.model_name,
            "location": result.location,
            "version": result.version or 0,
            "sha256": result.sha256,
        }
    )
