"""Signing keys from Secrets (mlrail.pipelines._keys): what the compiled pipeline asks KFP to
mount, that kfp.local runs such a pipeline, and the contract the optional mounts rely on (a key
asked for and not mounted is a clear error; no key asked for is "off")."""

import contextlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import compiler, dsl, local

from mlrail.artifacts import signing
from mlrail.components.deploy import signature
from mlrail.components.export_onnx import provenance
from mlrail.errors import ModelError
from mlrail.pipelines import _keys as keys


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def _signer(signing_key: str) -> str:
    """The signer export_onnx would record with this ``signing_key`` ("" when unsigned)."""
    from mlrail.components.export_onnx import provenance

    return provenance.signing_key(signing_key)[1]


@dsl.pipeline(name="keys")
def _keys_pipeline(
    signing_key: str = "",
    signing_key_secret: str = keys.SIGNING_KEY_SECRET,
    verify_key_secret: str = keys.VERIFY_KEY_SECRET,
) -> str:
    export_task = _signer(signing_key=signing_key)
    keys.mount_signing_key(export_task, signing_key_secret)
    # inside a condition, as deploy is in the training pipeline: the Secret's name is a
    # parameter of the sub-DAG, not of the root
    with dsl.If(export_task.output != "none", name="gate"):
        deploy_task = _signer(signing_key="")
        keys.mount_verify_key(deploy_task, verify_key_secret)
        literal_task = _signer(signing_key="")
        keys.mount_verify_key(literal_task, "team-verify-key")
    return export_task.output


@pytest.fixture(scope="module")
def ir(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = tmp_path_factory.mktemp("ir") / "keys.yaml"
    compiler.Compiler().compile(_keys_pipeline, str(out))
    return [d for d in yaml.safe_load_all(out.read_text()) if d]


def _volumes(ir: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    executors = ir[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    return {label: config["secretAsVolume"] for label, config in executors.items()}


def test_each_secret_is_an_optional_volume_at_its_fixed_path(ir: list[dict[str, Any]]) -> None:
    assert _volumes(ir) == {
        "exec-signer": [
            {
                "mountPath": "/var/run/secrets/mlrail/signing",
                "optional": True,
                "secretNameParameter": {"componentInputParameter": "signing_key_secret"},
            }
        ],
        "exec-signer-2": [
            {
                "mountPath": "/var/run/secrets/mlrail/verify",
                "optional": True,
                "secretNameParameter": {
                    "componentInputParameter": "pipelinechannel--verify_key_secret"
                },
            }
        ],
        "exec-signer-3": [
            {
                "mountPath": "/var/run/secrets/mlrail/verify",
                "optional": True,
                "secretName": "team-verify-key",
                "secretNameParameter": {"runtimeValue": {"constant": "team-verify-key"}},
            }
        ],
    }
    # nothing else: no env var that would turn signing on by itself
    executors = ir[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert all(set(config) == {"secretAsVolume"} for config in executors.values())


def test_a_secret_name_parameter_reaches_the_condition_that_mounts_it(
    ir: list[dict[str, Any]],
) -> None:
    # KFP's driver resolves the name against the task's DAG: the condition must get it
    spec = ir[0]
    (condition,) = [c for n, c in spec["components"].items() if n.startswith("comp-condition")]
    assert "pipelinechannel--verify_key_secret" in condition["inputDefinitions"]["parameters"]
    (gate,) = [t for t in spec["root"]["dag"]["tasks"].values() if t["taskInfo"]["name"] == "gate"]
    assert gate["inputs"]["parameters"]["pipelinechannel--verify_key_secret"] == {
        "componentInputParameter": "verify_key_secret"
    }
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert parameters["signing_key_secret"]["defaultValue"] == "mlrail-signing-key"
    assert parameters["verify_key_secret"]["defaultValue"] == "mlrail-verify-key"


def test_the_paths_are_the_mounts_and_the_key_names() -> None:
    assert keys.SIGNING_KEY_PATH == "/var/run/secrets/mlrail/signing/signing.pem"
    assert keys.VERIFY_KEY_PATH == "/var/run/secrets/mlrail/verify/signing.pub"
    assert keys.SIGNING_KEY_PATH == f"{keys.SIGNING_KEY_MOUNT}/{keys.SIGNING_KEY_FILE}"
    assert keys.VERIFY_KEY_PATH == f"{keys.VERIFY_KEY_MOUNT}/{keys.VERIFY_KEY_FILE}"


def _mounted(root: Path, mount: str) -> Path:
    """``mount`` (an absolute path) under ``root``: what the kubelet makes of the Secret."""
    folder = root / mount.lstrip("/")
    folder.mkdir(parents=True)
    return folder


def test_a_key_asked_for_whose_secret_is_absent_is_a_clear_error(tmp_path: Path) -> None:
    # an optional Secret volume whose Secret does not exist is an empty folder
    signing_key = _mounted(tmp_path, keys.SIGNING_KEY_MOUNT) / keys.SIGNING_KEY_FILE
    verify_key = _mounted(tmp_path, keys.VERIFY_KEY_MOUNT) / keys.VERIFY_KEY_FILE
    with pytest.raises(ModelError, match=rf"^{signing_key}: cannot read the key: No such file"):
        provenance.signing_key(str(signing_key))
    artifact = tmp_path / "onnx_model"
    artifact.mkdir()
    with pytest.raises(ModelError, match=rf"^{verify_key}: cannot read the public key: No such"):
        signature.check(artifact, signature.resolve_key(str(verify_key)))


def test_no_key_asked_for_is_off_even_with_the_secret_mounted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(provenance.SIGNING_KEY_ENV, raising=False)
    monkeypatch.delenv(signature.VERIFY_KEY_ENV, raising=False)
    signing.generate_key_pair(
        _mounted(tmp_path, keys.SIGNING_KEY_MOUNT) / keys.SIGNING_KEY_FILE,
        _mounted(tmp_path, keys.VERIFY_KEY_MOUNT) / keys.VERIFY_KEY_FILE,
    )
    assert provenance.signing_key("") == (None, "")
    assert signature.resolve_key("") == ""


def test_the_mounted_pair_signs_and_names_its_signer(tmp_path: Path) -> None:
    private = _mounted(tmp_path, keys.SIGNING_KEY_MOUNT) / keys.SIGNING_KEY_FILE
    public = _mounted(tmp_path, keys.VERIFY_KEY_MOUNT) / keys.VERIFY_KEY_FILE
    fingerprint = signing.generate_key_pair(private, public)
    assert provenance.signing_key(str(private)) == (private, fingerprint)
    assert signing.key_fingerprint(signature.resolve_key(str(public))) == fingerprint


def test_kfp_local_runs_a_pipeline_that_mounts_the_keys(tmp_path: Path) -> None:
    # kfp.local has no Secrets: it leaves the mounts out, and a local key path still signs
    private, public = tmp_path / "signing.pem", tmp_path / "signing.pub"
    fingerprint = signing.generate_key_pair(private, public)
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(tmp_path / "root"),
        raise_on_error=True,
    )
    # tasks run `python -m` in the current folder: not the checkout, whose mlrail/ would shadow
    # the installed package
    with contextlib.chdir(tmp_path):
        task = _keys_pipeline(signing_key=str(private))
    assert task.output == fingerprint


def test_the_readme_points_the_parameters_at_the_mounted_keys() -> None:
    """The README's "Keys from Kubernetes Secrets" names the paths and Secrets this module
    mounts (its commands are run against the real API server in tests/cluster/test_keys.py)."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    # a section of its own or under "Signed models"
    parts = re.split(r"\n##?# Keys from Kubernetes Secrets\n", readme)
    assert len(parts) == 2, "README.md: expected one section 'Keys from Kubernetes Secrets'"
    section = parts[1].split("\n#", 1)[0]
    params = dict(re.findall(r"--param (\w+)=(\S+)", section))
    assert params == {"signing_key": keys.SIGNING_KEY_PATH, "verify_key": keys.VERIFY_KEY_PATH}
    names = (
        keys.SIGNING_KEY_SECRET,
        keys.VERIFY_KEY_SECRET,
        keys.SIGNING_KEY_FILE,
        keys.VERIFY_KEY_FILE,
    )
    for name in names:
        assert f"`{name}`" in section, name
    assert f"create secret generic {keys.SIGNING_KEY_SECRET} -n mlrail " in section
    assert f"create secret generic {keys.VERIFY_KEY_SECRET} -n mlrail " in section
