from pathlib import Path

import pytest

from mlrail.components.plan import plan
from mlrail.errors import DataError
from tests.components._compile import compiled_container


def test_python_func_returns_the_shards_as_json_objects(tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / f"{i}.csv").write_bytes(b"x\n%d\n" % i)
    shards = plan.python_func(source=str(tmp_path))
    assert [s["source"] for s in shards] == [str(tmp_path / f"{i}.csv") for i in range(3)]
    assert all(s["bytes"] == 4 and s["files"] == 1 and s["span"] == "" for s in shards)


def test_python_func_fails_on_an_empty_folder_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="a folder with no data files"):
        plan.python_func(source=str(tmp_path))


def test_compiles(tmp_path: Path) -> None:
    spec = compiled_container(plan, tmp_path)
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert set(parameters) == {"source", "span_date", "scheduled_time", "span_window"}
    assert spec["root"]["outputDefinitions"]["parameters"]["Output"]["parameterType"] == "LIST"
