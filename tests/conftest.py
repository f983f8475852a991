"""Shared fixtures: small real data files and, once per session, a model trained on penguins."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

from tests.helpers import PENGUINS, Trained

# The real control plane (etcd + kube-apiserver built from Go modules): tests/cluster/plugin.py;
# a real `mlflow server` (SQLite backend) on 127.0.0.1: tests/registry/server.py.
pytest_plugins = ["tests.cluster.plugin", "tests.registry.server"]

# No example database: tests never write into the repository (hypothesis would keep .hypothesis/
# in the working folder). Deadlines off: a test's speed is never asserted (a loaded CI machine
# would make the first, import-paying example fail).
settings.register_profile(
    "mlrail", database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("mlrail")
# its caches (unicode tables, constants) go to a folder of their own, not the working folder
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "mlrail-hypothesis")


@pytest.fixture
def penguins_csv(tmp_path: Path) -> Path:
    """A copy of the bundled penguins CSV (tests never write into the repository)."""
    dest = tmp_path / "penguins.csv"
    shutil.copyfile(PENGUINS, dest)
    return dest


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    from mlrail.components.ingest.core import ingest
    from mlrail.components.train.core import train
    from mlrail.components.validate.core import validate

    root = tmp_path_factory.mktemp("trained")
    t = Trained(*(root / n for n in ("examples", "statistics", "schema", "anomalies", "model")))
    ingest("bundled:penguins", str(t.examples))
    validate(t.examples, t.statistics, t.schema, t.anomalies)
    train(t.examples, t.schema, t.statistics, t.model, label="species", hparams={"epochs": 40})
    return t


@pytest.fixture(scope="session")
def onnx_model(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The penguins model exported to ONNX (parity-checked), once per session."""
    from mlrail.components.export_onnx.core import export_onnx

    out = tmp_path_factory.mktemp("onnx") / "onnx_model"
    export_onnx(trained.model, trained.examples, out, model_name="penguins")
    return out
