"""Project pages. Views speak HTTP only: parse, call a selector or service, render."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from bmadweb.http import HtmxHttpRequest
from projects import forms, services
from projects.audit_sentences import ACTION_CHOICES
from projects.models import SECRET_FIELDS, ForgeKind, Project, PushMode, SyncStatus
from projects.permissions import (
    can_register_projects,
    get_project_and_perms_for_user,
    get_project_for_user,
    methods_after_lookup,
    require_post_after_lookup,
    user_can,
)
from projects.presenters import DASHBOARD_FIELDS, dashboard_rows, items_by_state, state_counts
from projects.roles import Perm, Role
from projects.selectors import (
    audit_actor_names_for,
    audit_page_for_project,
    manifest_latest,
    manifest_resolve,
    membership_list_for,
    project_ids_user_can,
    project_list_for_dashboard,
)
from provisioning.project_status import (
    delivery_list_signed_for,
    refusal_summary_for,
    report_run_latest,
    run_active_for,
    run_fix_pending_for,
    run_latest_for,
    skills_for,
)

DASHBOARD_PAGE_SIZE = 25


@login_required
def project_list(request: HtmxHttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:100]
    status = request.GET.get("status", "")
    if status not in SyncStatus.values:
        status = ""
    found = project_list_for_dashboard(request.user, query=query, status=status)
    page = Paginator(found.values(*DASHBOARD_FIELDS), DASHBOARD_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    rows = list(page.object_list)
    # Retry buttons only where the person may start an analysis.
    errors = [r["pk"] for r in rows if r["sync_status"] == SyncStatus.ERROR]
    context = {
        "rows": dashboard_rows(
            rows, can_retry=project_ids_user_can(request.user, Perm.ANALYZE, errors)
        ),
        "page": page,
        "query": query,
        "status": status,
        "statuses": SyncStatus.choices,
        "filtered": bool(query or status),
        "can_register": can_register_projects(request.user),
    }
    if request.htmx and not request.htmx.boosted:
        return render(request, "projects/project_list.html#results", context)
    return render(request, "projects/project_list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def project_create(request: HttpRequest) -> HttpResponse:
    if not can_register_projects(request.user):
        raise PermissionDenied(
            "Registering repositories needs the project creator permission: ask a platform "
            "owner to add you to the “Project creators” group."
        )
    form = forms.ProjectCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        project = services.project_create(actor=request.user, **form.cleaned_data)
        messages.success(
            request,
            f"{project.name} registered. Next: write its manifest, or analyze the install "
            "first to start from what is installed.",
        )
        if _needs_forge_token(project):
            messages.warning(
                request,
                f"Pull requests on {project.get_forge_kind_display()} will need a forge token: "
                "add one under Credentials before provisioning.",
            )
        return redirect("projects:manifest-edit", slug=project.slug)
    return render(request, "projects/project_create.html", {"form": form})


def _needs_forge_token(project: Project) -> bool:
    return (
        project.push_mode == PushMode.PULL_REQUEST
        and project.forge_kind != ForgeKind.OTHER
        and not project.has_secret("forge_token")
    )


@login_required
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """The gap report: installation findings and managed items by state, and whatever
    keeps it from being current (a failed analysis, an older run, another branch)."""
    project, perms = get_project_and_perms_for_user(request.user, slug)
    report_run = report_run_latest(project)
    report = report_run.report if report_run else None
    latest = run_latest_for(project)
    active = run_active_for(project)
    # The newest run is not the report's and ended without one: say so above the report.
    newer = latest if latest and report_run != latest and not latest.is_active else None
    context = {
        "project": project,
        "manifest": manifest_latest(project),
        "report_run": report_run,
        "report": report,
        "groups": items_by_state(report),
        "counts": state_counts(report),
        "active": active,
        "newer_run": newer,
        "failed_run": latest if latest and latest.status in ("failed", "errored") else None,
        "other_branch": bool(
            report_run
            and report_run.source_branch
            and report_run.source_branch != project.default_branch
        ),
        "fix_run": run_fix_pending_for(project, report_run=report_run),
        "needs_forge_token": _needs_forge_token(project),
        "can_analyze": Perm.ANALYZE in perms,
        "can_provision": Perm.PROVISION in perms,
        "can_manage": Perm.MANAGE in perms,
    }
    return render(request, "projects/project_detail.html", context)


@login_required
def project_skills(request: HttpRequest, slug: str) -> HttpResponse:
    """BMAD agents and skills: declared in the manifest and/or installed, with the state
    of their files in the latest report."""
    project = get_project_for_user(request.user, slug)
    latest = manifest_latest(project)
    manifest = manifest_resolve(latest.yaml_text).manifest if latest is not None else None
    rows, report_run = skills_for(project, manifest)
    return render(
        request,
        "projects/project_skills.html",
        {
            "project": project,
            "rows": rows,
            "report_run": report_run,
            "revision": latest.number if latest is not None else None,
            "tab": "skills",
            "can_manage": user_can(request.user, project, Perm.MANAGE),
        },
    )


@login_required
@methods_after_lookup("GET", "POST")
def project_settings(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Perm.MANAGE)
    form = forms.ProjectSettingsForm(request.POST or None, instance=project)
    if request.method == "POST" and form.is_valid():
        # is_valid() already copied the new values onto `project`; reload it, or the
        # service sees no change and saves nothing.
        project.refresh_from_db()
        updated = services.project_update(
            actor=request.user,
            project=project,
            **{f: form.cleaned_data[f] for f in services.EDITABLE_FIELDS},
        )
        messages.success(request, "Settings saved.")
        if updated.credentials_cleared:
            names = ", ".join(SECRET_FIELDS[f] for f in updated.credentials_cleared)
            messages.warning(
                request,
                "The repository or forge moved to another address, so the credentials "
                f"made for the old one were cleared: {names}. Enter them again under "
                "Credentials.",
            )
        return redirect("projects:project-settings", slug=project.slug)
    project.refresh_from_db()  # an invalid form must not show unsaved values as saved
    return render(
        request,
        "projects/project_settings.html",
        {"project": project, "form": form, "tab": "settings", "can_manage": True},
    )


@login_required
@methods_after_lookup("GET", "POST")
def project_credentials(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Perm.MANAGE)
    form = forms.CredentialsForm(request.POST or None, project=project)
    if request.method == "POST" and form.is_valid():
        changes = form.changes()
        for field, value in changes.items():
            services.project_secret_set(
                actor=request.user, project=project, field=field, value=value
            )
        messages.success(
            request,
            f"{len(changes)} credentials updated."
            if changes
            else "Nothing changed: empty fields keep the stored values.",
        )
        return redirect("projects:project-credentials", slug=project.slug)
    status = [(f, SECRET_FIELDS[f], project.has_secret(f)) for f in services.TYPED_SECRET_FIELDS]
    return render(
        request,
        "projects/project_credentials.html",
        {
            "project": project,
            "form": form,
            "status": status,
            "tab": "credentials",
            "can_manage": True,
        },
    )


@login_required
def project_webhook(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Perm.MANAGE)
    # Signed deliveries only: refused requests are counted per source below them, so a
    # flood of forgeries cannot push genuine deliveries off the page.
    deliveries = list(delivery_list_signed_for(project)[:50])
    # While the worker settles deliveries, the list polls itself (htmx, this same URL).
    settling = any(delivery.pending for delivery in deliveries)
    ledger = {
        "project": project,
        "deliveries": deliveries,
        "settling": settling,
        "refusals": refusal_summary_for(project),
        "refused_limit": settings.WEBHOOK_REFUSED_LIMIT,
    }
    if request.htmx and request.htmx.target == "deliveries":
        return render(request, "projects/project_webhook.html#deliveries", ledger)
    new_secret = request.session.pop(f"new-webhook-secret-{project.pk}", None)
    urls = {
        kind: request.build_absolute_uri(f"/hooks/{kind}/{project.uid}/")
        for kind in ("github", "gitlab", "gitea")
    }
    return render(
        request,
        "projects/project_webhook.html",
        {
            **ledger,
            "urls": urls,
            "new_secret": new_secret,
            "has_secret": project.has_secret("webhook_secret"),
            "tab": "webhook",
            "can_manage": True,
        },
    )


@login_required
@require_post_after_lookup
def webhook_regenerate(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Perm.MANAGE)
    secret = services.webhook_secret_regenerate(actor=request.user, project=project)
    # Shown once, on the next page load, then gone from the session.
    request.session[f"new-webhook-secret-{project.pk}"] = secret
    return redirect("projects:project-webhook", slug=project.slug)


@login_required
@methods_after_lookup("GET", "POST")
def member_list(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Perm.MANAGE)
    form = forms.MemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.role_grant(
            actor=request.user,
            project=project,
            role=Role(form.cleaned_data["role"]),
            user=form.cleaned_data.get("user"),
            group=form.cleaned_data.get("group"),
        )
        messages.success(request, f"{form.cleaned_data['who']} is now {form.cleaned_data['role']}.")
        return redirect("projects:member-list", slug=project.slug)
    return render(
        request,
        "projects/project_members.html",
        {
            "project": project,
            "form": form,
            "members": membership_list_for(project),
            "tab": "members",
            "can_manage": True,
        },
    )


@login_required
@require_post_after_lookup
def member_remove(request: HttpRequest, slug: str, membership_id: int) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Perm.MANAGE)
    membership = project.memberships.filter(pk=membership_id).first()
    if membership is None:
        messages.error(request, "That membership no longer exists.")
        return redirect("projects:member-list", slug=project.slug)
    try:
        services.role_revoke(
            actor=request.user,
            project=project,
            role=Role(membership.role),
            user=membership.user,
            group=membership.group,
        )
    except services.RoleError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Role removed.")
    return redirect("projects:member-list", slug=project.slug)


@login_required
@methods_after_lookup("GET", "POST")
def project_delete(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Perm.MANAGE)
    form = forms.ConfirmDeleteForm(request.POST or None, project=project)
    if request.method == "POST" and form.is_valid():
        name = project.name
        services.project_delete(actor=request.user, project=project)
        messages.success(request, f"{name} was deleted. Its audit history is kept.")
        return redirect(reverse("projects:project-list"))
    return render(
        request,
        "projects/project_delete.html",
        {"project": project, "form": form, "tab": "delete", "can_manage": True},
    )


@login_required
def project_audit(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, Perm.MANAGE)
    actors = audit_actor_names_for(project)
    action = request.GET.get("action", "")
    action = action if action in dict(ACTION_CHOICES) else ""
    actor = request.GET.get("actor", "")
    actor = actor if actor == "-" or actor in actors else ""
    page, rows = audit_page_for_project(
        project, action=action, actor=actor, page=request.GET.get("page")
    )
    return render(
        request,
        "projects/project_audit.html",
        {
            "project": project,
            "page": page,
            "rows": rows,
            "action": action,
            "actor": actor,
            "actions": ACTION_CHOICES,
            "actors": actors,
            "tab": "audit",
            "can_manage": True,
        },
    )
