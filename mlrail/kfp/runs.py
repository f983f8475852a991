"""One run of a compiled pipeline: :func:`submit`, behind ``mlrail submit``."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from mlrail.kfp.checks import (
    check_arguments,
    check_host,
    check_name,
    load_pipeline_spec,
    package_to_send,
)
from mlrail.kfp.connection import DEFAULT_TIMEOUT, connect, kfp_calls, ui_url

__all__ = ["SubmitResult", "submit"]


@dataclasses.dataclass(frozen=True)
class SubmitResult:
    """A run created on the cluster.

    Attributes:
        run_id: The run's id.
        run_name: The run's display name.
        experiment_id: The id of the experiment that holds the run.
        url: The run's page in the Kubeflow Pipelines UI.
    """

    run_id: str
    run_name: str
    experiment_id: str
    url: str | None


def submit(
    host: str,
    package_path: str,
    *,
    arguments: dict[str, Any] | None = None,
    experiment: str = "Default",
    run_name: str | None = None,
    namespace: str | None = None,
    existing_token: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    enable_caching: bool | None = None,
) -> SubmitResult:
    """Creates one run of a compiled pipeline, in an experiment created on first use.

    Args:
        host: The KFP API address, with its scheme: ``http://localhost:8888`` (a port-forward
            to ``ml-pipeline``) or ``https://<kubeflow>/pipeline``.
        package_path: A compiled pipeline (IR YAML, ``.yaml`` or ``.yml``).
        arguments: Values of the pipeline's parameters; the others take their defaults.
        experiment: Name of the experiment; reused when one with this name exists.
        run_name: Display name of the run; defaults to the pipeline name and the UTC time.
        namespace: The user namespace of a multi-user deployment; None for single-user.
        existing_token: A bearer token for the API, obtained outside mlrail.
        timeout: Seconds to wait for each answer (see :mod:`mlrail.kfp.connection`).
        enable_caching: False turns caching off for every task of the run, at every depth (the
            ``kfp.Client`` override alone reaches only top-level tasks, not those under
            ``dsl.If``). None or True keep the compiled settings: tasks compiled with caching
            off (export_onnx, deploy) stay off, since a cache hit there would skip the work.

    Returns:
        The run's id, name, experiment id and UI link.

    Raises:
        ValueError: The package, the arguments or a name is invalid (nothing was sent).
        KfpApiError: The API server could not be reached or refused a request.
    """
    check_host(host)
    check_name("experiment", experiment)
    if run_name is not None:
        check_name("run_name", run_name)
    spec = load_pipeline_spec(package_path)
    parameters = check_arguments(spec, arguments or {}, package_path)
    name = run_name or f"{spec.pipeline_info.name} {datetime.now(UTC):%Y-%m-%d %H-%M-%S}"

    with (
        package_to_send(package_path, enable_caching) as package,
        kfp_calls(host, timeout),
    ):
        client = connect(host, existing_token)
        result = client.create_run_from_pipeline_package(
            pipeline_file=package,
            arguments=parameters,
            run_name=name,
            experiment_name=experiment,
            namespace=namespace,
        )
    run = result.run_info
    return SubmitResult(
        run_id=run.run_id,
        run_name=run.display_name or name,
        experiment_id=run.experiment_id,
        url=ui_url(host, f"runs/details/{run.run_id}"),
    )
