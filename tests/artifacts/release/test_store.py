"""Writing, keeping, listing and reading records: the three files together or none, numbered
releases per model, and a reader that names what is wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from mlrail.artifacts import release
from mlrail.artifacts.release import HTML_FILE, JSON_FILE, MARKDOWN_FILE, Record, Request
from mlrail.errors import DataError
from tests.artifacts.release.runs import Run, assert_valid

FILES = {JSON_FILE, MARKDOWN_FILE, HTML_FILE}


@pytest.fixture
def record(first_run: Run) -> Record:
    return release.build_record(
        first_run.paths, model_name="penguins", request=Request("ada", "because")
    )


def _all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_write_gives_three_files_and_a_valid_record(record: Record, tmp_path: Path) -> None:
    out = tmp_path / "release"
    release.write(record, out)
    assert {p.name for p in out.iterdir()} == FILES
    doc = json.loads((out / JSON_FILE).read_text())
    assert_valid(doc)
    assert release.load(out) == record
    assert release.load(out / JSON_FILE) == record
    assert "## Who and why" in (out / MARKDOWN_FILE).read_text()
    assert (out / HTML_FILE).read_text().startswith("<!DOCTYPE html>")


def test_a_record_a_reader_would_refuse_is_not_written(record: Record, tmp_path: Path) -> None:
    out = tmp_path / "release"
    release.write(record, out)
    before = _all_files(tmp_path)
    with pytest.raises(DataError, match="kind: 'redeploy' is not one of"):
        release.write(replace(record, kind="redeploy"), out)
    with pytest.raises(DataError, match="model.sha256: 'x' does not match"):
        release.store(replace(record, model=replace(record.model, sha256="x")), tmp_path / "r")
    assert _all_files(tmp_path) == before
    assert not (tmp_path / "r" / "penguins").exists() or not any(
        (tmp_path / "r" / "penguins").iterdir()
    )


_CHILD = """
import resource, signal, sys
from mlrail.artifacts import release
record = release.load(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG), no kill
limit = int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    if sys.argv[2] == "write":
        release.write(record, sys.argv[4])
    else:
        release.store(record, sys.argv[4])
except OSError as e:
    print("failed:", e)
    sys.exit(3)
"""


@pytest.mark.parametrize("how", ["write", "store"])
def test_a_write_failing_half_way_leaves_nothing_half_written(
    record: Record, tmp_path: Path, how: str
) -> None:
    """The last page's write fails (a file size limit, as a full disk would): the folder keeps
    what it had, and no temporary is left behind."""
    # a long link weighs twice in each page and once in the JSON: the html is the largest file
    record = replace(record, links={"report": "https://kfp.example/" + "r" * 20_000})
    source = tmp_path / "source"
    release.write(record, source)
    sizes = {name: (source / name).stat().st_size for name in FILES}
    limit = max(sizes[JSON_FILE], sizes[MARKDOWN_FILE]) + 1
    assert sizes[HTML_FILE] > limit  # json and md are written, the html is not
    dest = tmp_path / "dest"
    old = replace(record, request=Request("bob", "the old one"))
    if how == "write":
        release.write(old, dest)
    else:
        release.store(old, dest)
    before = _all_files(dest)
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(source), how, str(limit), str(dest)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[3],
        timeout=120,
    )
    assert child.returncode == 3, child.stdout + child.stderr
    assert "File too large" in child.stdout
    assert _all_files(dest) == before
    assert not [p for p in dest.rglob("*") if p.name.endswith(".tmp")]


def test_releases_are_numbered_per_model_and_listed_in_order(
    record: Record, tmp_path: Path
) -> None:
    releases = tmp_path / "releases"
    kept = []
    for version in ("1", "2", "2"):
        rec = replace(record, model=replace(record.model, registry_version=version))
        previous = release.latest(releases, "penguins")
        if previous is not None:
            rec = release.with_previous(rec, previous)
        kept.append(release.store(rec, releases))
    assert [r.number for r, _ in kept] == [1, 2, 3]
    assert [f.name.split("-")[0] for _, f in kept] == ["000001", "000002", "000003"]
    assert all(f.parent == releases / "penguins" for _, f in kept)
    listed = release.list_releases(releases, "penguins")
    assert [(r.number, r.version) for r in listed] == [(1, "1"), (2, "2"), (3, "2")]
    assert listed[2].previous is not None and listed[2].previous.number == 2
    assert release.show(releases, "penguins").number == 3
    assert release.show(releases, "penguins", "1").number == 1
    assert release.show(releases, "penguins", "2").number == 3  # the newest of version 2
    assert release.show(releases, "penguins", "#2").number == 2
    with pytest.raises(DataError, match="no release of 'penguins' version 7"):
        release.show(releases, "penguins", "7")
    with pytest.raises(DataError, match="no release of 'other'"):
        release.show(releases, "other")
    assert release.list_releases(releases, "other") == []
    assert release.latest(releases, "other") is None


def test_writers_storing_at_once_each_get_their_own_number(record: Record, tmp_path: Path) -> None:
    releases = tmp_path / "releases"
    results: list[int] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            results.append(release.store(record, releases)[0].number or 0)
        except BaseException as e:  # reported below, with the others
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == list(range(1, 9))
    assert len(release.list_releases(releases, "penguins")) == 8


@pytest.mark.parametrize("name", ["../../etc", "a/b", ".", "..", ".hidden", "50%", "名前 x"])
def test_any_model_name_is_one_folder_inside_the_releases(
    record: Record, tmp_path: Path, name: str
) -> None:
    releases = tmp_path / "releases"
    rec, folder = release.store(replace(record, model=replace(record.model, name=name)), releases)
    assert folder.parent.parent == releases
    assert not folder.parent.name.startswith(".")
    assert release.show(releases, name) == rec
    assert os.listdir(releases) == [folder.parent.name]


def test_the_reader_names_the_file_and_field(record: Record, tmp_path: Path) -> None:
    out = tmp_path / "release"
    release.write(record, out)
    doc = json.loads((out / JSON_FILE).read_text())
    del doc["request"]["requested_by"]
    (out / JSON_FILE).write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"release\.json: request\.requested_by: missing"):
        release.load(out)
    (out / JSON_FILE).write_text("{")
    with pytest.raises(DataError, match=r"release\.json: not valid JSON"):
        release.load(out)
    with pytest.raises(DataError, match="no release record"):
        release.load(tmp_path / "nowhere")


def test_a_reason_with_undecodable_bytes_is_kept(record: Record, tmp_path: Path) -> None:
    """A command line's non-UTF-8 bytes arrive as lone surrogates: stored as escapes, read back."""
    reason = os.fsdecode(b"caf\xe9 retrain")
    rec = replace(record, request=Request("ada", reason))
    release.write(rec, tmp_path / "r")
    assert release.load(tmp_path / "r").request.reason == reason
    assert "caf\\xe9" in (tmp_path / "r" / HTML_FILE).read_text()
