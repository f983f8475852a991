"""``mlrail doctor``'s checks: this environment, and optionally a cluster, against what mlrail
is tested with.

- :mod:`.environment`: Python and each installed distribution against the installed mlrail's
  own requirement specifiers (one source of truth: ``pyproject.toml``, as installed);
- :mod:`.kfp_api`: the Kubeflow Pipelines API's version (its ``/healthz``);
- :mod:`.cluster`: the Kubernetes side: the KServe CRDs and runtimes, the namespace's Pod
  Security level, the ServiceAccounts and the pipeline runner's permissions;
- :mod:`.report`: the :class:`Check` row and its table and JSON forms.

Nothing here imports TensorFlow or any package it checks: versions come from
``importlib.metadata``, so the checks take well under a second without a cluster.
"""

from mlrail.doctor.report import Check, Status, exit_status, render_json, render_table

__all__ = ["Check", "Status", "exit_status", "render_json", "render_table"]
