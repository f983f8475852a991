"""Which baseline evaluate compares with: a model registry's version, or a path as before.

- ``baseline_model`` a ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` reference: that
  version, fetched from the registry (``registry_uri``, else ``$MLFLOW_TRACKING_URI``; one must
  be configured);
- ``baseline_model`` empty, a registry configured and ``model_name`` set: the registry's
  ``champion`` (what serves all the traffic), on a laptop and on a cluster alike. No champion
  yet is the first release: no baseline, and blessing.json says so;
- ``baseline_model`` ``none``: no baseline, even with a registry configured (value thresholds
  alone; ``mlrail run --no-baseline``);
- anything else: a path or URI, read by :func:`.models.resolve_baseline` as before.

A registry that is configured but cannot be reached fails evaluate with one line: a gate that
compared with nothing could bless a worse model than the one deployed without anyone noticing.

A fetched baseline is copied under the caller's scratch folder (removed with it) and named
``models:/penguins@champion (version 3)`` in the outputs. MLflow is imported only when a
registry is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlrail.components.evaluate.models import Predictor, load_model, resolve_baseline
from mlrail.registry import CHAMPION, ENV_URI, RegistryError, resolve_uri
from mlrail.registry.aliases import parse_ref

__all__ = ["FIRST_RELEASE", "NO_BASELINE", "Baseline", "find_baseline"]

#: Why there is no baseline when the registry has no champion yet.
FIRST_RELEASE = "no champion in the registry yet: first release"
#: The ``baseline_model`` that asks for no baseline ("" means the registry's champion).
NO_BASELINE = "none"


@dataclass(frozen=True)
class Baseline:
    """The baseline evaluate compares with.

    Attributes:
        requested: What was asked for: ``baseline_model``, or the champion reference it
            defaulted to ("" when nothing was asked for).
        model: The loaded model; None when there is none.
        reason: Why there is none ("" when there is one).
        version: The registry version compared with ("" for a baseline not from a registry).
    """

    requested: str
    model: Predictor | None
    reason: str = ""
    version: str = ""


def find_baseline(
    baseline_model: str, registry_uri: str, model_name: str, scratch: Path
) -> Baseline:
    """The baseline named by ``baseline_model``, or defaulted to the registry's champion.

    Args:
        baseline_model: A ``models:/`` reference, a path or URI, or "" (see the module doc).
        registry_uri: The registry's MLflow tracking URI; "" for ``$MLFLOW_TRACKING_URI``.
        model_name: The registered model whose champion is the default baseline; "" for none.
        scratch: Where a fetched or remote model is copied (the caller removes it).

    Raises:
        RegistryError: a ``models:/`` reference with no registry configured, a version that
            does not exist, or a registry that cannot be reached.
        ModelError: the baseline cannot be loaded.
    """
    ref = baseline_model.strip()
    if ref == NO_BASELINE:
        return Baseline(ref, None, f"baseline_model is {NO_BASELINE!r}: value thresholds alone")
    uri = resolve_uri(registry_uri)
    if not ref and uri is not None and model_name:
        ref = f"models:/{model_name}@{CHAMPION}"
    parsed = parse_ref(ref)
    if parsed is None:
        model, reason = resolve_baseline(baseline_model, scratch)
        return Baseline(baseline_model, model, reason)
    if uri is None:
        raise RegistryError(
            f"baseline_model {ref!r} is a registry reference but no model registry is "
            f"configured: pass registry_uri or set {ENV_URI}"
        )
    from mlrail.registry import open_registry
    from mlrail.registry.aliases import fetch

    try:
        found = fetch(open_registry(uri), ref, scratch / "registry-baseline")
    except RegistryError as e:
        raise RegistryError(f"evaluate's baseline {ref}: {e}") from e
    if found is None:
        _, _, alias = parsed
        if alias == CHAMPION:
            return Baseline(ref, None, FIRST_RELEASE)
        return Baseline(ref, None, f"no {alias} in the registry yet")
    version, folder = found
    model = load_model(folder, source=f"{ref} (version {version.version})")
    return Baseline(ref, model, "", version.version)
