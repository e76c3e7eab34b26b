"""Manifest revisions, a project's and a base's, are history: saved once, never changed."""

from __future__ import annotations

import pytest

from projects import services
from tests.repos import DEMO_MANIFEST

pytestmark = pytest.mark.django_db

BASE = 'apiVersion: bmadweb/v1\nproject:\n  bmad_version: ">=6.4,<7"\n'


def test_a_saved_project_revision_cannot_be_changed(make_project, owner):
    project = make_project(manifest=DEMO_MANIFEST)
    revision = project.revisions.get()
    revision.yaml_text = "changed"
    with pytest.raises(ValueError, match=r"^manifest revisions are immutable"):
        revision.save()
    revision.refresh_from_db()
    assert revision.yaml_text == DEMO_MANIFEST


def test_a_saved_base_revision_cannot_be_changed(staff):
    revision = services.base_save(actor=staff, name="platform", yaml_text=BASE)
    revision.yaml_text = "changed"
    with pytest.raises(ValueError, match=r"^base manifest revisions are immutable"):
        revision.save()
    revision.refresh_from_db()
    assert revision.yaml_text == BASE
