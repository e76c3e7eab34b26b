"""The seam between the two apps: what the project pages show of provisioning.

`projects` sits below `provisioning` (a run belongs to a project, never the other way).
The project pages still show a project's runs and deliveries, so they read them here and
only here; apart from this module, `projects` may import only the pure engine and the
URL policy, which import no app at all. An import contract in pyproject.toml holds this
(docs/architecture.md#the-seam).
"""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, Subquery

from projects.models import Project
from provisioning.engine.manifest import Manifest
from provisioning.engine.mcp_inventory import ToolingRow
from provisioning.engine.preview import preview_files
from provisioning.engine.skills import SkillRow, skills_overview
from provisioning.models import Run
from provisioning.runs.selectors import (
    report_run_latest,
    run_active_for,
    run_fix_pending_for,
    run_latest_for,
)
from provisioning.webhooks.selectors import (
    delivery_list_for,
    delivery_list_signed_for,
    refusal_summary_for,
)

__all__ = [
    "delivery_list_for",
    "delivery_list_signed_for",
    "last_run_annotations",
    "preview_files",
    "refusal_summary_for",
    "report_run_latest",
    "run_active_for",
    "run_fix_pending_for",
    "run_latest_for",
    "skills_for",
]


def skills_for(
    project: Project, manifest: Manifest | None
) -> tuple[list[SkillRow | ToolingRow], Run | None]:
    """The project's BMAD agents and skills, declared in `manifest` (its effective
    manifest, bases resolved) and installed, with the state of their files (the API's
    /skills), and the run whose report they come from."""
    run = report_run_latest(project)
    report = run.report if run is not None and isinstance(run.report, dict) else None
    return skills_overview(manifest, report), run


def last_run_annotations() -> dict[str, Any]:
    """Annotations of a Project queryset with its newest run (id, kind, status, created,
    failure reason) and its newest pull request state (``last_pr_state``, ``last_pr_run_id``), as
    subqueries: the dashboard costs the same queries for 1 project or 10,000."""
    last_run = Run.objects.filter(project=OuterRef("pk")).order_by("-created")
    fields = {
        "id": "pk",
        "kind": "kind",
        "status": "status",
        "created": "created",
        "failure_reason": "failure_reason",
    }
    found = {f"last_run_{name}": Subquery(last_run.values(f)[:1]) for name, f in fields.items()}
    # The newest pull request the forge told us about (an analysis may have run since).
    last_pr = last_run.exclude(pr_state="")
    found["last_pr_state"] = Subquery(last_pr.values("pr_state")[:1])
    found["last_pr_run_id"] = Subquery(last_pr.values("pk")[:1])
    return found
