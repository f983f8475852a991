"""Errors mlrail raises for bad input: each names the file and, where there is one, the column
and line, so a user can fix the input without reading a traceback."""

__all__ = ["MlrailError", "DataError", "ModelError", "ParityError"]


class MlrailError(Exception):
    """Base of every error mlrail reports to a user (the CLI prints it without a traceback)."""


class DataError(MlrailError, ValueError):
    """Input data that cannot be used: empty, malformed, wrong encoding, missing column, ..."""


class ModelError(MlrailError, ValueError):
    """A model file that cannot be loaded, converted or served."""


class ParityError(MlrailError):
    """The ONNX model does not reproduce the source model within the tolerance."""
