"""mlrail.redact: no credential a user put in a URI comes back in a message."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given
from hypothesis import strategies as st

import mlrail.redact
from mlrail.redact import redact

_SECRET = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-", min_size=4
)


def test_doctests() -> None:
    assert doctest.testmod(mlrail.redact).failed == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("s3://KEY:SECRET@bucket/a.csv", "s3://***@bucket/a.csv"),
        ("error: gs://user@bucket/x", "error: gs://***@bucket/x"),
        ("http://admin:pw@kfp:8888/apis", "http://***@kfp:8888/apis"),
        (
            "s3://b/k?access_key=A&secret_key=S&endpoint_override=m:9000",
            "s3://b/k?access_key=***&secret_key=***&endpoint_override=m:9000",
        ),
        (
            "https://s.example/o?X-Amz-Signature=abc&X-Amz-Credential=def",
            "https://s.example/o?X-Amz-Signature=***&X-Amz-Credential=***",
        ),
        ("/data/penguins.csv: line 3", "/data/penguins.csv: line 3"),
        ("bundled:penguins", "bundled:penguins"),
        ("user@example.com wrote a=b", "user@example.com wrote a=b"),
    ],
)
def test_known_cases(text: str, expected: str) -> None:
    assert redact(text) == expected


@given(_SECRET, _SECRET, st.sampled_from(["s3", "gs", "hdfs", "http", "https", "abfs"]))
def test_a_secret_in_a_uri_never_survives(key: str, secret: str, scheme: str) -> None:
    uri = f"{scheme}://{key}:{secret}@bucket/path/data.parquet"
    out = redact(f"{uri}: cannot open: {uri}")
    assert f"{key}:{secret}" not in out
    assert (
        out
        == f"{scheme}://***@bucket/path/data.parquet: cannot open: {scheme}://***@bucket/path/data.parquet"
    )
