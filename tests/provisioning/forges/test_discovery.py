"""Discovery through the forge door against the local fake forge: lists and BMAD probes."""

from __future__ import annotations

import pytest

from provisioning import forges
from tests.provisioning.forges.fakeforge import FAKE_FORGE_TOKEN

V6 = ("_bmad/_config/manifest.yaml",)
V4 = (".bmad-core/install-manifest.yaml",)


@pytest.mark.parametrize(
    ("kind", "org_url", "inside"),
    [
        ("github", "https://github.example/acme", "acme"),
        ("gitea", "https://gitea.example/acme", "acme"),
        ("gitlab", "https://gitlab.example/acme/platform", "acme/platform"),
    ],
)
def test_lists_the_org_and_probes_bmad_without_cloning(fake_forge, kind, org_url, inside):
    fake_forge.add_repo(kind, f"{inside}/new-app", V6)
    fake_forge.add_repo(kind, f"{inside}/old-app", V4, default_branch="develop")
    fake_forge.add_repo(kind, f"{inside}/plain")
    fake_forge.add_repo(kind, f"{inside}/attic", V6, archived=True)
    fake_forge.add_repo(kind, "elsewhere/other", V6)
    org = forges.forge_org_from_url(org_url, kind, fake_forge.base_url(kind))
    found = forges.discover_org(org, token=FAKE_FORGE_TOKEN)
    assert {r.path: r.bmad for r in found} == {
        f"{inside}/new-app": "v6",
        f"{inside}/old-app": "v4",
        f"{inside}/plain": "",
        f"{inside}/attic": "",  # archived: not probed
    }
    old = next(r for r in found if r.path.endswith("old-app"))
    assert (old.default_branch, old.clone_url) == (
        "develop",
        f"https://git.example/{inside}/old-app.git",
    )
    probes = [r.path for r in fake_forge.requests_of(kind) if "old-app" in r.path]
    assert probes
    assert all("manifest" in p for p in probes)


def test_lists_are_paged(fake_forge):
    for number in range(120):
        fake_forge.add_repo("github", f"acme/app-{number:03}")
    org = forges.forge_org_from_url(
        "https://github.example/acme", "github", fake_forge.base_url("github")
    )
    found = forges.discover_org(org, token=FAKE_FORGE_TOKEN, probe=False)
    assert len(found) == 120


def test_a_refused_token_is_a_plain_error_and_never_quoted(fake_forge):
    org = forges.forge_org_from_url(
        "https://github.example/acme", "github", fake_forge.base_url("github")
    )
    with pytest.raises(forges.ForgeError) as caught:
        forges.discover_org(org, token="wrong-secret-token")
    assert caught.value.message == forges.AUTH_REFUSED
    assert "wrong-secret-token" not in str(caught.value)


def test_a_failing_probe_shows_unknown(fake_forge):
    fake_forge.add_repo("gitea", "acme/app", V6)
    org = forges.forge_org_from_url(
        "https://gitea.example/acme", "gitea", fake_forge.base_url("gitea")
    )
    repos = forges.discover_org(org, token=FAKE_FORGE_TOKEN, probe=False)
    fake_forge.fail_next(500)
    with forges.http.Connection(org, FAKE_FORGE_TOKEN, 5.0, None) as conn:
        assert forges.discovery._probe(conn, org, repos[0]) == "?"


@pytest.mark.parametrize(
    ("url", "kind"),
    [("https://github.example/acme/app", "github"), ("https://github.example/../x", "gitea")],
)
def test_org_urls_are_checked(url, kind):
    with pytest.raises(forges.ForgeError):
        forges.forge_org_from_url(url, kind)
