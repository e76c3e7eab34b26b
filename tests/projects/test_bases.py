"""Shared base manifests: staff keep them, projects extend them, runs and pages use the
effective manifest, and a change shows which projects it would change."""

from __future__ import annotations

import pytest
from django.urls import reverse

from projects import services
from projects.models import BaseManifest
from projects.selectors import base_impact, manifest_resolve
from provisioning.models import RunKind, RunStatus
from provisioning.runs import services as run_services

pytestmark = pytest.mark.django_db

BASE = """\
apiVersion: bmadweb/v1
project:
  bmad_version: ">=6.4,<7"
  modules: [core, bmm]
  tools: [claude-code]
leaders:
  - id: sec-leader
    name: Security Leader
    domain: security
"""

PROJECT = """\
apiVersion: bmadweb/v1
extends: [platform]
project:
  name: healthai
leaders:
  - id: dev-leader
    name: Dev Leader
    domain: engineering
"""


def test_only_staff_save_bases_and_errors_are_positioned(staff, owner) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(services.NotStaff):
        services.base_save(actor=owner, name="platform", yaml_text=BASE)
    with pytest.raises(services.ManifestInvalid) as caught:
        services.base_save(actor=staff, name="platform", yaml_text=BASE + "extends: [platform]\n")
    assert [(e.line, e.path) for e in caught.value.errors] == [(10, "extends[0]")]
    first = services.base_save(actor=staff, name="platform", yaml_text=BASE)
    assert services.base_save(actor=staff, name="platform", yaml_text=BASE) == first
    second = services.base_save(actor=staff, name="platform", yaml_text=BASE + "# v2\n")
    assert (first.number, second.number) == (1, 2)


def test_a_project_manifest_needs_its_bases(staff, make_project) -> None:  # type: ignore[no-untyped-def]
    project = make_project()
    with pytest.raises(services.ManifestInvalid) as caught:
        services.manifest_save(actor=staff, project=project, yaml_text=PROJECT)
    assert "no base manifest named 'platform'" in caught.value.errors[0].message
    services.base_save(actor=staff, name="platform", yaml_text=BASE)
    revision = services.manifest_save(actor=staff, project=project, yaml_text=PROJECT)
    result = manifest_resolve(revision.yaml_text)
    assert result.ok
    assert [a.id for a in result.manifest.leaders] == ["sec-leader", "dev-leader"]  # type: ignore[union-attr]


def test_base_impact_names_the_projects_a_change_would_change(staff, make_project) -> None:  # type: ignore[no-untyped-def]
    services.base_save(actor=staff, name="platform", yaml_text=BASE)
    using = make_project(actor=staff, manifest=PROJECT)
    make_project(
        actor=staff,
        manifest=PROJECT.replace("extends: [platform]\n", "").replace(
            "  name: healthai\n", '  name: x\n  bmad_version: ">=6.4"\n'
        ),
    )
    assert [row.project for row in base_impact("platform")] == [using]
    changed = base_impact("platform", BASE.replace("Security Leader", "Sec Lead"))
    assert [(row.project, row.changes, row.valid) for row in changed] == [(using, True, True)]
    same = base_impact("platform", BASE + "# a comment\n")
    assert [row.changes for row in same] == [False]
    breaking = base_impact("platform", BASE.replace("  - id: sec-leader", "  - id: dev-leader"))
    assert [row.valid for row in breaking] == [True]  # the project overrides it by id


def test_a_run_pins_and_uses_the_effective_manifest(  # type: ignore[no-untyped-def]
    staff, make_project, bmad_remote, run_worker, django_capture_on_commit_callbacks
) -> None:
    services.base_save(actor=staff, name="platform", yaml_text=BASE)
    project = make_project(
        actor=staff, repo_url=str(bmad_remote), forge_kind="other", manifest=PROJECT
    )
    services.base_save(actor=staff, name="platform", yaml_text=BASE + "# v2\n")
    with django_capture_on_commit_callbacks(execute=True):
        run = run_services.run_create(project=project, kind=RunKind.ANALYZE, actor=staff)
    assert run.base_revisions == {"platform": 2}
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.failure_reason
    ids = {item.get("id") or item.get("path") for item in run.report["items"]}
    assert any("sec-leader" in str(i) for i in ids), ids


def test_editor_shows_the_effective_manifest_and_staff_pages(  # type: ignore[no-untyped-def]
    client, staff, owner, make_project
) -> None:
    services.base_save(actor=staff, name="platform", yaml_text=BASE)
    project = make_project(actor=staff, manifest=PROJECT)
    client.force_login(staff)
    page = client.get(reverse("projects:manifest-edit", args=[project.slug])).content.decode()
    assert "Effective manifest" in page
    assert "leaders/sec-leader" in page
    assert "base <code>platform</code>" in page
    edit = client.post(
        reverse("projects:base-edit", args=["platform"]),
        {"yaml_text": BASE.replace("Security Leader", "Sec"), "action": "check"},
    ).content.decode()
    assert "would change" in edit
    assert project.name in edit
    saved = client.post(
        reverse("projects:base-edit", args=["platform"]),
        {"yaml_text": BASE.replace("Security Leader", "Sec"), "action": "save"},
    )
    assert saved.status_code == 302
    assert BaseManifest.objects.get(name="platform").revisions.count() == 2
    page = client.get(reverse("projects:manifest-edit", args=[project.slug])).content.decode()
    assert "Sec" in page  # the effective manifest follows the new base revision
    assert "Security Leader" not in page
    client.force_login(owner)
    assert client.get(reverse("projects:base-index")).status_code == 403
    assert client.get(reverse("projects:base-edit", args=["platform"])).status_code == 403


@pytest.mark.parametrize("name", ["Bad_Name", "a" * 64, "-lead", "con.x"])
def test_a_base_name_no_manifest_could_extend_is_refused(  # type: ignore[no-untyped-def]
    client, staff, name
) -> None:
    with pytest.raises(services.ManifestInvalid) as refused:
        services.base_save(actor=staff, name=name, yaml_text=BASE)
    assert "is not a base name" in refused.value.errors[0].message
    client.force_login(staff)
    response = client.post(f"/bases/{name}/", {"yaml_text": BASE, "action": "save"})
    assert response.status_code == 404
    assert not BaseManifest.objects.exists()
