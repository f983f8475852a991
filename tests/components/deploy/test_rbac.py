"""RBAC proof: every Kubernetes API call deploy makes, in every scenario, is allowed by the Role
the pipeline runs under (manifests/base/rbac.yaml), and the list in kserve.api's module doc is
exactly those calls with the rule that allows each."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from mlrail.components.deploy.kserve import api

from .fake_kube import Call
from .scenarios import SCENARIOS, Outcome

RBAC = Path(__file__).parents[3] / "manifests" / "base" / "rbac.yaml"
# "- get serving.kserve.io/v1beta1 inferenceservices: rules[0] (...)"
DOC_LINE = re.compile(r"^- (\w+) ([\w.-]+)/(\w+) ([\w/]+): rules\[(\d+)\]", re.M)


def _role() -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all(RBAC.read_text()) if d]
    (role,) = [d for d in docs if d["kind"] == "Role"]
    (binding,) = [d for d in docs if d["kind"] == "RoleBinding"]
    # the Role is the one the pipeline's service account is bound to
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert {"kind": "ServiceAccount", "name": "mlrail-pipeline-runner"}.items() <= (
        binding["subjects"][0].items()
    )
    return dict(role)


def allowing_rule(call: Call, rules: Sequence[Mapping[str, Any]]) -> int | None:
    """The index of the first rule that allows ``call``, as the RBAC authorizer matches."""
    resource = f"{call.resource}/{call.subresource}" if call.subresource else call.resource
    for i, rule in enumerate(rules):
        names = rule.get("resourceNames") or []
        if (
            call.group in (rule.get("apiGroups") or [])
            and resource in (rule.get("resources") or [])
            and call.verb in (rule.get("verbs") or [])
            and (not names or call.name in names)
        ):
            return i
    return None


def _all_calls(outcome: Callable[[str], Outcome]) -> set[Call]:
    calls: set[Call] = set()
    for name in SCENARIOS:
        calls |= set(outcome(name).fake.calls)
    return calls


def test_every_call_deploy_makes_is_allowed_by_the_pipeline_role(
    outcome: Callable[[str], Outcome],
) -> None:
    rules = _role()["rules"]
    calls = _all_calls(outcome)
    assert {c.verb for c in calls} == {"get", "patch", "create"}
    refused = [c for c in calls if allowing_rule(c, rules) is None]
    assert refused == []


def test_the_module_doc_lists_exactly_the_calls_and_their_rules(
    outcome: Callable[[str], Outcome],
) -> None:
    rules = _role()["rules"]
    made = {
        (c.verb, c.group, c.version, c.resource, allowing_rule(c, rules))
        for c in _all_calls(outcome)
    }
    assert api.__doc__ is not None
    listed = {
        (verb, group, version, resource, int(rule))
        for verb, group, version, resource, rule in DOC_LINE.findall(api.__doc__)
    }
    assert listed == made


def test_the_check_catches_a_role_that_lacks_a_verb(outcome: Callable[[str], Outcome]) -> None:
    rules = [dict(r) for r in _role()["rules"]]
    rules[0]["verbs"] = [v for v in rules[0]["verbs"] if v != "create"]
    refused = {c.verb for c in _all_calls(outcome) if allowing_rule(c, rules) is None}
    assert refused == {"create"}  # a first deploy's server-side apply creates the object
    rules[0]["apiGroups"] = ["serving.knative.dev"]
    refused = {c.verb for c in _all_calls(outcome) if allowing_rule(c, rules) is None}
    assert refused == {"get", "patch", "create"}
