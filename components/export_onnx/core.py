"""export_onnx: convert the SavedModel with tf2onnx, check it, and prove parity on every eval row.

tf2onnx 1.17's Python API has no ``from_saved_model``; the path its command line takes
(``tf_loader.from_saved_model`` then ``_convert_common``) is the one that carries StringLookup
tables over, so it is reused here in process. ``from_keras``/``from_function`` fail on lookup
tables and Keras' own ONNX export writes files ONNX Runtime refuses (DESIGN §4): nothing is
written unless ONNX Runtime loaded the model and matched the SavedModel within the tolerance.

This module is the entry point (:func:`export_onnx`, :func:`check_options`); the steps are in
:mod:`.convert` (tf2onnx, names, metadata), :mod:`.naming` (graph inputs named by column),
:mod:`.checks` (parity, edge rows, golden requests), :mod:`.variants` (optimised and int8) and
:mod:`.artifact` (writing it); the model repository's layout is
:mod:`mlrail.artifacts.model_repository`'s.

Opset: the default is 17. Verified here: tf2onnx 1.17 converts up to opset 18 and refuses 19
("Opset 19 is not supported yet"); the penguins model converted at 17 and at 18 loads in ONNX
Runtime 1.32 and matches the SavedModel at both (max |diff| about 1e-7).
Not verified here (no Triton on this machine): which opsets the Triton image of the cluster's
KServe ``kserve-tritonserver`` runtime accepts. By ONNX Runtime's compatibility table opset 17
needs ONNX Runtime >= 1.12 and 18 needs >= 1.14; which Triton release first ships each was not
checked. 17 is kept as the default because it needs the older Triton, and the penguins model
gives the same numbers at 18. The runtime's image tag is set by the KServe installation (one
old release of KServe's runtime kustomization pinned Triton 21.09, whose ONNX Runtime 1.8 stops
at opset 14): check it, and pass a lower ``opset`` if needed, before deploying to Triton.

Optional variants, each gated against the unquantised ONNX model on the same eval rows and
written only if within its bound (a rejected variant is reported, not an error):

- ``optimize``: ONNX Runtime's offline graph optimisation (``ORT_ENABLE_EXTENDED``, CPU
  provider). The file uses ONNX Runtime's own fused operators (``com.microsoft`` domain), so
  it is for ONNX Runtime on CPU only. ONNX Runtime applies the same rewrites when it loads
  ``model.onnx`` (its default level is ``ORT_ENABLE_ALL``), so the file saves load time only.
- ``quantize``: dynamic int8 quantisation of the weights of MatMul/Gemm only (the string
  inputs, lookup tables and imputation stay as they are), after ONNX Runtime's quantisation
  pre-processing without its symbolic shape inference (which needs sympy, not installed; ONNX's
  own shape inference, which still runs, is enough for the dense layers). On a model as small
  as penguins' (about 1,000 weights) the int8 file is *larger*: the quantisation nodes and
  their scales outweigh the 3 KB the weights save.

Names: the graph's inputs are the data's column names (``spec.column``: what V2 clients send,
the golden request and ``config.pbtxt`` use), whatever they hold. The SavedModel's inputs have
TensorFlow-safe names (``spec.name``, :func:`mlrail.artifacts.modelspec.input_names`); after
conversion each graph input is renamed to its column, and an internal tensor that already had a
column's name is renamed first (:func:`.naming.name_inputs`). The output keeps ``spec.output``,
which train chose to differ from every column.

Bounds: ``tolerance``, ``rtol``, ``max_accuracy_drop`` and ``max_rmse_increase`` must be finite
numbers >= 0 (:func:`check_options`): a negative or NaN bound would let every row pass (or
none), so the parity gate would be off without anyone saying so.

``model.onnx`` (and the repository's model) is always the unquantised, unoptimised model.
The file carries its signature in the metadata prop ``mlrail.signature``:
``{"inputs": [{"name", "dtype", "onnx_type", "shape"}], "outputs": [...]}``, with ``-1`` for
a dimension of any size, besides ``mlrail.task``, ``mlrail.label``, ``mlrail.classes`` and
``mlrail.identity`` (producer ``mlrail``, producer version the mlrail version).

Identity and reproducibility: the same SavedModel, or a retraining with the same data and seed,
gives the same ``model.onnx`` bytes (:mod:`.reproducible` says what tf2onnx varied and how it
is fixed). The model's identity (:mod:`mlrail.artifacts.identity`: what it computes, not how the
file spells it) is in the file's ``mlrail.identity`` metadata and the artifact's ``identity``
metadata; deploy decides "unchanged" by it. The SavedModel's hash (``source_sha256``) is only in
the artifact's metadata: it differs between two same-seed trainings.

Output layout of the ``onnx_model`` artifact::

    onnx_model/
      model.onnx
      model_spec.json                      the input contract (mlrail.artifacts.modelspec)
      golden.json                          {"request": V2 infer request of the first eval rows,
                                            "outputs": ONNX Runtime's V2 outputs for it}
      parity.json                          {"rows", "max_abs_diff", "max_rel_diff",
                                            "label_agreement", "tolerance", "rtol", "scale",
                                            "ok", "worst_rows", "edge_rows",
                                            "edge_max_abs_diff"}
      variants.json                        {"base": {"bytes", "accuracy", "rmse", "rows"} or
                                            null, "max_accuracy_drop", "max_rmse_increase",
                                            "variants": [Variant fields]}
      model.optimized.onnx                 if optimize and within its bound
      model.int8.onnx                      if quantize and within its bound
      model_repository/<name>/config.pbtxt Triton/KServe layout (mlrail.artifacts.model_repository;
                                           version 1 of a new model, pushed as deploy pushes)
      model_repository/<name>/1/model.onnx
      model_repository/<name>/1/model_spec.json
      model_repository/<name>/1/model_config.pbtxt  signed models: the config.pbtxt signed
      model_repository/<name>/1/model.sig  signed models: the signature (Sigstore bundle) over
                                           version 1's files and its config
                                           (mlrail.artifacts.signing); deploy pushes this folder,
                                           so the signature travels with every version
      mlbom.cdx.json                       the model's CycloneDX 1.6 ML-BOM (mlrail.artifacts.
                                           mlbom): task, parity figures, the examples by
                                           fingerprint, the libraries that built it, identity
                                           and signer

Signing (:mod:`.provenance`): with ``signing_key`` (a PEM EC private key file, e.g. a mounted
Secret), else ``$MLRAIL_SIGNING_KEY``, version 1 of the repository is signed inside the
artifact's atomic write; with neither, the model is not signed (logged; ``signed: false``).
What is signed (``model.onnx``, ``model_spec.json``, ``model_config.pbtxt``) stays reproducible
byte for byte; the signature (ECDSA) and the ML-BOM (serial number, timestamp) differ per run.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlrail.artifacts.examples import read_split
from mlrail.artifacts.identity import IDENTITY_METADATA_KEY
from mlrail.artifacts.model_repository import MODEL_FILE
from mlrail.artifacts.modelspec import ModelSpec
from mlrail.artifacts.parity import DEFAULT_RTOL, DEFAULT_TOLERANCE
from mlrail.components.export_onnx import artifact, checks, provenance, variants
from mlrail.components.export_onnx.checks import Parity
from mlrail.components.export_onnx.convert import convert, source_hash
from mlrail.components.export_onnx.variants import (
    DEFAULT_MAX_ACCURACY_DROP,
    DEFAULT_MAX_RMSE_INCREASE,
    Quality,
    Variant,
)
from mlrail.errors import DataError

__all__ = ["DEFAULT_OPSET", "ExportResult", "check_options", "export_onnx"]

# a local run shows this logger's records on the terminal as they come (mlrail.local.progress)
_progress = logging.getLogger("mlrail.progress.export_onnx")

#: tf2onnx 1.17 converts up to opset 18; 17 is served by ONNX Runtime ≥ 1.12 and Triton ≥ 22.07
#: (why not 18: module doc).
DEFAULT_OPSET = 17


def check_options(
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    rtol: float = DEFAULT_RTOL,
    max_accuracy_drop: float = DEFAULT_MAX_ACCURACY_DROP,
    max_rmse_increase: float = DEFAULT_MAX_RMSE_INCREASE,
) -> None:
    """Refuse a bound that would switch a gate off; callable before any step runs (the CLI).

    Raises:
        ValueError: naming the parameter that is negative, NaN, infinite or not a number.
    """
    for name, value in (
        ("tolerance", tolerance),
        ("rtol", rtol),
        ("max_accuracy_drop", max_accuracy_drop),
        ("max_rmse_increase", max_rmse_increase),
    ):
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not np.isfinite(value) or value < 0:
            raise ValueError(
                f"{name} must be a finite number >= 0, got {value!r}"
                + (" (a negative bound lets every row pass)" if number and value < 0 else "")
            )


@dataclass(frozen=True)
class ExportResult:
    """What export_onnx wrote; ``inputs`` are the graph's input names (the data's columns)."""

    parity: Parity
    opset: int
    sha256: str
    #: :func:`mlrail.artifacts.identity.model_identity` of ``model.onnx``
    identity: str
    #: sha256 over the SavedModel's files (``convert.source_hash``)
    source_sha256: str
    inputs: list[str]
    outputs: list[str]
    base: Quality | None = None
    variants: list[Variant] = field(default_factory=list)
    #: the signing key's public fingerprint (``sha256:...``); "" if the model is not signed
    signer: str = ""

    @property
    def signed(self) -> bool:
        """Whether the repository's version carries a signature (``model.sig``)."""
        return bool(self.signer)

    @property
    def files(self) -> list[str]:
        """The ONNX files written: ``model.onnx`` first, then each accepted variant."""
        return [MODEL_FILE] + [v.file for v in self.variants if v.accepted]

    @property
    def verdicts(self) -> list[dict[str, Any]]:
        """Each variant's name, verdict, size and reason (the model's metadata)."""
        return [
            {"name": v.name, "accepted": v.accepted, "bytes": v.bytes, "reason": v.reason}
            for v in self.variants
        ]

    def metrics(self) -> dict[str, float]:
        """Flat numeric figures for a KFP ``Metrics`` artifact (parity, sizes, variants)."""
        p = self.parity
        out: dict[str, float] = {
            "rows": float(p.rows),
            "max_abs_diff": p.max_abs_diff,
            "max_rel_diff": p.max_rel_diff,
            "edge_rows": float(p.edge_rows),
            "edge_max_abs_diff": p.edge_max_abs_diff,
        }
        if p.label_agreement is not None:
            out["label_agreement"] = p.label_agreement
        if self.base is not None:
            out["model_bytes"] = float(self.base.bytes)
            for k in ("accuracy", "rmse"):
                if (value := getattr(self.base, k)) is not None:
                    out[k] = value
        for v in self.variants:
            out[f"{v.name}_accepted"] = float(v.accepted)
            out[f"{v.name}_bytes"] = float(v.bytes)
            out[f"{v.name}_max_abs_diff"] = v.max_abs_diff
            for k in ("accuracy", "accuracy_drop", "label_agreement", "rmse", "rmse_increase"):
                if (value := getattr(v, k)) is not None:
                    out[f"{v.name}_{k}"] = value
        # KFP metrics are JSON numbers: an invalid variant's NaN diff or an infinite increase
        # is left out (variants.json says why it was rejected)
        return {k: v for k, v in out.items() if np.isfinite(v)}


def export_onnx(
    model_dir: str | Path,
    examples_dir: str | Path,
    onnx_model_dir: str | Path,
    *,
    model_name: str = "model",
    tolerance: float = DEFAULT_TOLERANCE,
    rtol: float = DEFAULT_RTOL,
    opset: int = DEFAULT_OPSET,
    split: str = "eval",
    optimize: bool = False,
    quantize: bool = False,
    max_accuracy_drop: float = DEFAULT_MAX_ACCURACY_DROP,
    max_rmse_increase: float = DEFAULT_MAX_RMSE_INCREASE,
    signing_key: str = "",
    examples_metadata: Mapping[str, Any] | None = None,
) -> ExportResult:
    """Convert, check and compare; write the ONNX model (layout in the module doc).

    ``signing_key`` is the PEM private key file to sign the model with ("" : the
    ``MLRAIL_SIGNING_KEY`` environment variable's, else unsigned); ``examples_metadata`` is
    ingest's metadata of ``examples_dir`` (its ``fingerprint`` names the data in the ML-BOM).

    ``optimize`` and ``quantize`` each add a variant, compared with the unquantised ONNX model
    on the labelled ``split`` rows: a classifier's variant may lose at most
    ``max_accuracy_drop`` of accuracy and change at most that share of predicted labels; a
    regression variant's RMSE may grow by at most ``max_rmse_increase`` (relative). A variant
    over its bound is not written and is reported as rejected in ``variants.json``.

    Raises:
        ParityError: ONNX Runtime's outputs differ from the SavedModel's by more than
            ``tolerance + rtol * max(|SavedModel output|, largest |output|)`` on some eval
            row; nothing is written.
        ModelError: the model cannot be converted, loaded or run (named).
        DataError: the split lacks an input column or has no row (named).
        ModelError: the signing key cannot be read or cannot sign (named), before conversion.
        ValueError: a bound that is negative, NaN or infinite (:func:`check_options`).
    """
    check_options(
        tolerance=tolerance,
        rtol=rtol,
        max_accuracy_drop=max_accuracy_drop,
        max_rmse_increase=max_rmse_increase,
    )
    key, signer = provenance.signing_key(signing_key)
    spec = ModelSpec.read(model_dir)
    saved_model = Path(model_dir) / "saved_model"
    _progress.info("converting the SavedModel to ONNX (opset %d)", opset)
    proto = convert(saved_model, spec, opset)
    identity = next(p.value for p in proto.metadata_props if p.key == IDENTITY_METADATA_KEY)
    data = proto.SerializeToString()

    where = str(Path(examples_dir) / split)
    features = spec.features(read_split(where), where)
    rows = len(next(iter(features.values())))
    if not rows:
        raise DataError(f"{where}: no rows to check ONNX parity on")
    _progress.info("parity: checking %d %s rows against the SavedModel", rows, split)
    result, onnx_out = checks.check(data, saved_model, spec, features, where, tolerance, rtol)
    _progress.info(
        "parity: %d %s rows and %d edge rows checked, max |diff| %.2g",
        result.rows, split, result.edge_rows, result.max_abs_diff,
    )  # fmt: skip
    base, built = variants.make_variants(
        data,
        spec,
        features,
        onnx_out,
        where,
        optimize=optimize,
        quantize=quantize,
        max_accuracy_drop=max_accuracy_drop,
        max_rmse_increase=max_rmse_increase,
    )
    report = variants.report(base, [v for v, _ in built], max_accuracy_drop, max_rmse_increase)
    golden = checks.golden_requests(spec, features, onnx_out)

    def describe(model_file: Path) -> dict[str, Any]:
        return provenance.describe(
            model_file,
            model_name=model_name,
            spec=spec,
            parity=result,
            identity=identity,
            opset=opset,
            signer=signer,
            examples_metadata=examples_metadata,
        )

    artifact.write(
        onnx_model_dir, model_name, data, spec, result, golden, built, report,
        signing_key=key, describe=describe,
    )  # fmt: skip
    if key is not None:
        provenance.log.info(
            "export_onnx: signed model_repository/%s/1 with %s (signer %s)", model_name, key, signer
        )
    return ExportResult(
        parity=result,
        opset=opset,
        sha256=hashlib.sha256(data).hexdigest(),
        identity=identity,
        source_sha256=source_hash(saved_model),
        inputs=[i.column for i in spec.inputs],
        outputs=[spec.output],
        base=base,
        variants=[v for v, _ in built],
        signer=signer,
    )
