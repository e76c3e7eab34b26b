"""Discovery pages: staff list an org's repositories with a BMAD column and register the
chosen ones with a base manifest; the token is stored encrypted; others get 403."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from bmadweb.audit import audit_payload
from bmadweb.models import AuditRecord
from projects import services as project_services
from projects.models import Project
from projects.selectors import manifest_latest, manifest_resolve
from provisioning.discovery.services import _same_repo, forge_source_listing
from provisioning.models import ForgeSource
from tests.provisioning.forges.fakeforge import FAKE_FORGE_TOKEN
from tests.repos import PLATFORM_BASE

pytestmark = pytest.mark.django_db


@pytest.fixture
def forge(fake_forge, tmp_path: Path):
    # Clone URLs are local folders here (the URL policy's test allowance).
    fake_forge.clone_base = str(tmp_path / "remotes")
    for name in ("new-app", "plain"):
        (tmp_path / "remotes" / "acme" / f"{name}.git").mkdir(parents=True)
    fake_forge.add_repo("github", "acme/new-app", ("_bmad/_config/manifest.yaml",))
    fake_forge.add_repo("github", "acme/plain")
    return fake_forge


def _source(client, forge) -> str:
    answer = client.post(
        "/discover/",
        {
            "kind": "github",
            "org_url": "https://github.example/acme",
            "api_url": forge.base_url("github"),
            "token": FAKE_FORGE_TOKEN,
        },
    )
    assert answer.status_code == 302, answer.content
    return answer["Location"]


def test_staff_discover_and_register_with_a_base(client, staff, forge, run_worker) -> None:
    project_services.base_save(actor=staff, name="platform", yaml_text=PLATFORM_BASE)
    client.force_login(staff)
    url = _source(client, forge)
    source = ForgeSource.objects.get()
    assert FAKE_FORGE_TOKEN not in source.token_enc
    assert source.get_token() == FAKE_FORGE_TOKEN
    # The first visit queues the listing; the page polls itself until the job is done.
    waiting = client.get(url).content.decode()
    assert "Listing the repositories" in waiting
    assert 'hx-trigger="every 2s"' in waiting
    assert "acme/new-app" not in waiting
    run_worker()
    page = client.get(url).content.decode()
    assert 'hx-trigger="every 2s"' not in page
    assert "acme/new-app" in page
    assert "BMAD 6" in page
    assert "acme/plain" in page
    answer = client.post(url, {"repo": ["acme/new-app"], "base": "platform"}, follow=True)
    assert "1 project(s) registered" in answer.content.decode()
    project = Project.objects.get()
    assert project.repo_url.endswith("acme/new-app.git")
    assert project.get_secret("forge_token") == FAKE_FORGE_TOKEN
    assert manifest_resolve(manifest_latest(project).yaml_text).base_names == ("platform",)
    # a second registration of the same repository is skipped
    client.post(url, {"repo": ["acme/new-app"], "base": "platform"})
    assert Project.objects.count() == 1


def test_only_staff_discover(client, owner, forge) -> None:
    client.force_login(owner)
    assert client.get("/discover/").status_code == 403
    assert client.post("/discover/", {}).status_code == 403
    source = ForgeSource.objects.create(kind="github", org_url="https://github.example/acme")
    assert client.get(f"/discover/{source.pk}/").status_code == 403


def test_an_internal_api_address_is_refused(client, staff, settings) -> None:
    settings.ALLOW_LOCAL_REPOS = False
    client.force_login(staff)
    answer = client.post(
        "/discover/",
        {
            "kind": "gitea",
            "org_url": "https://gitea.example/acme",
            "api_url": "http://127.0.0.1:3000/api/v1",
            "token": "t",
        },
    )
    assert answer.status_code == 200
    assert not ForgeSource.objects.exists()


@pytest.mark.parametrize(
    "spelling",
    [
        "https://github.example/Acme/New-App",
        "https://github.example/acme/new-app.git",
        "ssh://git@github.example/acme/new-app.git",
    ],
)
def test_registration_knows_a_repository_under_another_spelling(spelling: str) -> None:
    assert _same_repo(spelling) == _same_repo("https://github.example/acme/new-app.git")
    assert _same_repo(spelling) != _same_repo("https://github.example/acme/other.git")


def test_local_paths_compare_the_same_way() -> None:
    assert _same_repo(" /srv/repos/app.git ") == _same_repo("/srv/repos/app")
    assert _same_repo("/srv/repos/app") != _same_repo("/srv/repos/other")


def test_a_source_and_a_bulk_registration_are_audited_without_the_token(
    client, staff, forge
) -> None:
    project_services.base_save(actor=staff, name="platform", yaml_text=PLATFORM_BASE)
    client.force_login(staff)
    url = _source(client, forge)
    source = ForgeSource.objects.get()
    created = AuditRecord.objects.get(action="discovery.source_create")
    assert created.actor_name == staff.username
    assert audit_payload(created) == {
        "source": source.pk,
        "kind": "github",
        "org_url": "https://github.example/acme",
        "api_url": forge.base_url("github"),
        "token": True,
    }
    client.post(url, {"repo": ["acme/new-app", "acme/plain"], "base": "platform"})
    client.post(url, {"repo": ["acme/new-app"], "base": "platform"})  # already registered
    first, second = AuditRecord.objects.filter(action="discovery.register").order_by("seq")
    slugs = sorted(Project.objects.values_list("slug", flat=True))
    assert audit_payload(first) == {
        "source": source.pk, "base": "platform", "registered": slugs, "skipped": 0,
    }  # fmt: skip
    assert audit_payload(second)["registered"] == []
    assert audit_payload(second)["skipped"] == 1
    for record in AuditRecord.objects.filter(action__startswith="discovery."):
        assert FAKE_FORGE_TOKEN not in str(audit_payload(record))


def test_sources_are_listed_read_only_in_the_admin_without_their_token(
    client, admin_user, forge
) -> None:
    client.force_login(admin_user)
    source = ForgeSource.objects.create(kind="gitlab", org_url="https://gitlab.example/group")
    source.set_token(FAKE_FORGE_TOKEN)
    source.save()
    listing = client.get("/admin/provisioning/forgesource/")
    assert listing.status_code == 200
    assert "https://gitlab.example/group" in listing.content.decode()
    detail = client.get(f"/admin/provisioning/forgesource/{source.pk}/change/")
    assert detail.status_code == 200
    assert FAKE_FORGE_TOKEN not in detail.content.decode()
    assert source.token_enc not in detail.content.decode()
    assert client.get("/admin/provisioning/forgesource/add/").status_code == 403
    assert client.post(f"/admin/provisioning/forgesource/{source.pk}/delete/").status_code == 403


def _listed(client, forge, run_worker) -> tuple[str, ForgeSource]:
    url = _source(client, forge)
    client.get(url)
    run_worker()
    return url, ForgeSource.objects.get()


def test_two_visits_start_one_listing_and_a_lost_one_is_started_again(
    client, staff, forge, redis_conn
) -> None:
    import django_rq

    client.force_login(staff)
    url = _source(client, forge)
    client.get(url)
    client.get(url, headers={"HX-Request": "true", "HX-Target": "listing"})
    source = ForgeSource.objects.get()
    assert source.listing_job.startswith(f"discover-{source.pk}-")
    assert django_rq.get_queue("default").job_ids == [source.listing_job]
    # A claim older than the limit belongs to a lost job: "List again" starts another.
    ForgeSource.objects.update(listing_started=source.listing_started - timedelta(hours=1))
    client.post(url, {"action": "refresh"})
    source.refresh_from_db()
    queued = django_rq.get_queue("default").job_ids
    assert len(queued) == 2
    assert queued[0] == source.listing_job  # at the front: someone is waiting for it


def test_the_polled_part_is_the_listing_alone(client, staff, forge, run_worker) -> None:
    client.force_login(staff)
    url, _ = _listed(client, forge, run_worker)
    part = client.get(url, headers={"HX-Request": "true", "HX-Target": "listing"})
    text = part.content.decode()
    assert text.lstrip().startswith('<section id="listing"')
    assert "acme/new-app" in text
    assert "<h1>" not in text


def test_a_failed_listing_says_why_and_listing_again_recovers(
    client, staff, forge, run_worker
) -> None:
    client.force_login(staff)
    url, source = _listed(client, forge, run_worker)
    assert [repo.path for repo in forge_source_listing(source)] == ["acme/new-app", "acme/plain"]
    source.set_token("not-the-token")
    source.save(update_fields=["token_enc"])
    client.post(url, {"action": "refresh"})
    run_worker()
    page = client.get(url).content.decode()
    source.refresh_from_db()
    assert source.listing_error
    assert source.listing_error in page  # the reason, on the page
    assert "acme/new-app" in page  # the last good listing stays
    assert "not-the-token" not in page
    source.set_token(FAKE_FORGE_TOKEN)
    source.save(update_fields=["token_enc"])
    client.post(url, {"action": "refresh"})
    run_worker()
    source.refresh_from_db()
    assert source.listing_error == ""
    assert source.listing_job == ""


def test_without_the_queue_the_page_says_so(client, staff, forge, settings) -> None:
    client.force_login(staff)
    url = _source(client, forge)
    settings.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:1/0", "DEFAULT_TIMEOUT": 5}}
    page = client.get(url).content.decode()
    assert "The job queue cannot be reached right now" in page
    assert ForgeSource.objects.get().listing_job == ""  # released: a later visit tries again


@pytest.mark.parametrize(
    "listing",
    [{"path": "a"}, "text", [1, "x", {"path": "a"}], [{"path": "a/b", "clone_url": "u"}]],
)
def test_a_listing_that_does_not_read_as_repositories_shows_none(listing, client, staff) -> None:
    source = ForgeSource.objects.create(kind="github", org_url="https://github.example/acme")
    ForgeSource.objects.filter(pk=source.pk).update(listing=listing, listed_at=timezone.now())
    source.refresh_from_db()
    assert forge_source_listing(source) == []
    client.force_login(staff)
    assert "No repositories found." in client.get(f"/discover/{source.pk}/").content.decode()
