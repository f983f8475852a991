from pathlib import Path

from kfp.dsl import Artifact, Model

from mlrail.components.deploy import deploy
from tests.components._compile import compiled_container


def test_python_func_pushes_locally(onnx_model: Path, tmp_path: Path) -> None:
    deployment = Artifact(name="deployment", uri=str(tmp_path / "deployment"))
    deploy.python_func(
        onnx_model=Model(name="onnx_model", uri=str(onnx_model)),
        deployment=deployment,
        target="local",
        model_name="penguins",
        model_repository=str(tmp_path / "repo"),
        namespace="mlrail",
        runtime="mlrail-onnx",
    )
    assert deployment.metadata["version"] == 1 and deployment.metadata["target"] == "local"
    assert (tmp_path / "repo" / "penguins" / "1" / "model.onnx").is_file()


def test_compiles(tmp_path: Path) -> None:
    compiled_container(deploy, tmp_path)
