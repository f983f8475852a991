"""The model repository: version choice, pinning, hot pick-up, and models that fail to load."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from mlrail.errors import ModelError
from mlrail.serving.model import load_model
from mlrail.serving.repository import Repository

from .helpers import (
    COLUMNS,
    corrupt,
    publish_classifier,
    write_classifier,
    write_columns,
    write_regressor,
)


def test_serves_the_highest_version_of_each_model(repo: Path) -> None:
    repository = Repository(repo)

    assert repository.names() == ["penguins", "regressor"]
    penguins = repository.model("penguins")
    assert penguins is not None and penguins.served is not None
    assert penguins.served.version == 2
    assert penguins.versions == (1, 2)
    assert repository.not_ready() == {}


def test_version_folders_sort_as_numbers_not_strings(tmp_path: Path) -> None:
    write_regressor(tmp_path, 9)
    write_regressor(tmp_path, 10)

    served = Repository(tmp_path).model("regressor")

    assert served is not None and served.served is not None and served.served.version == 10


def test_pinned_version_is_served_even_when_a_higher_one_exists(repo: Path) -> None:
    penguins = Repository(repo, model_version=1).model("penguins")

    assert penguins is not None and penguins.served is not None
    assert penguins.served.version == 1


def test_pinned_version_missing_makes_the_model_not_ready_and_says_which(repo: Path) -> None:
    repository = Repository(repo, model_version=2)

    assert repository.model("penguins").served.version == 2  # type: ignore[union-attr]
    why = repository.not_ready()["regressor"]
    assert "version 2 (pinned) not found" in why and "versions present: 1" in why


def test_inputs_follow_the_model_spec_order_with_v2_datatypes(repo: Path) -> None:
    model = Repository(repo).model("penguins").served  # type: ignore[union-attr]

    assert model is not None
    assert [(t.name, t.datatype, t.shape) for t in model.inputs] == [
        ("bill_length_mm", "FP32", (-1, 1)),
        ("island", "BYTES", (-1, 1)),
    ]
    assert [(t.name, t.datatype, t.shape) for t in model.outputs] == [
        ("probabilities", "FP32", (-1, 3)),
    ]
    assert model.batched


def test_a_version_published_later_is_picked_up_on_refresh(repo: Path) -> None:
    repository = Repository(repo)
    publish_classifier(repo, 3, bias=2.0)

    repository.refresh()

    assert repository.model("penguins").served.version == 3  # type: ignore[union-attr]


def test_poll_picks_up_a_new_version_in_the_background(repo: Path) -> None:
    repository = Repository(repo, poll_interval=0.0)
    publish_classifier(repo, 3, bias=2.0)

    repository.poll()
    assert repository.wait_idle(timeout=60)

    assert repository.model("penguins").served.version == 3  # type: ignore[union-attr]


def test_poll_does_not_rescan_before_the_interval(repo: Path) -> None:
    repository = Repository(repo, poll_interval=3600.0)
    publish_classifier(repo, 3, bias=2.0)

    repository.poll()  # within the hour after loading: no scan
    assert repository.wait_idle(timeout=60)

    assert repository.model("penguins").served.version == 2  # type: ignore[union-attr]


def test_a_new_model_folder_is_picked_up_and_a_removed_one_dropped(repo: Path) -> None:
    repository = Repository(repo)
    write_regressor(repo, 1, name="late")
    shutil.rmtree(repo / "regressor")

    repository.refresh()

    assert repository.names() == ["late", "penguins"]


def test_hidden_staging_folders_and_non_numeric_folders_are_ignored(repo: Path) -> None:
    corrupt(repo / "penguins" / ".3.tmp")  # a deploy in progress
    corrupt(repo / "penguins" / "latest")
    corrupt(repo / "penguins" / "03")
    corrupt(repo / ".trash" / "1")

    repository = Repository(repo)

    assert repository.names() == ["penguins", "regressor"]
    penguins = repository.model("penguins")
    assert penguins is not None and penguins.versions == (1, 2) and penguins.failures == {}


@pytest.mark.parametrize("content", [b"", b"\x08\x07garbage that is not a protobuf" * 3])
def test_corrupt_model_is_not_ready_with_the_file_named_and_others_serve(
    repo: Path, content: bytes
) -> None:
    corrupt(repo / "broken" / "1", content)

    repository = Repository(repo)

    broken = repository.model("broken")
    assert broken is not None and broken.served is None
    # Relative to the repository: the error is shown to clients.
    assert (broken.error or "").startswith("broken/1/model.onnx: ")
    assert str(repo) not in (broken.error or "")
    assert "ONNX Runtime cannot load" in (broken.error or "")
    assert set(repository.not_ready()) == {"broken"}
    assert repository.model("regressor").served is not None  # type: ignore[union-attr]


def test_missing_model_file_names_the_expected_path(repo: Path) -> None:
    (repo / "empty" / "1").mkdir(parents=True)

    broken = Repository(repo).model("empty")

    assert broken is not None and broken.served is None
    assert (broken.error or "").startswith("empty/1/model.onnx: missing")


def test_model_folder_without_versions_is_not_ready(repo: Path) -> None:
    (repo / "bare").mkdir()

    bare = Repository(repo).model("bare")

    assert bare is not None and bare.served is None and "no version folders" in (bare.error or "")


def test_a_corrupt_new_version_keeps_the_old_one_serving(repo: Path) -> None:
    repository = Repository(repo)
    corrupt(repo / "penguins" / "3")

    repository.refresh()

    penguins = repository.model("penguins")
    assert penguins is not None and penguins.served is not None
    assert penguins.served.version == 2
    assert (penguins.version_error(3) or "").startswith("penguins/3/model.onnx: ")
    assert repository.not_ready() == {}


def test_a_corrupt_file_is_not_reloaded_until_it_changes(repo: Path) -> None:
    repository = Repository(repo)
    corrupt(repo / "penguins" / "3")
    repository.refresh()
    failure = repository.model("penguins").failures[3]  # type: ignore[union-attr]

    repository.refresh()
    assert repository.model("penguins").failures[3] is failure  # type: ignore[union-attr]

    # Replaced by a good model (a rename, as deploy does): loaded on the next scan.
    shutil.rmtree(repo / "penguins" / "3")
    publish_classifier(repo, 3, bias=2.0)
    repository.refresh()
    penguins = repository.model("penguins")
    assert penguins is not None and penguins.served is not None
    assert penguins.served.version == 3 and penguins.failures == {}


def test_removing_the_served_version_rolls_back_to_the_previous_one(repo: Path) -> None:
    repository = Repository(repo)
    shutil.rmtree(repo / "penguins" / "2")

    repository.refresh()

    assert repository.model("penguins").served.version == 1  # type: ignore[union-attr]


def test_spec_that_disagrees_with_the_graph_names_both_files(tmp_path: Path) -> None:
    folder = write_classifier(tmp_path, 1)
    spec = json.loads((folder / "model_spec.json").read_text())
    spec["inputs"][1]["dtype"] = "float32"  # the graph takes strings
    (folder / "model_spec.json").write_text(json.dumps(spec))

    with pytest.raises(ModelError) as error:
        load_model(folder, "penguins", 1)

    message = str(error.value)
    assert str(folder / "model_spec.json") in message and str(folder / "model.onnx") in message
    assert "'island'" in message and "BYTES" in message


def test_spec_with_an_input_the_graph_lacks_is_refused(tmp_path: Path) -> None:
    folder = write_classifier(tmp_path, 1)
    spec = json.loads((folder / "model_spec.json").read_text())
    spec["inputs"].append({"name": "sex", "column": "sex", "dtype": "string"})
    (folder / "model_spec.json").write_text(json.dumps(spec))

    with pytest.raises(ModelError, match="declared input\\(s\\) not in the graph: 'sex'"):
        load_model(folder, "penguins", 1)


def test_unreadable_spec_is_a_model_error_naming_it(tmp_path: Path) -> None:
    folder = write_classifier(tmp_path, 1)
    (folder / "model_spec.json").write_text("{not json")

    with pytest.raises(ModelError, match="model_spec.json"):
        load_model(folder, "penguins", 1)


def test_without_a_spec_the_graph_is_the_contract(tmp_path: Path) -> None:
    folder = write_classifier(tmp_path, 1)
    (folder / "model_spec.json").unlink()

    model = load_model(folder, "penguins", 1)

    assert model.spec is None
    assert {t.name: t.datatype for t in model.inputs} == {
        "bill_length_mm": "FP32",
        "island": "BYTES",
    }
    assert model.inputs[1].dtype == np.dtype(object)


def test_missing_repository_is_an_error_naming_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model repository not found"):
        Repository(tmp_path / "nope")


def test_pinned_version_must_be_positive(repo: Path) -> None:
    with pytest.raises(ModelError, match="model_version"):
        Repository(repo, model_version=0)


# -- input names: the data's columns (new exports) or the TensorFlow-side names (older ones) -----


@pytest.mark.parametrize("graph_names", ["column", "name"])
def test_a_graph_named_by_columns_or_by_tf_names_loads_and_serves_its_own_names(
    tmp_path: Path, graph_names: str
) -> None:
    folder = write_columns(tmp_path, graph_names=graph_names)

    model = load_model(folder, "columns", 1)

    assert model.spec is not None
    expected = [i.column if graph_names == "column" else i.name for i in model.spec.inputs]
    assert [t.name for t in model.inputs] == expected  # the graph's names, in the spec's order
    assert set(model.input_index) == set(expected)
    if graph_names == "column":
        assert expected == [c for c, _ in COLUMNS]  # "Größe", "a.b/c", "Churned?", "2024 Sales"


def test_a_datetime_input_is_served_as_fp64_and_marked_as_a_date(tmp_path: Path) -> None:
    model = load_model(write_columns(tmp_path), "columns", 1)

    by_name = {t.name: t for t in model.inputs}
    assert (by_name["Churned?"].datatype, by_name["Churned?"].datetime) == ("FP64", True)
    assert (by_name["Größe"].datatype, by_name["Größe"].datetime) == ("FP32", False)


def test_a_datetime_input_the_graph_takes_as_fp32_is_refused(tmp_path: Path) -> None:
    folder = write_columns(tmp_path, 1, [("when", "float32")])
    spec = json.loads((folder / "model_spec.json").read_text())
    spec["inputs"][0]["dtype"] = "datetime"
    (folder / "model_spec.json").write_text(json.dumps(spec))

    with pytest.raises(ModelError, match="'when' is declared datetime \\(FP64\\).*takes FP32"):
        load_model(folder, "columns", 1)


def test_a_graph_mixing_column_and_tf_names_is_refused_naming_both(tmp_path: Path) -> None:
    columns = [("Größe", "float32"), ("a.b/c", "string")]
    folder = write_columns(tmp_path, 1, columns)
    spec = json.loads((folder / "model_spec.json").read_text())
    spec["inputs"][1]["column"] = "A.B/C"  # the graph has "a.b/c"
    (folder / "model_spec.json").write_text(json.dumps(spec))

    with pytest.raises(ModelError) as error:
        load_model(folder, "columns", 1)

    assert "'A.B/C'" in str(error.value) and "'a.b/c'" in str(error.value)


# -- logging: a broken version is reported once, not at every re-scan ----------------------------


def test_a_broken_newest_version_is_logged_once_while_it_stays(
    repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    repository = Repository(repo)
    bad = corrupt(repo / "penguins" / "3")

    with caplog.at_level(logging.INFO, logger="mlrail.serving"):
        for _ in range(5):
            repository.refresh()

    about_3 = [r.getMessage() for r in caplog.records if "version 3" in r.getMessage()]
    assert len(about_3) == 2, about_3  # the load error, and "still serving version 2"
    assert any(str(bad) in m for m in about_3)  # the server log has the full path

    # A different failure (the file replaced by other bad bytes) is news: logged again.
    caplog.clear()
    shutil.rmtree(repo / "penguins" / "3")
    corrupt(repo / "penguins" / "3", b"other garbage" * 3)
    with caplog.at_level(logging.INFO, logger="mlrail.serving"):
        repository.refresh()
        repository.refresh()
    assert len([r for r in caplog.records if "version 3" in r.getMessage()]) == 2


def test_an_empty_repository_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="mlrail.serving"):
        repository = Repository(tmp_path)
        for _ in range(3):
            repository.refresh()

    assert len([r for r in caplog.records if "holds no model folders" in r.getMessage()]) == 1


@pytest.mark.parametrize("root", [".", "model_repository", "models"])
def test_errors_name_files_relative_to_a_repository_given_as_a_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, root: str
) -> None:
    # A model folder named like the repository ("models/models/...") keeps its own name.
    monkeypatch.chdir(tmp_path)
    corrupt(tmp_path / root / "models" / "1")
    write_regressor(tmp_path / root, 1)

    error = Repository(root).model("models").error or ""  # type: ignore[union-attr]

    assert error.startswith("models/1/model.onnx: ONNX Runtime cannot load this model"), error
