"""The ``mlflow_server`` fixture for these tests (tests/registry/server.py).

Until tests/conftest.py loads ``tests.registry.server`` as a plugin; then this import goes (the
same session fixture registered twice would start two servers).
"""

from tests.registry.server import mlflow_server

__all__ = ["mlflow_server"]
