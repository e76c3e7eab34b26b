"""Seeding for bench/pages.py: projects as a fleet holds them, created in bulk.

Project `i` gets, by `i % 10`: its sync status (4 in sync, 3 drift, 1 conflict, 1 error,
1 never analysed) and the BMAD version its report found; a role for the benchmarked user
(owner, editor, operator, approver or viewer, written as Membership rows and the guardian
object permissions `projects.services.role_grant` derives from them), or, for one project
in ten, a role of the user's team (a group) instead; a manifest revision; and its runs:
none for a project never analysed, a failed analysis for one in error, otherwise a
succeeded analysis holding the real report, after (for one project in three) a
provisioning run whose pull request is open, merged or closed. A project in ten more
belongs to another user, whom the benchmarked user must not see.

The first call also adds what the fleet view lists besides its counts: plans awaiting
the user's approval and a running campaign, a fixed number of each, so that growing the
fleet grows only the projects.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

STATUSES = (
    "in_sync",
    "in_sync",
    "in_sync",
    "in_sync",
    "drift",
    "drift",
    "drift",
    "conflict",
    "error",
    "never",
)
VERSIONS = ("6.12.0", "6.12.0", "6.4.0", "6.12.0", "6.4.0", "6.12.0", "6.0.0", "6.4.0", "6.12.0")
ROLES = ("owner", "editor", "operator", "approver", "viewer")
TEAM_EVERY = 10  # project i with i % TEAM_EVERY == 5 is seen through the team's role
PR_STATES = ("open", "merged", "closed")
AWAITING = 20  # plans awaiting approval, on the first projects the user approves
CAMPAIGN_ITEMS = 50


@dataclass
class Fleet:
    user: Any
    team: Any
    other: Any
    report: dict[str, Any]
    manifest_text: str
    seeded: int = 0  # projects of the benchmarked user so far

    def name(self, i: int) -> str:
        return f"Project {i:05d}"

    def slug(self, i: int) -> str:
        return f"project-{i:05d}"


def fleet_start(report: dict[str, Any], manifest_text: str) -> Fleet:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    users = get_user_model().objects
    user = users.create_user("bench")  # force_login: no password
    team = Group.objects.create(name="bench-team")
    user.groups.add(team)
    return Fleet(user, team, users.create_user("someone-else"), report, manifest_text)


def fleet_grow(fleet: Fleet, total: int) -> None:
    """Grow the benchmarked user's fleet to `total` projects (and a tenth more unseen)."""
    first, count = fleet.seeded, total - fleet.seeded
    if count <= 0:
        return
    _seed(fleet, first, count, owner=fleet.user, visible=True)
    _seed(fleet, 100_000 + first // 10, count // 10, owner=fleet.other, visible=False)
    if first == 0:
        _extras(fleet)
    fleet.seeded = total


def _seed(fleet: Fleet, first: int, count: int, *, owner: Any, visible: bool) -> None:
    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone
    from guardian.models import GroupObjectPermission, UserObjectPermission

    from projects.models import ManifestRevision, Membership, Project
    from projects.roles import ROLE_PERMS, Role
    from provisioning.models import Run, RunKind, RunStatus

    now = timezone.now()
    indexes = range(first, first + count)
    projects = Project.objects.bulk_create(
        Project(
            name=fleet.name(i),
            slug=fleet.slug(i),
            repo_url=f"https://git.example.test/org/repo-{i:05d}.git",
            sync_status=STATUSES[i % 10],
            bmad_version="" if STATUSES[i % 10] == "never" else VERSIONS[i % 9],
            bmad_generation="" if STATUSES[i % 10] == "never" else "v6",
            last_analyzed_at=None if STATUSES[i % 10] == "never" else now,
            last_push_at=now - timedelta(hours=i % 48) if i % 4 else None,
            # That of its provisioning run below, kept so by run_pr_state_record.
            pr_state=PR_STATES[i // 3 % len(PR_STATES)]
            if STATUSES[i % 10] != "never" and i % 3 == 0
            else "",
        )
        for i in indexes
    )
    content_type = ContentType.objects.get_for_model(Project)
    from django.contrib.auth.models import Permission

    perms = {p.codename: p for p in Permission.objects.filter(content_type=content_type)}
    members, user_perms, team_perms = [], [], []
    for i, project in zip(indexes, projects, strict=True):
        role = Role(ROLES[i % len(ROLES)]) if visible else Role.OWNER
        by_team = visible and i % TEAM_EVERY == 5
        who = {"group": fleet.team} if by_team else {"user": owner}
        members.append(Membership(project=project, role=role, **who))
        for perm in ROLE_PERMS[role]:
            row = {"permission": perms[perm], "content_type": content_type}
            row["object_pk"] = str(project.pk)
            if by_team:
                team_perms.append(GroupObjectPermission(group=fleet.team, **row))
            else:
                user_perms.append(UserObjectPermission(user=owner, **row))
    Membership.objects.bulk_create(members, batch_size=2000)
    UserObjectPermission.objects.bulk_create(user_perms, batch_size=2000)
    GroupObjectPermission.objects.bulk_create(team_perms, batch_size=2000)

    sha = hashlib.sha256(fleet.manifest_text.encode()).hexdigest()
    revisions = ManifestRevision.objects.bulk_create(
        (
            ManifestRevision(
                project=p,
                number=1,
                yaml_text=fleet.manifest_text,
                sha256=sha,
                author=owner,
                author_name=owner.username,
                message="first manifest",
            )
            for p in projects
        ),
        batch_size=2000,
    )
    analysed = [
        (i, p, r)
        for i, p, r in zip(indexes, projects, revisions, strict=True)
        if p.sync_status != "never"
    ]
    # Older provisioning runs first, so that the analysis after each is the newest run.
    Run.objects.bulk_create(
        (
            Run(
                project=p,
                kind=RunKind.PROVISION,
                status=RunStatus.PUSHED,
                actor=owner,
                actor_name=owner.username,
                manifest_revision=r,
                started=now,
                finished=now,
                branch=f"bmadweb/provision-{i}",
                pr_url=f"https://git.example.test/org/repo-{i:05d}/pull/1",
                pr_state=PR_STATES[i // 3 % len(PR_STATES)],
                pr_state_at=now,
                base_sha="1" * 40,
            )
            for i, p, r in analysed
            if i % 3 == 0
        ),
        batch_size=2000,
    )
    Run.objects.bulk_create(
        (
            Run(
                project=p,
                kind=RunKind.ANALYZE,
                status=RunStatus.FAILED if p.sync_status == "error" else RunStatus.SUCCEEDED,
                actor=owner,
                actor_name=owner.username,
                manifest_revision=r,
                started=now,
                finished=now,
                report=None if p.sync_status == "error" else fleet.report,
                failure_reason=(
                    "Clone failed: the remote answered 403 (check the clone token)."
                    if p.sync_status == "error"
                    else ""
                ),
                base_sha="0" * 40,
            )
            for i, p, r in analysed
        ),
        batch_size=2000,
    )
    # Timestamps as a fleet has them: the pull requests a day before the analyses.
    Run.objects.filter(project__in=projects, kind=RunKind.PROVISION).update(
        created=now - timedelta(days=1)
    )


def _extras(fleet: Fleet) -> None:
    """Plans awaiting the user's approval and one running campaign, a fixed number."""
    from projects.models import Project
    from provisioning.models import (
        Campaign,
        CampaignItem,
        CampaignItemState,
        CampaignStatus,
        Run,
        RunKind,
        RunStatus,
        RunTrigger,
    )

    approvable = [
        i for i in range(fleet.seeded, fleet.seeded + 1000) if ROLES[i % len(ROLES)] == "owner"
    ]
    approvable = [i for i in approvable if i % TEAM_EVERY != 5][: AWAITING + CAMPAIGN_ITEMS]
    by_slug = Project.objects.in_bulk([fleet.slug(i) for i in approvable], field_name="slug")
    chosen = [by_slug[fleet.slug(i)] for i in approvable]
    campaign = Campaign.objects.create(
        name="Provision the fleet",
        kind=RunKind.PROVISION,
        status=CampaignStatus.RUNNING,
        created_by=fleet.user,
    )
    runs = Run.objects.bulk_create(
        Run(
            project=p,
            kind=RunKind.PROVISION,
            status=RunStatus.AWAITING_APPROVAL,
            actor=fleet.user,
            actor_name=fleet.user.username,
            trigger=RunTrigger.CAMPAIGN,
            campaign=campaign,
        )
        for p in chosen[:AWAITING]
    )
    CampaignItem.objects.bulk_create(
        CampaignItem(
            campaign=campaign,
            project=p,
            state=CampaignItemState.ACTIVE if n < AWAITING else CampaignItemState.DONE,
            run=runs[n] if n < AWAITING else None,
        )
        for n, p in enumerate(chosen)
    )
