"""The bytes of a source's files: read in blocks cut at record ends, hashed as they pass.

A reader thread runs :meth:`ChunkReader.produce`: it reads each file in pieces of
``_PIECE`` bytes, hashes each and counts its quotes while it is in the CPU's cache, and queues
blocks of about ``block_size`` bytes cut after their last record (for CSV: after the last line
end outside a quoted field, by quote parity). Also here: where a byte of a file is, as a line
number (the slow path of an error message), and the files opened with their errors said.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlrail.errors import DataError
from mlrail.sources.resolver import SourceFile

__all__ = [
    "BLOCK_SIZE",
    "QUEUE_DEPTH",
    "STOP",
    "Chunk",
    "ChunkReader",
    "Hash",
    "check_utf8",
    "cut_csv",
    "hash_files",
    "line_of",
    "open_parquet",
    "read_range",
]

T = TypeVar("T")

#: Bytes per block. Measured on a 237 MB CSV (2 cores): 8 MiB ingests faster than 2, 4 or
#: 16 MiB (per-block overhead below, caches above); a few blocks in flight stay small.
BLOCK_SIZE = 8 << 20

QUEUE_DEPTH = 2  # blocks read ahead of the parser: the bound on memory in flight
STOP = object()  # queued after the last block
_PIECE = 1 << 20  # bytes read, hashed and quote-counted at a time: while in the CPU's cache


class Hash(Protocol):
    """What the fingerprint is computed with: a ``hashlib`` hash, or a stand-in for none."""

    def update(self, data: Any, /) -> None: ...

    def hexdigest(self) -> str: ...


@dataclass
class Chunk:
    """Whole records (lines) of one file, starting at byte ``offset``."""

    file: SourceFile
    offset: int
    data: Any  # a memoryview over a bytearray: no copy on the way to pyarrow
    first: bool  # starts at the file's first byte (holds the CSV header)
    buffer: bytearray | None = None  # what ``data`` views, reused once the chunk is parsed
    names: list[str] | None = None  # CSV: the file's header, for the chunks after the first


def _hash_name(sha: Hash, f: SourceFile) -> None:
    """Put ``f``'s name (relative to the source) and size into the fingerprint, before its bytes."""
    sha.update(f"{f.relpath}\0{f.size}\0".encode())


def _open(f: SourceFile, how: Callable[[], T], cannot: str) -> T:
    """``how()``, which opens ``f``, its failures said as DataErrors naming ``f``."""
    if f.size == 0:
        raise DataError(f"{f.name}: the file is empty (0 bytes)")
    try:
        return how()
    except FileNotFoundError as e:
        raise DataError(f"{f.name}: no such file") from e
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{f.name}: {cannot}: {e}") from e


class ChunkReader:
    """Reads files into :class:`Chunk` blocks for the parsers, hashing every byte.

    Fresh memory for every block costs page faults (measured: a tenth of the CPU time of an
    ingest), so block buffers and the quote-counting scratch are reused: a parsed chunk's
    buffer comes back through :meth:`release`.
    """

    def __init__(
        self, files: tuple[SourceFile, ...], is_csv: bool, sha: Hash, block_size: int, workers: int
    ) -> None:
        self._files = files
        self._is_csv = is_csv
        self._sha = sha
        self._block_size = block_size
        self._workers = workers
        self._spare: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        self._quotes: np.ndarray | None = None

    def produce(self, chunks: queue.Queue[Any], stop: threading.Event) -> None:
        """Read each file in blocks cut at record ends, hash the bytes, queue the blocks.

        Ends with :data:`STOP`, or the exception that stopped it; returns early once ``stop``
        is set.
        """

        def put(item: Any) -> bool:
            while not stop.is_set():
                with contextlib.suppress(queue.Full):
                    chunks.put(item, timeout=0.1)
                    return True
            return False

        try:
            for f in self._files:
                _hash_name(self._sha, f)
                for chunk in self._file_chunks(f):
                    if not put(chunk):
                        return
            put(STOP)
        except BaseException as e:  # handed to the consumer, which raises it
            put(e)

    def _file_chunks(self, f: SourceFile) -> Iterator[Chunk]:
        is_csv = self._is_csv
        stream = _open(f, lambda: f.filesystem.open_input_stream(f.path), "cannot read")
        carry = b""
        offset = 0
        size = self._block_size
        with stream:
            while True:
                buf = self._buffer(len(carry) + size)
                buf[: len(carry)] = carry
                end, limit, eof = len(carry), len(carry) + size, False
                quotes = self._quotes_in(buf, 0, end) if is_csv else 0
                while end < limit:  # in pieces, each hashed and counted while in the cache
                    try:
                        n = stream.readinto(memoryview(buf)[end : min(end + _PIECE, limit)])
                    except (OSError, pa.ArrowException) as e:
                        raise DataError(f"{f.name}: cannot read: {e}") from e
                    if not n:
                        eof = True
                        break
                    self._sha.update(memoryview(buf)[end : end + n])
                    if is_csv:
                        quotes += self._quotes_in(buf, end, end + n)
                    end += n
                if eof:  # the rest is the last record(s)
                    if end:
                        yield Chunk(f, offset, memoryview(buf)[:end], offset == 0, buf)
                    return
                if is_csv:
                    cut = cut_csv(buf, end, quotes, self._quotes_in)
                else:
                    cut = buf.rfind(b"\n", 0, end) + 1
                if cut == 0:  # no record ends in this block (a huge record): read more
                    carry, size = bytes(buf[:end]), size * 2
                    self._spare.put(buf)
                    continue
                carry = bytes(buf[cut:end])
                yield Chunk(f, offset, memoryview(buf)[:cut], offset == 0, buf)
                size = self._block_size
                offset += cut

    def _buffer(self, size: int) -> bytearray:
        with contextlib.suppress(queue.Empty):
            buf = self._spare.get_nowait()
            if len(buf) >= size:
                return buf
        return bytearray(max(size, self._block_size + self._block_size // 4))

    def _quotes_in(self, buf: bytearray, start: int, stop: int) -> int:
        """How many '"' are in ``buf[start:stop]`` (a piece of at most ``_PIECE`` bytes)."""
        if buf.find(b'"', start, stop) < 0:
            return 0
        if self._quotes is None:
            self._quotes = np.empty(_PIECE, bool)
        total = 0
        data = np.frombuffer(buf, dtype=np.uint8, count=stop)
        for at in range(start, stop, _PIECE):
            piece = data[at : min(at + _PIECE, stop)]
            total += int(np.count_nonzero(np.equal(piece, 0x22, out=self._quotes[: len(piece)])))
        return total

    def release(self, chunk: Chunk) -> None:
        """Hand ``chunk``'s buffer back to the reader: nothing refers to it any more."""
        if chunk.buffer is not None and self._spare.qsize() < QUEUE_DEPTH + self._workers + 2:
            chunk.data = None
            self._spare.put(chunk.buffer)
        chunk.buffer = None


def cut_csv(buf: bytearray, end: int, quotes: int, count: Any) -> int:
    """Where to cut ``buf[:end]``: after its last line end outside a quoted field (RFC 4180).

    A line end is inside quotes when an odd number of quotes comes before it in the block (a
    block always starts outside quotes; an escaped quote is two).

    Args:
        buf: The block.
        end: Where its bytes end.
        quotes: How many quotes ``buf[:end]`` holds.
        count: ``count(buf, start, stop)``, the quotes in ``buf[start:stop]``.

    Returns:
        The cut; 0 when no line end is outside quotes.
    """
    p = buf.rfind(b"\n", 0, end)
    if p < 0:
        return 0
    quotes -= count(buf, p, end)  # those before p
    while quotes % 2:  # p is inside a quoted field: try the line end before it
        q = buf.rfind(b"\n", 0, p)
        if q < 0:
            return 0
        quotes -= count(buf, q, p)
        p = q
    return p + 1


def hash_files(
    files: tuple[SourceFile, ...],
    sha: Hash,
    block_size: int,
    stop: threading.Event,
    failure: list[BaseException],
) -> None:
    """Hash ``files`` as :meth:`ChunkReader.produce` does, without cutting them into blocks.

    For Parquet, read by row batches: the fingerprint is of the files' bytes all the same. A
    failure is appended to ``failure``; returns early once ``stop`` is set.
    """
    for f in files:
        _hash_name(sha, f)
        try:
            with f.filesystem.open_input_stream(f.path) as stream:
                while not stop.is_set() and (data := stream.read(block_size)):
                    sha.update(data)
        except (OSError, pa.ArrowException) as e:
            failure.append(DataError(f"{f.name}: cannot read (for its fingerprint): {e}"))
            return


def open_parquet(f: SourceFile) -> Any:
    """``f`` as a ``pq.ParquetFile``; a DataError naming it when it is not one."""
    # no pre-buffering: it reads a whole row group (1M rows by pyarrow default) up front,
    # which measured 1.9x the peak memory on 5M rows than on 1M
    return _open(
        f,
        lambda: pq.ParquetFile(f.filesystem.open_input_file(f.path), pre_buffer=False),
        "not a readable Parquet file",
    )


def check_utf8(chunk: Chunk, data: bytes) -> None:
    """Refuse ``data`` (bytes of ``chunk``) when it is not UTF-8, naming the byte and line."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = line_of(chunk, data.count(b"\n", 0, e.start) + 1)
        raise DataError(
            f"{chunk.file.name}: not UTF-8 text: byte 0x{data[e.start]:02x} "
            f"at offset {chunk.offset + e.start} (line {line})"
        ) from e


def line_of(chunk: Chunk, line_in_chunk: int) -> int:
    """The file's line number of line ``line_in_chunk`` (1-based) of ``chunk``."""
    return _lines_before(chunk.file, chunk.offset) + line_in_chunk


def _lines_before(f: SourceFile, offset: int) -> int:
    """How many line ends come before byte ``offset`` of ``f`` (slow path: reads it again)."""
    count = 0
    with f.filesystem.open_input_stream(f.path) as stream:
        left = offset
        while left > 0 and (data := stream.read(min(left, BLOCK_SIZE))):
            count += data.count(b"\n")
            left -= len(data)
    return count


def read_range(f: SourceFile, offset: int, length: int) -> bytes:
    """``length`` bytes of ``f`` from byte ``offset`` (to find a block again)."""
    with f.filesystem.open_input_file(f.path) as stream:
        return bytes(stream.read_at(length, offset))
