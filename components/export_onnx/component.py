"""The export_onnx component: a thin KFP adapter over :mod:`mlrail.components.export_onnx.core`."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from mlrail.components._images import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def export_onnx(
    model: Input[Model],
    examples: Input[Dataset],
    onnx_model: Output[Model],
    model_name: str = "model",
    tolerance: float = 1e-4,
    rtol: float = 1e-6,
    opset: int = 17,
):
    """Converts the SavedModel to ONNX and fails unless ONNX Runtime matches it on every eval row.

    Args:
        model: The model written by train.
        examples: The splits written by ingest; parity is checked on ``eval``.
        onnx_model: model.onnx, parity.json, model_spec.json and a Triton model repository.
        model_name: The model's name in the model repository.
        tolerance: Absolute part of the bound on |ONNX Runtime - SavedModel| per output value.
        rtol: Relative part of that bound, times |SavedModel output|.
        opset: ONNX opset to convert to.
    """
    from mlrail.components.export_onnx import core

    result = core.export_onnx(
        model.path,
        examples.path,
        onnx_model.path,
        model_name=model_name,
        tolerance=tolerance,
        rtol=rtol,
        opset=opset,
    )
    onnx_model.metadata.update(
        {
            "opset": result.opset,
            "sha256": result.sha256,
            "inputs": result.inputs,
            "outputs": result.outputs,
            "max_abs_diff": result.parity.max_abs_diff,
            "framework": "onnx",
            "model_name": model_name,
        }
    )
