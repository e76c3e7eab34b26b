"""Pull/merge requests on GitHub, GitLab and Gitea against a local fake forge (fakeforge.py):
idempotent open-or-update with each forge's requests, and the create race. Nothing
leaves loopback."""

from __future__ import annotations

import pytest

from provisioning.forges import PullRequest
from tests.provisioning.forges.fakeforge import FAKE_FORGE_TOKEN, FakeForge
from tests.provisioning.forges.forge_helpers import BASE, HEAD, KINDS, REPOS, forge_error, open_pr

EXPECTED_URL = {
    "github": "https://github.example/org/repo/pull/1",
    "gitlab": "https://gitlab.example/group/sub/repo/-/merge_requests/1",
    "gitea": "https://gitea.example/org/repo/pulls/1",
}
EXPECTED_AUTH = {
    "github": ("authorization", f"Bearer {FAKE_FORGE_TOKEN}"),
    "gitlab": ("private-token", FAKE_FORGE_TOKEN),
    "gitea": ("authorization", f"token {FAKE_FORGE_TOKEN}"),
}
EXPECTED_CREATE_BODY = {
    "github": {"title": "Provision BMAD", "head": HEAD, "base": BASE, "body": "the plan"},
    "gitlab": {
        "source_branch": HEAD,
        "target_branch": BASE,
        "title": "Provision BMAD",
        "description": "the plan",
    },
    "gitea": {"head": HEAD, "base": BASE, "title": "Provision BMAD", "body": "the plan"},
}
UPDATE_METHOD = {"github": "PATCH", "gitlab": "PUT", "gitea": "PATCH"}
UPDATE_BODY = {
    "github": {"title": "Provision BMAD v2", "body": "the new plan"},
    "gitlab": {"title": "Provision BMAD v2", "description": "the new plan"},
    "gitea": {"title": "Provision BMAD v2", "body": "the new plan"},
}


# --- open, then update --------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_first_call_creates_a_pull_request(fake_forge: FakeForge, kind: str) -> None:
    assert open_pr(fake_forge, kind) == PullRequest(EXPECTED_URL[kind], 1, created=True)


@pytest.mark.parametrize("kind", KINDS)
def test_create_sends_the_forge_shaped_json_body(fake_forge: FakeForge, kind: str) -> None:
    open_pr(fake_forge, kind)
    [create] = fake_forge.requests_of(kind, "POST")
    assert create.json == EXPECTED_CREATE_BODY[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_every_request_carries_the_forge_auth_header(fake_forge: FakeForge, kind: str) -> None:
    open_pr(fake_forge, kind)
    name, value = EXPECTED_AUTH[kind]
    assert {r.headers.get(name) for r in fake_forge.requests_of(kind)} == {value}


@pytest.mark.parametrize("kind", KINDS)
def test_every_request_names_bmadweb_as_user_agent(fake_forge: FakeForge, kind: str) -> None:
    open_pr(fake_forge, kind)
    assert {r.headers.get("user-agent") for r in fake_forge.requests_of(kind)} == {"bmadweb"}


def test_github_requests_ask_for_the_versioned_json_api(fake_forge: FakeForge) -> None:
    open_pr(fake_forge, "github")
    headers = fake_forge.requests_of("github")[0].headers
    assert (headers["accept"], headers["x-github-api-version"]) == (
        "application/vnd.github+json",
        "2022-11-28",
    )


@pytest.mark.parametrize("kind", KINDS)
def test_second_call_updates_the_same_pull_request(fake_forge: FakeForge, kind: str) -> None:
    first = open_pr(fake_forge, kind)
    second = open_pr(fake_forge, kind, title="Provision BMAD v2", body="the new plan")
    assert second == PullRequest(first.url, first.number, created=False)


@pytest.mark.parametrize("kind", KINDS)
def test_second_call_leaves_one_pull_request_with_the_new_text(
    fake_forge: FakeForge, kind: str
) -> None:
    open_pr(fake_forge, kind)
    open_pr(fake_forge, kind, title="Provision BMAD v2", body="the new plan")
    assert [(p.title, p.body) for p in fake_forge.pulls_of(kind)] == [
        ("Provision BMAD v2", "the new plan")
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_update_uses_the_forge_method_and_body(fake_forge: FakeForge, kind: str) -> None:
    open_pr(fake_forge, kind)
    open_pr(fake_forge, kind, title="Provision BMAD v2", body="the new plan")
    [update] = fake_forge.requests_of(kind, UPDATE_METHOD[kind])
    assert (update.path.rsplit("/", 1)[1], update.json) == ("1", UPDATE_BODY[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_unchanged_pull_request_is_not_written_again(fake_forge: FakeForge, kind: str) -> None:
    open_pr(fake_forge, kind)
    open_pr(fake_forge, kind)
    assert [r.method for r in fake_forge.requests_of(kind) if r.method != "GET"] == ["POST"]


def test_github_looks_up_by_owner_qualified_head_and_base(fake_forge: FakeForge) -> None:
    open_pr(fake_forge, "github")
    lookup = fake_forge.requests_of("github", "GET")[0]
    assert lookup.query == {"head": f"org:{HEAD}", "base": BASE, "state": "open"}


def test_gitlab_project_path_is_url_encoded_as_one_segment(fake_forge: FakeForge) -> None:
    open_pr(fake_forge, "gitlab")
    assert {r.path for r in fake_forge.requests_of("gitlab")} == {
        "/projects/group%2Fsub%2Frepo/merge_requests"
    }


def test_gitlab_looks_up_opened_merge_requests_by_branches(fake_forge: FakeForge) -> None:
    open_pr(fake_forge, "gitlab")
    lookup = fake_forge.requests_of("gitlab", "GET")[0]
    assert lookup.query == {"source_branch": HEAD, "target_branch": BASE, "state": "opened"}


def test_gitea_finds_the_open_pull_request_on_a_later_page(fake_forge: FakeForge) -> None:
    for n in range(60):
        fake_forge.add_pull("gitea", "org/repo", head=f"feature/{n}", base=BASE)
    existing = fake_forge.add_pull("gitea", "org/repo", head=HEAD, base=BASE)
    assert open_pr(fake_forge, "gitea").number == existing.number


def test_gitea_walks_pages_until_it_finds_the_pull_request(fake_forge: FakeForge) -> None:
    for n in range(60):
        fake_forge.add_pull("gitea", "org/repo", head=f"feature/{n}", base=BASE)
    fake_forge.add_pull("gitea", "org/repo", head=HEAD, base=BASE)
    open_pr(fake_forge, "gitea")
    assert [r.query["page"] for r in fake_forge.requests_of("gitea", "GET")] == ["1", "2"]


@pytest.mark.parametrize("kind", ["github", "gitea"])
def test_pull_request_from_a_fork_with_the_same_branch_is_ignored(
    fake_forge: FakeForge, kind: str
) -> None:
    fake_forge.add_pull(kind, "org/repo", head=HEAD, base=BASE, head_repo="someone/repo")
    assert open_pr(fake_forge, kind).created is True


def test_gitlab_merge_request_from_a_fork_is_ignored(fake_forge: FakeForge) -> None:
    fake_forge.add_pull("gitlab", "group/sub/repo", head=HEAD, base=BASE, head_repo="x/repo")
    assert open_pr(fake_forge, "gitlab").created is True


# --- the create race ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_create_race_returns_the_pull_request_someone_else_opened(
    fake_forge: FakeForge, kind: str
) -> None:
    existing = fake_forge.add_pull(kind, REPOS[kind], head=HEAD, base=BASE)
    fake_forge.hide_pulls_from_next_list()  # our look-up misses it, our create collides
    assert open_pr(fake_forge, kind) == PullRequest(EXPECTED_URL[kind], existing.number, False)


@pytest.mark.parametrize("kind", KINDS)
def test_create_race_leaves_a_single_pull_request(fake_forge: FakeForge, kind: str) -> None:
    fake_forge.add_pull(kind, REPOS[kind], head=HEAD, base=BASE)
    fake_forge.hide_pulls_from_next_list()
    open_pr(fake_forge, kind)
    assert len(fake_forge.pulls_of(kind)) == 1


def test_github_race_really_went_through_the_422(fake_forge: FakeForge) -> None:
    fake_forge.add_pull("github", "org/repo", head=HEAD, base=BASE)
    fake_forge.hide_pulls_from_next_list()
    open_pr(fake_forge, "github")
    assert [r.method for r in fake_forge.requests_of("github")] == ["GET", "POST", "GET", "PATCH"]


def test_create_conflict_without_a_listed_pull_request_is_an_error(
    fake_forge: FakeForge,
) -> None:
    fake_forge.add_pull("github", "org/repo", head=HEAD, base=BASE)
    fake_forge.hide_pulls_from_next_list(count=2)
    assert "does not list it" in forge_error(fake_forge).message
