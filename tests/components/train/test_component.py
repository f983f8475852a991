from pathlib import Path

from kfp.dsl import HTML, Artifact, Dataset, Metrics, Model

from mlrail.components.train import train
from tests.components._compile import compiled_container
from tests.helpers import Trained


def test_python_func_writes_the_model_metrics_curves_and_tensorboard_logs(
    trained: Trained, tmp_path: Path
) -> None:
    model = Model(name="model", uri=str(tmp_path / "model"))
    metrics = Metrics(name="training_metrics", uri=str(tmp_path / "training_metrics"))
    curves = HTML(name="curves", uri=str(tmp_path / "curves"))
    tensorboard = Artifact(name="tensorboard", uri=str(tmp_path / "tensorboard"))
    train.python_func(
        examples=Dataset(name="examples", uri=str(trained.examples)),
        schema=Artifact(name="schema", uri=str(trained.schema)),
        statistics=Artifact(name="statistics", uri=str(trained.statistics)),
        model=model,
        training_metrics=metrics,
        curves=curves,
        tensorboard=tensorboard,
        label="species",
        task="auto",
        hparams={"epochs": 2},
        module_file="",
    )
    assert model.metadata["framework"] == "keras" and model.metadata["task"] == "multiclass"
    assert (tmp_path / "model" / "saved_model" / "saved_model.pb").is_file()
    assert metrics.metadata["epochs"] == 2 and metrics.metadata["best_epoch"] == 2
    assert {"train_loss", "eval_loss", "train_accuracy", "eval_accuracy"} <= set(metrics.metadata)
    assert "<svg" in (tmp_path / "curves").read_text()
    assert list((tmp_path / "tensorboard" / "validation").glob("events.out.tfevents.*"))


def test_compiles_with_the_new_inputs_and_outputs_defaulted(tmp_path: Path) -> None:
    spec = compiled_container(train, tmp_path)
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["hparams"]["parameterType"] == "STRUCT"
    assert params["module_file"]["defaultValue"] == "" and params["module_file"]["isOptional"]
    outputs = spec["root"]["outputDefinitions"]["artifacts"]
    assert {k: v["artifactType"]["schemaTitle"] for k, v in outputs.items()} == {
        "model": "system.Model",
        "training_metrics": "system.Metrics",
        "curves": "system.HTML",
        "tensorboard": "system.Artifact",
    }
