"""The deploy component: a thin KFP adapter over :mod:`mlrail.components.deploy.core`."""

from typing import Optional

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from mlrail.components._images import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def deploy(
    onnx_model: Input[Model],
    deployment: Output[Artifact],
    release: Output[Artifact],
    release_page: Output[HTML],
    # typing.Optional, not "X | None": KFP 2.17 recognises an optional input only in that form
    registered_model: Optional[Input[Artifact]] = None,  # noqa: UP045
    examples: Optional[Input[Dataset]] = None,  # noqa: UP045
    statistics: Optional[Input[Artifact]] = None,  # noqa: UP045
    schema: Optional[Input[Artifact]] = None,  # noqa: UP045
    anomalies: Optional[Input[Artifact]] = None,  # noqa: UP045
    metrics: Optional[Input[Metrics]] = None,  # noqa: UP045
    blessing: Optional[Input[Artifact]] = None,  # noqa: UP045
    target: str = "local",
    model_name: str = "model",
    model_repository: str = "",
    namespace: str = "mlrail",
    runtime: str = "mlrail-onnx",
    deployment_mode: str = "Serverless",
    canary_traffic_percent: int = 0,
    min_replicas: int = 1,
    max_replicas: int = 1,
    cpu: str = "500m",
    memory: str = "512Mi",
    timeout_seconds: int = 600,
    ingress_url: str = "",
    verify_key: str = "",
    log_sample_rate: float = 0.0,
    payload_log_url: str = "",
    registry_uri: str = "",
    release_store: str = "",
    events_sink: str = "",
    requested_by: str = "",
    reason: str = "",
    pipeline_name: str = "",
    pipeline_version: str = "",
    run_id: str = "",
    run_name: str = "",
    kfp_ui_url: str = "",
    image: str = "",
):
    """Puts the checked ONNX model where it serves: a local model repository or KServe.

    Then records the release: moves the registry's aliases (challenger while a canary runs,
    champion for what serves all the traffic), writes the release record and sends the
    lifecycle events (model.deployed, canary_started, promoted, rolled_back).

    Args:
        onnx_model: The model written by export_onnx.
        registered_model: register's version of the model: its aliases move, the record is
            kept with it, and who asked and why come from its tags. None: not registered.
        examples: ingest's examples (the record's data: sources, spans, rows, fingerprint).
        statistics: validate's statistics.
        schema: validate's schema (the record's schema hash and features).
        anomalies: validate's anomalies (and drift).
        metrics: evaluate's metrics (and the baseline's).
        blessing: evaluate's blessing (its checks and their outcome).
        target: ``local`` (a new version in ``model_repository``, unless its newest version has
            the same identity: ``unchanged``), ``render`` (write the KServe
            InferenceService without a cluster) or ``kserve`` (apply it, wait for Ready,
            smoke-test the endpoint with the golden requests, canary, roll back on failure).
        model_name: The model's name in the repository and of the InferenceService.
        model_repository: Folder of the local model repository (target ``local``).
        namespace: Namespace of the InferenceService (``render``, ``kserve``).
        runtime: ``mlrail-onnx`` or ``kserve-tritonserver`` (``render``, ``kserve``).
        deployment_mode: ``Serverless`` (Knative revisions; canary possible) or
            ``RawDeployment``.
        canary_traffic_percent: 0 for a full rollout; 1-99 sends that share to the new revision,
            smoke-tests it, then promotes it or rolls back (Serverless only).
        min_replicas: Fewest predictor pods (0 lets Serverless scale to zero).
        max_replicas: Most predictor pods.
        cpu: CPU request and limit of the model server.
        memory: Memory request and limit of the model server.
        timeout_seconds: Longest wait for the InferenceService to be Ready (each wait).
        ingress_url: Send the smoke test through this ingress gateway with the service's Host
            header; empty: straight to the cluster-local address.
        verify_key: Path of a PEM public key file (e.g. a mounted Secret): the model must be
            signed with its private key, and is verified before anything is pushed, applied or
            rendered; empty: the MLRAIL_VERIFY_KEY environment variable's, else not verified.
        log_sample_rate: Share of answered requests whose inputs and outputs are logged for
            monitoring (0: off): local, in the repository's _logs folder; on KServe, sent to
            payload_log_url (Triton's logger cannot sample: all of them).
        payload_log_url: Where the KServe model's payload log goes; empty: the
            mlrail-payload-logs receiver Service in the namespace.
        registry_uri: MLflow tracking URI of the registry; empty for $MLFLOW_TRACKING_URI.
        release_store: Folder keeping every release of the model (mlrail run's
            <workdir>/releases); empty: the record is kept in ``release`` and with the
            registered version.
        events_sink: Where lifecycle events go (an http(s) URL, #structured for structured
            mode, or a JSON Lines file); empty: K_SINK, then none.
        requested_by: Who asked for this deploy; empty, with ``reason`` and ``run_id`` empty
            too: the registered version's (the run that registered it).
        reason: Why it was asked for.
        pipeline_name: The pipeline deploying.
        pipeline_version: Its version (hash of its compiled form), if known.
        run_id: The pipeline run's ID; empty: the record's run is the registering run's.
        run_name: The pipeline run's name.
        kfp_ui_url: Base URL of the Kubeflow Pipelines UI; the record links to the run there.
        image: The component image the run used.

    Returns:
        deployment: deployment.json (what was decided and what serves now, with the model's
            identity and signature status) and, for ``render`` and ``kserve``,
            inferenceservice.yaml.
        release: The release record: release.json (what, on which data, with which evidence,
            built how, who and why, where, what changed), release.md and release.html.
        release_page: The release record's page, as the Kubeflow UI shows it.
    """
    from mlrail.components.deploy import core

    def uri(a: Artifact | None) -> str:
        return a.uri if a is not None else ""

    result = core.deploy(
        onnx_model.path,
        deployment.path,
        target=target,
        model_name=model_name,
        model_repository=model_repository,
        onnx_model_uri=onnx_model.uri,
        namespace=namespace,
        runtime=runtime,
        deployment_mode=deployment_mode,
        canary_traffic_percent=canary_traffic_percent,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        cpu=cpu,
        memory=memory,
        timeout_seconds=timeout_seconds,
        ingress_url=ingress_url,
        verify_key=verify_key,
        log_sample_rate=log_sample_rate,
        payload_log_url=payload_log_url,
        release=core.ReleaseContext(
            registered_model=registered_model.path if registered_model is not None else None,
            registry_uri=registry_uri,
            examples_metadata=examples.metadata if examples is not None else None,
            statistics=statistics.path if statistics is not None else None,
            schema=schema.path if schema is not None else None,
            anomalies=anomalies.path if anomalies is not None else None,
            metrics=metrics.path if metrics is not None else None,
            blessing=blessing.path if blessing is not None else None,
            release_dir=release.path,
            release_page=release_page.path,
            release_store=release_store,
            events_sink=events_sink,
            # this run's who, why and build; none given (deploy used alone): the registering
            # run's, from the version's tags
            requested_by=requested_by,
            reason=reason,
            pipeline_name=pipeline_name,
            pipeline_version=pipeline_version,
            run_id=run_id,
            run_name=run_name,
            kfp_ui_url=kfp_ui_url,
            image=image,
            links={
                "onnx_model": onnx_model.uri,
                "deployment": deployment.uri,
                "release": release.uri,
                "release_page": release_page.uri,
                "registered_model": uri(registered_model),
                "examples": uri(examples),
                "statistics": uri(statistics),
                "schema": uri(schema),
                "anomalies": uri(anomalies),
                "metrics": uri(metrics),
                "blessing": uri(blessing),
            },
        ),
    )
    deployment.metadata.update(result.metadata())
    release.metadata.update(
        {"registry_version": result.registry_version, "number": result.release_number or 0}
    )
