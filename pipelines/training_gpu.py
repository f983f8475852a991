"""The training pipeline with one GPU (``nvidia.com/gpu``) requested for the train step.

Everything else is :mod:`mlrail.pipelines.training`. Pair it with ``train_node_selector`` and
``train_tolerations`` for the cluster's GPU node pool. Compile with
``mlrail compile training_gpu``.
"""

from kfp import dsl

from mlrail.pipelines.training import DESCRIPTION, pipeline_function

__all__ = ["training_gpu"]

training_gpu = dsl.pipeline(name="training-gpu", description=f"{DESCRIPTION} One GPU for train.")(
    pipeline_function(gpus=1)
)
