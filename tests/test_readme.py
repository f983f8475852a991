"""The README is the front door: its commands are the ones CI and the tests run."""

from __future__ import annotations

import argparse
import ast
import importlib
import re
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlrail.cli import build_parser, parse_args
from mlrail.errors import DataError
from tests.pipelines.golden import PIPELINES, compiled_once

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def sh_lines() -> list[str]:
    """Every non-empty line of the README's ``sh`` code blocks."""
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_ci_runs_the_readme_test_command() -> None:
    test_command = next(line for line in sh_lines() if line.endswith(".venv/bin/pytest"))
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    # CI adds -q to pip only; the command is otherwise the README's, verbatim
    assert test_command.replace("pip install", "pip install -q") in ci


def test_quick_start_installs_pinned_and_runs() -> None:
    quick = next(line for line in sh_lines() if line.endswith("mlrail run"))
    assert quick == (
        "python3 -m venv .venv"
        " && .venv/bin/pip install -c constraints.txt ."
        " && .venv/bin/mlrail run"
    )


def mlrail_lines() -> list[str]:
    return [line for line in sh_lines() if line.startswith("mlrail ")]


def subcommands() -> set[str]:
    """The CLI's subcommands, from its parser."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


@pytest.mark.parametrize("line", mlrail_lines(), ids=lambda s: s[:60])
def test_every_mlrail_example_parses(line: str) -> None:
    args = parse_args(shlex.split(line)[1:])
    assert args.command.split()[0] in subcommands()


def test_every_subcommand_has_an_example() -> None:
    shown = {shlex.split(line)[1] for line in mlrail_lines()}
    assert subcommands() - shown == set(), "a subcommand the README never shows"


def test_every_pipeline_has_a_compile_example() -> None:
    compiled = {
        shlex.split(line)[2] for line in mlrail_lines() if line.startswith("mlrail compile")
    }
    assert set(PIPELINES) - compiled == set(), "a pipeline the README never compiles"


def _table(header: str) -> list[list[str]]:
    """The rows of the README's table whose header row is ``header``, cell by cell."""
    lines = README.split(header + "\n", 1)[1].splitlines()[1:]  # past the |---| row
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


#: The README's format names and mlrail.sources' (``Resolved.format``).
_FORMATS = {"CSV": "csv", "Parquet": "parquet", "JSON Lines": "jsonl"}


def test_the_formats_table_is_what_sources_accepts(tmp_path: Path) -> None:
    from mlrail.sources import resolve

    listed = {}
    for name, extensions in _table("| format | extensions |"):
        for ext in re.findall(r"`(\.\w+)`", extensions):
            listed[ext] = _FORMATS[name.split(" (")[0]]
    assert listed, "the README lists no format"
    for ext, fmt in listed.items():
        (tmp_path / f"data{ext}").write_text("a\n1\n")
        assert resolve(str(tmp_path / f"data{ext}")).format == fmt, ext
    # and nothing more: an unknown extension's error lists every one sources takes
    (tmp_path / "data.unknown").write_text("a\n1\n")
    with pytest.raises(DataError, match="unknown file type") as error:
        resolve(str(tmp_path / "data.unknown"))
    accepted = set(re.findall(r"\.\w+", str(error.value).split("expected", 1)[1]))
    assert accepted == set(listed), "README's formats table and mlrail.sources disagree"


def _help_texts(parser: argparse.ArgumentParser, where: str) -> Iterator[tuple[str, str]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _help_texts(sub, f"{where} {name}")
        elif action.help:
            yield f"{where} {'/'.join(action.option_strings) or action.dest}", action.help


def _ui_descriptions() -> Iterator[tuple[str, str]]:
    for name in PIPELINES:
        ir = next(yaml.safe_load_all(compiled_once(name)))
        for param, spec in ir["root"]["inputDefinitions"]["parameters"].items():
            yield f"pipeline {name}: {param}", spec.get("description", "")
        for ref, component in ir["components"].items():
            for group in ("parameters", "artifacts"):
                for param, spec in component.get("inputDefinitions", {}).get(group, {}).items():
                    yield f"{ref}: {param}", spec.get("description", "")


def test_every_list_of_formats_names_them_all() -> None:
    """Where the CLI's help or the Kubeflow UI names CSV or Parquet as input, it names every
    format the README lists (they once said "CSV or Parquet" where JSON Lines was read as well;
    JSON Lines alone is also the payload log's format, an output)."""
    formats = [name.split(" (")[0] for name, _ in _table("| format | extensions |")]
    texts = [*_help_texts(build_parser(), "mlrail"), *_ui_descriptions()]
    partial = [
        f"{where}: {text!r}"
        for where, text in texts
        if ("CSV" in text or "Parquet" in text) and not all(f in text for f in formats)
    ]
    assert len(formats) == 3 and partial == []


def test_the_missing_values_listed_are_sources_null_values() -> None:
    from mlrail.sources import NULL_VALUES

    sentence = README.split("in CSV exactly", 1)[1].split("(`mlrail.sources.NULL_VALUES`)", 1)[0]
    listed = [v.replace('""', "") for v in re.findall(r"`([^`]*)`", sentence)]
    assert listed == list(NULL_VALUES)


def test_the_architecture_is_the_import_contract() -> None:
    """The layers the README draws are pyproject.toml's import-linter layers, in order."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (layers,) = [
        c["layers"] for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"
    ]
    section = README.split("## Architecture", 1)[1]
    block = section.split("```text\n", 1)[1].split("```", 1)[0]
    drawn = [re.split(r"\s{2,}", line.strip())[0] for line in block.splitlines()]
    assert drawn == layers
    assert ".venv/bin/python .ci/lint_imports.py" in sh_lines()
    assert (ROOT / ".ci" / "lint_imports.py").is_file()


def test_ci_runs_every_check_the_readme_lists() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    (row,) = [r for r in _table("| job | command |") if r[0].startswith("lint")]
    commands = [c.strip() for c in row[1].strip("`").split("&&")]
    assert all(c in ci for c in commands), commands


#: Folders a build writes, which the README names but the repository does not hold.
_BUILT = {"images/out/"}


def _ticked() -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", README))


def test_every_repository_path_named_exists() -> None:
    top = {p.name for p in ROOT.iterdir() if p.is_dir()}
    named = {
        t.removeprefix("./")
        for t in _ticked()
        if re.fullmatch(r"(\./)?[\w.-]+(/[\w.-]+)+/?", t)
        and t.removeprefix("./").split("/")[0] in top
    }
    assert named, "the README names no file"
    assert sorted(n for n in named - _BUILT if not (ROOT / n).exists()) == []


def _keys_in_code() -> set[str]:
    """Dotted ``mlrail.…`` strings the code writes as keys (metadata props, registry tags, such
    as ``"mlrail.identity"``): whole string literals, not names in docstrings."""
    keys = set()
    for folder in ("mlrail", "components"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    if re.fullmatch(r"mlrail(\.\w+)+", node.value):
                        keys.add(node.value)
    return keys


def test_every_python_name_named_exists() -> None:
    """``mlrail.sources.NULL_VALUES`` and the like: a module, or a module's attribute — or a
    key the code writes (``mlrail.identity`` in a model's metadata, a registry tag)."""
    missing = []
    for name in sorted(t for t in _ticked() if re.fullmatch(r"mlrail(\.\w+)+", t)):
        module, _, attribute = name.rpartition(".")
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            try:
                found = hasattr(importlib.import_module(module), attribute)
            except ModuleNotFoundError:
                found = False
            if not found:
                missing.append(name)
    assert sorted(set(missing) - _keys_in_code()) == []


def _python_examples(section: str) -> list[str]:
    """The ``python`` blocks of the README's section ``## <section>``, in order."""
    body = README.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, flags=re.S)


def _python_example(section: str) -> str:
    """The first ``python`` block of the README's section ``## <section>``."""
    return _python_examples(section)[0]


def test_the_signing_example_signs_verifies_and_refuses_a_changed_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlrail.artifacts import model_repository, signing
    from mlrail.artifacts.modelspec import ModelSpec
    from tests.registry.models import tiny_model

    model = tiny_model(tmp_path / "export")
    monkeypatch.chdir(tmp_path)
    assert model_repository.push("models/penguins", model, ModelSpec.read(model)) == 1
    exec(compile(_python_example("Signed models"), "README.md", "exec"), {})
    version = Path("models/penguins/1")
    assert (version / "model.sig").is_file() and (version / "model_config.pbtxt").is_file()
    assert signing.verify_version(version, "signing.pub").files == (
        "model.onnx",
        "model_config.pbtxt",
        "model_spec.json",
    )
    data = bytearray((version / "model.onnx").read_bytes())
    data[-1] ^= 1
    (version / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(signing.SignatureError, match=r"model\.onnx: changed since it was signed"):
        signing.verify_version(version, "signing.pub")


def test_the_release_record_sections_are_the_pages_sections() -> None:
    from mlrail.artifacts.release import SECTIONS

    assert [row[0] for row in _table("| section | what it holds |")] == list(SECTIONS)


def test_the_release_examples_read_the_kept_records_and_validate_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dataclasses import replace

    import jsonschema

    from mlrail.artifacts import release
    from tests.artifacts.release.runs import make_run

    run = make_run(
        tmp_path / "run", ["island,mass,species", *(f"Biscoe,{i},a{i % 2}" for i in range(40))]
    )
    monkeypatch.chdir(tmp_path)
    kept = []
    for version, reason in (
        ("2", "first"),
        ("3", "retrain"),
        ("3", "rollback to 3"),
        ("4", "new data"),
    ):
        record = release.build_record(
            run.paths, model_name="penguins", request=release.Request("ada", reason)
        )
        record = replace(record, model=replace(record.model, registry_version=version))
        kept.append(release.store(record, "work/releases"))
    listing, showing = _python_examples("Release records")
    names: dict[str, Any] = {}
    exec(compile(listing, "README.md", "exec"), names)
    assert [r.request.reason for r in names["records"]] == [
        "first",
        "retrain",
        "rollback to 3",
        "new data",
    ]
    assert names["rec"] == kept[2][0]
    assert "rollback to 3" in capsys.readouterr().out

    (tmp_path / "release.json").write_bytes((kept[2][1] / release.JSON_FILE).read_bytes())
    exec(compile(showing, "README.md", "exec"), {})
    (tmp_path / "release.json").write_text('{"format": "mlrail.release/v1"}')
    with pytest.raises(jsonschema.ValidationError):
        exec(compile(showing, "README.md", "exec"), {})


def test_the_events_table_is_mlrail_events_types() -> None:
    from mlrail import events

    section = README.split("\n## Lifecycle events\n", 1)[1].split("\n## ", 1)[0]
    assert events.markdown_table() in section


def test_the_events_example_sends_to_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # its mkdtemp lands in tmp_path
    monkeypatch.delenv("K_SINK", raising=False)
    exec(compile(_python_example("Lifecycle events"), "README.md", "exec"), {})
    assert re.fullmatch(
        r"event io\.mlrail\.model\.promoted \S+: delivered to \S+events\.jsonl\n",
        capsys.readouterr().out,
    )
    assert len(list(tmp_path.glob("*/events.jsonl"))) == 1


def test_the_components_example_compiles_a_user_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The components loaded from their component.yaml, wired, given cluster_settings and
    compiled: each task runs as the image's non-root user with the object-store Secret."""
    monkeypatch.chdir(tmp_path)
    # dont_inherit: this module's `from __future__ import annotations` would make the example's
    # annotations strings, which KFP cannot read as types
    example = _python_example("Components in your own pipeline")
    exec(compile(example, "README.md", "exec", dont_inherit=True), {})
    _, platform = yaml.safe_load_all((tmp_path / "my_training.yaml").read_text(encoding="utf-8"))
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(executors) == {"exec-ingest", "exec-validate", "exec-train"}
    for executor in executors.values():
        assert executor["securityContext"] == {
            "runAsUser": "10001",
            "runAsGroup": "10001",
            "runAsNonRoot": True,
        }
        assert [s["secretName"] for s in executor["secretAsEnv"]] == ["mlpipeline-minio-artifact"]
