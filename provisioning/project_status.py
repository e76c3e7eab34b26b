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
from provisioning.engine.manifest import load_manifest
from provisioning.engine.preview import preview_files
from provisioning.engine.skills import SkillRow, skills_overview
from provisioning.models import Run
from provisioning.runs.selectors import (
    report_run_latest,
    run_active_for,
    run_fix_pending_for,
    run_latest_for,
)
from provisioning.webhooks.selectors import delivery_list_for

__all__ = [
    "delivery_list_for",
    "last_run_annotations",
    "preview_files",
    "report_run_latest",
    "run_active_for",
    "run_fix_pending_for",
    "run_latest_for",
    "skills_for",
]


def skills_for(project: Project) -> tuple[list[SkillRow], Run | None, int | None]:
    """The project's BMAD agents and skills, declared and installed, with the state of
    their files (the API's /skills), the run whose report they come from and the manifest
    revision number."""
    revision = project.revisions.order_by("-number").first()
    manifest = load_manifest(revision.yaml_text).manifest if revision is not None else None
    run = report_run_latest(project)
    report = run.report if run is not None and isinstance(run.report, dict) else None
    return skills_overview(manifest, report), run, revision.number if revision else None


def last_run_annotations() -> dict[str, Any]:
    """Annotations of a Project queryset with its newest run (id, kind, status, created),
    as subqueries: the dashboard costs the same queries for 1 project or 10,000."""
    last_run = Run.objects.filter(project=OuterRef("pk")).order_by("-created")
    fields = {
        "id": "pk",
        "kind": "kind",
        "status": "status",
        "created": "created",
        "failure_reason": "failure_reason",
    }
    return {f"last_run_{name}": Subquery(last_run.values(f)[:1]) for name, f in fields.items()}
