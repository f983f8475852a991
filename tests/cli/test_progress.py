"""Progress on the terminal of ``mlrail run`` (mlrail.local.progress): a step's progress lines
picked out of its output as kfp.local prints it, and shown at once; everything else only logged.

The real run's progress (started lines, rows, epochs with loss, parity rows, in order) is
asserted on the full run of tests/cli/test_cli.py (test_run_on_a_binary_csv_of_ones_own).
"""

from __future__ import annotations

import io
import json
import logging
import math
from pathlib import Path

import pytest

from mlrail.cli import build_parser, main
from mlrail.local import LocalRun, StepResult, summary_record, write_summary_json
from mlrail.local.progress import PROGRESS_LOGGER, format_line, parse, report_to_stdout
from mlrail.local.runner import _Progress, _Redacting


def test_a_progress_line_is_parsed_back_even_indented_as_kfp_local_prints_it() -> None:
    line = format_line("export_onnx", "parity: 74 eval rows\nchecked")
    assert line == "[mlrail:export_onnx] parity: 74 eval rows checked"  # one line
    assert parse("    " + line + "\n") == ("export_onnx", "parity: 74 eval rows checked")
    for other in ("[KFP Executor 2026 INFO]: epoch 1/3", "train started", "[mlrail:] x", ""):
        assert parse(other) is None


def test_only_progress_lines_reach_the_terminal_as_they_are_written(tmp_path: Path) -> None:
    echo, log = io.StringIO(), io.StringIO()
    progress = _Progress([StepResult("train", task="train")], tmp_path, "training-x", echo)
    stream = _Redacting(log, progress.line)
    stream.write("    [KFP Executor INFO]: loading\n    [mlrail:train] epoch 1/2: ")
    assert echo.getvalue() == ""  # half a line: not yet
    stream.write("loss 0.5 s3://KEY:SECRET@bucket/x\n    [mlrail:train] epoch 2/2: loss 0.25\n")
    assert echo.getvalue() == (
        "  train        epoch 1/2: loss 0.5 s3://***@bucket/x\n"
        "  train        epoch 2/2: loss 0.25\n"
    )
    assert "[mlrail:train] epoch 2/2: loss 0.25" in log.getvalue()  # the log keeps every line
    assert "[KFP Executor" not in echo.getvalue()


def test_quiet_prints_the_summary_alone_and_the_json_tells_the_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run that fails at its first step (cheap: no training), with --quiet --summary-json."""
    data = tmp_path / "header-only.csv"
    data.write_text("x,y\n")
    target = tmp_path / "summary.json"
    argv = ["run", "--data", str(data), "--label", "y", "--workdir", str(tmp_path / "w")]
    assert main([*argv, "--quiet", "--summary-json", str(target)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("\n  step         status       time   figures\n"), out
    assert "started" not in out and "mlrail run:" not in out
    assert "FAILED at ingest: mlrail.errors.DataError: " in out
    record = json.loads(target.read_text())
    assert (record["status"], record["ok"]) == ("FAILURE", False)
    assert record["error"].endswith("has a header but no data rows")
    ingest, validate = record["steps"][:2]
    assert (ingest["name"], ingest["status"], ingest["attempts"]) == ("ingest", "FAILURE", 1)
    assert ingest["error"] == record["error"] and ingest["seconds"] > 0
    assert (validate["status"], validate["seconds"], validate["artifacts"]) == ("NOT RUN", None, {})
    assert record["log_file"] in out and record["onnx_model"] is None


def test_a_step_reports_through_the_progress_logger_only() -> None:
    out = io.StringIO()
    handler = report_to_stdout("ingest", out)
    try:
        logging.getLogger(f"{PROGRESS_LOGGER}.ingest").info("%s rows read", "10,000")
        logging.getLogger("mlrail.components.ingest").warning("not progress")
    finally:
        logger = logging.getLogger(PROGRESS_LOGGER)
        logger.removeHandler(handler)  # as it was: the other tests' logging is theirs
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    assert out.getvalue() == "[mlrail:ingest] started\n[mlrail:ingest] 10,000 rows read\n"


def test_run_has_quiet_and_summary_json() -> None:
    args = build_parser().parse_args(["run", "-q", "--summary-json", "s.json"])
    assert (args.quiet, args.summary_json) == (True, "s.json")
    args = build_parser().parse_args(["run"])
    assert (args.quiet, args.summary_json) == (False, "")


def test_the_summary_json_holds_the_summarys_facts_as_json_can(tmp_path: Path) -> None:
    run = LocalRun(
        "FAILURE",
        [
            StepResult("ingest", "SUCCESS", 0.5, "rows: train 8, eval 2", 1, "ingest"),
            StepResult("train", "FAILURE", 2.0, "", 1, "train", "DataError: s3://K:S@b/x: no"),
        ],
        tmp_path / "run",
        tmp_path / "run.log",
        tmp_path / "models",
        figures={"rows": {"train": 8, "eval": 2}, "metrics": {"roc_auc": math.nan}},
        error="DataError: s3://K:S@b/x: no",
        run_id="r1",
        seconds=3.0,
    )
    run.steps[0].artifacts = {"examples": tmp_path / "run" / "ingest" / "examples"}
    target = tmp_path / "out" / "summary.json"
    target.parent.mkdir()
    write_summary_json(run, target)
    record = json.loads(target.read_text())
    assert record == summary_record(run)
    assert record["status"] == "FAILURE" and record["ok"] is False and record["seconds"] == 3.0
    assert [s["name"] for s in record["steps"]] == ["ingest", "train"]
    assert record["steps"][0]["artifacts"] == {"examples": str(tmp_path / "run/ingest/examples")}
    assert record["figures"]["metrics"]["roc_auc"] is None  # NaN is no JSON number
    assert "S@" not in target.read_text() and "s3://***@b/x" in record["error"]
    assert list(target.parent.iterdir()) == [target]  # written whole, no temporary left


def test_an_unwritable_summary_json_is_refused_before_any_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("")
    target = str(tmp_path / "file" / "s.json")
    assert main(["run", "--workdir", str(tmp_path / "w"), "--summary-json", target]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mlrail run: error: --summary-json ") and "is a file" in err
    assert not (tmp_path / "w" / "logs").exists()  # nothing ran
