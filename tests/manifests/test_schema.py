"""Every rendered object matches its schema in every supported Kubernetes version."""

from __future__ import annotations

import importlib.resources

import jsonschema
import pytest

from .kube_schema import (
    K8S_VERSIONS,
    KNOWN_CRD_KINDS,
    CrdSchemas,
    crd_errors,
    is_known_crd,
    schema_errors,
    to_jsonschema,
)
from .kustomize import OVERLAYS, Render


def test_kubernetes_validate_ships_every_supported_version() -> None:
    # kubernetes_validate silently falls back to an older minor when one is missing.
    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    shipped = {p.name for p in root.iterdir()}
    missing = [v for v in K8S_VERSIONS if f"v{v}.0-local-strict" not in shipped]
    assert missing == []


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_builtin_objects_match_kubernetes_schema(
    render: Render, overlay: str, version: str
) -> None:
    objs = render(overlay)
    assert any(not is_known_crd(o) for o in objs)
    # CRDs are left to the next test; an unknown kind is reported here.
    assert schema_errors(objs, version, crds=None) == []


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_match_crd_schema(
    render: Render, crd_schemas: CrdSchemas, overlay: str, version: str
) -> None:
    custom = [o for o in render(overlay) if is_known_crd(o)]
    assert sorted(o["kind"] for o in custom) == ["ServingRuntime", "TrainingRuntime"]
    assert [e for o in custom for e in crd_errors(o, crd_schemas, version)] == []


def test_crd_folder_defines_every_known_crd_kind(crd_schemas: CrdSchemas) -> None:
    assert KNOWN_CRD_KINDS <= crd_schemas.kinds()


def _validator(structural: dict) -> jsonschema.Validator:
    return jsonschema.Draft202012Validator(to_jsonschema(structural))


def test_translated_crd_schema_rejects_undeclared_fields() -> None:
    validator = _validator({"type": "object", "properties": {"image": {"type": "string"}}})
    assert validator.is_valid({"image": "x"})
    assert not validator.is_valid({"imagee": "x"})


def test_translated_crd_schema_keeps_preserve_unknown_fields_open() -> None:
    structural = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "x-kubernetes-preserve-unknown-fields": True,
    }
    assert _validator(structural).is_valid({"a": "x", "anything": 1})


def test_translated_crd_schema_accepts_int_or_string() -> None:
    validator = _validator({"x-kubernetes-int-or-string": True})
    assert validator.is_valid(8080)
    assert validator.is_valid("http")
    assert not validator.is_valid(1.5)


def test_translated_crd_schema_honours_nullable() -> None:
    assert _validator({"type": "string", "nullable": True}).is_valid(None)
    assert not _validator({"type": "string"}).is_valid(None)


def test_translated_crd_schema_treats_field_names_as_names() -> None:
    # A property called "nullable" is a field, not the keyword.
    structural = {"type": "object", "properties": {"nullable": {"type": "boolean"}}}
    assert _validator(structural).is_valid({"nullable": True})
    assert not _validator(structural).is_valid({"nullable": "yes"})
