"""``mlrail run --shards``: the sharded pipeline on a folder of files, and its usage errors."""

from __future__ import annotations

import builtins
import json
import logging
from pathlib import Path

import pytest

from mlrail.cli import main
from tests.cli.usage import error_line
from tests.components.merge.shards import penguin_shards


def test_parallelism_without_shards_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = error_line(["run", "--parallelism", "2", "--workdir", str(tmp_path / "w")], capsys)
    assert code == 2 and err.endswith(
        "--parallelism is for --shards: how many shards to read at once"
    )
    code, err = error_line(["run", "--shards", "--parallelism", "0"], capsys)
    assert code == 2 and "argument --parallelism: must be 1 or more, got 0" in err
    assert not (tmp_path / "w").exists()  # nothing ran


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda d: d.mkdir() or d, "a folder with no data files"),
        (lambda d: d / "*.csv", "matches no file"),
    ],
)
def test_a_source_with_no_shard_is_refused_before_any_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: object, expected: str
) -> None:
    source = make(tmp_path / "data")  # type: ignore[operator]
    argv = ["run", "--data", str(source), "--label", "y", "--shards"]
    code, err = error_line([*argv, "--workdir", str(tmp_path / "w")], capsys)
    assert code == 2 and expected in err and str(tmp_path / "data") in err
    assert not (tmp_path / "w" / "pipeline_root").exists()


def test_a_folder_of_files_runs_in_shards(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    penguin_shards(tmp_path / "data", 3)
    summary = tmp_path / "summary.json"
    argv = ["run", "--data", str(tmp_path / "data"), "--label", "species", "--shards"]
    argv += ["--parallelism", "3", "--epochs", "5", "--model-name", "penguins"]
    before = builtins.print, logging.getLogger().handlers[:]
    code = main([*argv, "--workdir", str(tmp_path / "w"), "--summary-json", str(summary)])
    out = capsys.readouterr().out
    assert code == 0, out
    # kfp.local swaps print and the root logger's handlers per task, in a thread per shard:
    # the run leaves both as they were (a leak indented every later print of this process)
    assert (builtins.print, logging.getLogger().handlers) == before
    assert out.startswith("mlrail run: sharded training pipeline (3 shard(s) at once) on ")
    assert "  ingest[2]    SUCCESS" in out and "  merge        SUCCESS" in out
    record = json.loads(summary.read_text())
    steps = {s["name"]: s for s in record["steps"]}
    assert [s["status"] for s in steps["ingest"]["shards"]] == ["SUCCESS"] * 3
    assert sum(record["figures"]["rows"].values()) == 344
    assert record["ok"] is True
    assert (tmp_path / "w" / "models" / "penguins" / "1" / "model.onnx").is_file()
