"""Injection strings (--upload-pack, --config, --template, --output ...) through every
input of the git door: as URLs and branches they are refused, as identity, message and
paths they stay plain data, and no canary is ever touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning.git_ops import (
    GitPolicy,
    Identity,
    InvalidInput,
    clone,
    head_sha,
    push_branch,
    push_default,
    remote_head,
    safe_write,
)
from provisioning.git_ops.urlpolicy import UrlPolicyError
from tests.provisioning.git_ops.git_helpers import assert_no_canary, commit, run_git


def injections(armed: dict[str, Path], tmp_path: Path) -> list[str]:
    return [
        f"-u{armed['script']}",
        f"--upl={armed['script']}",
        f"--upload-pack={armed['script']}",
        f"--config core.hooksPath={armed['hooks']}",
        f"--config=core.hooksPath={armed['hooks']}",
        f"--template={armed['template']}",
        f"--output={tmp_path / 'canaries' / 'output'}",
    ]


def test_injection_strings_as_urls_are_rejected(
    tmp_path: Path, armed: dict[str, Path], policy: GitPolicy
) -> None:
    for text in injections(armed, tmp_path):
        with pytest.raises(UrlPolicyError):
            clone(text, tmp_path / "c", branch="main", policy=policy)
        with pytest.raises(UrlPolicyError):
            remote_head(text, "main", policy=policy)
    assert_no_canary(armed)
    assert not (tmp_path / "c").exists()


def test_injection_strings_as_branches_are_rejected(
    tmp_path: Path, remote: Path, armed: dict[str, Path], policy: GitPolicy
) -> None:
    cloned = clone(str(remote), tmp_path / "c", branch="main", policy=policy)
    safe_write(cloned.path, "x", "x", policy=policy)
    for text in injections(armed, tmp_path):
        with pytest.raises(InvalidInput):
            clone(str(remote), tmp_path / "c2", branch=text, policy=policy)
        with pytest.raises(InvalidInput):
            commit(cloned, policy, branch=text)
        with pytest.raises(InvalidInput):
            push_branch(cloned, str(remote), text, credentials=None, policy=policy)
        with pytest.raises(InvalidInput):
            push_default(
                cloned,
                str(remote),
                text,
                expected_remote_sha="0" * 40,
                credentials=None,
                policy=policy,
            )
        with pytest.raises(InvalidInput):
            commit(cloned, policy, run_id=text)
    assert_no_canary(armed)
    assert run_git(remote, "for-each-ref", "--format=%(refname)") == "refs/heads/main"


def test_injection_strings_as_identity_message_and_paths_are_plain_data(
    tmp_path: Path, remote: Path, armed: dict[str, Path], policy: GitPolicy
) -> None:
    cloned = clone(str(remote), tmp_path / "c", branch="main", policy=policy)
    texts = injections(armed, tmp_path)
    for number, text in enumerate(texts):
        rel = text.lstrip("/")
        written = safe_write(cloned.path, rel, text, policy=policy)
        assert written.is_relative_to(cloned.path)
        commit(
            cloned,
            policy,
            branch=f"bmadweb/demo/run-{number}",
            message=text,
            run_id=f"run-{number}",
            author_name=text,
            author_email=text,
        )
        author = run_git(cloned.path, "show", "-s", "--format=%an|%ae|%s")
        assert author == f"{text}|{text}|{text}"
        assert run_git(cloned.path, "show", f"HEAD:{rel}") == text
    assert_no_canary(armed)
    assert not (tmp_path / "canaries" / "output").exists()


@pytest.mark.parametrize(
    "name", ["evil\n[core]\n\thooksPath = /x", "a\rb", "a\x00b", "a <b@c>", "x>y", " ", ""]
)
def test_identity_with_newlines_or_brackets_is_refused_and_config_unchanged(
    tmp_path: Path, remote: Path, policy: GitPolicy, name: str
) -> None:
    cloned = clone(str(remote), tmp_path / "c", branch="main", policy=policy)
    config = (cloned.path / ".git" / "config").read_bytes()
    safe_write(cloned.path, "x", "x", policy=policy)
    for author_name, author_email in ((name, "a@example.org"), ("a", name)):
        with pytest.raises(InvalidInput):
            commit(cloned, policy, author_name=author_name, author_email=author_email)
    assert (cloned.path / ".git" / "config").read_bytes() == config
    assert head_sha(cloned) == cloned.head_sha
    with pytest.raises(InvalidInput):
        Identity(name, "a@example.org")
