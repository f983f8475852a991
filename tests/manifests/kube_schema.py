"""Schema validation of rendered manifests: Kubernetes' own types and the CRDs mlrail uses.

Built-in kinds go through ``kubernetes_validate`` in strict mode (unknown fields rejected). Custom
resources go through ``jsonschema`` against the CRD's ``openAPIV3Schema``, translated from
Kubernetes' structural-schema dialect, with ``metadata`` checked as a strict ObjectMeta of the
same Kubernetes version. A kind that is neither is an error: an object nobody can check is not
"valid".
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
from referencing import Registry, Resource

__all__ = [
    "K8S_VERSIONS",
    "KNOWN_CRD_KINDS",
    "CrdSchemas",
    "crd_errors",
    "is_known_crd",
    "kubernetes_errors",
    "schema_errors",
    "to_jsonschema",
]

# The Kubernetes minors mlrail supports; each one is checked, since fields move between releases.
K8S_VERSIONS: tuple[str, ...] = ("1.31", "1.32", "1.33", "1.34", "1.35")

# (API group, kind) of the custom resources mlrail may render; their CRDs live in ../shared/crds.
KNOWN_CRD_KINDS: frozenset[tuple[str, str]] = frozenset(
    {
        ("serving.kserve.io", "InferenceService"),
        ("serving.kserve.io", "ServingRuntime"),
        ("serving.kserve.io", "ClusterServingRuntime"),
        ("pipelines.kubeflow.org", "Pipeline"),
        ("pipelines.kubeflow.org", "PipelineVersion"),
        # train's workers (manifests/base/trainingruntime.yaml; the TrainJob train submits)
        ("trainer.kubeflow.org", "TrainingRuntime"),
        ("trainer.kubeflow.org", "ClusterTrainingRuntime"),
        ("trainer.kubeflow.org", "TrainJob"),
    }
)

_DEFINITIONS_URI = "https://kubernetes.io/api/_definitions.json"
_OBJECT_META_REF = "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_OBJECT_META = {"$ref": _DEFINITIONS_URI + _OBJECT_META_REF}


class _NoBuiltinSchema(Exception):
    pass


def _describe(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')}/{meta.get('name') if isinstance(meta, Mapping) else '?'}"


def _path(parts: Iterable[Any]) -> str:
    return ".".join(str(p) for p in parts) or "(root)"


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def is_known_crd(obj: Mapping[str, Any]) -> bool:
    return (_group(str(obj.get("apiVersion", ""))), obj.get("kind")) in KNOWN_CRD_KINDS


def kubernetes_errors(obj: Mapping[str, Any], version: str) -> list[str]:
    """Errors of one built-in object against Kubernetes ``version`` (strict: no unknown fields).

    Raises:
        _NoBuiltinSchema: Kubernetes has no such kind (a CRD, or a typo in ``kind``).
    """
    try:
        kubernetes_validate.validate(dict(obj), version, strict=True)
    except kubernetes_validate.SchemaNotFoundError as exc:
        raise _NoBuiltinSchema(exc.message) from exc
    except kubernetes_validate.ValidationError as exc:
        return [f"{_describe(obj)} [k8s {version}]: {_path(exc.path)}: {exc.message}"]
    return []


def to_jsonschema(node: Mapping[str, Any]) -> dict[str, Any]:
    """Translate a structural schema node into plain JSON Schema (see ../shared/crds/README.md)."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties"):
            out[key] = {name: to_jsonschema(sub) for name, sub in value.items()}
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [to_jsonschema(sub) for sub in value]
        elif key in ("items", "additionalProperties", "not") and isinstance(value, Mapping):
            out[key] = to_jsonschema(value)
        elif key.startswith("x-kubernetes-") or key == "nullable":
            continue
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    if node.get("nullable") and "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = [*types, "null"]
    # The API server prunes (and with strict field validation rejects) fields the schema does not
    # declare; JSON Schema allows them unless told otherwise. This is what catches typos.
    if (
        out.get("type") == "object"
        and "properties" in out
        and "additionalProperties" not in out
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@cache
def _definitions(version: str) -> Resource[Any]:
    # kubernetes_validate ships Kubernetes' own definitions per minor; ObjectMeta comes from there.
    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    path = root / f"v{version}.0-local-strict" / "_definitions.json"
    if not path.is_file():
        raise LookupError(f"kubernetes_validate {kubernetes_validate.__version__} has no {path}")
    return Resource.from_contents(json.loads(path.read_text()))


class CrdSchemas:
    """The openAPIV3Schema of every CRD version found in a folder of CRD JSON files."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # (apiVersion, kind) -> translated JSON Schema
        self.schemas: dict[tuple[str, str], Mapping[str, Any]] = {}
        self._validators: dict[tuple[str, str, str], jsonschema.Validator] = {}
        for path in sorted(directory.glob("*.json")):
            crd = json.loads(path.read_text())
            if crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schema = version.get("schema", {}).get("openAPIV3Schema")
                if schema is None:
                    continue
                translated = to_jsonschema(schema)
                translated.setdefault("properties", {})["metadata"] = _OBJECT_META
                self.schemas[(f"{group}/{version['name']}", kind)] = translated

    def kinds(self) -> set[tuple[str, str]]:
        """(API group, kind) of every CRD found."""
        return {(_group(api_version), kind) for api_version, kind in self.schemas}

    def validator(self, api_version: str, kind: str, k8s_version: str) -> jsonschema.Validator:
        key = (api_version, kind, k8s_version)
        if key not in self._validators:
            registry: Registry[Any] = Registry().with_resource(
                _DEFINITIONS_URI, _definitions(k8s_version)
            )
            self._validators[key] = jsonschema.Draft202012Validator(
                self.schemas[(api_version, kind)], registry=registry
            )
        return self._validators[key]


def crd_errors(obj: Mapping[str, Any], crds: CrdSchemas, version: str) -> list[str]:
    """Errors of one custom resource against its CRD schema (metadata as Kubernetes ``version``)."""
    key = (str(obj.get("apiVersion")), str(obj.get("kind")))
    if key not in crds.schemas:
        return [f"{_describe(obj)}: no CRD in {crds.directory} defines {key[1]} {key[0]}"]
    validator = crds.validator(key[0], key[1], version)
    return sorted(
        f"{_describe(obj)} [CRD, k8s {version}]: {_path(err.absolute_path)}: {err.message}"
        for err in validator.iter_errors(obj)
    )


def schema_errors(
    objs: Iterable[Mapping[str, Any]], version: str, crds: CrdSchemas | None
) -> list[str]:
    """Schema errors of every object; custom resources only when ``crds`` is given.

    A kind with no Kubernetes schema that is not a known CRD is always an error.
    """
    errors: list[str] = []
    for obj in objs:
        try:
            errors += kubernetes_errors(obj, version)
        except _NoBuiltinSchema as exc:
            if not is_known_crd(obj):
                errors.append(f"{_describe(obj)}: no schema for this kind, not a known CRD ({exc})")
            elif crds is not None:
                errors += crd_errors(obj, crds, version)
    return errors
