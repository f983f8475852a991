"""The only place images are named.

The tag follows ``mlrail.__version__`` so a component and the library inside its image always
match; the registry and repository can be overridden with environment variables at compile time
(``MLRAIL_COMPONENT_IMAGE`` / ``MLRAIL_SERVING_IMAGE`` take a full reference).
"""

import os

from mlrail import __version__

__all__ = ["COMPONENT_IMAGE", "SERVING_IMAGE", "REGISTRY"]

REGISTRY = os.environ.get("MLRAIL_REGISTRY", "ghcr.io/mlrail")
COMPONENT_IMAGE = os.environ.get("MLRAIL_COMPONENT_IMAGE", f"{REGISTRY}/mlrail:{__version__}")
SERVING_IMAGE = os.environ.get("MLRAIL_SERVING_IMAGE", f"{REGISTRY}/mlrail-serving:{__version__}")
