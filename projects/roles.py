"""Per-project roles and the object permissions each one grants (docs/architecture.md#views).

Roles are not a ladder: an operator may start provisioning but cannot approve a plan
unless they are an approver too. Owners can do everything.
"""

from __future__ import annotations

from enum import StrEnum


class Perm(StrEnum):
    VIEW = "view_project"
    EDIT_MANIFEST = "edit_manifest"
    ANALYZE = "analyze_project"
    PROVISION = "provision_project"
    APPROVE = "approve_run"
    MANAGE = "manage_project"


class Role(StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    OPERATOR = "operator"
    APPROVER = "approver"
    OWNER = "owner"


ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.VIEWER: frozenset({Perm.VIEW}),
    Role.EDITOR: frozenset({Perm.VIEW, Perm.EDIT_MANIFEST, Perm.ANALYZE}),
    Role.OPERATOR: frozenset({Perm.VIEW, Perm.ANALYZE, Perm.PROVISION}),
    Role.APPROVER: frozenset({Perm.VIEW, Perm.APPROVE}),
    Role.OWNER: frozenset(Perm),
}

ROLE_HELP: dict[Role, str] = {
    Role.VIEWER: "sees the project, manifest, reports and runs",
    Role.EDITOR: "edits the manifest and runs analyses",
    Role.OPERATOR: "starts provisioning runs",
    Role.APPROVER: "approves or cancels plans",
    Role.OWNER: "settings, credentials, webhooks and members",
}


def perms_for_roles(roles: list[Role] | set[Role]) -> frozenset[Perm]:
    granted: set[Perm] = set()
    for role in roles:
        granted |= ROLE_PERMS[role]
    return frozenset(granted)
