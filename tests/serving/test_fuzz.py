"""Fuzz a real ``serve`` on 127.0.0.1 with schemathesis, driven by the server's own OpenAPI
document: no generated request, valid or not, gets a 5xx. Bounded (a fixed number of examples,
no example database) so it runs in the default suite in seconds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from mlrail.serving.openapi import OPENAPI_PATH

from .helpers import Running, running_server, write_classifier, write_regressor

EXAMPLES_PER_MODE = 150
MODELS = ["penguins", "regressor", "absent"]
VERSIONS = ["1", "2", "3", "x"]


@pytest.fixture(scope="module", autouse=True)
def hypothesis_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # Hypothesis caches under ./.hypothesis even with no database: keep it out of the repository.
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    yield
    set_hypothesis_home_dir(None)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    root = tmp_path_factory.mktemp("fuzz") / "model_repository"
    write_classifier(root, 1, bias=0.0)
    write_classifier(root, 2, bias=1.0)
    write_regressor(root, 1)
    with running_server(root, max_body_bytes=256 * 1024) as running:
        yield running


def fuzzable(document: dict[str, Any]) -> dict[str, Any]:
    """The served document, with model names and versions drawn from ones that exist.

    A random name is a 404 before the body is read; naming real models (and one that is not)
    sends the generated bodies through the request decoding, which is what is fuzzed.
    """
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "model_name":
                    parameter["schema"] = {"type": "string", "enum": MODELS}
                elif parameter["name"] == "model_version":
                    parameter["schema"] = {"type": "string", "enum": VERSIONS}
    return document


@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, "negative"])
def test_fuzzed_requests_get_no_server_error(server: Running, mode: str) -> None:
    document = httpx.get(f"{server.url}{OPENAPI_PATH}", timeout=10).json()
    schema = schemathesis.openapi.from_dict(fuzzable(document))
    statuses: list[int] = []
    failures: list[str] = []

    @given(case=schema.as_strategy(schemathesis.GenerationMode(mode)))
    @settings(
        max_examples=EXAMPLES_PER_MODE,
        database=None,  # nothing written into the repository (.hypothesis/)
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report, do not minimise
        suppress_health_check=list(HealthCheck),
    )
    def call(case: schemathesis.Case) -> None:
        response = case.call(base_url=server.url, timeout=30)
        statuses.append(response.status_code)
        try:
            case.validate_response(
                response,
                checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
            )
        except Exception as e:  # collected, so one run reports every 5xx, not the first
            failures.append(f"{case.method} {case.formatted_path}: {e}")

    call()

    assert not failures, "\n".join(failures)
    assert len(statuses) >= EXAMPLES_PER_MODE // 2  # it really ran
    assert not [s for s in statuses if s >= 500]
    assert any(400 <= s < 500 for s in statuses)
    if mode == "positive":  # valid requests did reach the models
        assert 200 in statuses
    print(f"{mode}: {len(statuses)} requests, statuses {sorted(set(statuses))}")
