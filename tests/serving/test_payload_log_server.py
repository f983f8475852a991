"""Payload logging on a real ``mlrail serve`` (the CLI, a subprocess on 127.0.0.1, real HTTP):
models switched on by their ``logging.json`` and changed while serving, the log folder never
taken for a model, and a log folder that cannot be written (a file in its place, a read-only
file system) or a disk that fills up: inference keeps answering 200, the server stays ready,
and every record is either written whole or counted as dropped in /metrics."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from mlrail.serving.payload_log.settings import LOGS_FOLDER, write_sample_rate

from .helpers import classifier_request, copy_version
from .serve_cli import mlrail_serve

REGRESSOR_REQUEST = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [3.0]}]}


def records(root: Path) -> list[dict[str, Any]]:
    """Every whole line under a log root (a line cut by a failed write is not one)."""
    found = []
    for path in sorted(root.glob("*/*/*/part-*.jsonl")):
        *whole, _ = path.read_bytes().split(b"\n")
        found += [orjson.loads(line) for line in whole]
    return found


DROPPED = re.compile(r'^mlrail_payload_log_dropped_total\{reason="(\w+)"\} (\S+)$', re.M)


def dropped(http: httpx.Client) -> dict[str, float]:
    """The payload log's drops by reason, as /metrics exports them."""
    return {m.group(1): float(m.group(2)) for m in DROPPED.finditer(http.get("/metrics").text)}


def wait_until(condition: Callable[[], object]) -> None:
    """Wait (generously) for the server's background work; no time is asserted."""
    for _ in range(1200):
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("the server never got there")


def infer(http: httpx.Client, model: str, body: dict[str, Any]) -> None:
    response = http.post(f"/v2/models/{model}/infer", json=body)
    assert response.status_code == 200, response.text


def test_models_are_logged_by_their_logging_json_and_a_change_applies_while_serving(
    repo: Path,
) -> None:
    write_sample_rate(repo / "penguins", 1.0)
    logs = repo / LOGS_FOLDER
    with mlrail_serve(repo) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        for i in range(5):
            infer(http, "penguins", classifier_request([40.0], ["Dream"], id=f"p-{i}"))
            infer(http, "regressor", {**REGRESSOR_REQUEST, "id": f"r-{i}"})
        wait_until(lambda: len(records(logs)) == 5)
        # A scan with _logs present, and a log folder a person set aside (seen through a new
        # version being picked up): still no model, and the server stays ready
        (repo / "_logs-2026-11").mkdir()
        copy_version(repo / "penguins" / "2", repo / "penguins" / "3")
        wait_until(lambda: http.get("/v2/models/penguins").json()["versions"] == ["3"])
        assert http.get("/v2/models").json() == {"models": ["penguins", "regressor"]}
        assert http.get("/v2/health/ready").status_code == 200

        # deploy switches the regressor on and the penguins off: the next scan applies it
        write_sample_rate(repo / "regressor", 1.0)
        write_sample_rate(repo / "penguins", 0.0)
        n = 0

        def regressor_logged() -> bool:
            nonlocal n
            n += 1
            infer(http, "regressor", {**REGRESSOR_REQUEST, "id": f"on-{n}"})
            return any(r["model"] == "regressor" for r in records(logs))

        wait_until(regressor_logged)
        for i in range(5):
            infer(http, "penguins", classifier_request([40.0], ["Dream"], id=f"off-{i}"))
        code, stderr = server.stop()

    assert code in (0, -15), stderr
    logged = records(logs)
    penguins = [r for r in logged if r["model"] == "penguins"]
    assert [r["id"] for r in penguins] == [f"p-{i}" for i in range(5)]  # none after "off"
    assert {(r["version"], r["identity"]) for r in penguins} == {("2", None)}
    assert all(r["id"].startswith("on-") for r in logged if r["model"] == "regressor")
    assert sorted(p.name for p in logs.iterdir()) == ["penguins", "regressor"]


def _unwritable_as_a_file(repo: Path) -> dict[str, Any]:
    (repo / LOGS_FOLDER).write_text("a file where the log folder would be\n")  # ENOTDIR
    return {}


def _unwritable_read_only(repo: Path) -> dict[str, Any]:
    # EROFS: a read-only file system refuses root too (chmod 0500 would not)
    return {"tmpfs": repo / LOGS_FOLDER, "tmpfs_options": "ro,size=64k"}


@pytest.mark.parametrize("make_unwritable", [_unwritable_as_a_file, _unwritable_read_only])
def test_an_unwritable_log_folder_never_fails_inference(
    repo: Path, make_unwritable: Callable[[Path], dict[str, Any]]
) -> None:
    write_sample_rate(repo / "penguins", 1.0)
    options = make_unwritable(repo)
    with (
        mlrail_serve(repo, **options) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        for i in range(20):
            infer(http, "penguins", classifier_request([40.0], ["Dream"], id=str(i)))
            assert http.get("/v2/health/ready").json() == {"ready": True}
        wait_until(lambda: sum(dropped(http).values()) == 20)
        drops = dropped(http)
        assert drops["write_failed"] >= 1 and drops.get("queue_full", 0) == 0
        assert http.get("/v2/models").json() == {"models": ["penguins", "regressor"]}
        code, stderr = server.stop()

    assert code in (0, -15), stderr
    assert "payload log: dropped" in stderr  # said once, not once per record


def test_a_full_disk_never_fails_inference_and_every_record_is_whole_or_counted(
    repo: Path, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"  # a 64 KiB tmpfs in the server's own mount namespace: ENOSPC
    n = 400  # about 400 bytes a record: 160 KB, more than fits
    with (
        mlrail_serve(repo, "--log-payloads", str(logs), tmpfs=logs) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        for i in range(n):
            infer(http, "penguins", classifier_request([40.0 + i], ["Dream"], id=str(i)))
        assert http.get("/v2/health/ready").json() == {"ready": True}
        seen = server.path(logs)  # the tmpfs, as the server sees it

        def accounted() -> bool:
            return len(records(seen)) + sum(dropped(http).values()) == n

        wait_until(accounted)
        drops = dropped(http)
        written = records(seen)
        full = [p for p in seen.glob("*/*/*/part-*.jsonl")]
        code, stderr = server.stop()

    assert code in (0, -15), stderr
    assert drops["write_failed"] >= 1 and drops.get("queue_full", 0) == 0
    assert 0 < len(written) < n
    ids = [int(r["id"]) for r in written]
    assert ids == sorted(set(ids))  # each written once, in order
    assert "No space left on device" in stderr
    assert full  # what was written stays readable
