"""The release record as JSON: writing, reading with every field checked, and its JSON Schema.

:func:`to_json` and :func:`from_json` turn a :class:`.record.Record` into plain JSON and back;
``from_json`` checks every field's type (and its enum, const and date-time format) and refuses a
missing required field or an unknown one, naming the field (``data.rows.train``), so a record
is validated at run time without the ``jsonschema`` package (a dev dependency only).

``release.schema.json`` (draft 2020-12) is generated from the dataclasses by :func:`json_schema`
(``python -m mlrail.artifacts.release`` rewrites it); a test keeps the file current and
validates every record the tests write against it with ``jsonschema``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
import types
import typing
from datetime import datetime
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from mlrail.artifacts.release.record import SCHEMA_FILE, Record
from mlrail.errors import DataError

__all__ = ["from_json", "json_schema", "to_json", "write_schema"]

# --------------------------------------------------------------------------------------------
# JSON form


_RECORD_ORDER = [
    "format",
    "number",
    "kind",
    "created",
    "model",
    "data",
    "evidence",
    "build",
    "request",
    "where",
    "previous",
    "changes",
    "links",
]


def to_json(obj: Any) -> Any:
    """A dataclass (and what it holds) as plain JSON; NaN and infinity as null."""
    if isinstance(obj, Record):  # the record's own fields first, then its sections
        names = [f.name for f in dataclasses.fields(obj)]
        return {n: to_json(getattr(obj, n)) for n in sorted(names, key=_RECORD_ORDER.index)}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_json(v) for v in obj]
    return obj


T = TypeVar("T")


def from_json(cls: type[T], obj: Any, *, where: str = "release.json") -> T:
    """``obj`` (parsed JSON) as a ``cls``, every field checked.

    Raises:
        DataError: naming ``where`` and the field, for a missing required field, an unknown
            field, a value of the wrong type or outside its enum, or another format.
    """
    return typing.cast(T, _parse(cls, obj, where, ""))


def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls, vars(sys.modules[cls.__module__]))


def _fail(where: str, path: str, msg: str) -> typing.NoReturn:
    raise DataError(f"{where}: {path or 'the record'}: {msg}")


def _parse(tp: Any, obj: Any, where: str, path: str) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        # every union in the record is ``X | None``
        (inner,) = [t for t in get_args(tp) if t is not type(None)]
        return None if obj is None else _parse(inner, obj, where, path)
    if dataclasses.is_dataclass(tp):
        return _parse_dataclass(typing.cast(type, tp), obj, where, path)
    if origin is list:
        if not isinstance(obj, list):
            _fail(where, path, f"expected a list, got {type(obj).__name__}")
        (item,) = get_args(tp)
        return [_parse(item, v, where, f"{path}[{i}]") for i, v in enumerate(obj)]
    if origin is dict:
        if not isinstance(obj, dict):
            _fail(where, path, f"expected an object, got {type(obj).__name__}")
        _, value = get_args(tp)
        return {k: _parse(value, v, where, f"{path}.{k}") for k, v in obj.items()}
    if tp is bool:
        if not isinstance(obj, bool):
            _fail(where, path, f"expected true or false, got {obj!r}")
        return obj
    if tp is int:
        if isinstance(obj, bool) or not isinstance(obj, int):
            _fail(where, path, f"expected an integer, got {obj!r}")
        return obj
    if tp is float:
        if isinstance(obj, bool) or not isinstance(obj, int | float):
            _fail(where, path, f"expected a number, got {obj!r}")
        return float(obj)
    if tp is str:
        if not isinstance(obj, str):
            _fail(where, path, f"expected a string, got {type(obj).__name__}")
        return obj
    raise TypeError(f"{path}: no JSON form for {tp!r}")  # a type added here without a case


def _parse_dataclass(cls: type, obj: Any, where: str, path: str) -> Any:
    if not isinstance(obj, dict):
        _fail(where, path, f"expected an object, got {type(obj).__name__}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(obj) - set(fields))
    if unknown:
        _fail(where, _join(path, unknown[0]), "unknown field")
    values: dict[str, Any] = {}
    for name, f in fields.items():
        sub = _join(path, name)
        if name not in obj:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                _fail(where, sub, "missing")
            continue
        value = _parse(hints[name], obj[name], where, sub)
        meta = f.metadata
        if "enum" in meta and value not in meta["enum"]:
            _fail(where, sub, f"{value!r} is not one of {', '.join(meta['enum'])}")
        if "pattern" in meta and not re.search(meta["pattern"], value):
            _fail(where, sub, f"{value!r} does not match {meta['pattern']}")
        if meta.get("format") == "date-time" and not _is_time(value):
            _fail(where, sub, f"{value!r} is not a date-time with its offset (ISO 8601)")
        if "const" in meta and value != meta["const"]:
            _fail(where, sub, f"{value!r}: this reader knows {meta['const']!r} only")
        values[name] = value
    return cls(**values)


def _is_time(value: str) -> bool:
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return when.tzinfo is not None


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# --------------------------------------------------------------------------------------------
# JSON Schema


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a record, from the dataclasses above."""
    defs: dict[str, Any] = {}
    root = _schema_of(Record, defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://mlrail.dev/schemas/release.schema.json",
        "$comment": "generated by python -m mlrail.artifacts.release; do not edit",
        "title": "mlrail release record",
        **root,
        "$defs": dict(sorted(defs.items())),
    }


def _schema_of(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        options = [t for t in get_args(tp) if t is not type(None)]
        (inner,) = options
        return {"anyOf": [_schema_of(inner, defs), {"type": "null"}]}
    if dataclasses.is_dataclass(tp):
        cls = typing.cast(type, tp)
        if cls is Record:
            return _object_schema(cls, defs)
        if cls.__name__ not in defs:
            defs[cls.__name__] = {}  # a placeholder while its fields are walked
            defs[cls.__name__] = _object_schema(cls, defs)
        return {"$ref": f"#/$defs/{cls.__name__}"}
    if origin is list:
        (item,) = get_args(tp)
        return {"type": "array", "items": _schema_of(item, defs)}
    if origin is dict:
        _, value = get_args(tp)
        return {"type": "object", "additionalProperties": _schema_of(value, defs)}
    simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
    return {"type": simple[tp]}


def _object_schema(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    hints = _hints(cls)
    props: dict[str, Any] = {}
    required = []
    for f in dataclasses.fields(cls):
        prop = _schema_of(hints[f.name], defs)
        extra = dict(f.metadata)
        if extra:
            # constraints go on the value, beside the null it may also be
            desc = extra.pop("description", None)
            if extra and "anyOf" in prop:
                prop["anyOf"][0] = {**prop["anyOf"][0], **extra}
            else:
                prop.update(extra)
            if desc:
                prop = {"description": desc, **prop}
        props[f.name] = prop
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    return {
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }


def write_schema() -> None:
    """Rewrite ``release.schema.json`` from the dataclasses."""
    SCHEMA_FILE.write_text(json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n")
