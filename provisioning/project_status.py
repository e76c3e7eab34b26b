"""The seam between the two apps: what the project pages show of provisioning.

`projects` sits below `provisioning` (a run belongs to a project, never the other way).
The project pages still show a project's runs and deliveries, so they read them here and
only here; apart from this module, `projects` may import only the pure engine and the
URL policy, which import no app at all. An import contract in pyproject.toml holds this
(docs/architecture.md#the-seam).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db.models import Expression, F, Field

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

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler

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


def _run_field(name: str) -> Field[Any, Any]:
    field = Run._meta.get_field(name)
    assert isinstance(field, Field)
    return field


class NewestRun(Expression):
    """One column of the newest run (by `created`) of the project whose id is `field`,
    with a pull request state if `pull_request`: the correlated subquery the ORM would
    write for `Subquery(Run.objects.filter(project=OuterRef(field)).order_by("-created")
    .values(column)[:1])`, written from the model's table and column names so that seven
    of them cost a page no more to build than one (docs/performance.md#pages)."""

    def __init__(self, column: str, *, pull_request: bool = False, field: str = "pk") -> None:
        super().__init__(output_field=_run_field(column))
        self.project: Any = F(field)  # resolved to the project's column
        self.column = column
        self.pull_request = pull_request

    def get_source_expressions(self) -> list[Any]:
        return [self.project]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.project,) = exprs

    def as_sql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, tuple[str | int, ...]]:
        q = connection.ops.quote_name
        project_sql, params = compiler.compile(self.project)

        def column(name: str) -> str:
            return f"{q('newest_run')}.{q(str(_run_field(name).column))}"

        pull_request = f" AND NOT ({column('pr_state')} = '')" if self.pull_request else ""
        # Names from the model only, every value a parameter (docs/security.md#supply-chain).
        sql = (
            f"(SELECT {column(self.column)} FROM {q(Run._meta.db_table)} {q('newest_run')} "
            f"WHERE {column('project')} = {project_sql}{pull_request} "
            f"ORDER BY {column('created')} DESC LIMIT 1)"
        )
        return sql, tuple(params)


def last_run_annotations() -> dict[str, Any]:
    """Annotations of a Project queryset with its newest run (id, kind, status, created,
    failure reason) and its newest pull request state (``last_pr_state``, ``last_pr_run_id``), as
    subqueries: the dashboard costs the same queries for 1 project or 10,000."""
    fields = {
        "id": "id",
        "kind": "kind",
        "status": "status",
        "created": "created",
        "failure_reason": "failure_reason",
    }
    found = {f"last_run_{name}": NewestRun(f) for name, f in fields.items()}
    # The newest pull request the forge told us about (an analysis may have run since).
    found["last_pr_state"] = NewestRun("pr_state", pull_request=True)
    found["last_pr_run_id"] = NewestRun("id", pull_request=True)
    return found
