"""The notify component: a thin KFP adapter over :mod:`mlrail.components.notify.core`."""

from kfp import dsl
from kfp.dsl import Artifact, Output

from mlrail.components._images import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def notify(
    status: dsl.PipelineTaskFinalStatus,
    delivery: Output[Artifact],
    events_sink: str = "",
    model_name: str = "",
    pipeline_name: str = "",
    run_id: str = "",
    run_name: str = "",
) -> bool:
    """Sends the run's final status as a CloudEvent (run.succeeded or run.failed); a sink that
    is down is recorded, never fails this exit task. A local run's failure also names the step
    that failed (failed_step); KFP's final status names only the exit handler's group.

    Args:
        status: The final status of the exit handler's group (given by KFP).
        events_sink: An http(s) URL (binary mode; `#structured` for structured), or a JSON Lines
            file; empty: K_SINK, then none.
        model_name: The model the run is about (the event's subject).
        pipeline_name: The pipeline's name (the event's source).
        run_id: The run's id (pass dsl.PIPELINE_JOB_ID_PLACEHOLDER).
        run_name: The run's name (pass dsl.PIPELINE_JOB_NAME_PLACEHOLDER).

    Returns:
        delivery: The event sent and what happened to it (delivery.json).
        Output: Whether the sink took the event (False also when there is no sink).
    """
    from mlrail.components.notify import core

    failed_step, step_error = core.local_failure()
    sent = core.notify(
        status.state,
        failed_task=status.pipeline_task_name or "",
        failed_step=failed_step,
        step_error=step_error,
        error_code=status.error_code,
        error_message=status.error_message or "",
        events_sink=events_sink,
        model_name=model_name,
        pipeline=pipeline_name,
        run_id=run_id,
        run_name=run_name,
        delivery_dir=delivery.path,
    )
    print(sent.delivery.line())
    delivery.metadata.update(sent.delivery.metadata())
    return sent.delivery.delivered
