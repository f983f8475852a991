"""Credentials out of anything mlrail prints, logs or puts in an error.

pyarrow's filesystems take credentials inside a URI (``s3://KEY:SECRET@bucket/key``, or
``?access_key=...&secret_key=...``), and a user pastes such a URI where a source goes; KFP
hosts and sinks may carry ``user:password@``. Whatever echoes a URI (an error naming the file, a
log line, a run summary) passes it through :func:`redact` first.
"""

from __future__ import annotations

import re

__all__ = ["redact"]

_MASK = "***"
# scheme://user[:password]@host: the whole user-info goes (a key id alone is still a secret's
# half). Up to the last "@" of the URI, not the first "/": a pasted AWS secret key holds "/"
# and "+" unencoded, and masking a path that holds an "@" costs only a less precise message.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^\s'\"]+)@")
# credentials in a query: pyarrow's S3/GCS options and presigned URLs' signatures
_QUERY = re.compile(
    r"(?P<key>[?&;](?:access_key|secret_key|session_token|token|access_token|password|"
    r"X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|X-Goog-Signature|X-Goog-Credential|"
    r"sig|signature)=)(?P<value>[^&\s#'\"]+)",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with the user-info of every URI and credential query values masked.

    >>> redact("s3://AKIA:wJalr@bucket/data.csv: no such file")
    's3://***@bucket/data.csv: no such file'
    >>> redact("s3://bucket/x.parquet?endpoint_override=minio:9000&secret_key=abc")
    's3://bucket/x.parquet?endpoint_override=minio:9000&secret_key=***'
    """
    if "://" not in text and "=" not in text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{_MASK}@", text)
    return _QUERY.sub(lambda m: f"{m['key']}{_MASK}", text)
