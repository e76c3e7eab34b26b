"""Campaign pages (select projects, start, follow, approve, retry, cancel) and the fleet
view."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from bmadweb.http import HtmxHttpRequest
from projects.models import Project, SyncStatus
from provisioning.campaigns import selectors, services
from provisioning.campaigns.forms import select_projects
from provisioning.campaigns.presenters import approval_rows
from provisioning.models import Campaign, CampaignStatus, PullRequestState, RunKind


@login_required
@require_http_methods(["GET"])
def campaign_list(request: HttpRequest) -> HttpResponse:
    campaigns = selectors.campaign_list_for(request.user)[:100]
    return render(request, "provisioning/campaign_list.html", {"campaigns": campaigns})


@login_required
@require_http_methods(["GET", "POST"])
def campaign_new(request: HttpRequest) -> HttpResponse:
    """GET: the projects a filter selects (only those the caller may run the kind on).
    POST: a campaign over the ticked ones."""
    data = request.POST if request.method == "POST" else request.GET
    kind = data.get("kind", RunKind.ANALYZE)
    if kind not in RunKind.values:
        kind = RunKind.ANALYZE
    projects, filters = select_projects(request.user, data, services.kind_perm(kind))
    if request.method == "POST":
        chosen = set(request.POST.getlist("project"))
        picked = [p for p in projects if p.slug in chosen]
        try:
            concurrency = int(request.POST.get("concurrency", "4"))
        except ValueError:
            concurrency = 4
        try:
            campaign = services.campaign_create(
                actor=request.user,
                name=request.POST.get("name", ""),
                kind=kind,
                projects=picked,
                concurrency=concurrency,
                selection=filters,
                target_version=request.POST.get("target_version", ""),
            )
        except services.CampaignError as exc:
            messages.error(request, str(exc))
        else:
            return redirect(campaign)
    return render(
        request,
        "provisioning/campaign_new.html",
        {
            "projects": projects,
            "filters": filters,
            "kind": kind,
            "kinds": RunKind.choices,
            "statuses": SyncStatus.choices,
        },
    )


@login_required
@require_http_methods(["GET"])
def fleet(request: HttpRequest) -> HttpResponse:
    """Counts by sync status and BMAD version (each a link to its projects), the runs
    awaiting the caller's approval and the campaigns running."""
    status = request.GET.get("status", "")
    if status not in SyncStatus.values:
        status = ""
    version = request.GET.get("version", "").strip()[:40]
    pull = request.GET.get("pr", "")
    if pull not in PullRequestState.values:
        pull = ""
    filtered = bool(status or version or pull)
    projects: list[Project] = []
    if filtered:
        found = selectors.fleet_projects(
            request.user, status=status, version=version, pull_request=pull
        )
        projects = list(found[: selectors.FLEET_LIST_MAX + 1])
    context = {
        "counts": selectors.fleet_counts(request.user),
        "status": status,
        "status_label": dict(SyncStatus.choices).get(status, ""),
        "version": version,
        "pull": pull,
        "no_version": selectors.NO_VERSION,
        "filtered": filtered,
        "projects": projects[: selectors.FLEET_LIST_MAX],
        "more": len(projects) > selectors.FLEET_LIST_MAX,
        "awaiting": approval_rows(selectors.runs_awaiting_approval_for(request.user)[:100]),
        "campaigns": selectors.campaigns_running_for(request.user)[:50],
    }
    return render(request, "provisioning/fleet.html", context)


def _campaign(request: HttpRequest, campaign_id: int) -> Campaign:
    campaign = selectors.campaign_get_for(request.user, campaign_id)
    if campaign is None:
        raise Http404("No such campaign.")
    return campaign


@login_required
@require_http_methods(["GET"])
def campaign_detail(request: HtmxHttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    context = {
        "campaign": campaign,
        "progress": selectors.campaign_progress(campaign),
        "items": selectors.campaign_items_for(request.user, campaign),
        "running": campaign.status == CampaignStatus.RUNNING,
        "can_steer": _can_steer(request, campaign),
    }
    template = "provisioning/campaign_detail.html"
    if request.htmx:
        template += "#progress"
    return render(request, template, context)


def _can_steer(request: HttpRequest, campaign: Campaign) -> bool:
    return bool(request.user.is_staff or campaign.created_by_id == request.user.pk)


@login_required
@require_POST
def campaign_approve(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    approved, refused = services.campaign_approve(campaign=campaign, actor=request.user)
    messages.success(request, f"Approved {len(approved)} plans; later plans are covered too.")
    if refused:
        messages.warning(
            request, f"You may not approve on {', '.join(refused[:10])}: those keep waiting."
        )
    return redirect(campaign)


@login_required
@require_POST
def campaign_retry(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    if not _can_steer(request, campaign):
        raise PermissionDenied("Only the campaign's author or staff can retry it.")
    count = services.campaign_retry(campaign=campaign, actor=request.user)
    messages.success(request, f"Retrying {count} projects.")
    return redirect(campaign)


@login_required
@require_POST
def campaign_cancel(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    if not _can_steer(request, campaign):
        raise PermissionDenied("Only the campaign's author or staff can cancel it.")
    services.campaign_cancel(campaign=campaign, actor=request.user)
    messages.success(request, "Campaign cancelled.")
    return redirect(campaign)
