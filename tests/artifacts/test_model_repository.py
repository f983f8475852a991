"""The model repository: the one rule for a version, the newest version, the push, config.pbtxt."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from mlrail.artifacts import model_repository as repo
from mlrail.artifacts.modelspec import InputSpec, ModelSpec

SPEC = ModelSpec(
    task="multiclass",
    label="species",
    inputs=[InputSpec("in_x", "x", "float32"), InputSpec("in_island", "Island", "string")],
    output="probabilities",
    classes=["a", "b", "c"],
)


def _source(tmp_path: Path, content: bytes = b"onnx") -> Path:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / repo.MODEL_FILE).write_bytes(content)
    SPEC.write(src)
    return src


@pytest.mark.parametrize(
    ("name", "version"),
    [("1", 1), ("2", 2), ("10", 10), ("123456", 123456),
     ("0", None), ("01", None), ("007", None), ("-1", None), ("+1", None), (" 1", None),
     ("1.0", None), ("", None), ("latest", None), (".3.tmp", None), ("²", None), ("١", None)],
)  # fmt: skip
def test_a_version_is_a_canonical_positive_integer(name: str, version: int | None) -> None:
    assert repo.version_number(name) == version


def test_versions_are_the_version_folders_in_number_order(tmp_path: Path) -> None:
    model = tmp_path / "m"
    for name in ("10", "9", "1", "0", "01", "latest", ".11.tmp", ".incoming-pid1-x.tmp"):
        (model / name).mkdir(parents=True)
    (model / "12").write_text("a file, not a version folder")
    assert repo.versions(model) == [1, 9, 10]
    assert repo.versions(tmp_path / "missing") == []
    assert repo.next_version(model) == 11
    assert repo.next_version(tmp_path / "missing") == 1


def test_the_latest_version_is_the_newest_that_holds_a_model(tmp_path: Path) -> None:
    model = tmp_path / "m"
    assert repo.latest_version(model) is None
    for name in ("2", "10", "010", "11"):
        (model / name).mkdir(parents=True)
    for name in ("2", "10", "010"):
        (model / name / repo.MODEL_FILE).write_bytes(b"onnx")
    # 11 holds no model; 010 is not a version
    assert repo.latest_version(model) == model / "10"


def test_newest_version_asks_newest_first_and_stops_at_the_first_model() -> None:
    asked: list[int] = []

    def has_model(v: int) -> bool:
        asked.append(v)
        return v < 10

    assert repo.newest_version(["3", "12", "10", "03", "x"], has_model) == 3
    assert asked == [12, 10, 3]
    assert repo.newest_version([], has_model) is None


def test_push_adds_a_complete_version_and_the_config(tmp_path: Path) -> None:
    src = _source(tmp_path)
    model = tmp_path / "repository" / "penguins"
    assert repo.push(model, src, SPEC) == 1
    (model / "01").mkdir()  # not a version: does not move the next number
    assert repo.push(model, _source(tmp_path, b"onnx 2"), SPEC) == 2
    assert sorted(p.name for p in model.iterdir()) == ["01", "1", "2", repo.CONFIG_FILE]
    assert (model / "2" / repo.MODEL_FILE).read_bytes() == b"onnx 2"
    assert ModelSpec.read(model / "2") == SPEC
    assert (model / repo.CONFIG_FILE).read_text() == repo.triton_config("penguins", SPEC)


def test_a_failed_push_leaves_no_version_no_staging_and_no_config(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / repo.MODEL_FILE).write_bytes(b"onnx")  # no model_spec.json
    model = tmp_path / "m"
    with pytest.raises(FileNotFoundError):
        repo.push(model, src, SPEC)
    assert list(model.iterdir()) == []


def test_a_push_never_replaces_a_version_that_appeared_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A concurrent push claims the number between this push's count and its rename."""
    model = tmp_path / "m"
    model.mkdir()
    counted = repo.next_version

    def racing(folder: str | os.PathLike[str]) -> int:
        version = counted(folder)
        if version == 1:  # the other push wins number 1 first
            (Path(folder) / "1").mkdir()
            (Path(folder) / "1" / repo.MODEL_FILE).write_bytes(b"theirs")
        return version

    monkeypatch.setattr(repo, "next_version", racing)
    assert repo.push(model, _source(tmp_path), SPEC) == 2
    assert (model / "1" / repo.MODEL_FILE).read_bytes() == b"theirs"


def test_concurrent_pushes_get_distinct_versions(tmp_path: Path) -> None:
    model = tmp_path / "m"
    src = _source(tmp_path)
    got: list[int] = []
    threads = [
        threading.Thread(target=lambda: got.append(repo.push(model, src, SPEC))) for _ in range(5)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == [1, 2, 3, 4, 5]
    assert repo.versions(model) == [1, 2, 3, 4, 5]
    assert not [p for p in model.iterdir() if p.name.startswith(".")]


def test_triton_config_names_inputs_by_column_and_sizes_the_output() -> None:
    config = repo.triton_config('my "model"', SPEC)
    assert config.splitlines()[:3] == [
        'name: "my \\"model\\""',
        'platform: "onnxruntime_onnx"',
        f"max_batch_size: {repo.MAX_BATCH_SIZE}",
    ]
    assert 'name: "x"\n  data_type: TYPE_FP32\n  dims: [ 1 ]' in config
    assert 'name: "Island"\n  data_type: TYPE_STRING' in config
    assert 'name: "probabilities"\n  data_type: TYPE_FP32\n  dims: [ 3 ]' in config
    regression = ModelSpec(
        task="regression",
        label="mass",
        inputs=[InputSpec("in_day", "day", "datetime")],
        output="predictions",
    )
    config = repo.triton_config("mass", regression)
    assert "data_type: TYPE_FP64" in config and "dims: [ 1 ]\n}\n" in config


def test_triton_config_lets_tritons_dynamic_batcher_batch_rows() -> None:
    """Triton's own ModelConfig schema reads the file: a positive max_batch_size, dynamic
    batching on, and per-row dims (Triton adds the batch dimension itself, so [-1, 1] here
    would mean [batch, -1, 1] to it and no request would fit)."""
    import json
    import subprocess
    import sys

    # In a process of its own: tritonclient.grpc's protos cannot be imported into a process
    # that has imported kserve's (both register the `inference` package in protobuf's pool).
    code = (
        "import json, sys\n"
        "from google.protobuf import json_format, text_format\n"
        "from tritonclient.grpc import model_config_pb2 as m\n"
        "config = text_format.Parse(sys.stdin.read(), m.ModelConfig())\n"
        "print(json.dumps(json_format.MessageToDict(config)))\n"
    )
    text = repo.triton_config("penguins", SPEC)
    done = subprocess.run(
        [sys.executable, "-c", code], input=text, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)

    assert config["name"] == "penguins" and config["platform"] == "onnxruntime_onnx"
    assert config["maxBatchSize"] == repo.MAX_BATCH_SIZE > 1
    assert "dynamicBatching" in config
    assert [(i["name"], i["dims"]) for i in config["input"]] == [("x", ["1"]), ("Island", ["1"])]
    assert [(o["name"], o["dims"]) for o in config["output"]] == [("probabilities", ["3"])]
    assert config["input"][1]["dataType"] == "TYPE_STRING"


def test_pbtxt_string_escapes_as_protobuf_does() -> None:
    assert repo.pbtxt_string("plain") == '"plain"'
    assert repo.pbtxt_string("a\"b'c\\d\n") == '"a\\"b\\\'c\\\\d\\n"'
    assert repo.pbtxt_string("Größe") == '"Gr\\303\\266\\303\\237e"'


def test_the_module_imports_nothing_heavy() -> None:
    """The server imports it: no numpy, pyarrow or ONNX Runtime on its account."""
    import subprocess
    import sys

    code = (
        "import sys, mlrail.artifacts.model_repository\n"
        "heavy = {'numpy', 'pyarrow', 'onnxruntime', 'onnx'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
