from pathlib import Path

from kfp.dsl import Dataset, Model

from mlrail.components.export_onnx import export_onnx
from tests.components._compile import compiled_container
from tests.conftest import Trained


def test_python_func_records_parity_and_hash(trained: Trained, tmp_path: Path) -> None:
    onnx_model = Model(name="onnx_model", uri=str(tmp_path / "onnx"))
    export_onnx.python_func(
        model=Model(name="model", uri=str(trained.model)),
        examples=Dataset(name="examples", uri=str(trained.examples)),
        onnx_model=onnx_model,
        model_name="penguins",
        tolerance=1e-4,
        opset=17,
    )
    md = onnx_model.metadata
    assert md["opset"] == 17 and len(md["sha256"]) == 64 and md["max_abs_diff"] <= 1e-5
    assert md["outputs"] == ["probabilities"] and "island" in md["inputs"]


def test_compiles(tmp_path: Path) -> None:
    compiled_container(export_onnx, tmp_path)
