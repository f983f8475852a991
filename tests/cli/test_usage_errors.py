"""Usage errors: exit 2 with one line naming the flag, file or field, before any step runs.

Every case here once ran steps first (or printed a traceback, or was silently accepted).
"""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest

from mlrail.cli import TOKEN_ENV
from mlrail.components.evaluate.fairness import FAIRNESS_METRICS
from tests.cli.usage import error_line
from tests.kfp_api.fake_server import FakeKfpServer

PENGUINS = Path(__file__).parents[2] / "mlrail" / "data" / "penguins.csv"


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "f.csv"
    path.parent.mkdir()
    path.write_text("a,b,y\n1,2,x\n3,4,z\n")
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # a negative tolerance made every row "within bound": the parity gate was off
        (["--parity-tolerance", "-1"], "argument --parity-tolerance: must be 0 or more, got -1"),
        (["--parity-tolerance", "nan"], "argument --parity-tolerance: must be a finite number"),
        (["--eval-ratio", "1.5"], "argument --eval-ratio: must be between 0 and 1"),
        (["--eval-ratio", "-0.1"], "argument --eval-ratio: must be between 0 and 1"),
        (["--eval-ratio", "0"], "argument --eval-ratio: must be between 0 and 1"),
        # was a 76-line protobuf traceback
        (["--eval-ratio", "nan"], "argument --eval-ratio: must be a finite number, got nan"),
        (["--epochs", "0"], "argument --epochs: must be 1 or more, got 0"),
        (["--module-file-sha256", "abc"], "not a SHA-256 (64 hexadecimal digits)"),
        # a step only logs a sink it cannot parse: the run's events would be lost
        (["--events-sink", "kafka://broker/topic"], "scheme 'kafka' is not http, https or file"),
        (["--events-sink", "http://:8080/"], "argument --events-sink: events sink"),
        (["--events-sink", "http://h/#json"], "mode 'json' is not binary or structured"),
    ],
)
def test_out_of_range_values_are_refused_by_the_parser(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, line = error_line(["run", *args, "--workdir", str(tmp_path / "w")], capsys)
    assert code == 2 and line.startswith("mlrail run: error: ") and message in line, line
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # these failed at evaluate, after ingest, validate and training
        (["--thresholds", '{"acuracy": ">= 0.5"}'], "--thresholds: threshold on 'acuracy'"),
        (
            ["--task", "regression", "--thresholds", '{"accuracy": ">= 0.5"}'],
            "--thresholds: no metric 'accuracy' for a regression task",
        ),
        (
            ["--thresholds", '{"slices": {"island": {"accuracy": 0.5}}}'],
            "--thresholds: thresholds for slice 'island', but the slices are: none",
        ),
        (
            ["--sensitive-columns", "sex"]
            + ["--fairness-thresholds", '{"demographic_parity_diff": "<= 0.5"}'],
            "--fairness-thresholds: fairness threshold 'demographic_parity_diff': not a "
            "fairness metric",
        ),
        (
            ["--sensitive-columns", "sex"]
            + ["--fairness-thresholds", '{"island": {"demographic_parity_difference": 0.1}}'],
            "thresholds for column 'island', but the sensitive columns are: sex",
        ),
        (
            ["--fairness-thresholds", f'{{"{FAIRNESS_METRICS[0]}": 0.1}}'],
            "--fairness-thresholds needs --sensitive-columns",
        ),
        # this failed at train
        (["--label", "speces"], "--label 'speces': not a column of bundled:penguins"),
        (["--slices", "islands"], "--slices 'islands': not a column of bundled:penguins"),
        (["--key-column", "id"], "--key-column 'id': not a column of bundled:penguins"),
        (["--module-file-sha256", "0" * 64], "--module-file-sha256 pins a --module-file"),
    ],
)
def test_settings_the_data_or_evaluation_cannot_meet_are_refused_before_any_step(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, line = error_line(["run", *args, "--workdir", str(tmp_path / "w")], capsys)
    assert code == 2 and line.startswith("mlrail run: error: ") and message in line, line
    assert not (tmp_path / "w").exists()  # nothing ran, not even the log


def test_the_label_is_read_from_the_header_of_ones_own_data(
    csv_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, line = error_line(
        ["run", "--data", str(csv_file), "--label", "Y", "--workdir", str(tmp_path / "w")], capsys
    )
    assert code == 2
    assert line == (
        f"mlrail run: error: --label 'Y': not a column of {csv_file} (its columns: 'a', 'b', 'y')"
    )


def test_a_module_file_that_does_not_match_its_pin_is_refused_before_any_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = tmp_path / "model.py"
    module.write_text("def build_model(schema, statistics, hparams):\n    return None\n")
    have = hashlib.sha256(module.read_bytes()).hexdigest()
    pin = "ab" * 32
    code, line = error_line(
        ["run", "--module-file", str(module), "--module-file-sha256", pin]
        + ["--workdir", str(tmp_path / "w")],
        capsys,
    )
    assert code == 2 and str(module) in line and have in line and pin in line
    assert not (tmp_path / "w").exists()


def test_validate_refuses_a_negative_minimum(
    csv_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, line = error_line(
        ["validate", str(csv_file), "--min-examples", "-5", "--out", str(tmp_path / "v")], capsys
    )
    assert (code, line) == (
        2,
        "mlrail validate: error: argument --min-examples: must be 0 or more, got -5",
    )
    assert not (tmp_path / "v").exists()


def test_a_folder_given_as_an_output_file_is_one_line(
    csv_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, line = error_line(["schema", str(csv_file), "-o", str(tmp_path)], capsys)
    assert (code, line) == (
        2,
        f"mlrail schema: error: -o {tmp_path}: is a folder; give a file name in it",
    )


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        (["validate", "{csv}", "--out"], "--out"),
        (["evaluate", "{csv}", "{csv}", "--out"], "--out"),
        (["schema", "{csv}", "-o"], "-o"),
        (["compile", "training", "-o"], "-o"),
        (["compile", "training", "--format", "manifests", "-o"], "-o"),
        (["run", "--workdir"], "--workdir"),
    ],
)
def test_an_output_under_a_regular_file_is_one_line_even_for_root(
    command: list[str],
    flag: str,
    csv_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A path through a regular file cannot be created by anyone, root included (root ignores
    file modes, so a chmod-ed folder would not fail here)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    out = blocker / "out" / "thing.yaml"
    argv = [part.replace("{csv}", str(csv_file)) for part in command] + [str(out)]
    code, line = error_line(argv, capsys)
    assert code == 2
    assert line.startswith(f"mlrail {command[0]}: error: {flag} {out}: {blocker} is a file")


def test_a_read_only_file_system_is_refused_for_root_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """/proc is read-only for every user; the check writes a file there rather than asking
    os.access about modes."""
    code, line = error_line(
        ["compile", "training", "-o", "/proc/mlrail-test/pipeline.yaml"], capsys
    )
    assert code == 2
    assert line.startswith("mlrail compile: error: -o /proc/mlrail-test/pipeline.yaml: ")


def test_a_missing_input_is_named_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, line = error_line(
        ["run", "--data", str(tmp_path / "nope.csv"), "--label", "y"]
        + ["--workdir", str(tmp_path / "w")],
        capsys,
    )
    assert code == 2 and str(tmp_path / "nope.csv") in line


def test_credentials_in_a_data_uri_are_never_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:  # an object store endpoint nobody answers on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"s3://AKIAKEY:wJalr/SECRET+x@bucket/data.csv?endpoint_override=127.0.0.1:{port}"
    code, line = error_line(
        ["run", "--data", uri + "&scheme=http", "--label", "y", "--workdir", str(tmp_path)],
        capsys,
    )
    assert code == 2
    assert "SECRET" not in line and "AKIAKEY" not in line and "s3://***@bucket" in line


# -- submit and schedule ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "param",
    [
        "parity_tolerance=-1",
        "parity_tolerance=NaN",
        "eval_ratio=1.5",
        "eval_ratio=0",
        "train_workers=0",
        "train_workers=257",
    ],
)
def test_out_of_range_pipeline_parameters_are_refused_before_any_request(
    param: str, kfp_api: FakeKfpServer, package: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, line = error_line(["submit", package, "--host", kfp_api.url, "--param", param], capsys)
    assert code == 2 and line.startswith(f"mlrail submit: error: --param {param}: must be in ")
    assert kfp_api.calls("POST", "/runs") == []


def test_a_host_that_never_answers_times_out_on_one_line(
    package: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:  # accepts (from the backlog), never answers
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        host = f"http://127.0.0.1:{s.getsockname()[1]}"
        code, line = error_line(["submit", package, "--host", host, "--timeout", "0.5"], capsys)
    assert code == 3  # not reached (no answer in time): not a usage error
    assert line == (
        f"mlrail submit: error: KFP API at {host} accepted the connection but sent no answer "
        "within 0.5 s (read timeout; raise it with --timeout if the server is just slow)"
    )


@pytest.mark.parametrize("source", ["file", "env"])
def test_the_token_comes_from_a_file_or_the_environment_and_is_never_printed(
    source: str,
    kfp_api: FakeKfpServer,
    package: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = "s3cr3t-token"
    argv = ["submit", package, "--host", kfp_api.url]
    if source == "file":
        (tmp_path / "token").write_text(token + "\n")
        argv += ["--token-file", str(tmp_path / "token")]
    else:
        monkeypatch.setenv(TOKEN_ENV, token)
    kfp_api.fail_next("POST", "/runs", 401, "bad token")

    code, line = error_line(argv, capsys, one_line=False)

    assert code == 2 and "bad token" in line and token not in line
    assert kfp_api.calls("POST", "/runs")[0].headers["authorization"] == f"Bearer {token}"


def test_an_unreadable_token_file_is_one_line(
    kfp_api: FakeKfpServer, package: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope"
    code, line = error_line(
        ["submit", package, "--host", kfp_api.url, "--token-file", str(missing)], capsys
    )
    assert (code, line) == (
        2,
        f"mlrail submit: error: --token-file {missing}: No such file or directory",
    )
    (tmp_path / "empty").write_text("\n")
    code, line = error_line(
        ["schedule", "list", "--host", kfp_api.url, "--token-file", str(tmp_path / "empty")],
        capsys,
    )
    assert code == 2 and line.endswith("the file is empty")
    assert kfp_api.calls("GET", "/healthz") == []
