"""Bring your own model: the example module end to end, and each way a module can be wrong."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from mlrail.artifacts.modelspec import ModelSpec
from mlrail.components.train.core import train
from mlrail.errors import ModelError
from tests.helpers import Trained

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "user_model.py"


def _train(trained: Trained, out: Path, module_file: str, **hparams: object):  # type: ignore[no-untyped-def]
    return train(
        trained.examples, trained.schema, trained.statistics, out, label="species",
        module_file=module_file, hparams={"epochs": 2, **hparams},
    )  # fmt: skip


def test_the_example_module_trains_its_own_loop_and_exports_with_parity(
    trained: Trained, tmp_path: Path
) -> None:
    import keras

    from mlrail.components.export_onnx.core import export_onnx

    result = _train(trained, tmp_path / "model", str(EXAMPLE), epochs=4)
    assert len(result.history["loss"]) == 4 and "val_loss" in result.history
    # the module's train() added ReduceLROnPlateau, which logs the learning rate
    assert len(result.history["learning_rate"]) == 4
    model = keras.models.load_model(tmp_path / "model" / "model.keras")
    assert model.name == "user_model" and isinstance(model.optimizer, keras.optimizers.AdamW)
    spec = ModelSpec.read(tmp_path / "model")
    assert spec.classes == ["Adelie", "Chinstrap", "Gentoo"] and len(spec.inputs) == 7
    exported = export_onnx(tmp_path / "model", trained.examples, tmp_path / "onnx")
    assert exported.parity.ok and exported.parity.edge_rows > 0
    assert exported.parity.label_agreement == 1.0


def _module(tmp_path: Path, source: str, name: str = "m.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return str(path)


_HEAD = """
import keras
from mlrail.components.train import default_features, default_inputs, model_spec
"""


def test_a_module_with_build_model_only_uses_the_default_loop_and_may_skip_inputs(
    trained: Trained, tmp_path: Path
) -> None:
    module = _module(
        tmp_path,
        _HEAD
        + textwrap.dedent(
            """
        def build_model(schema, statistics, hparams):
            spec = model_spec(schema, statistics)
            inputs = default_inputs(schema, statistics)
            numbers = [inputs[i.name] for i in spec.inputs if i.dtype == "float32"]
            x = keras.layers.Concatenate()(numbers)
            x = keras.layers.Normalization(axis=-1)(keras.ops.nan_to_num(x))
            out = keras.layers.Dense(len(spec.classes), activation="softmax")(x)
            return keras.Model({t.name: t for t in numbers}, out)
        """
        ),
    )
    result = _train(trained, tmp_path / "model", module, early_stopping_patience=0)
    assert len(result.history["loss"]) == 2
    spec = ModelSpec.read(tmp_path / "model")
    # the model read numbers only: its spec lists what it takes, so serving sends just those
    assert [i.dtype for i in spec.inputs] == ["float32"] * 5


def test_a_module_read_through_a_uri(trained: Trained, tmp_path: Path) -> None:
    module = _module(tmp_path, "x = 1\n")
    with pytest.raises(ModelError, match=f"module_file file://{module}: defines no function build"):
        _train(trained, tmp_path / "model", f"file://{module}")


def _one_input(name: str, shape: int = 1) -> str:
    """A module whose model reads the input ``name`` alone, as floats of ``shape`` columns."""
    return _HEAD + (
        "def build_model(schema, statistics, hparams):\n"
        f"    x = keras.Input(shape=({shape},), name={name!r})\n"
        "    out = keras.layers.Dense(3, activation='softmax')(x)\n"
        f"    return keras.Model({{{name!r}: x}}, out)\n"
    )


_BUILD = """
def build_model(schema, statistics, hparams):
    spec = model_spec(schema, statistics)
    inputs, x = default_features(schema, statistics)
    out = keras.layers.Dense(len(spec.classes), activation="softmax")(x)
    return keras.Model(inputs, out)
"""


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def build_model(:\n", r"not valid Python at line 1"),
        ("raise RuntimeError('no GPU here')\n", r"raised on import: RuntimeError: no GPU here"),
        ("import sys\nsys.exit(3)\n", r"raised on import: SystemExit: 3"),
        ("def train(model):\n    pass\n", r"defines no function build_model\(schema, statistics"),
        ("build_model = 3\n", r"defines no function build_model"),
        (_HEAD + _BUILD + "train = 'fit'\n", r"'train' is not a function"),
        (
            "def build_model(schema, statistics, hparams):\n    return 'a model'\n",
            r"build_model returned str, not a keras.Model",
        ),
        (
            "def build_model(schema, statistics, hparams):\n    return {}['units']\n",
            r"build_model raised KeyError: 'units'",
        ),
        (
            _HEAD + "def build_model(schema, statistics, hparams):\n"
            "    return keras.Sequential([keras.layers.Dense(3)])\n",
            r"the model has no defined inputs .*default_inputs",
        ),
        (
            _one_input("in_wingspan"),
            r"input 'in_wingspan' is not a feature of this data \(inputs: in_island",
        ),
        (_one_input("in_island"), r"input 'in_island' is float32, expected string"),
        (_one_input("in_year", 2), r"input 'in_year' has shape \(None, 2\), expected \(None, 1\)"),
        (
            _HEAD + _BUILD.replace("len(spec.classes)", "2"),
            r"the model's output\(s\) \(None, 2\) should be one of shape \(None, 3\): 3 class",
        ),
        (
            _HEAD + _BUILD.replace('activation="softmax"', 'activation="relu"'),
            r"the model's outputs are not probabilities .*; end it with a softmax",
        ),
        (
            _HEAD + _BUILD.replace('activation="softmax"', 'activation="sigmoid"'),
            r"the model's output rows do not sum to 1",
        ),
        (
            _HEAD + _BUILD + "def train(model, train_dataset, eval_dataset, hparams, callbacks):\n"
            "    model.fit(train_dataset, epochs=1, shuffle=False, verbose=0)\n",
            r"train ran no epoch with the callbacks it was given \(pass callbacks=callbacks",
        ),
        (
            _HEAD + _BUILD + "def train(model, train_dataset, eval_dataset, hparams, callbacks):\n"
            "    raise ValueError('bad loop')\n",
            r"train raised ValueError: bad loop",
        ),
    ],
)
def test_a_malformed_module_is_named_with_what_is_wrong(
    trained: Trained, tmp_path: Path, source: str, message: str
) -> None:
    module = _module(tmp_path, source)
    with pytest.raises(ModelError, match=f"module_file {module}: {message}"):
        _train(trained, tmp_path / "model", module)
    assert not (tmp_path / "model").exists()


def test_a_missing_a_non_python_and_a_non_utf8_module_are_named(
    trained: Trained, tmp_path: Path
) -> None:
    with pytest.raises(ModelError, match=r"module_file .*nowhere.py: no such file"):
        _train(trained, tmp_path / "model", str(tmp_path / "nowhere.py"))
    notebook = tmp_path / "model.ipynb"
    notebook.write_text("{}")
    with pytest.raises(ModelError, match=r"model.ipynb: expected a Python file ending in .py"):
        _train(trained, tmp_path / "model", str(notebook))
    latin = tmp_path / "latin.py"
    latin.write_bytes(b"# caf\xe9\n")
    with pytest.raises(ModelError, match=r"latin.py: not Python \(not UTF-8 text"):
        _train(trained, tmp_path / "model", str(latin))


def test_two_modules_of_one_name_do_not_collide(trained: Trained, tmp_path: Path) -> None:
    from mlrail.components.train.user_module import load_module

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = load_module(_module(tmp_path / "a", _HEAD + _BUILD + "WHO = 'a'\n", "model.py"))
    two = load_module(_module(tmp_path / "b", _HEAD + _BUILD + "WHO = 'b'\n", "model.py"))
    assert (one.WHO, two.WHO) == ("a", "b") and one.__name__ != two.__name__
    assert np.all([n.startswith("mlrail_user_model_") for n in (one.__name__, two.__name__)])


def test_a_model_returned_by_train_is_the_one_saved(trained: Trained, tmp_path: Path) -> None:
    import keras

    source = (
        _HEAD
        + _BUILD
        + textwrap.dedent(
            """
        def train(model, train_dataset, eval_dataset, hparams, callbacks):
            inputs = {t.name: t for t in model.inputs}
            out = keras.layers.Dense(3, activation="softmax")(model.outputs[0])
            wider = keras.Model(inputs, out, name="replacement")
            wider.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
            wider.fit(
                train_dataset, validation_data=eval_dataset, epochs=1, callbacks=callbacks,
                shuffle=False, verbose=0,
            )
            return wider
        """
        )
    )
    _train(trained, tmp_path / "model", _module(tmp_path, source))
    assert keras.models.load_model(tmp_path / "model" / "model.keras").name == "replacement"


def test_a_pinned_module_that_changed_is_refused_before_its_code_runs(tmp_path: Path) -> None:
    import hashlib

    from mlrail.components.train.user_module import load_module

    reviewed = "def build_model(schema, statistics, hparams):\n    return None\n"
    module = tmp_path / "model.py"
    module.write_text(reviewed)
    pin = hashlib.sha256(reviewed.encode()).hexdigest()
    assert callable(load_module(str(module), sha256=pin.upper()).build_model)

    # changed after review: importing it would write the marker file
    marker = tmp_path / "ran"
    module.write_text(f"open({str(marker)!r}, 'w').close()\n" + reviewed)
    have = hashlib.sha256(module.read_bytes()).hexdigest()
    with pytest.raises(ModelError) as e:
        load_module(str(module), sha256=pin)
    assert str(module) in str(e.value) and pin in str(e.value) and have in str(e.value)
    assert not marker.exists()  # refused before a line of it ran
    with pytest.raises(ModelError, match="not 64 hexadecimal digits"):
        load_module(str(module), sha256="abc")
    assert not marker.exists()
    load_module(str(module))  # no pin: loaded (and run) as before
    assert marker.exists()


def test_a_module_built_on_the_default_inputs_takes_date_columns() -> None:
    """A date column is a float64 input (days since 1970): the contract check expects it so,
    and refuses a module that declares it as text."""
    import keras

    from mlrail.artifacts.modelspec import InputSpec
    from mlrail.components.train.user_module import check_model

    spec = ModelSpec(
        task="regression", label="y", output="predictions",
        inputs=[InputSpec("in_day", "Day", "datetime"), InputSpec("in_x", "x", "float32")],
    )  # fmt: skip

    def model(day_dtype: str) -> keras.Model:
        day = keras.Input(shape=(1,), name="in_day", dtype=day_dtype)
        x = keras.Input(shape=(1,), name="in_x", dtype="float32")
        out = keras.layers.Dense(1, name="predictions")(x)
        return keras.Model({"in_day": day, "in_x": x}, out)

    assert [i.name for i in check_model(model("float64"), spec, "m.py").inputs] == [
        "in_day",
        "in_x",
    ]
    with pytest.raises(ModelError, match=r"input 'in_day' is string, expected float64"):
        check_model(model("string"), spec, "m.py")


def test_train_refuses_a_pinned_module_whose_bytes_changed(
    trained: Trained, tmp_path: Path
) -> None:
    """The pin travels to train (the cluster's check): a changed file is refused before it runs."""
    import hashlib

    module = tmp_path / "m.py"
    module.write_text("raise SystemExit('ran')\n", encoding="utf-8")
    pin = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(ModelError, match=f"does not match the pin {pin[:8]}"):
        train(
            trained.examples, trained.schema, trained.statistics, tmp_path / "model",
            label="species", module_file=str(module), module_file_sha256=pin,
        )  # fmt: skip
    assert not (tmp_path / "model").exists()
