"""The README's "Model registry" example, run as written on an embedded registry holding two
versions of ``penguins`` (the second the champion)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlrail.registry import CHAMPION, embedded_uri, open_registry
from tests.registry.models import tiny_model
from tests.test_readme import README

pytestmark = [
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]


def _example() -> str:
    section = re.search(r"^## Model registry\n(.*?)(?=^## )", README + "\n## ", flags=re.S | re.M)
    assert section, "README.md has no '## Model registry' section"
    block = re.search(r"```python\n(.*?)```", section.group(1), flags=re.S)
    assert block, "README.md's Model registry section has no python example"
    return block.group(1)


def test_the_readme_example_lists_versions_and_fetches_the_champion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _example()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    registry = open_registry(embedded_uri("mlrail-local"))
    for seed, accuracy in ((1, "0.91"), (2, "0.94")):
        tags = {"mlrail.data.fingerprint": f"{seed}" * 64, "mlrail.eval.accuracy": accuracy}
        model = tiny_model(tmp_path / f"m{seed}", seed=seed)
        registry.register("penguins", model, identity=f"id-{seed}", tags=tags)
    registry.set_alias("penguins", CHAMPION, "2")
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "2 ('champion',) 222222222222 0.94",
        "1 () 111111111111 0.91",
        "champion: 2 ['model.onnx', 'model_spec.json']",
    ]
