"""Parsing a block of CSV or JSON Lines with pyarrow, and, when pyarrow refuses one, why.

The fast path is one pyarrow call per block (:func:`parse_chunk`). The slow path runs only on
bad input: it reads the block again, record by record, to name the file, the column and the
line of what is wrong (:func:`parse_error`, :func:`type_change`, :func:`json_error`).
"""

from __future__ import annotations

import contextlib
import json
from typing import NoReturn

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from mlrail.datetimes import is_datetime
from mlrail.errors import DataError
from mlrail.sources.chunks import Chunk, check_utf8, line_of
from mlrail.sources.csvtext import record_line, records
from mlrail.sources.schema import first_not, is_text, json_kind, kind

__all__ = ["NULL_VALUES", "json_error", "parse_chunk", "parse_error", "type_change"]

#: The CSV fields that are missing values, whole and case-sensitive (see :mod:`mlrail.sources`):
#: the usual spreadsheet and database spellings (pandas writes "" and shows "<NA>"; the bundled
#: penguins data says NA), and no NaN spelling, because NaN is a value.
NULL_VALUES = ("", "NA", "N/A", "n/a", "NULL", "null", "#N/A", "#N/A N/A", "#NA", "<NA>")


def parse_chunk(
    chunk: Chunk, fmt: str, types: dict[str, pa.DataType], alone: bool = False
) -> pa.Table:
    """Parse one chunk on the calling thread (a pool runs several at a time).

    One pyarrow call reads the whole chunk as a single block: pyarrow then never looks for line
    ends itself, so a quoted field may hold line ends without its slower quote-aware splitter.
    A CSV chunk parsed ``alone`` (the first, whose types the others wait for) is split by
    pyarrow over its threads instead, quote-aware.
    """
    data = pa.BufferReader(pa.py_buffer(chunk.data))
    block = len(chunk.data) + 1
    if fmt == "csv":
        read = pacsv.ReadOptions(use_threads=alone, column_names=chunk.names)
        if not alone:
            read.block_size = block
        return pacsv.read_csv(
            data,
            read_options=read,
            parse_options=pacsv.ParseOptions(newlines_in_values=alone),
            # NULL_VALUES mean missing in a text column too, as in a number column
            convert_options=pacsv.ConvertOptions(
                column_types=types, null_values=list(NULL_VALUES), strings_can_be_null=True
            ),
        )
    # one block, always: pyarrow refuses a line longer than its block
    read = pajson.ReadOptions(use_threads=False, block_size=block)
    table = pajson.read_json(data, read_options=read)
    # a key an earlier pass found to be text, which pyarrow took for timestamps in this block:
    # read again as the text it is, the keys in their order (rare: it costs a second parse)
    retyped = [
        (n, t)
        for n, t in types.items()
        if is_text(t) and n in table.column_names and is_datetime(table.schema.field(n).type)
    ]
    if retyped:
        parse = pajson.ParseOptions(
            explicit_schema=pa.schema(retyped), unexpected_field_behavior="infer"
        )
        order = table.column_names
        data = pa.BufferReader(pa.py_buffer(chunk.data))
        table = pajson.read_json(data, read_options=read, parse_options=parse).select(order)
    return table


def parse_error(
    chunk: Chunk,
    fmt: str,
    error: Exception,
    types: dict[str, pa.DataType],
    retry: dict[str, pa.DataType] | None = None,
) -> pa.Table:
    """The slow path after pyarrow refused a block: what is wrong, and where.

    Args:
        chunk: The block.
        fmt: Its format.
        error: What pyarrow said.
        types: The stream's column types so far.
        retry: The types of a parse split over pyarrow's threads, to try again as one
            block (pyarrow's threads refuse a record longer than their 1 MiB blocks).

    Returns:
        The block read as one block, or with wider types when that is all it needed and no
        rows were handed out yet (else :class:`~mlrail.sources.SchemaWidened` or a
        :class:`~mlrail.errors.DataError`).
    """
    if retry is not None:
        with contextlib.suppress(pa.ArrowException, UnicodeDecodeError):
            return parse_chunk(chunk, fmt, retry)
    data = bytes(chunk.data)
    check_utf8(chunk, data)
    if fmt != "csv":
        if not data.strip():  # blank lines only: pyarrow calls that an empty file
            if chunk.first and len(data) == chunk.file.size:
                raise DataError(
                    f"{chunk.file.name}: the file is empty ({len(data)} bytes of blank lines)"
                ) from error
            return pa.table({})
        json_error(chunk, error, types)
    f = chunk.file
    text = data.decode("utf-8").removeprefix("\ufeff")
    expected = None if chunk.first else len(chunk.names or [])
    for line, fields, raw in records(text):
        if expected is None:
            expected = len(fields)
        elif len(fields) != expected:
            raise DataError(
                f"{f.name}: malformed CSV: line {line_of(chunk, line)}: expected "
                f"{expected} fields, found {len(fields)}: {raw[:200]!r}"
            ) from error
    # the records are well formed, so a value is not of its column's type: read the block
    # with its own types (text stays text) and see whether they widen or clash
    text_types = {n: t for n, t in types.items() if is_text(t)}
    try:
        return parse_chunk(chunk, "csv", text_types)
    except pa.ArrowException as e:
        raise DataError(f"{f.name}: malformed CSV near line {line_of(chunk, 1)}: {e}") from e


def type_change(
    chunk: Chunk,
    fmt: str,
    name: str,
    have: pa.DataType,
    types: dict[str, pa.DataType],
    file_names: list[str],
) -> NoReturn:
    """Raise the error for a value in ``name`` that is not ``have``, with its line.

    Args:
        chunk: The block holding the value.
        fmt: Its format.
        name: The column.
        have: The column's type so far.
        types: The stream's column types so far.
        file_names: The header of the CSV file being read.
    """
    if fmt != "csv":
        json_error(chunk, None, types)
        raise DataError(
            f"{chunk.file.name}: column {name!r} changes type near line "
            f"{line_of(chunk, 1)}: not {kind(have)} like the lines before it"
        )
    as_text = {n: pa.string() for n in chunk.names or file_names}
    column = parse_chunk(chunk, "csv", as_text).column(name)
    row, value = first_not(column, have)
    at = record_line(chunk, row) if row >= 0 else "?"
    raise DataError(
        f"{chunk.file.name}: column {name!r} changes type at line {at}: {value!r} is not "
        f"{kind(have)} like the rows before it; fix the value, or leave it empty if missing"
    )


def json_error(chunk: Chunk, error: Exception | None, types: dict[str, pa.DataType]) -> None:
    """Find the first line that is not a JSON object, or whose value changes type.

    Raises:
        DataError: naming the line; with ``error`` (pyarrow's), one always is.
    """
    f = chunk.file
    data = bytes(chunk.data)
    check_utf8(chunk, data)
    kinds = {n: kind(t) for n, t in types.items()}
    for i, line in enumerate(data.decode("utf-8").removeprefix("\ufeff").split("\n")):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(
                f"{f.name}: line {line_of(chunk, i + 1)}: not valid JSON: {e.msg} "
                f"(column {e.colno})"
            ) from error
        if not isinstance(obj, dict):
            raise DataError(
                f"{f.name}: line {line_of(chunk, i + 1)}: expected a JSON object, "
                f"found {type(obj).__name__}"
            ) from error
        for key, value in obj.items():
            found = json_kind(value)
            if found is None:
                continue
            have = kinds.setdefault(key, found)
            if have != found:
                raise DataError(
                    f"{f.name}: column {key!r} changes type at line "
                    f"{line_of(chunk, i + 1)}: {value!r} is not {have} like the lines "
                    "before it"
                ) from error
    if error is not None:
        raise DataError(
            f"{f.name}: unreadable JSON near line {line_of(chunk, 1)}: {error}"
        ) from error
