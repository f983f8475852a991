"""The model repository: version choice, pinning, hot pick-up, and models that fail to load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mlrail.errors import ModelError
from mlrail.serving.repository import Repository, load_model

from .helpers import (
    corrupt,
    publish_classifier,
    write_classifier,
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
    bad = corrupt(repo / "broken" / "1", content)

    repository = Repository(repo)

    broken = repository.model("broken")
    assert broken is not None and broken.served is None
    assert str(bad) in (broken.error or "")
    assert "ONNX Runtime cannot load" in (broken.error or "")
    assert set(repository.not_ready()) == {"broken"}
    assert repository.model("regressor").served is not None  # type: ignore[union-attr]


def test_missing_model_file_names_the_expected_path(repo: Path) -> None:
    (repo / "empty" / "1").mkdir(parents=True)

    broken = Repository(repo).model("empty")

    assert broken is not None and broken.served is None
    assert f"{repo / 'empty' / '1' / 'model.onnx'}: missing" in (broken.error or "")


def test_model_folder_without_versions_is_not_ready(repo: Path) -> None:
    (repo / "bare").mkdir()

    bare = Repository(repo).model("bare")

    assert bare is not None and bare.served is None and "no version folders" in (bare.error or "")


def test_a_corrupt_new_version_keeps_the_old_one_serving(repo: Path) -> None:
    repository = Repository(repo)
    bad = corrupt(repo / "penguins" / "3")

    repository.refresh()

    penguins = repository.model("penguins")
    assert penguins is not None and penguins.served is not None
    assert penguins.served.version == 2
    assert str(bad) in (penguins.version_error(3) or "")
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

    with pytest.raises(ModelError, match="declared input\\(s\\) not in the graph: sex"):
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
