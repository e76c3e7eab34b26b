"""Read-side queries and pure shaping for the API (selectors: no writes, no HTTP)."""

from __future__ import annotations

from django.db.models import QuerySet

from projects.models import ManifestRevision, Project
from projects.selectors import manifest_latest, manifest_resolve
from provisioning.engine.manifest import Manifest


def revisions_for_project(project: Project) -> QuerySet[ManifestRevision]:
    return project.revisions.order_by("-number")


def latest_manifest(project: Project) -> tuple[ManifestRevision | None, Manifest | None]:
    revision = manifest_latest(project)
    if revision is None:
        return None, None
    return revision, manifest_resolve(revision.yaml_text).manifest
