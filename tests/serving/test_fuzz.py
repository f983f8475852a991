"""Fuzz a real ``serve`` on 127.0.0.1 with schemathesis, driven by the server's own OpenAPI
document: no generated request, valid or not, gets a 5xx. Bounded (a fixed number of examples,
no example database) so it runs in the default suite in seconds."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from mlrail.serving.app import create_app
from mlrail.serving.openapi import OPENAPI_PATH

from .helpers import Client, Running, running_server, write_classifier, write_regressor

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


# -- binary tensor data: sizes, lengths and bytes as a careless or hostile client sends them -----


@pytest.fixture(scope="module")
def in_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    root = tmp_path_factory.mktemp("fuzz_binary") / "model_repository"
    write_classifier(root, 1)
    client = Client(create_app(root))
    yield client
    client.close()


SIZES = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.integers(0, 64),
    st.none(),
    st.booleans(),
    st.floats(),
    st.text(max_size=3),
)
DIMS = st.lists(st.one_of(st.integers(-2, 4), st.integers(0, 2**64 - 1), st.just(True)), max_size=3)


@st.composite
def binary_requests(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    """A classifier request in binary form, with any part of it replaced by something else."""
    rows = draw(st.integers(0, 3))
    numbers = draw(st.binary(max_size=4 * rows + 4))
    strings = b"".join(
        struct.pack("<I", draw(st.one_of(st.integers(0, 8), st.integers(0, 2**32 - 1))))
        + draw(st.binary(max_size=8))
        for _ in range(draw(st.integers(0, rows + 1)))
    )
    cut = draw(st.integers(0, len(strings)))
    strings = strings[:cut] if draw(st.booleans()) else strings
    inputs = []
    for name, datatype, chunk in [
        (
            "bill_length_mm",
            draw(st.sampled_from(["FP32", "FP64", "FP16", "INT8", "BOOL"])),
            numbers,
        ),
        ("island", draw(st.sampled_from(["BYTES", "BYTES", "FP32"])), strings),
    ]:
        size: Any = len(chunk) if draw(st.booleans()) else draw(SIZES)
        shape: Any = [rows, 1] if draw(st.booleans()) else draw(DIMS)
        item: dict[str, Any] = {
            "name": name,
            "shape": shape,
            "datatype": datatype,
            "parameters": {"binary_data_size": size},
        }
        if draw(st.integers(0, 9)) == 0:
            item["data"] = [1.0] * rows
        inputs.append(item)
    extra: dict[str, Any] = draw(
        st.sampled_from(
            [
                {},
                {"parameters": {"binary_data_output": True}},
                {"parameters": {"binary_data_output": "yes"}},
                {"outputs": [{"name": "probabilities", "parameters": {"binary_data": 1}}]},
                {"outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}]},
            ]
        )
    )
    header = orjson.dumps({"inputs": inputs, **extra})
    body = header + numbers + strings + draw(st.binary(max_size=3))
    length = draw(
        st.one_of(
            st.just(str(len(header))),
            st.integers(-3, len(body) + 3).map(str),
            st.text(max_size=5),
            st.just("9" * 30),
        )
    )
    headers = {"Inference-Header-Content-Length": length} if draw(st.integers(0, 9)) else {}
    return body, headers


@settings(max_examples=400, phases=[Phase.explicit, Phase.generate])
@given(request=binary_requests())
def test_binary_requests_get_no_server_error(
    in_process: Client, request: tuple[bytes, dict[str, str]]
) -> None:
    body, headers = request
    try:
        response = in_process.post("/v2/models/penguins/infer", content=body, headers=headers)
    except UnicodeEncodeError:  # httpx refuses a header that is not ASCII: nothing was sent
        return
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        error = response.json()["error"]
        assert error and "\n" not in error
