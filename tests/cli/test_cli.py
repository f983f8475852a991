"""The mlrail command: start-up cost, compile, run, and clear errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from mlrail.cli import build_parser, main
from tests.pipelines.golden import GOLDEN_DIR, normalise


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from mlrail.cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help'])\n"
        "heavy = ('tensorflow', 'keras', 'kfp', 'onnxruntime', 'tf2onnx', 'pyarrow')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_subcommand_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for cmd in ("run", "compile", "submit", "schedule", "validate", "schema", "evaluate", "serve"):
        with pytest.raises(SystemExit) as exit_:
            main([cmd, "--help"])
        assert exit_.value.code == 0
        assert f"usage: mlrail {cmd}" in capsys.readouterr().out


def test_compile_writes_the_golden_pipeline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pipeline.yaml"
    assert main(["compile", "training", "-o", str(out)]) == 0
    assert normalise(out.read_text()) == (GOLDEN_DIR / "training.yaml").read_text()
    assert f"wrote {out}" in capsys.readouterr().out


def test_compile_unknown_pipeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", "nope", "-o", str(tmp_path / "x.yaml")]) == 2
    assert "no pipeline 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "x.yaml").exists()


def test_run_needs_a_label_with_own_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--data", str(tmp_path / "x.csv"), "--workdir", str(tmp_path)]) == 2
    assert "--label is required with --data" in capsys.readouterr().err


def test_serve_binds_loopback_by_default() -> None:
    args = build_parser().parse_args(["serve"])
    assert args.host == "127.0.0.1"


def test_run_on_a_binary_csv_of_ones_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=240)
    z = rng.choice(["north", "south"], 240)
    y = np.where(x + (z == "north") > 0.5, "yes", "no")
    data = tmp_path / "My Churn.csv"
    data.write_text(
        "x,region,churned\n"
        + "".join(f"{a:.4f},{b},{c}\n" for a, b, c in zip(x, z, y, strict=True))
    )
    code = main(
        [
            "run",
            "--data",
            str(data),
            "--label",
            "churned",
            "--epochs",
            "20",
            "--workdir",
            str(tmp_path / "w"),
            "--summary-json",
            str(tmp_path / "summary.json"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "task: binary" in out and "roc_auc" in out
    model = tmp_path / "w" / "models" / "my-churn" / "1" / "model.onnx"
    assert f"ONNX model:  {model}" in out
    assert f"mlrail serve --model-repository {tmp_path / 'w' / 'models'}" in out
    # progress as it happens: each step announces itself, then its progress, then its end
    lines = out.splitlines()
    span = {}
    for step in ("ingest", "validate", "train", "export_onnx", "evaluate", "deploy"):
        started = lines.index(f"  {step:<12} started")
        ended = next(i for i, line in enumerate(lines) if re.match(rf"  {step} +SUCCESS ", line))
        assert started < ended, out
        span[step] = slice(started, ended)
    train = lines[span["train"]]
    epochs = [line for line in train if re.match(r"  train +epoch \d+/20: loss [\d.e-]+, ", line)]
    # one line an epoch (20 epochs or fewer: every one), as many as were trained
    kept = re.search(r"  train +kept the weights of epoch \d+ of (\d+)", out)
    assert kept, out
    trained = int(kept[1])
    assert len(epochs) == trained and f"epoch {trained}/20" in epochs[-1], out
    assert "accuracy" in epochs[0] and "val_loss" in epochs[0]
    assert re.search(r"  ingest +read 240 rows from 1 file\(s\): train \d+, eval \d+", out)
    assert re.search(r"  export_onnx +parity: \d+ eval rows and \d+ edge rows checked", out)
    # the same facts as JSON
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "SUCCESS" and summary["onnx_model"] == str(model)
    by_step = {s["name"]: s for s in summary["steps"]}
    assert (
        by_step["train"]["summary"].startswith("task: binary")
        and by_step["train"]["summary"] in out
    )
    for s in summary["steps"]:
        assert re.search(rf"  {s['name']} +SUCCESS +{s['seconds']:6.1f} s", out), s
    assert Path(by_step["train"]["artifacts"]["model"], "saved_model").is_dir()
    roc_auc = summary["figures"]["metrics"]["roc_auc"]
    assert f"roc_auc {roc_auc:.4f}" in out and summary["figures"]["blessed"] is True
    assert summary["log_file"] in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hparams", "[1]"], "expected a JSON object"),
        (["--thresholds", "{oops"], "not valid JSON"),
    ],
)
def test_unreadable_settings_are_usage_errors(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run", *args])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hparams", '{"hidden_units": "ab"}'], "hyperparameter hidden_units='ab'"),
        (["--thresholds", '{"accuracy": "about 0.9"}'], "threshold for 'accuracy'"),
    ],
)
def test_bad_settings_are_refused_before_any_step_runs(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", *args, "--workdir", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing ran


def test_compile_manifests_writes_a_kustomize_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "gitops"
    args = ["compile", "training", "--format", "manifests", "-o", str(out), "--namespace", "team-a"]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["kustomization.yaml", "training.yaml"]
    docs = list(yaml.safe_load_all((out / "training.yaml").read_text()))
    assert [(d["kind"], d["metadata"]["namespace"]) for d in docs] == [
        ("Pipeline", "team-a"),
        ("PipelineVersion", "team-a"),
    ]
    assert f"wrote {out / 'training.yaml'}" in capsys.readouterr().out
