"""CSV records found in text: the header of a file or block, and the line each record starts on.

pyarrow parses the blocks; these are the few places that must know where a record is
themselves: the header (read alone, for the columns), and the line of a bad record (the slow
path of an error message, with Python's ``csv`` module).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from mlrail.errors import DataError
from mlrail.sources.chunks import Chunk, line_of
from mlrail.sources.resolver import SourceFile

__all__ = ["csv_header", "header_end", "record_line", "records"]


def csv_header(f: SourceFile) -> list[str]:
    """The first record of a CSV file (a quoted name may span lines), BOM and blank lines
    skipped as the reader skips them."""
    size = 1 << 16
    with f.filesystem.open_input_stream(f.path) as stream:
        data = b""
        while True:
            more = stream.read(size)
            data += more
            text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
            lines = text.lstrip("\r\n").splitlines(keepends=True)
            reader = csv.reader(lines)
            header = next(reader, None)
            # complete when the record ended before the data read so far did, or at the end
            if header is not None and (reader.line_num < len(lines) or not more):
                return header
            if not more:
                raise DataError(f"{f.name}: the file is empty (no header)")
            size *= 4


def header_end(data: Any) -> int:
    """Where the first CSV record of ``data`` ends: after its first line end outside quotes.

    Blank lines before it are skipped, as pyarrow skips them.
    """
    for limit in (1 << 16, len(data)):  # a header is short: look at its first 64 KiB first
        view = bytes(data[:limit])
        start = len(view) - len(view.removeprefix(b"\xef\xbb\xbf").lstrip(b"\r\n"))
        while (p := view.find(b"\n", start)) >= 0:
            if view.count(b'"', 0, p) % 2 == 0:
                return p + 1
            start = p + 1
        if limit >= len(data):
            break
    return len(data)


def records(text: str) -> Iterator[tuple[int, list[str], str]]:
    """CSV records of ``text`` as (line where each starts, fields, raw text); blank lines skipped.

    The slow path's reader (Python's csv module), used to find the line of a bad record.
    """
    raw: list[str] = []
    # the csv module refuses fields over 128 KiB by default; pyarrow reads them, so must this.
    # (A process-wide setting, only ever raised.)
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))

    def lines() -> Iterator[str]:
        start = 0
        while start < len(text):
            end = text.find("\n", start)
            end = len(text) if end < 0 else end + 1
            raw.append(text[start:end])
            yield text[start:end]
            start = end

    line = 1
    for fields in csv.reader(lines(), strict=False):
        count, record = len(raw), "".join(raw).rstrip("\r\n")
        raw.clear()
        if fields:
            yield line, fields, record
        line += count


def record_line(chunk: Chunk, row: int) -> int | str:
    """The line where data row ``row`` (0-based) of a CSV chunk starts."""
    text = bytes(chunk.data).decode("utf-8", errors="replace").removeprefix("\ufeff")
    found = records(text)
    if chunk.first:
        next(found, None)  # the header
    for n, (line, _, _) in enumerate(found):
        if n == row:
            return line_of(chunk, line)
    return f"? (data row {row + 1} of the block at byte {chunk.offset})"
