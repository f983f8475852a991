from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlrail.artifacts.examples import read_split
from mlrail.artifacts.model_repository import latest_version
from mlrail.components.evaluate.models import load_model, resolve_baseline
from mlrail.errors import ModelError
from tests.helpers import Trained


def _version(onnx_model: Path, repository: Path, version: str) -> Path:
    dest = repository / "penguins" / version
    shutil.copytree(onnx_model / "model_repository" / "penguins" / "1", dest)
    return dest


def test_the_latest_version_is_the_highest_whole_version_with_a_model(
    onnx_model: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "models"
    assert latest_version(repo / "penguins") is None  # nothing deployed yet
    for v in ("2", "10"):
        _version(onnx_model, repo, v)
    (repo / "penguins" / "11").mkdir()  # no model.onnx: not a version
    _version(onnx_model, repo, ".12.tmp")  # a deploy in progress
    _version(onnx_model, repo, "011")  # not a version: the server does not serve it
    assert latest_version(repo / "penguins") == repo / "penguins" / "10"
    assert latest_version(repo / "other") is None


def test_a_baseline_is_a_version_the_server_serves(onnx_model: Path, tmp_path: Path) -> None:
    """``0`` and ``01`` are not versions (the model repository's one rule): never a baseline."""
    repo = tmp_path / "models"
    for v in ("0", "01"):
        _version(onnx_model, repo, v)
    with pytest.raises(ModelError, match="not a model: .* or numbered version folders"):
        resolve_baseline(str(repo / "penguins"))
    _version(onnx_model, repo, "1")
    base, _ = resolve_baseline(str(repo / "penguins"))
    assert base is not None and base.source == f"{repo / 'penguins'}/1"


def test_onnx_and_saved_model_folders_predict_the_same(trained: Trained, onnx_model: Path) -> None:
    onnx = load_model(onnx_model)
    tf = load_model(trained.model)
    assert (onnx.format, tf.format) == ("onnx", "saved_model")
    where = str(trained.examples / "eval")
    features = tf.spec.features(read_split(where), where)
    np.testing.assert_allclose(onnx.predict(features), tf.predict(features), atol=1e-5)


def test_an_onnx_baseline_does_not_import_tensorflow(trained: Trained, onnx_model: Path) -> None:
    code = (
        "import sys\n"
        "from mlrail.components.evaluate.models import resolve_baseline\n"
        "from mlrail.artifacts.examples import read_split\n"
        f"base, _ = resolve_baseline({str(onnx_model)!r})\n"
        f"where = {str(trained.examples / 'eval')!r}\n"
        "base.predict(base.spec.features(read_split(where), where))\n"
        "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_baseline_locations(onnx_model: Path, tmp_path: Path) -> None:
    assert resolve_baseline("") == (None, "no baseline model was given")
    base, reason = resolve_baseline(str(tmp_path / "nowhere"))
    assert base is None and "does not exist yet" in reason
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ModelError, match="not a model folder"):
        resolve_baseline(str(tmp_path / "file.txt"))
    base, _ = resolve_baseline(str(onnx_model))  # an export_onnx artifact itself
    assert base is not None and base.format == "onnx" and base.source == str(onnx_model)


def test_a_corrupt_onnx_baseline_names_the_file(onnx_model: Path, tmp_path: Path) -> None:
    bad = _version(onnx_model, tmp_path / "models", "3")
    (bad / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match=r"3/model.onnx: ONNX Runtime cannot load"):
        resolve_baseline(str(tmp_path / "models" / "penguins"))


def test_a_folder_without_a_spec_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a model: expected model_spec.json"):
        load_model(tmp_path)


def test_a_remote_baseline_is_copied_before_loading(onnx_model: Path, tmp_path: Path) -> None:
    import pyarrow.fs as pafs

    from mlrail.components.evaluate.models import _resolve_on

    # a filesystem that is not the local one, as s3:// or gs:// would be
    remote = pafs.SubTreeFileSystem(str(onnx_model / "model_repository"), pafs.LocalFileSystem())
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    base, reason = _resolve_on(remote, "penguins", "s3://bucket/models/penguins", scratch)
    assert reason == "" and base is not None
    assert base.source == "s3://bucket/models/penguins/1" and base.format == "onnx"
    assert base.folder.parent == scratch and (base.folder / "model.onnx").is_file()


def test_feeding_errors_are_model_errors_that_name_the_model(
    trained: Trained, onnx_model: Path, tmp_path: Path
) -> None:
    """Neither TensorFlow's binding error nor ONNX Runtime's ValueError reaches the user raw."""
    import json

    from mlrail.artifacts.modelspec import ModelSpec
    from mlrail.artifacts.saved_model import predict_saved_model

    spec = ModelSpec.read(trained.model)
    features = spec.features(read_split(trained.examples / "eval"), "eval")
    by_column = {i.column: features[i.name] for i in spec.inputs}  # the graph's names, not TF's
    with pytest.raises(ModelError, match=r"saved_model: the SavedModel cannot run on inputs"):
        predict_saved_model(trained.model / "saved_model", by_column)
    # an ONNX version whose model_spec.json names columns the graph does not have
    version = _version(onnx_model, tmp_path / "models", "1")
    raw = json.loads((version / "model_spec.json").read_text())
    raw["inputs"][0]["column"] = "Island (renamed)"
    (version / "model_spec.json").write_text(json.dumps(raw))
    with pytest.raises(ModelError, match=r"model.onnx: the ONNX graph's inputs .* are not"):
        load_model(version)
    # a feed of the wrong type: ONNX Runtime's own error, named
    model = load_model(_version(onnx_model, tmp_path / "models", "2"))
    wrong = {k: np.zeros(v.shape, np.float64) for k, v in features.items()}
    with pytest.raises(ModelError, match=r"model.onnx: ONNX Runtime failed"):
        model.predict(wrong)
