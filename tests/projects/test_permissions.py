"""Roles become guardian object permissions; lookups answer 404 before 403."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.http import Http404

from projects import services
from projects.permissions import get_project_for_user
from projects.roles import ROLE_PERMS, Perm, Role
from projects.selectors import project_list_for_user

pytestmark = pytest.mark.django_db


def test_outsider_gets_404_not_403(project, outsider):
    with pytest.raises(Http404):
        get_project_for_user(outsider, project.slug, Perm.MANAGE)


def test_missing_project_and_forbidden_project_look_the_same(project, outsider):
    with pytest.raises(Http404) as missing:
        get_project_for_user(outsider, "no-such-project")
    with pytest.raises(Http404) as hidden:
        get_project_for_user(outsider, project.slug)
    assert str(missing.value) == str(hidden.value)


def test_viewer_sees_but_cannot_edit(project, viewer):
    assert get_project_for_user(viewer, project.slug) == project
    with pytest.raises(PermissionDenied):
        get_project_for_user(viewer, project.slug, Perm.EDIT_MANIFEST)


@pytest.mark.parametrize("role", list(Role))
def test_each_role_grants_exactly_its_permissions(project, outsider, role):
    services.role_grant(actor=None, project=project, role=role, user=outsider)
    for perm in Perm:
        expected = perm in ROLE_PERMS[role]
        assert outsider.has_perm(f"projects.{perm}", project) is expected, perm


def test_operator_cannot_approve_unless_also_approver(project, outsider):
    services.role_grant(actor=None, project=project, role=Role.OPERATOR, user=outsider)
    assert outsider.has_perm("projects.provision_project", project)
    assert not outsider.has_perm("projects.approve_run", project)
    services.role_grant(actor=None, project=project, role=Role.APPROVER, user=outsider)
    outsider = type(outsider).objects.get(pk=outsider.pk)  # fresh permission cache
    assert outsider.has_perm("projects.approve_run", project)


def test_revoking_one_role_keeps_permissions_of_another(project, outsider):
    services.role_grant(actor=None, project=project, role=Role.EDITOR, user=outsider)
    services.role_grant(actor=None, project=project, role=Role.VIEWER, user=outsider)
    services.role_revoke(actor=None, project=project, role=Role.EDITOR, user=outsider)
    outsider = type(outsider).objects.get(pk=outsider.pk)
    assert outsider.has_perm("projects.view_project", project)
    assert not outsider.has_perm("projects.edit_manifest", project)


def test_roles_granted_to_a_team_reach_its_members(project, outsider):
    team = Group.objects.create(name="platform-team")
    outsider.groups.add(team)
    services.role_grant(actor=None, project=project, role=Role.EDITOR, group=team)
    assert get_project_for_user(outsider, project.slug, Perm.EDIT_MANIFEST) == project
    assert list(project_list_for_user(outsider)) == [project]


def test_project_list_shows_only_permitted_projects(project, viewer, outsider, make_project):
    make_project(actor=outsider, slug="oscars")
    assert [p.slug for p in project_list_for_user(viewer)] == ["healthai"]
    assert [p.slug for p in project_list_for_user(outsider)] == ["oscars"]


def test_global_view_permission_does_not_leak_projects(project, outsider):
    outsider.user_permissions.add(Permission.objects.get(codename="view_project"))
    outsider = type(outsider).objects.get(pk=outsider.pk)
    assert list(project_list_for_user(outsider)) == []
    with pytest.raises(Http404):
        get_project_for_user(outsider, project.slug)


def test_role_changes_are_audited(project, outsider):
    from bmadweb.audit import audit_payload
    from bmadweb.models import AuditRecord

    services.role_grant(actor=None, project=project, role=Role.APPROVER, user=outsider)
    record = AuditRecord.objects.filter(action="role.grant").order_by("-seq").first()
    assert record is not None
    assert audit_payload(record) == {"role": "approver", "user": "oscar"}


def test_revoking_the_last_owner_raises_and_changes_nothing(project, owner):
    from bmadweb.models import AuditRecord

    before = AuditRecord.objects.count()
    with pytest.raises(services.RoleError, match="at least one owner"):
        services.role_revoke(actor=owner, project=project, role=Role.OWNER, user=owner)
    assert project.memberships.filter(role=Role.OWNER, user=owner).exists()
    assert owner.has_perm(f"projects.{Perm.MANAGE}", project)
    assert AuditRecord.objects.count() == before


def test_an_owner_can_go_once_another_user_or_team_owns_the_project(project, owner, outsider):
    team = Group.objects.create(name="platform")
    services.role_grant(actor=owner, project=project, role=Role.OWNER, group=team)
    services.role_revoke(actor=owner, project=project, role=Role.OWNER, user=owner)
    assert not project.memberships.filter(role=Role.OWNER, user=owner).exists()
    with pytest.raises(services.RoleError):
        services.role_revoke(actor=None, project=project, role=Role.OWNER, group=team)
    services.role_grant(actor=None, project=project, role=Role.OWNER, user=outsider)
    services.role_revoke(actor=None, project=project, role=Role.OWNER, group=team)
    assert list(project.memberships.filter(role=Role.OWNER).values_list("user", flat=True)) == [
        outsider.pk
    ]


def test_revoking_a_role_nobody_holds_is_not_a_last_owner_error(project, outsider):
    services.role_revoke(actor=None, project=project, role=Role.OWNER, user=outsider)
    assert project.memberships.filter(role=Role.OWNER).count() == 1


def test_list_filters_grant_what_guardian_grants(make_project, outsider):
    """projects.grants (both forms) lists what guardian's get_objects_for_user lists
    without global permissions: own roles, team roles, superusers (docs/performance.md#pages)."""
    from django.contrib.auth import get_user_model
    from guardian.shortcuts import get_objects_for_user

    from projects.models import Project
    from projects.permissions import project_perms_for
    from projects.selectors import project_filter_for, project_ids_user_can

    owner = get_user_model().objects.create_user("grants-owner")
    team = Group.objects.create(name="grants-team")
    outsider.groups.add(team)
    superuser = get_user_model().objects.create_superuser("grants-root")
    projects = [make_project(actor=owner, slug=f"grants-{i}") for i in range(4)]
    services.role_grant(actor=None, project=projects[0], role=Role.VIEWER, user=outsider)
    services.role_grant(actor=None, project=projects[1], role=Role.OPERATOR, group=team)
    services.role_grant(actor=None, project=projects[2], role=Role.APPROVER, user=outsider)
    ids = [p.pk for p in projects]
    for user in (outsider, owner, superuser):
        for perm in Perm:
            expected = set(
                get_objects_for_user(
                    user, f"projects.{perm}", klass=Project, accept_global_perms=False
                ).values_list("pk", flat=True)
            )
            for per_row in (False, True):
                found = Project.objects.filter(project_filter_for(user, perm, per_row=per_row))
                assert set(found.values_list("pk", flat=True)) == expected, (user, perm, per_row)
            assert project_ids_user_can(user, perm, ids) == expected & set(ids), (user, perm)
            for project in projects:
                held = perm in project_perms_for(user, project)
                assert held is user.has_perm(f"projects.{perm}", project), (user, perm, project)
