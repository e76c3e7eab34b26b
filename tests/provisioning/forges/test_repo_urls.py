"""Repository URLs to forge API bases and owner paths (provisioning.forges.repo_urls):
GitHub, GitLab and Gitea forms, an API URL override, and unsafe or foreign URLs refused."""

from __future__ import annotations

import pytest

from provisioning.forges import ForgeError, ForgeRepo, forge_repo_from_url


@pytest.mark.parametrize(
    ("url", "kind", "expected"),
    [
        ("https://github.com/org/repo.git", "github", ("https://api.github.com", "org/repo")),
        ("https://github.com/org/repo", "github", ("https://api.github.com", "org/repo")),
        ("https://github.com/org/repo/", "github", ("https://api.github.com", "org/repo")),
        ("git@github.com:org/repo.git", "github", ("https://api.github.com", "org/repo")),
        ("ssh://git@github.com/org/repo.git", "github", ("https://api.github.com", "org/repo")),
        ("https://ghe.corp.example/org/r", "github", ("https://ghe.corp.example/api/v3", "org/r")),
        (
            "https://gitlab.com/group/sub/repo.git",
            "gitlab",
            ("https://gitlab.com/api/v4", "group/sub/repo"),
        ),
        (
            "git@gitlab.example.org:group/sub/deeper/my.repo.git",
            "gitlab",
            ("https://gitlab.example.org/api/v4", "group/sub/deeper/my.repo"),
        ),
        (
            "ssh://git@gitlab.example.org:2222/group/repo.git",
            "gitlab",
            ("https://gitlab.example.org/api/v4", "group/repo"),
        ),
        (
            "https://gitlab.example.org:8443/group/repo.git",
            "gitlab",
            ("https://gitlab.example.org:8443/api/v4", "group/repo"),
        ),
        (
            "https://codeberg.org/Org/Re_po.git",
            "gitea",
            ("https://codeberg.org/api/v1", "Org/Re_po"),
        ),
        ("gitea@Git.Example.com:org/repo", "gitea", ("https://git.example.com/api/v1", "org/repo")),
    ],
)
def test_repository_url_gives_api_base_and_owner_path(
    url: str, kind: str, expected: tuple[str, str]
) -> None:
    repo = forge_repo_from_url(url, kind)
    assert (repo.kind, repo.api_base, repo.owner_path) == (kind, *expected)


def test_api_url_overrides_the_default_base() -> None:
    repo = forge_repo_from_url(
        "git@gitea.corp:org/repo.git", "gitea", "http://127.0.0.1:3000/api/v1/"
    )
    assert repo.api_base == "http://127.0.0.1:3000/api/v1"


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://github.com/org/../repo.git", "github"),
        ("https://github.com/../../etc/passwd", "gitlab"),
        ("git@github.com:org/..", "github"),
        ("https://github.com/org//repo", "github"),
        ("https://github.com/org/re%2e%2e", "github"),
        ("https://github.com/org/re po", "github"),
        ("https://github.com/org/repo?x=1", "github"),
        ("https://github.com/org/sub/repo", "github"),
        ("https://gitea.example/org/sub/repo", "gitea"),
        ("https://gitlab.com/repo", "gitlab"),
        ("https://user:pw@github.com/org/repo", "github"),
        ("http://github.com/org/repo", "github"),
        ("file:///srv/org/repo", "github"),
        ("/srv/org/repo", "github"),
        ("https://[::1]/org/repo", "github"),
        ("https://github.com/org/repo", "bitbucket"),
        ("", "github"),
    ],
)
def test_unsafe_or_foreign_repository_url_is_refused(url: str, kind: str) -> None:
    with pytest.raises(ForgeError):
        forge_repo_from_url(url, kind)


@pytest.mark.parametrize(
    "api_url", ["ftp://forge.example/api", "https://u:p@forge.example/api", "https://"]
)
def test_unsafe_api_url_is_refused(api_url: str) -> None:
    with pytest.raises(ForgeError):
        forge_repo_from_url("https://github.com/org/repo", "github", api_url)


@pytest.mark.parametrize("owner_path", ["org/..", "org/repo/../x", "org/", "org/re\npo"])
def test_forge_repo_built_directly_still_checks_its_owner_path(owner_path: str) -> None:
    with pytest.raises(ForgeError):
        ForgeRepo("gitlab", "https://gitlab.com/api/v4", owner_path)
