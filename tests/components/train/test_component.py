from pathlib import Path

from kfp.dsl import Artifact, Dataset, Model

from mlrail.components.train import train
from tests.components._compile import compiled_container
from tests.conftest import Trained


def test_python_func_writes_the_model(trained: Trained, tmp_path: Path) -> None:
    model = Model(name="model", uri=str(tmp_path / "model"))
    train.python_func(
        examples=Dataset(name="examples", uri=str(trained.examples)),
        schema=Artifact(name="schema", uri=str(trained.schema)),
        statistics=Artifact(name="statistics", uri=str(trained.statistics)),
        model=model,
        label="species",
        task="auto",
        hparams={"epochs": 2},
    )
    assert model.metadata["framework"] == "keras" and model.metadata["task"] == "multiclass"
    assert (tmp_path / "model" / "saved_model" / "saved_model.pb").is_file()


def test_compiles(tmp_path: Path) -> None:
    spec = compiled_container(train, tmp_path)
    assert spec["root"]["inputDefinitions"]["parameters"]["hparams"]["parameterType"] == "STRUCT"
