"""Protobuf text format (Triton's ``config.pbtxt``): quoting a string as protobuf does.

Its own module so that :mod:`mlrail.artifacts.model_repository` and
:mod:`mlrail.artifacts.signing` (which model_repository imports) can both use it.
"""

from __future__ import annotations

__all__ = ["pbtxt_string"]


def pbtxt_string(value: str) -> str:
    """``value`` as a quoted protobuf text-format string, escaped as protobuf's own CEscape does:
    quotes, backslashes and control characters by C escapes, other non-ASCII as the octal
    escapes of its UTF-8 bytes (a column name may hold anything)."""
    named = {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", ord('"'): '\\"',
             ord("'"): "\\'", ord("\\"): "\\\\"}  # fmt: skip
    out = []
    for byte in value.encode("utf-8", "surrogatepass"):
        if byte in named:
            out.append(named[byte])
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'
