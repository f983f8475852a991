import contextlib
import json
from pathlib import Path

import pytest
from kfp import dsl, local
from kfp.dsl import Artifact

from mlrail.components._images import COMPONENT_IMAGE
from mlrail.components.notify import notify
from tests.components._compile import compiled_container
from tests.events.receiver import Receiver, refusing_port


def _status(state: str, task: str = "exit-handler-1") -> dsl.PipelineTaskFinalStatus:
    failed = state != "SUCCEEDED"
    return dsl.PipelineTaskFinalStatus(
        state=state,
        pipeline_job_resource_name="local-pipeline-exit-handler-1",
        pipeline_task_name=task,
        error_code=1 if failed else None,
        error_message=f"Task {task} failed." if failed else None,
    )


def test_python_func_sends_the_final_status(tmp_path: Path) -> None:
    delivery = Artifact(name="delivery", uri=str(tmp_path / "delivery"))
    with Receiver().running() as r:
        ok = notify.python_func(
            status=_status("FAILED"),
            delivery=delivery,
            events_sink=r.url,
            model_name="penguins",
            pipeline_name="training",
            run_id="id-9",
        )
    assert ok is True
    (got,) = r.events
    assert got.event["type"] == "io.mlrail.run.failed"
    assert got.event.get_data()["failed_task"] == "exit-handler-1"
    assert got.event.get_data()["error"] == "Task exit-handler-1 failed."
    assert delivery.metadata["event_delivered"] is True
    assert delivery.metadata["event_id"] == got.event["id"]
    assert (Path(delivery.path) / "delivery.json").is_file()


def test_python_func_survives_a_sink_that_is_down(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    delivery = Artifact(name="delivery", uri=str(tmp_path / "delivery"))
    with refusing_port() as port:
        ok = notify.python_func(
            status=_status("SUCCEEDED"), delivery=delivery, events_sink=f"http://127.0.0.1:{port}/"
        )
    assert ok is False
    assert delivery.metadata["event_delivered"] is False
    assert delivery.metadata["event_attempts"] >= 1
    assert "NOT delivered" in capsys.readouterr().out  # the step's log says so


def test_compiles_with_the_image_and_takes_the_final_status(tmp_path: Path) -> None:
    spec = compiled_container(notify, tmp_path)
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["status"]["parameterType"] == "TASK_FINAL_STATUS"
    assert params["events_sink"]["defaultValue"] == ""


# --- a real pipeline through kfp.local: the exit handler runs after success and failure ---


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def _step(fail: bool) -> str:
    if fail:
        raise RuntimeError("this step fails")
    return "done"


@dsl.pipeline(name="notified")
def _notified(events_sink: str, fail: bool) -> None:
    exit_task = notify(
        events_sink=events_sink,
        model_name="penguins",
        pipeline_name="notified",
        run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
    )
    with dsl.ExitHandler(exit_task):
        first = _step(fail=False)
        _step(fail=fail).after(first)


# kfp.local warns that mlrail's image is not a Python image: the subprocess runner runs the
# installed library instead, which is the point of the embedded default
@pytest.mark.filterwarnings("ignore:.*non-Python base image.*:RuntimeWarning")
@pytest.mark.parametrize("fail", [False, True])
def test_the_exit_handler_is_heard_locally(tmp_path: Path, fail: bool) -> None:
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(tmp_path / "root"),
        raise_on_error=False,
    )
    # tasks run `python -m` in the current folder: not the checkout, whose mlrail/ would shadow
    # the installed package
    with Receiver().running() as r, contextlib.chdir(tmp_path):
        _notified(events_sink=r.url, fail=fail)
    (got,) = r.events
    data = got.event.get_data()
    assert got.event["subject"] == "penguins"
    assert data["pipeline"] == "notified" and data["run_id"] and data["run_name"]
    assert "{{" not in data["run_id"] + data["run_name"]  # the placeholders were filled
    if fail:
        assert got.event["type"] == "io.mlrail.run.failed"
        assert data["state"] == "FAILED" and data["failed_task"] == "exit-handler-1"
        assert data["error"] == "Task exit-handler-1 failed."
        # kfp.local hands the code over as JSON's 1.0: the event says 1
        assert data["error_code"] == 1 and b'"error_code": 1}' in got.body
    else:
        assert got.event["type"] == "io.mlrail.run.succeeded"
        assert data == {
            "state": "SUCCEEDED",
            "pipeline": "notified",
            "run_id": data["run_id"],
            "run_name": data["run_name"],
        }
    (written,) = (tmp_path / "root").rglob("delivery.json")
    assert json.loads(written.read_text())["delivery"]["event_delivered"] is True


@pytest.mark.filterwarnings("ignore:.*non-Python base image.*:RuntimeWarning")
def test_a_sink_that_is_down_does_not_fail_the_run(tmp_path: Path) -> None:
    # raise_on_error: a failed exit task would fail the pipeline here
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(tmp_path / "root"),
        raise_on_error=True,
    )
    with refusing_port() as port, contextlib.chdir(tmp_path):
        _notified(events_sink=f"http://127.0.0.1:{port}/", fail=False)
    (written,) = (tmp_path / "root").rglob("delivery.json")
    record = json.loads(written.read_text())
    assert record["event"]["type"] == "io.mlrail.run.succeeded"
    assert record["delivery"]["event_delivered"] is False
    assert "ConnectionRefusedError" in record["delivery"]["event_error"]
