"""Rows of the fleet view with their display values made once per row, so that the
template only prints them (docs/performance.md#pages)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.humanize.templatetags.humanize import naturaltime
from django.utils import dateformat
from django.utils.timezone import localtime

from projects.presenters import ID_PLACEHOLDER, SLUG_PLACEHOLDER, url_format
from provisioning.models import Run, RunKind


def approval_rows(runs: Iterable[Run]) -> list[dict[str, Any]]:
    """The runs awaiting the person's approval, as the fleet view printed them from
    each run, its project and its campaign (one reverse() per route and page)."""
    project_url = url_format("projects:project-detail", slug=SLUG_PLACEHOLDER)
    run_url = url_format("provisioning:run-detail", slug=SLUG_PLACEHOLDER, run_id=ID_PLACEHOLDER)
    campaign_url = url_format("campaigns:campaign-detail", campaign_id=ID_PLACEHOLDER)
    kinds = dict(RunKind.choices)
    rows = []
    for run in runs:
        slug, campaign = run.project.slug, run.campaign
        rows.append(
            {
                "slug": slug,
                "project_url": project_url.format(slug=slug),
                "project_name": run.project.name,
                "url": run_url.format(slug=slug, id=run.pk),
                "kind": str(kinds.get(run.kind, run.kind)),
                "pk": run.pk,
                "campaign_url": campaign_url.format(id=campaign.pk) if campaign else "",
                "campaign_name": campaign.name if campaign else "",
                "created_iso": dateformat.format(localtime(run.created), "c"),
                "created_ago": naturaltime(run.created),
            }
        )
    return rows
