"""The data cases of DESIGN §7's bad-input catalogue, one fixture each (tests/fixtures/bad_data).

Each ends in a DataError naming the file (and the column, line or byte offset where there is
one) with nothing written, or in a named anomaly; a valid oddity (BOM, quoted newline) reads
correctly. Never a library traceback, never a silent pass.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mlrail.components.ingest.core import ingest
from mlrail.components.train.core import train
from mlrail.components.validate.core import validate
from mlrail.components.validate.files import infer_source_schema, schema_text, validate_source
from mlrail.errors import DataError

DATA = Path(__file__).parent / "fixtures" / "bad_data"

#: fixture -> a regular expression the ingest error must match (after the file name)
INGEST_ERRORS = {
    "zero_bytes.csv": r"empty",
    "header_only.csv": r"no data rows",
    "ragged_row.csv": r"line 7",
    "not_utf8.csv": r"not UTF-8.*byte 0xfc at offset 155 \(line 12\)",
    "type_change.csv": r"column 'x'.*line 2002.*'twelve'",
    "bad_line.jsonl": r"line 3",
    "corrupt.parquet": r"Parquet",
}


def test_the_non_utf8_fixture_has_its_bad_byte_where_the_message_says() -> None:
    data = (DATA / "not_utf8.csv").read_bytes()
    assert data.index(b"\xfc") == 155 and data[:155].count(b"\n") + 1 == 12


@pytest.mark.parametrize("name", sorted(INGEST_ERRORS))
def test_ingest_refuses_with_the_file_and_place(name: str, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=INGEST_ERRORS[name]) as error:
        ingest(str(DATA / name), str(tmp_path / "examples"))
    assert name in str(error.value)
    assert not (tmp_path / "examples").exists()


def test_valid_oddities_read_correctly(tmp_path: Path) -> None:
    ingest(str(DATA / "utf8_bom.csv"), str(tmp_path / "bom"))
    names = pq.read_schema(next((tmp_path / "bom" / "train").glob("*.parquet"))).names
    assert names == ["x", "y", "colour", "label"]  # no BOM glued to "x"
    ingest(str(DATA / "quoted_multiline.csv"), str(tmp_path / "ml"))
    colours = [
        c
        for split in ("train", "eval")
        for c in pq.read_table(tmp_path / "ml" / split).column("colour").to_pylist()
    ]
    assert "dark\nred" in colours and len(colours) == 41


def _anomalies(source: str, **kwargs: object) -> set[tuple[str, str]]:
    report = validate_source(source, **kwargs)  # type: ignore[arg-type]
    return {(a.type, a.feature) for a in report.anomalies}


@pytest.fixture(scope="module")
def clean_schema(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("schema") / "schema.pbtxt"
    path.write_text(schema_text(infer_source_schema(str(DATA / "clean.csv"), ranges=False)))
    return str(path)


def test_named_anomalies(clean_schema: str) -> None:
    assert ("DATASET_LOW_NUM_EXAMPLES", None) in _anomalies(str(DATA / "header_only.csv"))
    few = _anomalies(str(DATA / "few_rows.csv"), min_examples=10)
    assert few == {("DATASET_LOW_NUM_EXAMPLES", None)}
    assert _anomalies(str(DATA / "nan_inf.csv")) == {("FLOAT_TYPE_HAS_INF", "x")}
    unseen = _anomalies(str(DATA / "unseen_category.csv"), curated_schema=clean_schema)
    assert unseen == {("ENUM_TYPE_UNEXPECTED_STRING_VALUES", "colour")}
    new = _anomalies(str(DATA / "new_column.csv"), curated_schema=clean_schema)
    assert ("SCHEMA_NEW_COLUMN", "extra") in new
    dropped = _anomalies(str(DATA / "dropped_column.csv"), curated_schema=clean_schema)
    assert ("SCHEMA_MISSING_COLUMN", "y") in dropped


def test_an_all_null_column_is_described_not_crashed() -> None:
    report = validate_source(str(DATA / "all_null_column.csv"))
    (dataset,) = report.statistics.datasets
    empty = next(f for f in dataset.features if f.path.step[0] == "empty")
    common = empty.string_stats.common_stats if empty.HasField("string_stats") else None
    assert common is not None and common.num_missing == 40 and common.num_non_missing == 0


def _prepared(source: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    ex, st, sc = tmp_path / "ex", tmp_path / "st", tmp_path / "sc"
    ingest(str(source), str(ex))
    validate(ex, st, sc, tmp_path / "an")
    return ex, sc, st


@pytest.mark.parametrize(
    ("name", "label", "message"),
    [
        ("single_class_label.csv", "label", r"single class"),
        ("clean.csv", "price", r"'price'"),
    ],
)
def test_train_refuses_a_label_it_cannot_learn(
    name: str, label: str, message: str, tmp_path: Path
) -> None:
    ex, sc, st = _prepared(DATA / name, tmp_path)
    with pytest.raises(DataError, match=message):
        train(ex, sc, st, tmp_path / "model", label=label, hparams={"epochs": 1})
    assert not (tmp_path / "model").exists()
