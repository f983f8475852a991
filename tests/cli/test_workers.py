"""``mlrail run --workers N``: data-parallel training on N worker processes, from the CLI.

A bad ``--workers`` (or a ``batch_size`` it does not divide) is a usage error before any step;
the run passes ``train_workers`` and launcher ``local`` to either pipeline (a ``--shards`` run
too); one real run trains on two workers and is blessed, even where ``auto`` would have meant a
TrainJob (a pod); and ``submit`` takes the same parameters by name with ``--param``.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlrail.cli import build_parser, main
from mlrail.cli.run import run_arguments
from mlrail.components.train.distributed import check_distribution
from tests.cli.usage import error_line
from tests.kfp_api.fake_server import FakeKfpServer
from tests.pipelines.golden import compiled_once
from tests.test_readme import ROOT, sh_lines


@pytest.mark.parametrize("shards", [[], ["--shards"]], ids=["training", "sharded"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "argument --workers: must be 1 or more, got 0"),
        ("-2", "argument --workers: must be 1 or more, got -2"),
        ("x", "argument --workers: not a whole number: 'x'"),
        ("1.5", "argument --workers: not a whole number: '1.5'"),
        # train refuses more, but only after ingest and validate have run
        ("257", "argument --workers: must be 256 or fewer, got 257"),
    ],
)
def test_a_bad_workers_value_is_a_usage_error_before_any_step(
    value: str,
    message: str,
    shards: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    work = tmp_path / "w"
    code, line = error_line(["run", *shards, "--workers", value, "--workdir", str(work)], capsys)
    assert code == 2 and line == f"mlrail run: error: {message}", line
    assert not work.exists()  # nothing ran: no log, no artifact


@pytest.mark.parametrize("shards", [[], ["--shards"]], ids=["training", "sharded"])
def test_a_batch_size_the_workers_do_not_divide_is_refused_before_any_step(
    shards: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # train refused it (the global batch is split evenly), after ingest and validate
    work = tmp_path / "w"
    argv = ["run", *shards, "--workers", "3", "--hparams", '{"batch_size": 32}']
    code, line = error_line([*argv, "--workdir", str(work)], capsys)
    assert code == 2, line
    assert line.startswith("mlrail run: error: --workers 3: batch_size 32 (--hparams)"), line
    assert "must divide by the workers" in line
    assert not work.exists()


def test_workers_are_documented_in_run_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--workers N train data-parallel on N worker processes on this machine" in text
    assert "must divide by N); with --shards too (default: 1)" in text


def _root_parameters(pipeline: str) -> dict[str, Any]:
    ir = next(yaml.safe_load_all(compiled_once(pipeline)))
    params: dict[str, Any] = ir["root"]["inputDefinitions"]["parameters"]
    return params


@pytest.mark.parametrize(
    ("argv", "pipeline"),
    [(["run"], "training"), (["run", "--shards"], "training_sharded")],
    ids=["training", "sharded"],
)
def test_a_run_passes_the_workers_and_a_local_launcher_to_its_pipeline(
    argv: list[str], pipeline: str
) -> None:
    params = _root_parameters(pipeline)
    one = run_arguments(build_parser().parse_args(argv), "bundled:penguins", "species", {})
    # one worker: the pipeline's own default, nothing else changes
    assert one["train_workers"] == 1 == params["train_workers"]["defaultValue"]
    assert "train_distribution" not in one
    two = run_arguments(
        build_parser().parse_args([*argv, "--workers", "2"]), "bundled:penguins", "species", {}
    )
    assert set(two) <= set(params), set(two) - set(params)  # kfp.local refuses unknown ones
    assert two["train_workers"] == 2
    # processes on this machine whatever train's "auto" would choose (a pod: a TrainJob)
    assert check_distribution(two["train_distribution"]).launcher == "local"
    assert {k: v for k, v in two.items() if not k.startswith("train_")} == {
        k: v for k, v in one.items() if not k.startswith("train_")
    }


def test_submit_takes_train_workers_and_distribution_by_name(tmp_path: Path) -> None:
    """No flag of its own: ``--param`` (JSON values) sets them, typed, on the cluster run."""
    with FakeKfpServer() as kfp_api:
        argv = ["submit", "--host", kfp_api.url, "--param", "train_workers=4", "--param"]
        code = main([*argv, 'train_distribution={"launcher": "trainjob", "cpu": "2"}'])
        assert code == 0
        [run] = kfp_api.runs.values()
        params = run.runtime_config.parameters
    assert params["train_workers"] == 4 and isinstance(params["train_workers"], int)
    assert params["train_distribution"] == {"launcher": "trainjob", "cpu": "2"}
    assert check_distribution(params["train_distribution"]).cpu == "2"


# --- the real thing: two worker processes under kfp.local --------------------------------------


@pytest.fixture
def env_of_a_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a notebook server's pod, where train's ``auto`` launcher means a TrainJob (whose
    workers could not read kfp.local's local artifacts: the step would fail)."""
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    for name in ("MLFLOW_TRACKING_URI", "K_SINK"):  # the run's own defaults
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("env_of_a_pod")
def test_run_with_two_workers_trains_on_both_and_is_blessed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's example, as written (tests/cli/test_readme_examples.py leaves it to this
    test), in a pod's environment."""
    work, summary = tmp_path / "w", tmp_path / "summary.json"
    [line] = [line for line in sh_lines() if line.startswith("mlrail run") and "--workers" in line]
    argv = shlex.split(line)[1:]
    assert argv[argv.index("--workers") + 1] == "2" and argv[argv.index("--epochs") + 1] == "6"
    monkeypatch.chdir(ROOT)  # the example names the bundled file by its path in the checkout
    code = main([*argv, "--workdir", str(work), "--summary-json", str(summary)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "through kfp.local, 2 training workers" in out.splitlines()[0]
    assert "; blessed" in out
    assert list((work / "models").glob("penguins/1/model.onnx")), out
    record = json.loads(summary.read_text())
    [train] = [s for s in record["steps"] if s["name"] == "train"]
    assert train["status"] == "SUCCESS"
    facts = json.loads((Path(train["artifacts"]["model"]) / "training.json").read_text())
    assert facts["rows"] == record["figures"]["rows"]["train"]
    assert facts["epochs"] == 6
    assert facts["workers"] == 2 and train["summary"].endswith(", 2 workers"), train["summary"]
    # the global batch train chose is split evenly between the two workers
    assert facts["batch_size"] % 2 == 0
    log = Path(record["log_file"]).read_text(encoding="utf-8")
    # the local launcher started two processes, and the chief trained as one of two
    assert "2 workers on 127.0.0.1: 127.0.0.1:" in log
    assert "worker 0 of 2 (chief)" in log
    assert "TrainJob" not in log
