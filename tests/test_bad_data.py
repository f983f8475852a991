"""The data cases of DESIGN §7's bad-input catalogue, one fixture each (tests/fixtures/bad_data).

Each ends in a DataError naming the file (and the column, line or byte offset where there is
one) with nothing written, or in a named anomaly; a valid oddity (BOM, quoted newline) reads
correctly. Never a library traceback, never a silent pass.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mlrail.artifacts.tfmd import load_schema, schema_text
from mlrail.components.ingest.core import ingest
from mlrail.components.train.core import train
from mlrail.components.validate.core import validate
from mlrail.components.validate.files import infer_source_schema, validate_source
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
    "duplicate_names.csv": r"duplicate column name 'price' in the header \(columns 2 and 4\)",
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


# ------------------------------------------------------------------ names, dates, ids, types


def _features(report: object) -> dict[str, object]:
    (dataset,) = report.statistics.datasets  # type: ignore[attr-defined]
    return {f.path.step[0]: f for f in dataset.features}


def test_a_duplicate_column_name_is_refused_by_validate_too() -> None:
    with pytest.raises(DataError, match=r"duplicate_names.csv: duplicate column name 'price'"):
        validate_source(str(DATA / "duplicate_names.csv"))


def test_names_of_every_kind_survive_ingest_validate_and_the_reports(tmp_path: Path) -> None:
    source = DATA / "names_of_every_kind.csv"
    ex, sc, _ = _prepared(source, tmp_path)
    header = next(csv.reader(source.read_text(encoding="utf-8").splitlines()))
    assert "" in header and "Größe" in header and {"Age", "age"} <= set(header)
    assert pq.read_schema(ex / "train" / "part-00000.parquet").names == header
    schema = load_schema(sc)
    assert [f.name for f in schema.feature] == header
    report = validate_source(str(source), tmp_path / "out")
    assert report.ok and list(_features(report)) == header
    page = (tmp_path / "out" / "report.html").read_text()
    assert "Größe" in page and "Churned?" in page


def test_date_and_zoned_timestamp_columns_are_days_with_a_time_domain(tmp_path: Path) -> None:
    for name, column, arrow_type, stored in (
        ("date_column.csv", "date", "date32[day]", "date32[day]"),
        # Parquet has no seconds: the split files hold milliseconds, the same instants
        ("timestamp_zone.csv", "when", "timestamp[s, tz=UTC]", "timestamp[ms, tz=UTC]"),
    ):
        ex, sc, _ = _prepared(DATA / name, tmp_path / name)
        written = pq.read_schema(ex / "train" / "part-00000.parquet").field(column).type
        assert str(written) == stored
        feature = next(f for f in load_schema(sc).feature if f.name == column)
        assert feature.HasField("time_domain"), name
        report = validate_source(str(DATA / name))
        assert report.ok, report.anomalies
        stats = _features(report)[column]
        assert [(c.name, c.str) for c in stats.custom_stats] == [("mlrail.datetime", arrow_type)]
    # 2012-03-01T00:30:00+02:00 is 2012-02-29T22:30Z: a day earlier, in UTC
    first = _features(validate_source(str(DATA / "timestamp_zone.csv")))["when"].num_stats.min
    assert first == 15399 + 22.5 / 24


def test_an_id_like_column_is_left_out_and_the_report_says_why(tmp_path: Path) -> None:
    report = validate_source(str(DATA / "id_column.csv"), tmp_path / "out")
    assert report.ok  # not an anomaly
    feature = next(f for f in report.schema.feature if f.name == "customer_id")
    assert list(feature.annotation.tag) == ["mlrail.identifier"]
    assert "60 distinct values in 60 non-missing" in feature.annotation.comment[0]
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "- **customer\\_id** identifier-like: 60 distinct values in 60 non-missing" in summary
    assert "Left out of the default model" in (tmp_path / "out" / "report.html").read_text()


def test_the_text_nan_is_a_nan_value_not_a_missing_one() -> None:
    features = _features(validate_source(str(DATA / "nan_text.csv")))
    x = features["x"].num_stats
    assert (x.common_stats.num_missing, x.histograms[0].num_nan) == (1, 8)  # NA; 8 nan
    note = features["note"].string_stats
    assert note.common_stats.num_missing == 1
    assert "nan" in {v.value for v in note.top_values}  # in a text column, text


def test_a_column_of_an_unsupported_type_is_a_named_anomaly(tmp_path: Path) -> None:
    report = validate_source(str(DATA / "unsupported_type.parquet"), tmp_path / "out")
    assert [(a.type, a.feature) for a in report.anomalies] == [("UNEXPECTED_DATA_TYPE", "tags")]
    assert "column 'tags' has type list<element: int64>" in report.anomalies[0].description
    assert (tmp_path / "out" / "anomalies" / "anomalies.json").is_file()  # still written
    ex = tmp_path / "ex"
    ingest(str(DATA / "unsupported_type.parquet"), str(ex))  # carried through
    piped = validate(ex, tmp_path / "st", tmp_path / "sc", tmp_path / "an")
    found = {(a.type, a.feature) for a in piped.anomalies if not a.type.startswith("COMPARATOR")}
    assert found == {("UNEXPECTED_DATA_TYPE", "tags")}
    assert not piped.ok
