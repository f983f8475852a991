"""Who asked for a run (``--requested-by`` and its fallbacks): the token, git, the login."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from mlrail.cli.provenance import requested_by, token_subject


def _jwt(claims: dict[str, object]) -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


def _git_repo(folder: Path, **config: str) -> Path:
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    for key, value in config.items():
        subprocess.run(["git", "-C", str(folder), "config", key, value], check=True)
    return folder


@pytest.mark.parametrize(
    ("token", "subject"),
    [
        (_jwt({"sub": "system:serviceaccount:ci:runner"}), "system:serviceaccount:ci:runner"),
        (_jwt({"sub": "123", "email": "ann@example.com"}), "ann@example.com"),  # email first
        (_jwt({"aud": "kfp"}), ""),  # no subject
        ("opaque-token-not-a-jwt", ""),
        ("a.!!!.c", ""),  # not base64
        (f"x.{base64.urlsafe_b64encode(b'[1]').decode()}.y", ""),  # JSON, not claims
        (None, ""),
    ],
)
def test_the_tokens_subject_is_read_unverified_from_a_jwt(token: str | None, subject: str) -> None:
    assert token_subject(token) == subject


def test_explicit_wins_then_the_token_then_git_then_the_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGNAME", "login-name")
    repo = _git_repo(tmp_path / "repo", **{"user.email": "bob@example.com", "user.name": "Bob"})
    token = _jwt({"email": "ann@example.com"})
    assert requested_by(" carol ", token=token, folder=repo) == "carol"
    assert requested_by("", token=token, folder=repo) == "ann@example.com"
    assert requested_by("", token="opaque", folder=repo) == "bob@example.com"
    (repo / "sub").mkdir()
    assert requested_by("", folder=repo / "sub") == "bob@example.com"  # the repo holding it


def test_git_user_name_when_the_repo_has_no_email(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the user's own global git settings must not answer for the repository
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("LOGNAME", "login-name")
    repo = _git_repo(tmp_path / "repo", **{"user.name": "Bob"})
    assert requested_by("", folder=repo) == "Bob"
    bare = _git_repo(tmp_path / "bare-config")
    assert requested_by("", folder=bare) == "login-name"  # a repo with no identity


def test_outside_a_repository_the_login_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\temail = global@example.com\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("LOGNAME", "login-name")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # no repo above tmp_path
    # the global identity is this user's, but not a repository's: the login name says as much
    assert requested_by("", folder=work) == "login-name"
