import json
from pathlib import Path

from mlrail import events
from mlrail.components.notify import core
from tests.events.receiver import Receiver, refusing_port


def test_a_success_is_run_succeeded(tmp_path: Path) -> None:
    with Receiver().running() as r:
        sent = core.notify(
            "SUCCEEDED",
            events_sink=r.url,
            model_name="penguins",
            pipeline="training",
            run_id="id-1",
            run_name="nightly",
            links={"run": "http://kfp/#/runs/details/id-1"},
            delivery_dir=tmp_path,
        )
    (got,) = r.events
    assert got.event["type"] == "io.mlrail.run.succeeded"
    assert got.event["subject"] == "penguins"
    assert got.event["source"] == "/mlrail/pipelines/training/runs/id-1"
    assert got.event.get_data() == {
        "state": "SUCCEEDED",
        "pipeline": "training",
        "run_id": "id-1",
        "run_name": "nightly",
        "links": {"run": "http://kfp/#/runs/details/id-1"},
    }
    written = json.loads((tmp_path / core.DELIVERY_FILE).read_text())
    assert written == {"event": sent.event, "delivery": sent.delivery.metadata()}
    assert written["delivery"]["event_delivered"] is True
    assert written["event"]["id"] == got.event["id"]


def test_a_failure_is_run_failed_with_the_task_and_error(tmp_path: Path) -> None:
    with Receiver().running() as r:
        core.notify(
            "FAILED",
            failed_task="exit-handler-1",
            error_code=1,
            error_message="Task exit-handler-1 failed.",
            events_sink=r.url + "#structured",
            delivery_dir=tmp_path,
        )
        core.notify("CANCELLED", failed_task="exit-handler-1", events_sink=r.url)
    failed, cancelled = (e.event for e in r.events)
    assert failed["type"] == cancelled["type"] == "io.mlrail.run.failed"
    assert failed.get_data() == {
        "state": "FAILED",
        "failed_task": "exit-handler-1",
        "error": "Task exit-handler-1 failed.",
        "error_code": 1,
    }
    assert cancelled.get_data() == {"state": "CANCELLED", "failed_task": "exit-handler-1"}


def test_a_sink_that_is_down_is_recorded_not_raised(tmp_path: Path) -> None:
    with refusing_port() as port:
        sent = core.notify(
            "FAILED",
            failed_task="exit-handler-1",
            events_sink=f"http://127.0.0.1:{port}/",
            delivery_dir=tmp_path,
            retry=events.Retry(backoff=0.01),
        )
    assert not sent.delivery.delivered and sent.delivery.attempts == 4
    delivery = json.loads((tmp_path / core.DELIVERY_FILE).read_text())["delivery"]
    assert delivery["event_delivered"] is False
    assert "ConnectionRefusedError" in delivery["event_error"]


def test_no_sink_and_no_k_sink_sends_nothing(tmp_path: Path) -> None:
    sent = core.notify("SUCCEEDED", delivery_dir=tmp_path, env={})
    assert sent.delivery.attempts == 0 and not sent.delivery.delivered
    assert sent.event["type"] == "io.mlrail.run.succeeded"  # still recorded in delivery.json
    assert json.loads((tmp_path / core.DELIVERY_FILE).read_text())["event"] == sent.event


def test_a_failure_names_the_step_that_failed_when_it_is_known(tmp_path: Path) -> None:
    with Receiver().running() as r:
        core.notify(
            "FAILED",
            failed_task="exit-handler-1",
            failed_step="train",
            step_error="mlrail.errors.ModelError: s3://ann:s3cret@bucket/m.py: build_model raised",
            events_sink=r.url,
        )
        # a success names no step, whatever it is handed
        core.notify("SUCCEEDED", failed_step="train", step_error="x", events_sink=r.url)
    failed, succeeded = (e.event.get_data() for e in r.events)
    assert failed["failed_task"] == "exit-handler-1" and failed["failed_step"] == "train"
    assert failed["step_error"].startswith("mlrail.errors.ModelError: s3://")
    assert "s3cret" not in failed["step_error"]  # credentials masked
    assert succeeded == {"state": "SUCCEEDED"}


def test_the_failed_step_is_read_from_what_the_local_runner_sets() -> None:
    from mlrail.local import steps

    # the runner's names and notify's are one contract (a component cannot import mlrail.local)
    assert (core.FAILED_STEP_ENV, core.STEP_ERROR_ENV) == (
        steps.FAILED_STEP_ENV,
        steps.STEP_ERROR_ENV,
    )
    env = {core.FAILED_STEP_ENV: "export-onnx", core.STEP_ERROR_ENV: "ValueError: parity"}
    assert core.local_failure(env) == ("export-onnx", "ValueError: parity")
    assert core.local_failure({}) == ("", "")  # on a cluster: not known
