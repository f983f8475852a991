"""Checks made before anything is sent, so a mistake fails with a message, not half-way through.

Half-way would be an experiment created, a pipeline uploaded, and no schedule. Checked here:

- the host has its scheme, and names are non-empty strings;
- the package is a compiled KFP pipeline (IR YAML that parses as a ``PipelineSpec``);
- the arguments: every name is a parameter of the pipeline, every required parameter is given,
  every value has the declared type (and is one of the declared literals, if any) and is JSON;
- the size of the arguments, measured the way the API server measures it: the parameters as one
  compact JSON object must fit in 10,000 bytes (``MaxParameterBytes`` of the KFP API server);
- for a schedule: exactly one of cron and interval, the cron expression's shape and ranges
  (:mod:`mlrail.kfp.cron`), start before end and end in the future.

Also here: the package as it is sent, with caching turned off in every task when asked.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mlrail.kfp.cron import normalize_cron
from mlrail.redact import redact

if TYPE_CHECKING:  # kfp costs ~0.6 s to import; the CLI imports this package lazily anyway.
    from kfp.pipeline_spec import pipeline_spec_pb2

__all__ = [
    "MAX_PARAMETER_BYTES",
    "check_arguments",
    "check_host",
    "check_name",
    "check_trigger",
    "check_window",
    "load_pipeline_spec",
    "package_to_send",
]

#: The KFP API server rejects a run whose parameters, as one JSON object, exceed this many bytes
#: (``util.MaxParameterBytes`` in the KFP backend).
MAX_PARAMETER_BYTES = 10_000


def check_host(host: str) -> None:
    """Refuses a host without its scheme: ``http://localhost:8888``, not ``localhost:8888``."""
    # kfp.Client would prefix https:// to a bare host.name:port and warn; against a port-forward
    # (plain HTTP) that ends in an opaque TLS error, so ask for the scheme instead.
    if not isinstance(host, str) or not re.match(r"^https?://[^/\s]+", host):
        raise ValueError(
            f"host must be the KFP API address with its scheme, e.g. http://localhost:8888; "
            f"got {redact(repr(host))}"
        )


def check_name(what: str, value: str) -> None:
    """Refuses a name (of an experiment, a run, a schedule, a pipeline) that is empty or blank."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")


def check_trigger(cron: str | None, interval_seconds: int | None) -> tuple[str | None, int | None]:
    """Exactly one of a cron expression and a positive period.

    Returns:
        (the cron expression in KFP's 6-field form, None) or (None, the period in seconds).
    """
    if (cron is None) == (interval_seconds is None):
        raise ValueError(
            "give exactly one of cron and interval_seconds, got "
            + ("both" if cron is not None else "neither")
        )
    if cron is not None:
        return normalize_cron(cron), None
    if isinstance(interval_seconds, bool) or not isinstance(interval_seconds, int):
        raise ValueError(f"interval_seconds must be an integer, got {interval_seconds!r}")
    if interval_seconds <= 0:
        raise ValueError(f"interval_seconds must be positive, got {interval_seconds}")
    return None, interval_seconds


def check_window(start: datetime | None, end: datetime | None) -> tuple[str | None, str | None]:
    """A schedule's start and end, in UTC: end after start and in the future.

    Returns:
        (start, end) as RFC 3339 text with ``Z``, or None where not given.
    """

    def utc(what: str, moment: datetime | None) -> datetime | None:
        if moment is None:
            return None
        if not isinstance(moment, datetime):
            raise ValueError(f"{what} must be a datetime, got {moment!r}")
        # Naive means UTC: the scheduler evaluates cron in UTC, so one clock for everything.
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    begin, finish = utc("start", start), utc("end", end)
    if begin is not None and finish is not None and finish <= begin:
        raise ValueError(
            f"end ({finish:%Y-%m-%dT%H:%M:%SZ}) must be after start ({begin:%Y-%m-%dT%H:%M:%SZ})"
        )
    if finish is not None and finish <= datetime.now(UTC):
        raise ValueError(
            f"end ({finish:%Y-%m-%dT%H:%M:%SZ}) is in the past: the schedule would never run"
        )

    def rfc3339(moment: datetime | None) -> str | None:
        # The API stores whole seconds; RFC 3339 with Z is what its Timestamp fields parse.
        return None if moment is None else f"{moment:%Y-%m-%dT%H:%M:%SZ}"

    return rfc3339(begin), rfc3339(finish)


def load_pipeline_spec(package_path: str) -> pipeline_spec_pb2.PipelineSpec:
    """The ``PipelineSpec`` of a compiled pipeline package (IR YAML), or a ValueError that says
    why the file is not one."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    path = Path(package_path)
    if path.suffix not in (".yaml", ".yml"):
        raise ValueError(f"{path}: expected a compiled pipeline (.yaml or .yml)")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ValueError(f"{path}: cannot read the pipeline package: {e.strerror}") from e
    if not data.strip():
        raise ValueError(f"{path}: the pipeline package is empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text (byte {e.start}); not a compiled pipeline") from e
    try:
        # A compiled pipeline may carry a second document, the platform spec (kfp-kubernetes).
        first = next(iter(yaml.safe_load_all(text)), None)
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(first, dict) or "root" not in first or "pipelineInfo" not in first:
        raise ValueError(
            f"{path}: not a compiled KFP pipeline (no pipelineInfo/root); compile it with "
            "`mlrail compile` or kfp.compiler.Compiler"
        )
    try:
        return json_format.ParseDict(first, pipeline_spec_pb2.PipelineSpec())
    except json_format.ParseError as e:
        raise ValueError(f"{path}: not a valid KFP PipelineSpec: {e}") from e


def check_arguments(
    spec: pipeline_spec_pb2.PipelineSpec, arguments: Mapping[str, Any], package_path: str
) -> dict[str, Any]:
    """The arguments checked against the pipeline's parameters: names, types, literals, size.

    Returns:
        The arguments as a dict, to send as they are.
    """
    from kfp.pipeline_spec import pipeline_spec_pb2

    types = pipeline_spec_pb2.ParameterType
    # (what a user should give, whether a value is of the type); bool is an int in Python.
    checks: dict[int, tuple[str, Any]] = {
        types.NUMBER_DOUBLE: (
            "a number",
            lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        ),
        types.NUMBER_INTEGER: (
            "an integer",
            lambda v: isinstance(v, int) and not isinstance(v, bool),
        ),
        types.STRING: ("a string", lambda v: isinstance(v, str)),
        types.BOOLEAN: ("true or false", lambda v: isinstance(v, bool)),
        types.LIST: ("a list", lambda v: isinstance(v, list)),
        types.STRUCT: ("a JSON object (dict)", lambda v: isinstance(v, dict)),
    }
    declared = spec.root.input_definitions.parameters
    not_names = [k for k in arguments if not isinstance(k, str)]
    if not_names:
        raise ValueError(f"parameter names must be strings, got {not_names!r}")
    unknown = sorted(str(k) for k in arguments if k not in declared)
    if unknown:
        raise ValueError(
            f"{package_path}: pipeline {spec.pipeline_info.name!r} has no parameter "
            f"{', '.join(map(repr, unknown))}; its parameters are: "
            + (", ".join(sorted(declared)) or "(none)")
        )
    missing = sorted(
        n
        for n, p in declared.items()
        if n not in arguments and not p.HasField("default_value") and not p.is_optional
    )
    if missing:
        raise ValueError(
            f"{package_path}: pipeline {spec.pipeline_info.name!r} needs a value for "
            + ", ".join(map(repr, missing))
        )

    sizes: dict[str, int] = {}
    for key, value in arguments.items():
        parameter = declared[key]
        check = checks.get(parameter.parameter_type)
        if check is not None and not check[1](value):
            declared_type = types.ParameterTypeEnum.Name(parameter.parameter_type)
            raise ValueError(
                f"parameter {key!r} is declared {declared_type}: give {check[0]}, got "
                f"{type(value).__name__} {_short(value)}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"parameter {key!r} is {value}: NaN and infinity are not JSON")
        try:
            encoded = _go_json(value)
        except (TypeError, ValueError) as e:
            raise ValueError(f"parameter {key!r} is not JSON-serialisable: {e}") from e
        literals = [_proto_value(v) for v in parameter.literals]
        if literals and value not in literals:
            raise ValueError(
                f"parameter {key!r} must be one of {', '.join(map(_short, literals))}; "
                f"got {_short(value)}"
            )
        sizes[key] = len(encoded)
        if sizes[key] > MAX_PARAMETER_BYTES:
            raise ValueError(
                f"parameter {key!r} is {sizes[key]:,} bytes as JSON; the KFP API server accepts "
                f"at most {MAX_PARAMETER_BYTES:,} bytes for all parameters together. Pass a path "
                "or URI to the data instead of the data itself"
            )
    total = len(_go_json(dict(arguments)))
    if total > MAX_PARAMETER_BYTES:
        largest = sorted(sizes.items(), key=lambda kv: -kv[1])[:3]
        raise ValueError(
            f"the parameters are {total:,} bytes together as JSON; the KFP API server accepts at "
            f"most {MAX_PARAMETER_BYTES:,}. Largest: "
            + ", ".join(f"{k!r} ({n:,} bytes)" for k, n in largest)
        )
    return dict(arguments)


def _go_json(value: Any) -> bytes:
    """JSON as the API server measures it: Go's encoding/json, compact, HTML characters escaped."""
    text = json.dumps(
        value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, sort_keys=True
    )
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text.encode("utf-8")


def _proto_value(value: Any) -> Any:
    from google.protobuf import json_format

    return json_format.MessageToDict(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- the package as sent ----------------------------------------------------------------------


@contextlib.contextmanager
def package_to_send(package_path: str, enable_caching: bool | None) -> Iterator[str]:
    """Yields the package path, or a copy with caching off for every task when asked to."""
    # Not kfp.Client's enable_caching: it rewrites only root.dag's tasks (those under dsl.If or
    # ParallelFor live in component DAGs and would still hit the cache), and it is ignored
    # altogether for a recurring run of an uploaded version.
    if enable_caching is not False:
        yield package_path
        return
    with open(package_path, encoding="utf-8") as f:
        documents = list(yaml.safe_load_all(f))
    pipeline = documents[0]
    dags = [pipeline["root"]] + [c for c in pipeline.get("components", {}).values() if "dag" in c]
    for dag in dags:
        for task in dag.get("dag", {}).get("tasks", {}).values():
            task.setdefault("cachingOptions", {})["enableCache"] = False
    with tempfile.TemporaryDirectory(prefix="mlrail-submit-") as tmp:
        copy = os.path.join(tmp, Path(package_path).name)
        with open(copy, "w", encoding="utf-8") as f:
            yaml.safe_dump_all(documents, f, sort_keys=False)
        yield copy
