"""The export_onnx component: a thin KFP adapter over :mod:`mlrail.components.export_onnx.core`."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from mlrail.components._images import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def export_onnx(
    model: Input[Model],
    examples: Input[Dataset],
    onnx_model: Output[Model],
    parity: Output[Metrics],
    model_name: str = "model",
    tolerance: float = 1e-4,
    rtol: float = 1e-6,
    opset: int = 17,
    optimize: bool = False,
    quantize: bool = False,
    max_accuracy_drop: float = 0.01,
    max_rmse_increase: float = 0.01,
    signing_key: str = "",
):
    """Converts the SavedModel to ONNX and fails unless ONNX Runtime matches it on every eval row.

    Edge rows are compared too: each number missing or infinite and each string empty or unseen.

    Args:
        model: The model written by train.
        examples: The splits written by ingest; parity is checked on ``eval``.
        model_name: The model's name in the model repository.
        tolerance: Absolute part of the bound on |ONNX Runtime - SavedModel| per output value.
        rtol: Relative part of that bound, times |SavedModel output|.
        opset: ONNX opset to convert to.
        optimize: Also write ONNX Runtime's offline-optimised graph (CPU), if within its bound.
        quantize: Also write a dynamic int8 quantised model, if within its bound.
        max_accuracy_drop: Classifiers: most eval accuracy, and share of changed labels, a
            variant may lose against the unquantised model; over it, the variant is not written.
        max_rmse_increase: Regression: most relative eval RMSE increase a variant may have.
        signing_key: Path of a PEM EC private key file (e.g. a mounted Secret) to sign the model
            with; empty: the MLRAIL_SIGNING_KEY environment variable's, else not signed.

    Returns:
        onnx_model: model.onnx, parity.json, variants.json, model_spec.json, golden.json (V2
            requests and ONNX Runtime's answers, for deploy's smoke test), a Triton model
            repository (its version signed when a key is given: model.sig), the model's CycloneDX
            ML-BOM (mlbom.cdx.json), and the accepted optional variants (model.optimized.onnx,
            model.int8.onnx).
        parity: Parity with the SavedModel (rows, max_abs_diff, max_rel_diff, label_agreement,
            edge_rows, edge_max_abs_diff) and each optional variant's size, quality and verdict
            (``<variant>_accepted``).
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
        optimize=optimize,
        quantize=quantize,
        max_accuracy_drop=max_accuracy_drop,
        max_rmse_increase=max_rmse_increase,
        signing_key=signing_key,
        examples_metadata=examples.metadata,
    )
    onnx_model.metadata.update(
        {
            "opset": result.opset,
            "sha256": result.sha256,
            "identity": result.identity,
            "source_sha256": result.source_sha256,
            "inputs": result.inputs,
            "outputs": result.outputs,
            "max_abs_diff": result.parity.max_abs_diff,
            # the parity bound (tolerance + rtol x max(|value|, scale)) and the rows it held on
            "rows": result.parity.rows,
            "tolerance": result.parity.tolerance,
            "rtol": result.parity.rtol,
            "scale": result.parity.scale,
            "variants": result.verdicts,
            "framework": "onnx",
            "model_name": model_name,
            "files": result.files,
            "signed": result.signed,
            "signer": result.signer,
            "mlbom": "mlbom.cdx.json",
        }
    )
    for name, value in result.metrics().items():
        parity.log_metric(name, value)
