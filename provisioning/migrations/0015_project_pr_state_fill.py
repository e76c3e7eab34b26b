"""Fill Project.pr_state (projects 0008) from the runs: the state of each project's newest
run (by created, then id) that has a pull request state, or "" (docs/performance.md#pages).
"""

from typing import Any

from django.db import migrations
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce


def fill(apps: Any, schema_editor: Any) -> None:
    project = apps.get_model("projects", "Project")
    run = apps.get_model("provisioning", "Run")
    newest = (
        run.objects.filter(project=OuterRef("pk"))
        .exclude(pr_state="")
        .order_by("-created", "-pk")
        .values("pr_state")[:1]
    )
    project.objects.update(pr_state=Coalesce(Subquery(newest), Value("")))


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0008_project_pr_state"),
        ("provisioning", "0014_notifications"),
    ]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop, elidable=True)]
