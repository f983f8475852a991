"""The train component; its logic is in :mod:`mlrail.components.train.core`.

Also the helpers a user module's ``build_model`` uses (:mod:`.model`): :func:`model_spec`,
:func:`default_inputs` and :func:`default_features`.
"""

from typing import Any

__all__ = ["default_features", "default_inputs", "model_spec", "train"]


def __getattr__(name: str) -> Any:
    # Imported on first use: inside a running component (where kfp.dsl is the slim runtime
    # module) the body imports only `.core`, which must not pull in the KFP decorator; and the
    # model helpers import Keras, which the CLI must not pay for.
    if name == "train":
        from mlrail.components.train.component import train

        return train
    if name in ("default_features", "default_inputs", "model_spec"):
        from mlrail.components.train import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
