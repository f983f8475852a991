"""Reading a window of payload logs: the window, its files, its records.

The layout (written by ``mlrail serve`` and by the cluster's payload receiver)::

    <log root>/<model>/<YYYY-MM-DD>/<HH>/part-<YYYYMMDDTHHMMSSffffffZ>-<host>-<pid>-<seq>.jsonl

hour folders in UTC, by each record's timestamp; one JSON object per line::

    {"id": "<request id>", "model": "penguins", "version": "2",
     "identity": "onnx-graph-v1:<hex>" (or "sha256:<hex>", or null when unknown),
     "timestamp": "2026-12-03T07:45:00.000123Z", "latency_ms": 0.182,
     "inputs": [<the request's V2 inputs: name, datatype, shape, data>],
     "outputs": [<the response's V2 outputs>]}

A window is ``[end - length, end)``: the hour folders whose hour overlaps it are read, and each
record is kept when its own timestamp falls inside it. Files are streamed (never loaded whole).
A line that is not a record (not JSON, not an object, a missing or mistyped field, the partial
last line of a file being written) is skipped and counted by reason, never raised; a window
with no files or no records is a result ("no traffic"), not an error. Records are grouped by
the (version, identity) that answered, so two versions are never mixed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson
import pyarrow as pa
import pyarrow.fs as pafs

from mlrail.errors import DataError
from mlrail.io import filesystem
from mlrail.redact import redact

__all__ = [
    "GroupKey",
    "LogFile",
    "LogWindow",
    "ReadStats",
    "Record",
    "WindowRecords",
    "iter_records",
    "list_files",
    "log_window",
    "group_order",
    "parse_duration",
    "read_window",
    "resolve_end",
]

#: A group of records: the (version, identity) that answered (identity None when unknown).
GroupKey = tuple[str, str | None]

_HOUR = dt.timedelta(hours=1)
_DURATION = re.compile(r"([1-9][0-9]{0,5})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DAY_FOLDER = re.compile(r"\d{4}-\d{2}-\d{2}")
_HOUR_FOLDER = re.compile(r"\d{2}")
#: Bytes read from a file at a time: lines are split out of each block, never a whole file.
_BLOCK = 4 << 20


def parse_duration(text: str, parameter: str = "window") -> dt.timedelta:
    """A window length such as ``30m``, ``1h``, ``24h``, ``7d`` or ``2w``.

    Raises:
        ValueError: naming ``parameter``, for anything else (no spaces, signs, fractions,
            zero, or unit-less numbers).
    """
    m = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(
            f"{parameter}={text!r} is not a duration: give a positive whole number and a unit, "
            "m (minutes), h (hours), d (days) or w (weeks), such as 1h, 24h or 7d"
        )
    return dt.timedelta(**{_UNITS[m[2]]: int(m[1])})


def _utc(text: str, parameter: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{parameter}={text!r} is not an RFC 3339 time (such as 2026-12-03T08:00:00Z)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)  # as mlrail.datetimes: a time without a zone is UTC
    return when.astimezone(dt.UTC)


def resolve_end(
    window_end: str = "", scheduled_time: str = "", now: dt.datetime | None = None
) -> dt.datetime:
    """The window's end (UTC): ``window_end``, else the run's scheduled time, else now.

    ``scheduled_time`` is KFP's ``{{$.pipeline_job_schedule_time_utc}}``: on a run that was not
    scheduled the placeholder stays unresolved (or is empty), which means now.

    Raises:
        ValueError: ``window_end`` or a resolved ``scheduled_time`` is not an RFC 3339 time.
    """
    if window_end:
        return _utc(window_end, "window_end")
    if scheduled_time and "{{" not in scheduled_time:
        return _utc(scheduled_time, "scheduled_time")
    return (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)


@dataclass(frozen=True)
class LogWindow:
    """A window of one model's payload logs.

    Attributes:
        root: The log root, a local path or a URI (``s3://bucket/payloads``).
        model: The model's name (its folder under the root).
        start: The first instant in the window (UTC, included).
        end: The instant the window stops at (UTC, excluded).
    """

    root: str
    model: str
    start: dt.datetime
    end: dt.datetime

    def hours(self) -> list[dt.datetime]:
        """The hours (UTC, on the hour) that overlap ``[start, end)``, oldest first."""
        hour = self.start.replace(minute=0, second=0, microsecond=0)
        out = []
        while hour < self.end:
            out.append(hour)
            hour += _HOUR
        return out

    def describe(self) -> str:
        """``<model> <start> to <end>`` for messages and reports."""
        return f"{self.model} {_stamp(self.start)} to {_stamp(self.end)}"


def _stamp(when: dt.datetime) -> str:
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


def log_window(
    root: str,
    model: str,
    *,
    window: str = "24h",
    window_end: str = "",
    scheduled_time: str = "",
    now: dt.datetime | None = None,
) -> LogWindow:
    """The window ``[end - window, end)`` of ``model``'s logs under ``root``.

    Args:
        root: The log root (local path or URI).
        model: The model's name.
        window: Its length (:func:`parse_duration`).
        window_end: Its end, RFC 3339; default: ``scheduled_time``.
        scheduled_time: The run's scheduled time (RFC 3339 or KFP's unresolved placeholder);
            default: now.
        now: The current time (for tests); default: the clock.

    Returns:
        The window.

    Raises:
        ValueError: a bad ``window``, ``window_end`` or ``scheduled_time``, or an empty or
            path-like ``model``.
    """
    if not model or "/" in model or model in (".", ".."):
        raise ValueError(f"model={model!r} is not a model name")
    end = resolve_end(window_end, scheduled_time, now)
    length = parse_duration(window, "window")
    try:
        start = end - length
    except OverflowError:
        raise ValueError(f"window={window!r} reaches before year 1") from None
    return LogWindow(root=root, model=model, start=start, end=end)


@dataclass(frozen=True)
class LogFile:
    """One log file of a window.

    Attributes:
        name: The file as a user would write it (credentials masked).
        path: Its path inside ``filesystem``.
        hour: The hour folder it is in (UTC).
        size: Its size in bytes when it was listed.
        filesystem: The pyarrow filesystem holding it.
    """

    name: str
    path: str
    hour: dt.datetime
    size: int
    filesystem: Any = field(compare=False, repr=False)


def list_files(window: LogWindow) -> list[LogFile]:
    """The ``part-*.jsonl`` files in the window's hour folders, oldest hour first, by name.

    A missing model folder or hour folder is no traffic (no files), not an error.

    Raises:
        DataError: naming the root, when it does not exist or cannot be listed.
    """
    shown = redact(window.root)
    fs, root = filesystem(window.root)
    try:
        info = fs.get_file_info(root)
        if info.type == pafs.FileType.NotFound:
            raise DataError(f"{shown}: the payload log root does not exist")
        if info.type != pafs.FileType.Directory:
            raise DataError(f"{shown}: the payload log root is not a folder")
        hours = window.hours()
        days = sorted({h.date() for h in hours})
        wanted = {(h.date().isoformat(), f"{h.hour:02d}"): h for h in hours}
        base = f"{root.rstrip('/')}/{window.model}"
        files: list[LogFile] = []
        for day in days:
            # one recursive listing per day: a day's 24 hour folders in one call (one paginated
            # list on an object store, rather than one per hour)
            selector = pafs.FileSelector(
                f"{base}/{day.isoformat()}", allow_not_found=True, recursive=True
            )
            for item in fs.get_file_info(selector):
                if item.type != pafs.FileType.File:
                    continue
                parts = item.path.rsplit("/", 3)
                if len(parts) != 4:
                    continue
                _, day_name, hour_name, name = parts
                hour = wanted.get((day_name, hour_name))
                if hour is None or not (name.startswith("part-") and name.endswith(".jsonl")):
                    continue
                files.append(
                    LogFile(
                        name=f"{shown.rstrip('/')}/{window.model}/{day_name}/{hour_name}/{name}",
                        path=item.path,
                        hour=hour,
                        size=item.size or 0,
                        filesystem=fs,
                    )
                )
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{shown}: cannot list the payload logs: {redact(str(e))}") from e
    files.sort(key=lambda f: (f.hour, f.name))
    return files


class Record(NamedTuple):
    """One logged inference.

    Attributes:
        id: The request id.
        model: The model's name.
        version: The version that answered (a string, as V2 names versions).
        identity: The model identity that answered, or None when unknown.
        timestamp: When it was answered (UTC).
        latency_ms: The server's latency in milliseconds (NaN when not logged).
        inputs: The request's V2 inputs (name, datatype, shape, data).
        outputs: The response's V2 outputs.
    """

    id: str
    model: str
    version: str
    identity: str | None
    timestamp: dt.datetime
    latency_ms: float
    inputs: list[Any]
    outputs: list[Any]

    @property
    def key(self) -> GroupKey:
        return (self.version, self.identity)


@dataclass
class ReadStats:
    """What reading a window found.

    Attributes:
        files: Files read.
        bytes: Bytes read.
        lines: Lines read (records, skipped lines and records outside the window).
        records: Records inside the window.
        outside: Well-formed records whose timestamp is outside the window (an hour folder
            overlapping the window's edge holds some); not errors.
        skipped: Lines that are not records, by reason: ``empty_line``, ``not_json``,
            ``not_object``, ``missing_<field>``, ``bad_<field>`` (wrong type, or a timestamp
            that is not RFC 3339), ``other_model`` (a record naming another model),
            ``truncated`` (the partial last line of a file being written).
        first: Where each reason was first seen (``<file>:<line>``), for messages.
        vanished: Files listed but gone when read (removed by retention meanwhile).
    """

    files: int = 0
    bytes: int = 0
    lines: int = 0
    records: int = 0
    outside: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    first: dict[str, str] = field(default_factory=dict)
    vanished: list[str] = field(default_factory=list)

    @property
    def num_skipped(self) -> int:
        return sum(self.skipped.values())

    def skip(self, reason: str, where: str) -> None:
        self.skipped[reason] += 1
        self.first.setdefault(reason, where)

    def as_dict(self) -> dict[str, Any]:
        """The counts as plain JSON values (for a report or metrics)."""
        return {
            "files": self.files,
            "bytes": self.bytes,
            "lines": self.lines,
            "records": self.records,
            "outside_window": self.outside,
            "skipped": self.num_skipped,
            "skipped_by_reason": dict(sorted(self.skipped.items())),
            "first_skipped": dict(sorted(self.first.items())),
            "vanished_files": list(self.vanished),
        }


def _lines(stream: Any) -> Iterator[tuple[bytes, bool]]:
    """The lines of ``stream`` (without their newline) and whether each ended with one."""
    rest = b""
    while True:
        block = stream.read(_BLOCK)
        if not block:
            break
        data = rest + bytes(block) if rest else bytes(block)
        cut = data.rfind(b"\n")
        if cut < 0:
            rest = data
            continue
        for line in data[:cut].split(b"\n"):
            yield line, True
        rest = data[cut + 1 :]
    if rest:
        yield rest, False


_NOT_JSON = object()


def _nan_literals(line: bytes) -> Any:
    """A line with ``NaN``/``Infinity`` literals (Python's json writes them; orjson refuses
    them), read as the server reads such a request; else ``_NOT_JSON``."""
    if b"NaN" not in line and b"Infinity" not in line:
        return _NOT_JSON
    try:
        return json.loads(line)
    except ValueError:
        return _NOT_JSON


def _record(obj: Any, model: str) -> Record | str:
    """``obj`` as a record, or the reason it is not one."""
    if type(obj) is not dict:
        return "not_object"
    try:
        rid = obj["id"]
        name = obj["model"]
        version = obj["version"]
        stamp = obj["timestamp"]
        inputs = obj["inputs"]
        outputs = obj["outputs"]
    except KeyError as e:
        return f"missing_{e.args[0]}"
    identity = obj.get("identity")
    latency = obj.get("latency_ms")
    if type(rid) is not str:
        return "bad_id"
    if type(name) is not str:
        return "bad_model"
    if name != model:
        return "other_model"
    if type(version) is not str:
        if type(version) is not int:
            return "bad_version"
        version = str(version)
    if identity is not None and type(identity) is not str:
        return "bad_identity"
    if type(inputs) is not list:
        return "bad_inputs"
    if type(outputs) is not list:
        return "bad_outputs"
    if latency is None:
        latency = float("nan")
    elif type(latency) is not float:
        if type(latency) is not int:
            return "bad_latency_ms"
        latency = float(latency)
    if type(stamp) is not str:
        return "bad_timestamp"
    try:
        when = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return "bad_timestamp"
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return Record(rid, name, version, identity, when, latency, inputs, outputs)


def iter_records(
    window: LogWindow,
    files: Iterable[LogFile] | None = None,
    stats: ReadStats | None = None,
) -> Iterator[Record]:
    """Stream the window's records (inside ``[start, end)``), counting into ``stats``.

    Args:
        window: The window.
        files: Its files; default: :func:`list_files`.
        stats: Filled in as the records are read; pass one to see the counts.

    Yields:
        Each record in the window, in file order.

    Raises:
        DataError: the root is missing, or a file cannot be read (other than vanishing).
    """
    stats = stats if stats is not None else ReadStats()
    start, end, model = window.start, window.end, window.model
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    for log in list_files(window) if files is None else files:
        try:
            stream = log.filesystem.open_input_stream(log.path)
        except FileNotFoundError:
            stats.vanished.append(log.name)
            continue
        except (OSError, pa.ArrowException) as e:
            raise DataError(f"{log.name}: cannot read: {redact(str(e))}") from e
        stats.files += 1
        number = 0
        try:
            with stream:
                for line, ended in _lines(stream):
                    number += 1
                    stats.bytes += len(line) + ended
                    stats.lines += 1
                    try:
                        obj = loads(line)
                    except decode_error:
                        obj = _nan_literals(line)
                    if obj is _NOT_JSON:
                        if not ended:
                            stats.skip("truncated", f"{log.name}:{number}")
                        elif not line.strip():
                            stats.skip("empty_line", f"{log.name}:{number}")
                        else:
                            stats.skip("not_json", f"{log.name}:{number}")
                        continue
                    got = _record(obj, model)
                    if type(got) is str:
                        stats.skip(got, f"{log.name}:{number}")
                        continue
                    assert isinstance(got, Record)
                    if start <= got.timestamp < end:
                        stats.records += 1
                        yield got
                    else:
                        stats.outside += 1
        except (OSError, pa.ArrowException) as e:
            raise DataError(f"{log.name}: cannot read (line {number}): {redact(str(e))}") from e


@dataclass
class WindowRecords:
    """A window's records, grouped by the (version, identity) that answered.

    Attributes:
        window: The window.
        files: Its files.
        stats: What reading found.
        groups: The records of each (version, identity), in file order; groups sorted by
            version then identity.
    """

    window: LogWindow
    files: list[LogFile]
    stats: ReadStats
    groups: dict[GroupKey, list[Record]]

    @property
    def no_traffic(self) -> bool:
        """No record in the window (no files, or files with no record inside it)."""
        return not self.groups


def group_order(key: GroupKey) -> tuple[int, str, str]:
    """Sort order of groups: versions numerically where they are numbers, then identity."""
    version, identity = key
    return (int(version) if version.isdigit() else -1, version, identity or "")


def read_window(
    window: LogWindow, *, keep: Callable[[Record], bool] | None = None
) -> WindowRecords:
    """Read the window's records into memory, grouped by (version, identity).

    For large windows, stream with :func:`iter_records` instead (the monitor decodes as it
    reads; see :func:`mlrail.components.monitor.decode.decode_window`).

    Args:
        window: The window.
        keep: Keep only the records this returns True for.
    """
    files = list_files(window)
    stats = ReadStats()
    groups: dict[GroupKey, list[Record]] = {}
    for record in iter_records(window, files, stats):
        if keep is None or keep(record):
            groups.setdefault(record.key, []).append(record)
    ordered = {k: groups[k] for k in sorted(groups, key=group_order)}
    return WindowRecords(window=window, files=files, stats=stats, groups=ordered)
