"""The release record: what was released, on which data, with which evidence, built how, who
asked and why, where it went, and what changed since the release before.

Every deploy (local, render, kserve), promotion and rollback writes one: ``release.json``,
``release.md`` and ``release.html``. The types are :mod:`.record`; the JSON form, its checks and
the JSON Schema (``release.schema.json`` in this package, generated from the types) are
:mod:`.codec`; :func:`build_record` assembles a record from the artifacts on disk (:mod:`.build`
names the files it reads); :func:`diff` compares it with the previous release (:mod:`.diff`);
:mod:`.pages` renders it; :mod:`.store` writes, keeps (the local layout is in its docstring),
lists and reads records, which ``mlrail releases list/show`` print with :func:`render_list`
and :func:`render_text`.

Example::

    from mlrail.artifacts import release

    previous = release.latest(workdir / "releases", "penguins")
    record = release.build_record(
        release.ArtifactPaths(onnx_model=..., deployment=..., blessing=..., ...),
        model_name="penguins",
        request=release.Request(requested_by="ada", reason="weekly retrain"),
        previous=previous,
    )
    record, folder = release.store(record, workdir / "releases")
"""

from mlrail.artifacts.release.build import (
    MAX_LISTED,
    ArtifactPaths,
    BuildInfo,
    build_record,
    schema_hash,
    with_previous,
)
from mlrail.artifacts.release.codec import from_json, json_schema, to_json, write_schema
from mlrail.artifacts.release.diff import diff
from mlrail.artifacts.release.pages import (
    SECTIONS,
    render_html,
    render_list,
    render_markdown,
    render_text,
)
from mlrail.artifacts.release.record import (
    FORMAT,
    KINDS,
    SCHEMA_FILE,
    SIGNATURE_STATUSES,
    Record,
    Request,
    Signature,
)
from mlrail.artifacts.release.store import (
    HTML_FILE,
    JSON_FILE,
    MARKDOWN_FILE,
    latest,
    list_releases,
    load,
    model_folder,
    show,
    store,
    write,
)

__all__ = [
    "FORMAT",
    "HTML_FILE",
    "JSON_FILE",
    "KINDS",
    "MARKDOWN_FILE",
    "MAX_LISTED",
    "SCHEMA_FILE",
    "SECTIONS",
    "SIGNATURE_STATUSES",
    "ArtifactPaths",
    "BuildInfo",
    "Record",
    "Request",
    "Signature",
    "build_record",
    "diff",
    "from_json",
    "json_schema",
    "latest",
    "list_releases",
    "load",
    "model_folder",
    "render_html",
    "render_list",
    "render_markdown",
    "render_text",
    "schema_hash",
    "show",
    "store",
    "to_json",
    "with_previous",
    "write",
    "write_schema",
]
