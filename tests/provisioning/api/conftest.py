"""Fixtures for the REST API tests: a client per standard actor, an editor and a viewer of
the BMAD project."""

from __future__ import annotations

import pytest

from projects import services as project_services
from projects.roles import Role
from tests.provisioning.api.api_helpers import Api, token_for


@pytest.fixture
def as_owner(owner) -> Api:  # type: ignore[no-untyped-def]
    return Api(token_for(owner))


@pytest.fixture
def as_viewer(viewer) -> Api:  # type: ignore[no-untyped-def]
    return Api(token_for(viewer))


@pytest.fixture
def as_outsider(outsider) -> Api:  # type: ignore[no-untyped-def]
    return Api(token_for(outsider))


@pytest.fixture
def editor(django_user_model, bmad_project, owner):  # type: ignore[no-untyped-def]
    user = django_user_model.objects.create_user("edith", password="editor-pass-12345")
    project_services.role_grant(actor=owner, project=bmad_project, role=Role.EDITOR, user=user)
    return user


@pytest.fixture
def viewer_of_bmad(bmad_project, owner, viewer):  # type: ignore[no-untyped-def]
    project_services.role_grant(actor=owner, project=bmad_project, role=Role.VIEWER, user=viewer)
    return viewer
